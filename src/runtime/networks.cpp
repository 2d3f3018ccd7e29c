// Bridge networks: a record in the store (name, subnet, gateway), a Linux bridge holding the
// gateway address, and the network's rules in berth's nftables table (outbound NAT, isolation
// from berth's other networks).
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/fs.hpp"
#include "linux/netlink.hpp"
#include "linux/nftables.hpp"
#include "runtime/ids.hpp"
#include "runtime/local_runtime.hpp"
#include "runtime/network_attach.hpp"
#include "runtime/spec_validation.hpp"
#include "runtime/subnet.hpp"
#include "state/network_store.hpp"

namespace berth {

namespace {

namespace netlink = linux::netlink;
namespace nftables = linux::nftables;

std::string chain_of(const state::NetworkRecord& n) { return "net-" + n.id.substr(0, 10); }

NetworkInfo info_of(const state::NetworkRecord& n, const std::vector<state::AddressRecord>& addresses) {
  NetworkInfo info{n.id, n.name, n.subnet, n.gateway, n.bridge, n.created_at, n.labels, {}};
  for (const auto& a : addresses)
    info.attached.push_back(NetworkAttachment{a.workload_id, netlink::to_string(netlink::Ipv4{a.address})});
  return info;
}

// Containers reach the outside through the host: forwarding must be on.
Result<void> enable_forwarding() {
  auto current = read_file("/proc/sys/net/ipv4/ip_forward");
  if (current && current->starts_with("1")) return {};
  return write_file("/proc/sys/net/ipv4/ip_forward", "1\n");
}

// The bridge and its rules; undone again if a step fails.
Result<void> make_network(const state::NetworkRecord& n, const Subnet& subnet, const std::string& owner) {
  auto gateway = netlink::parse_ipv4(n.gateway);
  if (!gateway) return std::unexpected(gateway.error());
  if (netlink::link_exists(n.bridge)) (void)netlink::delete_link(n.bridge);  // an orphan of a crash
  auto undo = [&] {
    (void)netlink::delete_link(n.bridge);
    (void)nftables::remove_network(chain_of(n), n.bridge, n.subnet);
  };
  for (auto step : {netlink::create_bridge(n.bridge), netlink::set_alias(n.bridge, owner),
                    netlink::add_address(n.bridge, *gateway, subnet.prefix_length),
                    netlink::set_up(n.bridge), enable_forwarding(), nftables::add_network(chain_of(n), n.bridge, n.subnet)}) {
    if (!step) {
      undo();
      return step;
    }
  }
  return {};
}

}  // namespace

Result<NetworkInfo> LocalRuntime::create_network(const NetworkSpec& spec) {
  if (!is_valid_workload_name(spec.name))
    return fail(ErrorCode::invalid_spec, fmt::format("network name: \"{}\" is not [a-zA-Z0-9][a-zA-Z0-9_.-]*", spec.name));
  auto existing = state::list_networks(*store_);
  if (!existing) return std::unexpected(existing.error());
  std::vector<Subnet> taken;
  for (const auto& n : *existing)
    if (auto s = parse_subnet(n.subnet)) taken.push_back(*s);
  auto subnet = spec.subnet.empty() ? free_subnet(taken) : parse_subnet(spec.subnet);
  if (!subnet) return std::unexpected(subnet.error());
  auto gateway = gateway_for(*subnet, spec.gateway);
  if (!gateway) return std::unexpected(gateway.error());
  auto id = new_workload_id();
  if (!id) return std::unexpected(id.error());
  state::NetworkRecord record{spec.name, *id, to_string(*subnet), *gateway, "brt-" + id->substr(0, 10), Clock::now(),
                              spec.labels};
  auto inserted = state::insert_network(*store_, record, [&](const std::vector<state::NetworkRecord>& all) -> Result<void> {
    for (const auto& n : all) {
      auto other = parse_subnet(n.subnet);
      if (other && overlaps(*other, *subnet))
        return fail(ErrorCode::conflict, fmt::format("subnet {} overlaps network {}'s {}", record.subnet, n.name, n.subnet));
    }
    return {};
  });
  if (!inserted) return std::unexpected(inserted.error());
  if (auto made = make_network(record, *subnet, link_owner_tag(layout_)); !made) {
    (void)state::erase_network(*store_, record.name);
    return std::unexpected(made.error().with_context("create network " + record.name));
  }
  return info_of(record, {});
}

Result<void> LocalRuntime::restore_network(const std::string& name) {
  auto n = state::find_network(*store_, name);
  if (!n) return std::unexpected(n.error());
  return restore_network(*n);
}

Result<void> LocalRuntime::restore_network(const state::NetworkRecord& network) {
  // The bridge is the sign (an interface lookup, no nft call on every container's start): with
  // it gone, the host lost the network (a reboot), rules and all; make it again as recorded.
  if (netlink::link_exists(network.bridge)) return {};
  auto subnet = parse_subnet(network.subnet);
  if (!subnet) return std::unexpected(subnet.error());
  return make_network(network, *subnet, link_owner_tag(layout_));
}

Result<std::uint32_t> LocalRuntime::allocate_network_address(const std::string& workload_id,
                                                             const std::string& network) {
  auto n = state::find_network(*store_, network);
  if (!n && n.error().code == ErrorCode::not_found && network == default_network_name) {
    auto made = create_network(NetworkSpec{std::string(default_network_name), "", "", {}});
    if (!made && made.error().code != ErrorCode::conflict) return std::unexpected(made.error());
    n = state::find_network(*store_, network);
  }
  if (!n) {
    if (n.error().code == ErrorCode::not_found)
      return fail(ErrorCode::not_found, fmt::format("network: no network named \"{}\" (berth network create {})", network, network));
    return std::unexpected(n.error());
  }
  if (auto r = restore_network(*n); !r) return std::unexpected(r.error());
  auto subnet = parse_subnet(n->subnet);
  if (!subnet) return std::unexpected(subnet.error());
  auto gateway = netlink::parse_ipv4(n->gateway);
  if (!gateway) return std::unexpected(gateway.error());
  return state::allocate_address(*store_, n->name, workload_id, subnet->first_host(), subnet->last_host(), gateway->value);
}

Result<std::vector<NetworkInfo>> LocalRuntime::list_networks() {
  auto all = state::list_networks(*store_);
  if (!all) return std::unexpected(all.error());
  std::vector<NetworkInfo> out;
  for (const auto& n : *all) {
    auto addresses = state::addresses_on_network(*store_, n.name);
    if (!addresses) return std::unexpected(addresses.error());
    out.push_back(info_of(n, *addresses));
  }
  return out;
}

Result<NetworkInfo> LocalRuntime::inspect_network(std::string_view ref) {
  auto n = state::find_network(*store_, std::string(ref));
  if (!n) return std::unexpected(n.error());
  auto addresses = state::addresses_on_network(*store_, n->name);
  if (!addresses) return std::unexpected(addresses.error());
  return info_of(*n, *addresses);
}

Result<std::vector<std::string>> LocalRuntime::remove_network(std::string_view ref) {
  auto n = state::find_network(*store_, std::string(ref));
  if (!n) return std::unexpected(n.error());
  // The record goes first (refused, atomically, while an address is handed out on it); then
  // what it had on the host.
  if (auto r = state::erase_network(*store_, n->name); !r) return std::unexpected(r.error());
  std::vector<std::string> released;
  if (netlink::link_exists(n->bridge)) {
    if (auto r = netlink::delete_link(n->bridge); !r) return std::unexpected(r.error());
    released.push_back("bridge " + n->bridge);
  }
  if (auto r = nftables::remove_network(chain_of(*n), n->bridge, n->subnet); !r) return std::unexpected(r.error());
  released.push_back(fmt::format("nftables: chain {}, NAT of {}", chain_of(*n), n->subnet));
  if (auto r = nftables::delete_table_if_unused(); !r) return std::unexpected(r.error());
  return released;
}

Result<std::vector<std::string>> LocalRuntime::prune_networks() {
  // What a crash left goes first, so a network it kept "in use" can be pruned.
  auto swept = sweep_network_orphans();
  if (!swept) return std::unexpected(swept.error());
  auto all = list_networks();
  if (!all) return std::unexpected(all.error());
  std::vector<std::string> removed;
  for (const auto& n : *all) {
    if (!n.attached.empty()) continue;
    auto r = remove_network(n.name);
    if (!r && r.error().code != ErrorCode::conflict && r.error().code != ErrorCode::not_found)
      return std::unexpected(r.error());
    if (r) removed.push_back(n.name);
  }
  return removed;
}

}  // namespace berth
