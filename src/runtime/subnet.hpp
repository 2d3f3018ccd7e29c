// IPv4 subnets as networks use them: parsing "10.90.3.0/24", overlap, the first free one for a
// new network, the gateway and the range of addresses handed out.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "berth/error.hpp"

namespace berth {

struct Subnet {
  std::uint32_t network = 0;  // host byte order, the prefix's bits only
  int prefix_length = 24;
  std::uint32_t mask() const { return prefix_length == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix_length); }
  std::uint32_t first_host() const { return network + 1; }
  std::uint32_t last_host() const { return (network | ~mask()) - 1; }
  bool contains(std::uint32_t address) const { return (address & mask()) == network; }
};

// "A.B.C.D/N" with N in 8-30 and no host bits set; the error names the text.
Result<Subnet> parse_subnet(std::string_view text);
std::string to_string(const Subnet& subnet);
bool overlaps(const Subnet& a, const Subnet& b);
// The first 10.89.N.0/24 that overlaps neither `taken` nor a route of this host.
Result<Subnet> free_subnet(const std::vector<Subnet>& taken);
// `text`, checked to be a host address of the subnet, or its first host when empty.
Result<std::string> gateway_for(const Subnet& subnet, std::string_view text);

}  // namespace berth
