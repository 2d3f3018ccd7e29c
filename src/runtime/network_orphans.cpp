// Sweeping what a crash left of this state root's networks: addresses of workloads that are
// gone, bridges of networks that are gone, veths of workloads that are gone, and their
// nftables entries. Only links tagged with this root (link_owner_tag) are touched: other roots
// on the host keep theirs.
#include <fmt/format.h>

#include <algorithm>

#include "common/fs.hpp"
#include "linux/netlink.hpp"
#include "linux/nftables.hpp"
#include "runtime/local_runtime.hpp"
#include "runtime/network_attach.hpp"
#include "runtime/subnet.hpp"
#include "state/network_store.hpp"

namespace berth {

namespace netlink = linux::netlink;

Result<std::vector<std::string>> LocalRuntime::sweep_network_orphans() {
  std::vector<std::string> swept;
  auto records = store_->all();
  if (!records) return std::unexpected(records.error());
  auto networks = state::list_networks(*store_);
  if (!networks) return std::unexpected(networks.error());
  auto has_workload = [&](std::string_view id_prefix) {
    return std::any_of(records->begin(), records->end(), [&](const state::WorkloadRecord& r) { return r.id.starts_with(id_prefix); });
  };

  // Addresses of workloads that are gone. A workload being created has its directory before
  // its address and its row after: it is not gone.
  std::vector<std::uint32_t> held;
  for (const auto& n : *networks) {
    auto addresses = state::addresses_on_network(*store_, n.name);
    if (!addresses) return std::unexpected(addresses.error());
    for (const auto& a : *addresses) {
      if (has_workload(a.workload_id) || path_exists(layout_.workload_dir(a.workload_id))) {
        held.push_back(a.address);
        continue;
      }
      if (auto r = state::release_addresses(*store_, a.workload_id); !r) return std::unexpected(r.error());
      swept.push_back(fmt::format("address {} on {}", netlink::to_string(netlink::Ipv4{a.address}), n.name));
    }
  }

  // This root's bridges and veths that nothing it records owns.
  std::string owner = link_owner_tag(layout_);
  linux::nftables::Orphans orphans;
  for (const auto& link : netlink::link_names()) {
    if (netlink::alias_of(link) != owner) continue;
    if (link.starts_with("brt-")) {
      if (std::any_of(networks->begin(), networks->end(), [&](const state::NetworkRecord& n) { return n.bridge == link; }))
        continue;
      if (auto subnet = netlink::ipv4_subnet_of(link); !subnet.empty()) orphans.subnets.push_back(subnet);
      orphans.chains.push_back("net-" + link.substr(4));
    } else if (!link.starts_with("vb") || has_workload(link.substr(2, 12))) {
      continue;
    }
    if (auto r = netlink::delete_link(link); !r && r.error().code != ErrorCode::not_found) return std::unexpected(r.error());
    swept.push_back((link.starts_with("brt-") ? "bridge " : "veth ") + link);
  }

  // Published ports that lead into one of this root's networks, to an address no workload holds.
  std::vector<Subnet> subnets;
  for (const auto& n : *networks)
    if (auto s = parse_subnet(n.subnet)) subnets.push_back(*s);
  orphans.stale_target = [&](const std::string& target) {
    auto address = netlink::parse_ipv4(target);
    if (!address) return false;
    bool ours = std::any_of(subnets.begin(), subnets.end(), [&](const Subnet& s) { return s.contains(address->value); });
    return ours && std::find(held.begin(), held.end(), address->value) == held.end();
  };
  auto rules = linux::nftables::remove_orphans(orphans);
  if (!rules) return std::unexpected(rules.error());
  swept.insert(swept.end(), rules->begin(), rules->end());
  if (!swept.empty()) (void)linux::nftables::delete_table_if_unused();
  return swept;
}

}  // namespace berth
