#include "wasm/net/peer_allow_list.hpp"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "common/numbers.hpp"

namespace berth::wasm::net {
namespace {

std::optional<Endpoint> parse_ip(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string s(text);
  Endpoint out;
  if (::inet_pton(AF_INET, s.c_str(), out.bytes.data()) == 1) {
    out.family = AF_INET;
    return out;
  }
  if (::inet_pton(AF_INET6, s.c_str(), out.bytes.data()) == 1) {
    out.family = AF_INET6;
    return out;
  }
  return std::nullopt;
}

bool is_host_name(std::string_view text) {
  if (text.empty() || text.size() > 253 || text.front() == '-' || text.front() == '.') return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as the IPv4 address it is.
Endpoint unmapped(Endpoint e) {
  static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (e.family == AF_INET6 && std::memcmp(e.bytes.data(), prefix, 12) == 0) {
    Endpoint v4;
    v4.family = AF_INET;
    std::copy_n(e.bytes.begin() + 12, 4, v4.bytes.begin());
    v4.port = e.port;
    return v4;
  }
  return e;
}

// Splits "ADDR[:PORT]" / "[ADDR]:PORT" / "[ADDR]" / bare IPv6 into the address part and port.
// false when a port is present but not a valid one, or the brackets are unbalanced.
bool split_port(std::string_view text, std::string_view& address, std::optional<std::uint16_t>& port,
                bool& bad_port) {
  bad_port = false;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return false;
    address = text.substr(1, close - 1);
    auto rest = text.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':') return false;
    port = parse_port_number(rest.substr(1));
    bad_port = !port;
    return port.has_value();
  }
  auto colons = std::count(text.begin(), text.end(), ':');
  if (colons >= 2) {  // bare IPv6 (with brackets it may carry a port)
    address = text;
    return true;
  }
  auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    address = text;
    return true;
  }
  address = text.substr(0, colon);
  port = parse_port_number(text.substr(colon + 1));
  bad_port = !port;
  return port.has_value();
}

}  // namespace

socklen_t Endpoint::to_sockaddr(sockaddr_storage& out) const {
  std::memset(&out, 0, sizeof out);
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&out);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  std::memcpy(&in6->sin6_addr, bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

std::string Endpoint::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family, bytes.data(), text, sizeof text);
  return family == AF_INET ? fmt::format("{}:{}", text, port) : fmt::format("[{}]:{}", text, port);
}

std::optional<Destination> parse_destination(std::string_view text) {
  std::string_view address;
  std::optional<std::uint16_t> port;
  bool bad_port = false;
  if (!split_port(text, address, port, bad_port) || !port) return std::nullopt;
  Destination out;
  out.port = *port;
  if (auto ip = parse_ip(address)) {
    ip->port = *port;
    out.address = unmapped(*ip);
    return out;
  }
  if (text.front() == '[' || !is_host_name(address)) return std::nullopt;
  out.name = lower(address);
  return out;
}

Result<PeerAllowList> PeerAllowList::parse(std::span<const std::string> entries) {
  PeerAllowList list;
  for (const auto& entry : entries) {
    auto bad = [&](std::string_view why) {
      return fail(ErrorCode::invalid_spec,
                  fmt::format("allowed_peers: \"{}\" is not a CIDR, IP, IP:PORT or HOST[:PORT] ({})", entry, why));
    };
    std::string_view address;
    std::optional<std::uint16_t> port;
    bool bad_port = false;
    if (!split_port(entry, address, port, bad_port))
      return bad(bad_port ? "the port must be 1 to 65535" : "unbalanced brackets");
    if (address.empty()) return bad("no address");
    if (auto slash = address.find('/'); slash != std::string_view::npos) {
      auto ip = parse_ip(address.substr(0, slash));
      if (!ip) return bad("the address of a CIDR block must be an IP address");
      unsigned prefix = 0;
      auto bits = address.substr(slash + 1);
      auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
      unsigned most = ip->family == AF_INET ? 32 : 128;
      if (bits.empty() || ec != std::errc() || end != bits.data() + bits.size() || prefix > most)
        return bad(fmt::format("the prefix length must be 0 to {}", most));
      list.rules_.push_back(Rule{ip->family, ip->bytes, prefix, port});
      continue;
    }
    if (auto ip = parse_ip(address)) {
      auto e = unmapped(*ip);
      list.rules_.push_back(Rule{e.family, e.bytes, e.family == AF_INET ? 32u : 128u, port});
      continue;
    }
    if (entry.front() == '[' || !is_host_name(address)) return bad("not an address or a host name");
    Host host{lower(address), port, {}};
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    std::string name(address);
    int rc = ::getaddrinfo(name.c_str(), nullptr, &hints, &found);
    if (rc != 0)
      return fail(ErrorCode::not_found,
                  fmt::format("allowed_peers: \"{}\": cannot resolve {}: {}", entry, name, ::gai_strerror(rc)));
    for (auto* a = found; a; a = a->ai_next) {
      Endpoint e;
      e.family = a->ai_family;
      if (a->ai_family == AF_INET)
        std::memcpy(e.bytes.data(), &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, 4);
      else if (a->ai_family == AF_INET6)
        std::memcpy(e.bytes.data(), &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, 16);
      else
        continue;
      e = unmapped(e);
      bool seen = std::any_of(host.addresses.begin(), host.addresses.end(), [&](const Endpoint& o) {
        return o.family == e.family && o.bytes == e.bytes;
      });
      if (seen) continue;
      host.addresses.push_back(e);
      // The resolved addresses are on the list as addresses too (IP:PORT reaches them).
      list.rules_.push_back(Rule{e.family, e.bytes, e.family == AF_INET ? 32u : 128u, port});
    }
    ::freeaddrinfo(found);
    if (host.addresses.empty())
      return fail(ErrorCode::not_found, fmt::format("allowed_peers: \"{}\": {} has no IP address", entry, name));
    list.hosts_.push_back(std::move(host));
  }
  return list;
}

bool PeerAllowList::allows(const Endpoint& given) const {
  Endpoint peer = unmapped(given);
  for (const auto& rule : rules_) {
    if (rule.family != peer.family) continue;
    if (rule.port && *rule.port != peer.port) continue;
    unsigned full = rule.prefix / 8, rest = rule.prefix % 8;
    if (!std::equal(rule.bytes.begin(), rule.bytes.begin() + full, peer.bytes.begin())) continue;
    if (rest != 0) {
      std::uint8_t mask = static_cast<std::uint8_t>(0xff << (8 - rest));
      if ((rule.bytes[full] & mask) != (peer.bytes[full] & mask)) continue;
    }
    return true;
  }
  return false;
}

std::vector<Endpoint> PeerAllowList::addresses_of(std::string_view name, std::uint16_t port) const {
  auto wanted = lower(name);
  std::vector<Endpoint> out;
  for (const auto& host : hosts_) {
    if (host.name != wanted || (host.port && *host.port != port)) continue;
    for (auto e : host.addresses) {
      e.port = port;
      out.push_back(e);
    }
  }
  return out;
}

}  // namespace berth::wasm::net
