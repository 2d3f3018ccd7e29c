// Published ports of a container (-p): each host port is bound by the shim, so a port already
// taken is an error naming it and the port stays the workload's while it lives. Connections to
// it are relayed to the container's address by a small userspace proxy (what serves loopback,
// where DNAT cannot); traffic from other hosts takes the kernel path (DNAT in berth's nftables
// table). The bound ports are written to ports.json beside the workload's log.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "berth/error.hpp"
#include "berth/spec.hpp"

namespace berth {

struct PublishedPort {
  std::string host_ip;  // "0.0.0.0" for every address
  std::uint16_t host_port = 0;
  std::uint16_t container_port = 0;
  std::string protocol = "tcp";
};

// Binds, records in `ports_path`, adds the DNAT rules and starts relaying to container_ip.
Result<std::vector<PublishedPort>> publish_ports(const std::vector<PortMapping>& ports, const std::string& container_ip,
                                                 const std::string& ports_path);
// What ports.json says (empty when there is none).
Result<std::vector<PublishedPort>> read_published_ports(const std::string& ports_path);
// Removes the DNAT rules of what ports.json lists; lines for the teardown report.
std::vector<std::string> unpublish_ports(const std::string& ports_path);

}  // namespace berth
