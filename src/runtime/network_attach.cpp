#include "runtime/network_attach.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "linux/netlink.hpp"
#include "runtime/json.hpp"
#include "state/network_store.hpp"

namespace berth {

namespace {

namespace netlink = linux::netlink;

int prefix_of(const std::string& subnet) {
  auto slash = subnet.find('/');
  return slash == std::string::npos ? 24 : std::atoi(subnet.c_str() + slash + 1);
}

}  // namespace

std::vector<std::string> joined_networks(const WorkloadSpec& spec) {
  std::vector<std::string> out;
  if (is_network_name(spec.network)) out.push_back(spec.network);
  out.insert(out.end(), spec.additional_networks.begin(), spec.additional_networks.end());
  return out;
}

std::string link_owner_tag(const StateLayout& layout) { return "berth:" + layout.root; }

std::string veth_host_name(const std::string& workload_id, std::size_t index) {
  std::string name = "vb" + workload_id.substr(0, 12);
  if (index > 0) name += static_cast<char>('0' + index);
  return name;
}

Result<std::string> attach_to_network(state::Store& store, const StateLayout& layout, const std::string& workload_id,
                                      const std::string& network, std::size_t index, int pid) {
  auto net = state::find_network(store, network);
  if (!net) return std::unexpected(net.error());
  auto addresses = state::addresses_of_workload(store, workload_id);
  if (!addresses) return std::unexpected(addresses.error());
  const state::AddressRecord* mine = nullptr;
  for (const auto& a : *addresses)
    if (a.network == net->name) mine = &a;
  if (!mine) return fail(ErrorCode::internal, fmt::format("no address on network {} was handed out to this workload", network));
  auto gateway = netlink::parse_ipv4(net->gateway);
  if (!gateway) return std::unexpected(gateway.error());
  UniqueFd netns(::open(fmt::format("/proc/{}/ns/net", pid).c_str(), O_RDONLY | O_CLOEXEC));
  if (!netns) return fail(ErrorCode::internal, fmt::format("open network namespace of {}: {}", pid, std::strerror(errno)));
  std::string host = veth_host_name(workload_id, index);
  std::string inner = fmt::format("eth{}", index);
  if (netlink::link_exists(host)) (void)netlink::delete_link(host);  // left by a crash
  if (auto r = netlink::create_veth(host, inner, netns.get()); !r) return std::unexpected(r.error());
  auto fail_with = [&](Error e) -> Result<std::string> {
    (void)netlink::delete_link(host);
    return std::unexpected(e.with_context("network " + network));
  };
  if (auto r = netlink::set_alias(host, link_owner_tag(layout)); !r) return fail_with(r.error());
  if (auto r = netlink::set_master(host, net->bridge); !r) return fail_with(r.error());
  if (auto r = netlink::set_up(host); !r) return fail_with(r.error());
  netlink::Ipv4 address{mine->address};
  int prefix = prefix_of(net->subnet);
  auto inside = netlink::in_namespace(netns.get(), [&]() -> Result<void> {
    for (auto r : {netlink::set_up("lo"), netlink::set_up(inner), netlink::add_address(inner, address, prefix)})
      if (!r) return r;
    return index == 0 ? netlink::add_default_route(*gateway) : Result<void>{};
  });
  if (!inside) return fail_with(inside.error());
  if (auto r = refresh_network_hosts(store, layout, net->name); !r) return fail_with(r.error());
  return netlink::to_string(address);
}

namespace {

// "ADDRESS\tNAME ALIAS...\n" for every member of `network`.
Result<std::string> hosts_lines_of(state::Store& store, const std::string& network) {
  auto on_network = state::addresses_on_network(store, network);
  if (!on_network) return std::unexpected(on_network.error());
  std::string lines;
  for (const auto& a : *on_network) {
    auto record = store.get(a.workload_id);
    if (!record) continue;  // removed meanwhile
    std::string names = record->name;
    auto spec = spec_from_json(nlohmann::json::parse(record->spec_json, nullptr, false));
    if (spec)
      for (const auto& alias : spec->aliases) names += " " + alias;
    lines += fmt::format("{}\t{}\n", netlink::to_string(netlink::Ipv4{a.address}), names);
  }
  return lines;
}

// One workload's /etc/hosts: itself first, then the members of each network it is on.
Result<void> write_hosts_of(state::Store& store, const StateLayout& layout, const std::string& workload_id) {
  std::string dir = layout.workload_dir(workload_id) + "/etc";
  if (!path_exists(dir + "/hosts")) return {};  // not started yet (its start writes it), or no rootfs
  auto addresses = state::addresses_of_workload(store, workload_id);
  if (!addresses) return std::unexpected(addresses.error());
  std::string hostname = read_file(dir + "/hostname").value_or("");
  while (!hostname.empty() && hostname.back() == '\n') hostname.pop_back();
  std::string content = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
  // Its own name resolves to its address on its first network (that of the default route).
  auto record = store.get(workload_id);
  if (!record) return std::unexpected(record.error());
  auto spec = spec_from_json(nlohmann::json::parse(record->spec_json, nullptr, false));
  for (const auto& a : *addresses)
    if (spec && a.network == spec->network)
      content += fmt::format("{}\t{}\n", netlink::to_string(netlink::Ipv4{a.address}), hostname);
  for (const auto& a : *addresses) {
    auto lines = hosts_lines_of(store, a.network);
    if (!lines) return std::unexpected(lines.error());
    content += *lines;
  }
  // write_file truncates and writes the same inode: the container's bind mount sees it.
  return write_file(dir + "/hosts", content, 0644);
}

}  // namespace

Result<void> refresh_network_hosts(state::Store& store, const StateLayout& layout, const std::string& network) {
  auto on_network = state::addresses_on_network(store, network);
  if (!on_network) return std::unexpected(on_network.error());
  for (const auto& a : *on_network)
    if (auto r = write_hosts_of(store, layout, a.workload_id); !r) return r;
  return {};
}

Result<std::vector<std::string>> detach_from_networks(state::Store& store, const StateLayout& layout,
                                                      const std::string& workload_id) {
  std::vector<std::string> released;
  for (std::size_t index = 0; index < max_networks_per_workload; ++index) {
    std::string host = veth_host_name(workload_id, index);
    if (!netlink::link_exists(host)) continue;
    if (auto r = netlink::delete_link(host); !r && r.error().code != ErrorCode::not_found) return std::unexpected(r.error());
    released.push_back("veth " + host);
  }
  auto addresses = state::release_addresses(store, workload_id);
  if (!addresses) return std::unexpected(addresses.error());
  for (const auto& a : *addresses) {
    released.push_back(fmt::format("address {} on {}", netlink::to_string(netlink::Ipv4{a.address}), a.network));
    (void)refresh_network_hosts(store, layout, a.network);
  }
  return released;
}

}  // namespace berth
