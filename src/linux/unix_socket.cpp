#include "linux/unix_socket.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
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

namespace {

// One byte of payload and room for one fd: the message both ends of send_fd use.
struct FdMessage {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  FdMessage() {
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
  }
  FdMessage(const FdMessage&) = delete;
  FdMessage& operator=(const FdMessage&) = delete;
};

}  // namespace

int send_fd_noalloc(int socket_fd, int fd) {
  FdMessage m;
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (::sendmsg(socket_fd, &m.msg, MSG_NOSIGNAL) != 1) return errno ? errno : EIO;
  return 0;
}

Result<void> send_fd(int socket_fd, int fd, std::string_view what) {
  if (int err = send_fd_noalloc(socket_fd, fd)) return std::unexpected(errno_error("send", std::string(what), err));
  return {};
}

Result<void> send_with_fd(int socket_fd, std::string_view payload, int fd, std::string_view what) {
  if (payload.empty()) return fail(ErrorCode::internal, fmt::format("send {}: nothing to send", what));
  FdMessage m;
  m.iov = {const_cast<char*>(payload.data()), payload.size()};
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  ssize_t sent = ::sendmsg(socket_fd, &m.msg, MSG_NOSIGNAL);
  if (sent < 0) return std::unexpected(errno_error("send", std::string(what), errno));
  // The fd went with the first byte; the rest of a long payload follows as plain data.
  for (std::size_t done = static_cast<std::size_t>(sent); done < payload.size();) {
    ssize_t n = ::send(socket_fd, payload.data() + done, payload.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::unexpected(errno_error("send", std::string(what), errno));
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Result<int> receive_fd(int socket_fd, std::string_view what) {
  FdMessage m;
  if (::recvmsg(socket_fd, &m.msg, MSG_CMSG_CLOEXEC) != 1)
    return std::unexpected(errno_error("receive", std::string(what), errno));
  cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
  if (!c || c->cmsg_type != SCM_RIGHTS)
    return fail(ErrorCode::internal, fmt::format("receive {}: no fd in the message", what));
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

}  // namespace berth::linux
