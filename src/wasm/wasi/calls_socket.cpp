// sock_* on sockets the embedder preopened and on connections accepted from them.
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>

#include "wasm/wasi/calls.hpp"

namespace berth::wasm::wasi {

Errno sock_accept(WasiContext& context, Guest& guest, Args args) {
  auto listener = context.fds().get(args.u32(0), right::sock_accept);
  if (!listener) return listener.error();
  std::uint32_t flags = args.u32(1);
  if ((flags & ~std::uint32_t{fdflag::nonblock}) != 0) return Errno::inval;
  if (!guest.writable(args.u32(2), 4)) return Errno::fault;
  int host = ::accept4((*listener)->host.get(), nullptr, nullptr,
                       SOCK_CLOEXEC | ((flags & fdflag::nonblock) ? SOCK_NONBLOCK : 0));
  if (host < 0) return errno_now();
  FdEntry entry;
  entry.host = UniqueFd(host);
  struct stat st {};
  if (::fstat(host, &st) != 0) return errno_now();
  entry.type = filetype_of(st, host);
  entry.base = right::socket_base & ~right::sock_accept;
  entry.inheriting = 0;
  auto number = context.fds().insert(std::move(entry));
  if (!number) return number.error();
  guest.store<std::uint32_t>(args.u32(2), *number);
  return Errno::success;
}

Errno sock_recv(WasiContext& context, Guest& guest, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_read);
  if (!entry) return entry.error();
  std::uint32_t flags = args.u32(3);
  if ((flags & ~std::uint32_t{riflag_recv_peek | riflag_recv_waitall}) != 0) return Errno::inval;
  auto vectors = guest.iovecs(args.u32(1), args.u32(2));
  if (!vectors) return vectors.error();
  if (!guest.writable(args.u32(4), 4) || !guest.writable(args.u32(5), 2)) return Errno::fault;
  struct msghdr message {};
  message.msg_iov = vectors->data();
  message.msg_iovlen = vectors->size();
  int host_flags = ((flags & riflag_recv_peek) ? MSG_PEEK : 0) |
                   ((flags & riflag_recv_waitall) ? MSG_WAITALL : 0);
  ssize_t n;
  do {
    n = ::recvmsg((*entry)->host.get(), &message, host_flags);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno_now();
  std::uint16_t out_flags = (message.msg_flags & MSG_TRUNC) ? roflag_recv_data_truncated : 0;
  guest.store<std::uint32_t>(args.u32(4), static_cast<std::uint32_t>(n));
  guest.store<std::uint16_t>(args.u32(5), out_flags);
  return Errno::success;
}

Errno sock_send(WasiContext& context, Guest& guest, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_write);
  if (!entry) return entry.error();
  auto vectors = guest.iovecs(args.u32(1), args.u32(2));
  if (!vectors) return vectors.error();
  if (!guest.writable(args.u32(4), 4)) return Errno::fault;
  struct msghdr message {};
  message.msg_iov = vectors->data();
  message.msg_iovlen = vectors->size();
  ssize_t n;
  do {
    n = ::sendmsg((*entry)->host.get(), &message, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno_now();
  guest.store<std::uint32_t>(args.u32(4), static_cast<std::uint32_t>(n));
  return Errno::success;
}

Errno sock_shutdown(WasiContext& context, Guest&, Args args) {
  auto entry = context.fds().get(args.u32(0), right::sock_shutdown);
  if (!entry) return entry.error();
  int how;
  switch (args.u32(1)) {
    case sdflag_rd: how = SHUT_RD; break;
    case sdflag_wr: how = SHUT_WR; break;
    case sdflag_rd | sdflag_wr: how = SHUT_RDWR; break;
    default: return Errno::inval;
  }
  return ::shutdown((*entry)->host.get(), how) == 0 ? Errno::success : errno_now();
}

}  // namespace berth::wasm::wasi
