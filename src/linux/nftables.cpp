#include "linux/nftables.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "common/fd.hpp"

extern char** environ;

namespace berth::linux::nftables {

namespace {

constexpr const char* table = "ip berth";

Result<std::string> run(const std::vector<std::string>& args, const std::string& input) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
    return fail(ErrorCode::internal, fmt::format("nft: pipe: {}", std::strerror(errno)));
  UniqueFd in_read(in[0]), in_write(in[1]), out_read(out[0]), out_write(out[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_read.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 2);
  std::vector<char*> argv;
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The shim runs with an empty environment: look where Debian installs nft first.
  const char* program = "nft";
  for (const char* candidate : {"/usr/sbin/nft", "/sbin/nft"})
    if (::access(candidate, X_OK) == 0) program = candidate;
  pid_t pid;
  int rc = posix_spawnp(&pid, program, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return fail(ErrorCode::unavailable, fmt::format("nft: {} (install Debian's nftables)", std::strerror(rc)));
  in_read.reset();
  out_write.reset();
  std::size_t written = 0;
  while (written < input.size()) {
    ssize_t n = ::write(in_write.get(), input.data() + written, input.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  in_write.reset();
  std::string output;
  char buffer[4096];
  for (ssize_t n; (n = ::read(out_read.get(), buffer, sizeof buffer)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    output.append(buffer, static_cast<std::size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!output.empty() && output.back() == '\n') output.pop_back();
    return fail(ErrorCode::internal, fmt::format("nft: {}", output.empty() ? "failed" : output));
  }
  return output;
}

// The table is shared by every berth process on the host (each state root, each CLI call, the
// daemon), and several changes read it before they write: the last network's removal lists it
// and then deletes it, a first network lists it and then creates it. One host-wide lock around
// each read-and-write keeps another process's change from landing in between (a network's
// rules added between the list and the delete would vanish with the table). The lock file stays
// in /run, as iptables' /run/xtables.lock does.
constexpr const char* table_lock_path = "/run/berth-nftables.lock";

Result<UniqueFd> lock_table() {
  UniqueFd fd(::open(table_lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return fail(ErrorCode::internal, fmt::format("open {}: {}", table_lock_path, std::strerror(errno)));
  while (::flock(fd.get(), LOCK_EX) != 0)
    if (errno != EINTR) return fail(ErrorCode::internal, fmt::format("flock {}: {}", table_lock_path, std::strerror(errno)));
  return fd;
}

Result<void> ensure_table_locked();

}  // namespace

Result<std::string> run_nft(const std::string& script) { return run({"nft", "-f", "-"}, script); }

Result<void> ensure_table() {
  auto lock = lock_table();
  if (!lock) return std::unexpected(lock.error());
  return ensure_table_locked();
}

namespace {

Result<void> ensure_table_locked() {
  // A table from before published ports gets their map and chains added; rules go in only
  // with the chains they belong to, so this can run before every change.
  auto listed = list_table();
  if (!listed) return std::unexpected(listed.error());
  std::string script;
  if (listed->empty())
    script += fmt::format(R"(
add table {0}
add set {0} nat_subnets {{ type ipv4_addr; flags interval; }}
add map {0} forward_from {{ type ifname : verdict; }}
add chain {0} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
add chain {0} forward {{ type filter hook forward priority filter; policy accept; }}
add rule {0} postrouting ip saddr @nat_subnets ip daddr != @nat_subnets masquerade
add rule {0} forward iifname vmap @forward_from
)", table);
  if (listed->find("map tcp_ports") == std::string::npos)
    script += fmt::format(R"(
add map {0} tcp_ports {{ type inet_service : ipv4_addr . inet_service; }}
add chain {0} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
add chain {0} output {{ type nat hook output priority -100; policy accept; }}
add rule {0} prerouting fib daddr type local dnat ip to tcp dport map @tcp_ports
add rule {0} output fib daddr type local ip daddr != 127.0.0.0/8 dnat ip to tcp dport map @tcp_ports
)", table);
  if (listed->find("map udp_ports") == std::string::npos)
    script += fmt::format(R"(
add map {0} udp_ports {{ type inet_service : ipv4_addr . inet_service; }}
add rule {0} prerouting fib daddr type local dnat ip to udp dport map @udp_ports
add rule {0} output fib daddr type local ip daddr != 127.0.0.0/8 dnat ip to udp dport map @udp_ports
)", table);
  if (script.empty()) return {};
  auto r = run_nft(script);
  if (!r) return std::unexpected(r.error());
  return {};
}


// The comma-separated items of `elements = { ... }` in `body` (which may span lines).
std::vector<std::string> elements_of(const std::string& body) {
  std::vector<std::string> out;
  auto start = body.find("elements = {");
  if (start == std::string::npos) return out;
  auto end = body.find('}', start);
  std::string list = body.substr(start + 12, end == std::string::npos ? std::string::npos : end - start - 12);
  std::string item;
  for (char c : list + ",") {
    if (c == ',') {
      auto first = item.find_first_not_of(" \t\n");
      auto last = item.find_last_not_of(" \t\n");
      if (first != std::string::npos) out.push_back(item.substr(first, last - first + 1));
      item.clear();
    } else {
      item += c;
    }
  }
  return out;
}

// The text of `set NAME {` or `map NAME {` up to its closing brace.
std::string block_of(const std::string& listed, const std::string& header) {
  auto start = listed.find(header);
  if (start == std::string::npos) return {};
  auto end = listed.find("\n\t}", start);
  return listed.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

Result<void> publish_ports(const std::vector<PortForward>& forwards) {
  if (forwards.empty()) return {};
  auto lock = lock_table();
  if (!lock) return std::unexpected(lock.error());
  if (auto r = ensure_table_locked(); !r) return r;
  std::string script;
  for (const char* protocol : {"tcp", "udp"}) {
    std::string elements;
    for (const auto& f : forwards)
      if (f.protocol == protocol)
        elements += fmt::format("{}{} : {} . {}", elements.empty() ? "" : ", ", f.host_port, f.container_ip, f.container_port);
    if (!elements.empty()) script += fmt::format("add element {} {}_ports {{ {} }}\n", table, protocol, elements);
  }
  auto r = run_nft(script);
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> unpublish_ports(const std::vector<PortForward>& forwards) {
  if (forwards.empty()) return {};
  auto lock = lock_table();
  if (!lock) return std::unexpected(lock.error());
  auto listed = list_table();
  if (!listed) return std::unexpected(listed.error());
  std::string script;
  for (const char* protocol : {"tcp", "udp"}) {
    std::string body = block_of(*listed, fmt::format("map {}_ports {{", protocol));
    std::string keys;
    for (const auto& f : forwards)
      if (f.protocol == protocol && body.find(fmt::format(" {} : ", f.host_port)) != std::string::npos)
        keys += fmt::format("{}{}", keys.empty() ? "" : ", ", f.host_port);
    if (!keys.empty()) script += fmt::format("delete element {} {}_ports {{ {} }}\n", table, protocol, keys);
  }
  if (script.empty()) return {};
  auto r = run_nft(script);
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> add_network(const std::string& chain, const std::string& bridge, const std::string& subnet) {
  auto lock = lock_table();
  if (!lock) return std::unexpected(lock.error());
  if (auto r = ensure_table_locked(); !r) return r;
  auto r = run_nft(fmt::format(R"(
add chain {0} {1}
flush chain {0} {1}
add rule {0} {1} oifname "brt-*" oifname != "{2}" drop
add element {0} forward_from {{ "{2}" : jump {1} }}
add element {0} nat_subnets {{ {3} }}
)", table, chain, bridge, subnet));
  if (!r) return std::unexpected(r.error());
  return {};
}

Result<void> remove_network(const std::string& chain, const std::string& bridge, const std::string& subnet) {
  auto lock = lock_table();
  if (!lock) return std::unexpected(lock.error());
  auto listed = list_table();
  if (!listed) return std::unexpected(listed.error());
  if (listed->empty()) return {};
  // Each piece on its own, so one already gone does not keep the others.
  std::string script;
  if (listed->find(fmt::format("\"{}\" : jump {}", bridge, chain)) != std::string::npos)
    script += fmt::format("delete element {} forward_from {{ \"{}\" }}\n", table, bridge);
  if (listed->find(subnet) != std::string::npos)
    script += fmt::format("delete element {} nat_subnets {{ {} }}\n", table, subnet);
  if (listed->find("chain " + chain + " {") != std::string::npos)
    script += fmt::format("flush chain {0} {1}\ndelete chain {0} {1}\n", table, chain);
  if (script.empty()) return {};
  auto r = run_nft(script);
  if (!r) return std::unexpected(r.error());
  return {};
}


Result<std::vector<std::string>> remove_orphans(const Orphans& orphans) {
  auto lock = lock_table();
  if (!lock) return std::unexpected(lock.error());
  std::vector<std::string> removed;
  auto listed = list_table();
  if (!listed) return std::unexpected(listed.error());
  if (listed->empty()) return removed;
  std::string script;
  // Network chains: "chain net-<id10> {"; their bridge is "brt-<id10>".
  for (std::size_t at = listed->find("chain net-"); at != std::string::npos; at = listed->find("chain net-", at + 1)) {
    std::string chain = listed->substr(at + 6, listed->find(' ', at + 6) - at - 6);
    if (!contains(orphans.chains, chain)) continue;
    std::string bridge = "brt-" + chain.substr(4);
    if (listed->find(fmt::format("\"{}\" : jump {}", bridge, chain)) != std::string::npos)
      script += fmt::format("delete element {} forward_from {{ \"{}\" }}\n", table, bridge);
    script += fmt::format("flush chain {0} {1}\ndelete chain {0} {1}\n", table, chain);
    removed.push_back("nftables chain " + chain);
  }
  for (const auto& subnet : elements_of(block_of(*listed, "set nat_subnets {")))
    if (contains(orphans.subnets, subnet)) {
      script += fmt::format("delete element {} nat_subnets {{ {} }}\n", table, subnet);
      removed.push_back("nftables NAT for " + subnet);
    }
  for (const char* protocol : {"tcp", "udp"})
    for (const auto& element : elements_of(block_of(*listed, fmt::format("map {}_ports {{", protocol)))) {
      // "8080 : 10.89.0.3 . 80"
      auto colon = element.find(" : ");
      auto dot = element.find(" . ");
      if (colon == std::string::npos || dot == std::string::npos) continue;
      std::string target = element.substr(colon + 3, dot - colon - 3);
      if (!orphans.stale_target || !orphans.stale_target(target)) continue;
      std::string port = element.substr(0, colon);
      script += fmt::format("delete element {} {}_ports {{ {} }}\n", table, protocol, port);
      removed.push_back(fmt::format("nftables {} port {} to {}", protocol, port, target));
    }
  if (script.empty()) return removed;
  if (auto r = run_nft(script); !r) return std::unexpected(r.error());
  return removed;
}

Result<std::string> list_table() {
  auto r = run({"nft", "list", "table", "ip", "berth"}, "");
  if (!r) {
    if (r.error().message.find("No such file or directory") != std::string::npos) return std::string();
    return std::unexpected(r.error());
  }
  return r;
}

Result<void> delete_table_if_unused() {
  auto lock = lock_table();
  if (!lock) return std::unexpected(lock.error());
  auto listed = list_table();
  if (!listed) return std::unexpected(listed.error());
  if (listed->empty() || listed->find("elements = ") != std::string::npos) return {};
  auto r = run_nft(fmt::format("delete table {}\n", table));
  if (!r) return std::unexpected(r.error());
  return {};
}

}  // namespace berth::linux::nftables
