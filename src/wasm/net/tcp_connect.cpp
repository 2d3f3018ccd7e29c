#include "wasm/net/tcp_connect.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>

#include "common/fd.hpp"
#include "linux/connect.hpp"

namespace berth::wasm::net {
namespace {

using Clock = std::chrono::steady_clock;

ConnectStatus status_of(int err) {
  switch (err) {
    case ECONNREFUSED:
    case ECONNRESET: return ConnectStatus::refused;
    case ETIMEDOUT: return ConnectStatus::timeout;
    case EMFILE:
    case ENFILE: return ConnectStatus::too_many_fds;
    default: return ConnectStatus::unreachable;
  }
}

// Connects to `peer` before `deadline`: a blocking socket, or why not.
std::expected<UniqueFd, ConnectStatus> connect_to(const Endpoint& peer, Clock::time_point deadline) {
  UniqueFd fd(::socket(peer.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return std::unexpected(status_of(errno));
  sockaddr_storage address{};
  socklen_t length = peer.to_sockaddr(address);
  if (int err = linux::connect_before(fd.get(), reinterpret_cast<sockaddr*>(&address), length, deadline))
    return std::unexpected(status_of(err));
  // The guest sees a blocking socket (it may set non-blocking with fd_fdstat_set_flags).
  int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) return std::unexpected(status_of(errno));
  return fd;
}

// A blocking read or write on the connection waits no longer than the call may run: it then
// fails with EAGAIN (the guest sees Errno::again) and the call's deadline ends the call.
void bound_io(int fd, Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::microseconds>(deadline - Clock::now());
  if (left.count() <= 0) left = std::chrono::microseconds(1);
  timeval tv{static_cast<time_t>(left.count() / 1'000'000), static_cast<suseconds_t>(left.count() % 1'000'000)};
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::int32_t connect_guest(const PeerAllowList& peers, wasi::WasiContext& context, std::string_view text,
                           Clock::time_point deadline, bool has_deadline) {
  auto code = [](ConnectStatus s) { return static_cast<std::int32_t>(s); };
  auto destination = parse_destination(text);
  if (!destination) return code(ConnectStatus::bad_address);
  std::vector<Endpoint> candidates;
  if (destination->address) {
    if (peers.allows(*destination->address)) candidates.push_back(*destination->address);
  } else {
    candidates = peers.addresses_of(destination->name, destination->port);
  }
  if (candidates.empty()) return code(ConnectStatus::not_allowed);
  ConnectStatus last = ConnectStatus::unreachable;
  for (const auto& peer : candidates) {  // a name's addresses in resolver order, as a client would
    auto fd = connect_to(peer, deadline);
    if (!fd) {
      last = fd.error();
      if (last == ConnectStatus::timeout || last == ConnectStatus::too_many_fds) break;
      continue;
    }
    if (has_deadline) bound_io(fd->get(), deadline);
    wasi::FdEntry entry;
    entry.host = std::move(*fd);
    entry.type = wasi::Filetype::socket_stream;
    entry.base = wasi::right::socket_base & ~wasi::right::sock_accept;
    entry.inheriting = 0;
    entry.guest_connection = true;
    auto number = context.fds().insert(std::move(entry));
    if (!number) return code(ConnectStatus::too_many_fds);
    return static_cast<std::int32_t>(*number);
  }
  return code(last);
}

}  // namespace

HostFunction tcp_connect_function(std::shared_ptr<const PeerAllowList> peers,
                                  std::shared_ptr<wasi::WasiContext> context) {
  using T = ValueType;
  return HostFunction{
      "berth", "tcp_connect", FunctionType{{T::i32, T::i32}, {T::i32}},
      [peers = std::move(peers), context = std::move(context)](HostCall& call, std::span<const Value> args,
                                                               std::span<Value> results) -> CallResult<void> {
        auto reply = [&](std::int32_t value) { results[0] = Value::i32(static_cast<std::uint32_t>(value)); };
        auto view = call.memory ? call.memory->view(args[0].as_i32(), args[1].as_i32()) : std::nullopt;
        if (!view) {
          reply(static_cast<std::int32_t>(ConnectStatus::bad_pointer));
          return {};
        }
        std::string text(reinterpret_cast<const char*>(view->data()), view->size());
        auto deadline = call.deadline.value_or(Clock::now() + kConnectTimeoutWithoutDeadline);
        reply(connect_guest(*peers, *context, text, deadline, call.deadline.has_value()));
        return {};
      }};
}

bool imports_tcp_connect(const ModuleInfo& info) {
  for (const auto& import : info.imports)
    if (import.module == "berth" && import.name == "tcp_connect") return true;
  return false;
}

}  // namespace berth::wasm::net
