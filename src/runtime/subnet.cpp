#include "runtime/subnet.hpp"

#include <fmt/format.h>

#include "common/fs.hpp"
#include "common/numbers.hpp"
#include "linux/netlink.hpp"

namespace berth {

namespace netlink = linux::netlink;

Result<Subnet> parse_subnet(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(ErrorCode::invalid_spec, fmt::format("subnet \"{}\": {}", text, why));
  };
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return bad("not ADDRESS/PREFIX");
  auto address = netlink::parse_ipv4(text.substr(0, slash));
  if (!address) return bad("not an IPv4 address before the /");
  auto prefix = parse_integer(text.substr(slash + 1), "prefix", 8, 30);
  if (!prefix) return bad("the prefix length must be 8 to 30");
  Subnet s{address->value, static_cast<int>(*prefix)};
  if ((s.network & ~s.mask()) != 0)
    return bad(fmt::format("host bits are set (the network is {})", to_string(Subnet{s.network & s.mask(), s.prefix_length})));
  return s;
}

std::string to_string(const Subnet& subnet) {
  return fmt::format("{}/{}", netlink::to_string(netlink::Ipv4{subnet.network}), subnet.prefix_length);
}

bool overlaps(const Subnet& a, const Subnet& b) {
  auto shorter = std::min(a.prefix_length, b.prefix_length);
  std::uint32_t mask = shorter == 0 ? 0 : ~std::uint32_t{0} << (32 - shorter);
  return (a.network & mask) == (b.network & mask);
}

namespace {

// The host's IPv4 routes (/proc/net/route: destination and mask in little-endian hex), so a
// new network does not shadow a network the host already reaches.
std::vector<Subnet> host_routes() {
  std::vector<Subnet> out;
  auto text = read_file("/proc/net/route");
  if (!text) return out;
  std::size_t pos = text->find('\n');
  while (pos != std::string::npos && pos + 1 < text->size()) {
    auto end = text->find('\n', pos + 1);
    std::string line = text->substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
    pos = end;
    char iface[64];
    unsigned destination = 0, gateway = 0, flags = 0, refcnt = 0, use = 0, metric = 0, mask = 0;
    if (std::sscanf(line.c_str(), "%63s %x %x %x %u %u %u %x", iface, &destination, &gateway, &flags, &refcnt, &use,
                    &metric, &mask) != 8)
      continue;
    if (mask == 0) continue;  // the default route overlaps everything; it is not a network here
    std::uint32_t host_mask = __builtin_bswap32(mask);
    int length = __builtin_popcount(host_mask);
    out.push_back(Subnet{__builtin_bswap32(destination) & host_mask, length});
  }
  return out;
}

}  // namespace

Result<Subnet> free_subnet(const std::vector<Subnet>& taken) {
  auto routes = host_routes();
  for (std::uint32_t n = 0; n < 256; ++n) {
    Subnet candidate{(10u << 24) | (89u << 16) | (n << 8), 24};
    bool clash = false;
    for (const auto& t : taken) clash = clash || overlaps(t, candidate);
    for (const auto& r : routes) clash = clash || overlaps(r, candidate);
    if (!clash) return candidate;
  }
  return fail(ErrorCode::limit_exceeded, "no free subnet in 10.89.0.0/16: give one with --subnet");
}

Result<std::string> gateway_for(const Subnet& subnet, std::string_view text) {
  if (text.empty()) return netlink::to_string(netlink::Ipv4{subnet.first_host()});
  auto address = netlink::parse_ipv4(text);
  if (!address) return std::unexpected(address.error().with_context("gateway"));
  if (!subnet.contains(address->value) || address->value < subnet.first_host() || address->value > subnet.last_host())
    return fail(ErrorCode::invalid_spec, fmt::format("gateway {} is not a host address of {}", text, to_string(subnet)));
  return std::string(text);
}

}  // namespace berth
