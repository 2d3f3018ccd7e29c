#include "linux/unix_socket.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cstring>
#include <fmt/format.h>

#include "common/fs.hpp"

namespace berth::linux {

Result<UnixAddress> unix_address(const std::string& path) {
  UnixAddress out;
  out.address.sun_family = AF_UNIX;
  std::string usable = path;
  if (path.size() >= sizeof out.address.sun_path) {
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
    out.directory.reset(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!out.directory) return std::unexpected(errno_error("open", dir, errno));
    usable = fmt::format("/proc/self/fd/{}/{}", out.directory.get(), path.substr(slash + 1));
    if (usable.size() >= sizeof out.address.sun_path)
      return fail(ErrorCode::invalid_spec, fmt::format("{}: socket name too long", path));
  }
  std::memcpy(out.address.sun_path, usable.c_str(), usable.size() + 1);
  return out;
}

}  // namespace berth::linux
