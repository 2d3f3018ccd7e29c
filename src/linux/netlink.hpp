// Network links, addresses and routes through rtnetlink, without calling ip(8): bridges, veth
// pairs (one end moved into a workload's network namespace), addresses, default routes. What
// berth's networks are made of.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "berth/error.hpp"

namespace berth::linux::netlink {

// An IPv4 address in host byte order, with its text form.
struct Ipv4 {
  std::uint32_t value = 0;
  bool operator==(const Ipv4&) const = default;
  auto operator<=>(const Ipv4&) const = default;
};
Result<Ipv4> parse_ipv4(std::string_view text);
std::string to_string(Ipv4 address);

// All calls act on the calling thread's network namespace (see in_namespace).
Result<void> create_bridge(const std::string& name);
// A veth pair: `host` stays here; `peer` is made directly inside the namespace `peer_netns_fd`
// (an open /proc/PID/ns/net), so it never appears in this one.
Result<void> create_veth(const std::string& host, const std::string& peer, int peer_netns_fd);
// not_found when there is no such link.
Result<void> delete_link(const std::string& name);
bool link_exists(const std::string& name);
// Every link's name in this namespace.
std::vector<std::string> link_names();
// A link's alias (ifalias, through sysfs): berth tags the bridges and veths it makes with the
// state root that owns them, so a sweep for orphans touches only its own.
Result<void> set_alias(const std::string& link, const std::string& alias);
std::string alias_of(const std::string& link);  // "" when none or no such link
// The subnet of a link's first IPv4 address, "10.89.0.0/24", or "" when it has none.
std::string ipv4_subnet_of(const std::string& link);
Result<void> set_up(const std::string& name);
Result<void> set_master(const std::string& link, const std::string& bridge);
Result<void> rename(const std::string& from, const std::string& to);
Result<void> add_address(const std::string& link, Ipv4 address, int prefix_length);
Result<void> add_default_route(Ipv4 gateway);

// Runs `work` on a thread that has joined the network namespace `netns_fd`: setns moves only
// that thread, so the caller's namespace never changes.
Result<void> in_namespace(int netns_fd, const std::function<Result<void>()>& work);

}  // namespace berth::linux::netlink
