#include "wasm/wasi/context.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include "common/fs.hpp"

namespace berth::wasm::wasi {
namespace {

Result<FdEntry> entry_for_host_fd(UniqueFd fd, const std::string& what) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return std::unexpected(errno_error("fstat", what, errno));
  int status = ::fcntl(fd.get(), F_GETFL);
  if (status < 0) return std::unexpected(errno_error("fcntl", what, errno));
  FdEntry entry;
  entry.type = filetype_of(st, fd.get());
  entry.base = applicable_rights(entry.type, status & O_ACCMODE);
  entry.inheriting = 0;
  entry.host = std::move(fd);
  return entry;
}

Result<UniqueFd> duplicate(int fd, const std::string& what) {
  UniqueFd copy(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!copy) return std::unexpected(errno_error("duplicate", what, errno));
  return copy;
}

Result<FdEntry> stdio_entry(int host_fd, int flags, const std::string& what) {
  UniqueFd fd;
  if (host_fd < 0) {
    fd.reset(::open("/dev/null", flags | O_CLOEXEC));
    if (!fd) return std::unexpected(errno_error("open", "/dev/null", errno));
  } else {
    auto copy = duplicate(host_fd, what);
    if (!copy) return std::unexpected(copy.error());
    fd = std::move(*copy);
  }
  return entry_for_host_fd(std::move(fd), what);
}

}  // namespace

Result<std::shared_ptr<WasiContext>> WasiContext::create(WasiConfig config) {
  std::shared_ptr<WasiContext> context(new WasiContext(config.max_fds));
  context->args_ = std::move(config.args);
  context->env_ = std::move(config.env);
  context->path_strategy_ = config.path_strategy;

  const int stdio[3] = {config.stdin_fd, config.stdout_fd, config.stderr_fd};
  const int null_flags[3] = {O_RDONLY, O_WRONLY, O_WRONLY};
  for (std::uint32_t i = 0; i < 3; ++i) {
    auto entry = stdio_entry(stdio[i], null_flags[i], fmt::format("WASI fd {}", i));
    if (!entry) return std::unexpected(entry.error());
    context->fds_.place(i, std::move(*entry));
  }
  for (const auto& preopen : config.preopens) {
    if (preopen.guest_path.empty()) {
      return fail(ErrorCode::invalid_spec,
                  fmt::format("preopen {}: the guest path is empty", preopen.host_path));
    }
    UniqueFd dir(::open(preopen.host_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return std::unexpected(errno_error("preopen", preopen.host_path, errno));
    FdEntry entry;
    entry.host = std::move(dir);
    entry.type = Filetype::directory;
    entry.base = right::directory_base;
    entry.inheriting = right::all;
    entry.preopen_name = preopen.guest_path;
    auto number = context->fds_.insert(std::move(entry));
    if (!number) {
      return fail(ErrorCode::limit_exceeded,
                  fmt::format("preopen {}: more than {} descriptors", preopen.host_path,
                              config.max_fds));
    }
  }
  for (int socket : config.preopened_sockets) {
    std::string what = fmt::format("preopened socket {}", socket);
    auto copy = duplicate(socket, what);
    if (!copy) return std::unexpected(copy.error());
    auto entry = entry_for_host_fd(std::move(*copy), what);
    if (!entry) return std::unexpected(entry.error());
    if (entry->type != Filetype::socket_stream && entry->type != Filetype::socket_dgram) {
      return fail(ErrorCode::invalid_spec, what + ": not a socket");
    }
    if (!context->fds_.insert(std::move(*entry))) {
      return fail(ErrorCode::limit_exceeded, what + ": too many descriptors");
    }
  }
  return context;
}

}  // namespace berth::wasm::wasi
