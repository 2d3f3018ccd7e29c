#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <sys/types.h>
#include "berth/error.hpp"
namespace berth::linux {
using CapabilityMask = std::uint64_t;
std::optional<int> capability_from_name(std::string_view name);
std::string capability_name(int cap);
int last_capability();
// Docker's default set less CAP_NET_RAW, as Podman's: raw sockets would let a container forge
// packets on a shared bridge. ping keeps working through ICMP datagram sockets (the runtime opens
// net.ipv4.ping_group_range in the container's network namespace); --cap-add NET_RAW gives it back.
CapabilityMask default_container_capabilities();
Result<CapabilityMask> resolve_capabilities(CapabilityMask base, const std::vector<std::string>& add, const std::vector<std::string>& drop);
struct CapabilitySets { CapabilityMask bounding = 0, effective = 0, permitted = 0, inheritable = 0, ambient = 0; };
CapabilitySets container_capability_sets(CapabilityMask caps);
// PR_SET_KEEPCAPS: permitted capabilities survive a setuid away from root.
int keep_capabilities_across_setuid();
// In the child between clone and exec, allocation-free, 0 or an errno. First, while still
// root (dropping needs CAP_SETPCAP): every capability outside sets.bounding leaves the bounding
// set. Then keep_capabilities_across_setuid() before setresuid, and after it
// apply_capabilities_in_child: effective, permitted and inheritable (capset v3), then ambient.
int drop_bounding_capabilities_in_child(const CapabilitySets& sets, int last_cap);
int apply_capabilities_in_child(const CapabilitySets& sets, int last_cap, const char** stage);
}
