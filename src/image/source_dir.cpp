#include "image/source_dir.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include "common/fs.hpp"

namespace berth::image {

namespace {

long open_beneath(int root, const std::string& member, int flags) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags) | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd;
  do fd = ::syscall(SYS_openat2, root, member.c_str(), &how, sizeof how);
  while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  return fd;
}

}  // namespace

Result<SourceDir> SourceDir::open(const std::string& path, std::string kind) {
  UniqueFd fd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return std::unexpected(errno_error("open", path, errno));
  return SourceDir(std::move(fd), path, std::move(kind));
}

Result<UniqueFd> SourceDir::open_member(const std::string& member) const {
  // O_PATH first: opening a FIFO or device node for reading could block or act on hardware.
  long path_fd = open_beneath(root_.get(), member, O_PATH);
  if (path_fd < 0) {
    int err = errno;
    if (err == EXDEV)
      return fail(ErrorCode::invalid_spec,
                  fmt::format("{} member \"{}\" leads outside the {} (an absolute path, \"..\" or a symlink): "
                              "members are read from the {} only",
                              kind_, member, kind_, kind_));
    if (err == ELOOP)
      return fail(ErrorCode::invalid_spec, fmt::format("{} member \"{}\": too many levels of symlinks", kind_, member));
    if (err == ENOENT)
      return fail(ErrorCode::not_found, fmt::format("{} member \"{}\" is missing", kind_, member));
    return std::unexpected(errno_error("open", fmt::format("{} member \"{}\"", kind_, member), err));
  }
  UniqueFd located(static_cast<int>(path_fd));
  struct stat st;
  if (::fstat(located.get(), &st) != 0) return std::unexpected(errno_error("stat", member, errno));
  if (!S_ISREG(st.st_mode))
    return fail(ErrorCode::invalid_spec, fmt::format("{} member \"{}\" is not a regular file", kind_, member));
  // Reopened through the descriptor: the very file checked above, whatever its name is now.
  std::string self = fmt::format("/proc/self/fd/{}", located.get());
  UniqueFd fd(::open(self.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::unexpected(errno_error("open", fmt::format("{} member \"{}\"", kind_, member), errno));
  return fd;
}

Result<std::string> SourceDir::read_member(const std::string& member) const {
  auto fd = open_member(member);
  if (!fd) return std::unexpected(fd.error());
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(errno_error("read", fmt::format("{} member \"{}\"", kind_, member), errno));
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

bool SourceDir::has_member(const std::string& member) const {
  struct stat st;
  return ::fstatat(root_.get(), member.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

}  // namespace berth::image
