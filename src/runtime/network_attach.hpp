// A container on a bridge network: its veth pair (the host end on the network's bridge, eth0
// with its address and a default route via the gateway inside), and the /etc/hosts of every
// container on the network, kept current as they come and go, so containers reach each other
// by name. Used by the shim at start and by teardown; part of the shim's library.
#pragma once

#include <string>
#include <vector>

#include "berth/spec.hpp"
#include "berth/status.hpp"
#include "runtime/layout.hpp"
#include "state/store.hpp"

namespace berth {

// A spec's network names a bridge network (not "", "none" or "host").
inline bool is_network_name(const std::string& network) {
  return !network.empty() && network != "none" && network != "host";
}

// The network made on first use for a container that publishes ports without naming one.
inline constexpr std::string_view default_network_name = "berth";

// Every bridge network a spec joins, its first (`network`, which holds the default route) first.
std::vector<std::string> joined_networks(const WorkloadSpec& spec);

// A workload joins at most this many networks: interface names and veth names count on it.
inline constexpr std::size_t max_networks_per_workload = 8;

// The alias berth gives the bridges and veths it makes: the state root that owns them (one
// host may have several roots; a sweep for orphans touches only its own root's links).
std::string link_owner_tag(const StateLayout& layout);

// The host end of a workload's veth pair on its index-th network: "vb" and 12 hex digits of
// its id, and the index after the first (15 bytes at most, the kernel's limit).
std::string veth_host_name(const std::string& workload_id, std::size_t index = 0);

// Connects the network namespace of `pid` to the workload's index-th network (from the store:
// the network and the address handed out at create) as eth<index>; the first network also gets
// the default route. Returns the workload's address on it.
Result<std::string> attach_to_network(state::Store& store, const StateLayout& layout, const std::string& workload_id,
                                      const std::string& network, std::size_t index, int pid);

// Rewrites (in place: the files are bind-mounted into running containers) the /etc/hosts of
// every workload on `network`: localhost, its own name, and the names and addresses of every
// workload on any network it shares with it.
Result<void> refresh_network_hosts(state::Store& store, const StateLayout& layout, const std::string& network);

// What a removed workload had: its veth (if its namespace outlived it), its addresses, and the
// other workloads' hosts files updated. Lines for the teardown report.
Result<std::vector<std::string>> detach_from_networks(state::Store& store, const StateLayout& layout,
                                                      const std::string& workload_id);

}  // namespace berth
