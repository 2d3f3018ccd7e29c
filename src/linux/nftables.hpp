// berth's packet rules, all in its own nftables table (`table ip berth`), so they can be listed
// and removed as a unit without touching anyone else's: outbound NAT for its networks'
// subnets, and isolation between its networks. Applied with nft(8) from Debian's nftables,
// each change one atomic `nft -f` transaction. The table is shared by every berth process on
// the host, so each change that reads the table before writing it holds a host-wide lock
// (/run/berth-nftables.lock) from the read to the write.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "berth/error.hpp"

namespace berth::linux::nftables {

// Creates the table, its sets and base chains when missing (idempotent).
Result<void> ensure_table();
// A network: its subnet masqueraded on the way out, its bridge's traffic kept off the other
// berth bridges. `chain` names the network's own chain (a valid nft identifier).
Result<void> add_network(const std::string& chain, const std::string& bridge, const std::string& subnet);
// Undoes add_network; rules already gone are not an error.
Result<void> remove_network(const std::string& chain, const std::string& bridge, const std::string& subnet);
// Published ports (tcp or udp): traffic to `host_port` on any of the host's addresses (but
// loopback, which berth's userspace proxy serves) goes to container_ip:container_port (DNAT,
// for packets from other hosts and from this host to its own non-loopback addresses). One map
// per protocol (tcp_ports, udp_ports); one transaction for all of a container's ports.
struct PortForward {
  std::string protocol = "tcp";
  std::uint16_t host_port = 0;
  std::string container_ip;
  std::uint16_t container_port = 0;
};
Result<void> publish_ports(const std::vector<PortForward>& forwards);
// Those of `forwards` (protocol and host port) still published go; the others are no error.
Result<void> unpublish_ports(const std::vector<PortForward>& forwards);

// What a crash can leave in berth's table (shared by every state root on the host, so the
// caller names what is its own and stale): network chains (with their forward_from entries),
// nat_subnets entries, and published ports whose target address `stale_target` says no
// workload holds. Removed in one transaction; lines for a report.
struct Orphans {
  std::vector<std::string> chains;
  std::vector<std::string> subnets;
  std::function<bool(const std::string& address)> stale_target;
};
Result<std::vector<std::string>> remove_orphans(const Orphans& orphans);

// `nft list table ip berth`, or empty when there is no table.
Result<std::string> list_table();
// Removes the whole table when no network's rules are left in it (the last network's removal):
// nothing of berth stays in the host's ruleset.
Result<void> delete_table_if_unused();

// Runs `nft -f -` with `script` on stdin; the error carries nft's message.
Result<std::string> run_nft(const std::string& script);

}  // namespace berth::linux::nftables
