// berth.tcp_connect: the guest's one way out to the network. WASI preview 1 has sockets
// (sock_recv, sock_send, sock_shutdown, sock_accept) but no connect; this import opens a TCP
// connection to a peer on the module's allow-list (peer_allow_list.hpp) and gives the guest a
// WASI descriptor for it, in the instance's own descriptor table, so fd_read, fd_write,
// sock_recv, sock_send, sock_shutdown, poll_oneoff, fd_fdstat_get and fd_close work on it.
//
//   tcp_connect(addr_ptr: i32, addr_len: i32) -> i32
//
// addr is "IP:PORT", "[IPv6]:PORT" or "NAME:PORT" (NAME must be a host entry of the list; its
// load-time addresses are used, the guest never resolves). The connect waits at most the
// call's remaining execution time (30 s when the call has no deadline), and so does each
// blocking read or write on the connection afterwards (SO_RCVTIMEO/SO_SNDTIMEO; then EAGAIN).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "wasm/engine.hpp"
#include "wasm/net/peer_allow_list.hpp"
#include "wasm/wasi/context.hpp"

namespace berth::wasm::net {

// What tcp_connect returns instead of a descriptor (include/berth/guest/berth.h: BERTH_NET_*).
enum class ConnectStatus : std::int32_t {
  not_allowed = -1,    // not on the allow-list (an empty list allows nothing); nothing was sent
  refused = -2,        // the peer refused or reset the connection
  timeout = -3,        // no answer within the call's remaining time
  bad_address = -4,    // not IP:PORT, [IPv6]:PORT or NAME:PORT
  bad_pointer = -5,    // the address is outside the guest's memory
  too_many_fds = -6,   // the guest's (or the host's) descriptor table is full
  unreachable = -7,    // any other failure (no route, network down, ...)
};

inline constexpr std::chrono::seconds kConnectTimeoutWithoutDeadline{30};

// The import, for one instance: `context` is the instance's WASI context (its descriptor table).
HostFunction tcp_connect_function(std::shared_ptr<const PeerAllowList> peers,
                                  std::shared_ptr<wasi::WasiContext> context);

// Whether a module imports berth.tcp_connect (it then needs a WASI context even if it imports
// no WASI itself).
bool imports_tcp_connect(const ModuleInfo& info);

}  // namespace berth::wasm::net
