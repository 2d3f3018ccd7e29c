// The peers a guest may connect to (berth.tcp_connect): a module's allow-list, parsed and
// resolved once, when the module is loaded. An empty list allows nothing (no network).
//
// Entries:
//   10.0.0.0/8, ::1/128          a CIDR block, any port
//   10.0.0.0/8:443, [fd00::/8]:443   a CIDR block, one port
//   127.0.0.1, ::1, [::1]        one address, any port
//   127.0.0.1:8080, [::1]:8080   one address, one port
//   db.internal, localhost:5432  a host name, resolved here with getaddrinfo (never by the
//                                guest): its addresses, any port or that port
// A name in tcp_connect is allowed only when it is exactly (ignoring case) a host entry's
// name; it then connects to the addresses resolved at load, never resolving again.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <berth/error.hpp>

namespace berth::wasm::net {

// One IPv4 or IPv6 address with a port.
struct Endpoint {
  int family = AF_INET;                 // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> bytes{};  // 4 used for IPv4
  std::uint16_t port = 0;
  // sockaddr_in / sockaddr_in6, for connect(2).
  socklen_t to_sockaddr(sockaddr_storage& out) const;
  std::string to_string() const;  // "127.0.0.1:80", "[::1]:80"
};

// "IP:PORT", "[IPv6]:PORT" or "NAME:PORT" as a guest passes it to tcp_connect.
struct Destination {
  std::optional<Endpoint> address;  // an IP literal
  std::string name;                 // otherwise a host name
  std::uint16_t port = 0;
};
std::optional<Destination> parse_destination(std::string_view text);

class PeerAllowList {
 public:
  PeerAllowList() = default;  // empty: allows nothing
  // Parses and resolves `entries`; invalid_spec naming the first bad entry (what is wrong with
  // it), or not_found for a name that does not resolve.
  static Result<PeerAllowList> parse(std::span<const std::string> entries);

  bool empty() const { return rules_.empty(); }
  bool allows(const Endpoint& peer) const;
  // The load-time addresses of a host entry named `name` that allows `port` (with that port);
  // empty when no such entry.
  std::vector<Endpoint> addresses_of(std::string_view name, std::uint16_t port) const;

 private:
  struct Rule {
    int family = AF_INET;
    std::array<std::uint8_t, 16> bytes{};
    unsigned prefix = 32;               // bits that must match
    std::optional<std::uint16_t> port;  // any port when unset
  };
  struct Host {
    std::string name;  // lower case
    std::optional<std::uint16_t> port;
    std::vector<Endpoint> addresses;  // port 0
  };
  std::vector<Rule> rules_;
  std::vector<Host> hosts_;
};

}  // namespace berth::wasm::net
