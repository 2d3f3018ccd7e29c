// stats: what a workload consumes, from its cgroup, and network counters of its own netns.
#include <fmt/format.h>

#include <cstdlib>
#include <sstream>
#include <thread>

#include "common/fs.hpp"
#include "runtime/exit_record.hpp"
#include "runtime/local_runtime.hpp"

namespace berth {

namespace {

// Its own network namespace: counters there are the workload's alone.
bool has_own_network(const WorkloadSpec& spec) {
  if (spec.kind == WorkloadKind::container) return spec.network != "host";
  return spec.namespaces.net || (!spec.network.empty() && spec.network != "host");
}

}  // namespace

namespace {

using namespace std::chrono_literals;

// The window over which cpu percent is measured.
constexpr auto cpu_sample_window = 100ms;

// Sums the receive and transmit byte counters of every interface in /proc/PID/net/dev.
std::optional<std::pair<std::uint64_t, std::uint64_t>> net_counters(int pid) {
  auto text = read_file(fmt::format("/proc/{}/net/dev", pid));
  if (!text) return std::nullopt;
  std::istringstream lines(*text);
  std::string line;
  std::uint64_t rx = 0, tx = 0;
  while (std::getline(lines, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;  // the two header lines
    std::istringstream fields(line.substr(colon + 1));
    std::uint64_t v[9] = {};
    for (auto& x : v) fields >> x;
    rx += v[0];
    tx += v[8];
  }
  return std::pair{rx, tx};
}

}  // namespace

Result<ResourceStats> LocalRuntime::stats(std::string_view ref) {
  auto record = find_current(ref);
  if (!record) return std::unexpected(record.error());
  auto cgroup = linux::open_cgroup(cgroup_host_, StateLayout::cgroup_path(record->id));
  // An exited workload's cgroup is gone (the shim removed it): its final figures are recorded.
  std::optional<ExitRecord> exited;
  if (!is_active(record->state) && record->state != WorkloadState::created)
    if (auto recorded = read_exit_record(layout_.exit_path(record->id)); recorded && recorded->usage)
      exited = std::move(*recorded);
  auto first = exited ? Result<linux::CgroupStats>(*exited->usage) : cgroup->stats();
  if (!first) return std::unexpected(first.error().with_context("stats of " + record->name));
  auto t0 = std::chrono::steady_clock::now();
  ResourceStats out;
  if (is_active(record->state)) {
    std::this_thread::sleep_for(cpu_sample_window);
    auto second = cgroup->stats();
    if (!second) return std::unexpected(second.error().with_context("stats of " + record->name));
    auto elapsed = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0);
    double used = static_cast<double>(second->cpu_usage_ns - std::min(first->cpu_usage_ns, second->cpu_usage_ns));
    out.cpu_percent = 100.0 * used / elapsed.count();
    first = second;
  }
  out.timestamp = Clock::now();
  out.cpu_usage_ns = first->cpu_usage_ns;
  out.memory_bytes = first->memory_bytes;
  out.memory_limit_bytes = first->memory_limit_bytes;
  out.pids = first->pids;
  out.pids_limit = first->pids_limit;
  out.io_read_bytes = first->io_read_bytes;
  out.io_write_bytes = first->io_write_bytes;
  auto spec = spec_of(*record);
  if (spec && record->pid && has_own_network(*spec)) {
    if (auto net = net_counters(*record->pid)) {
      out.net_rx_bytes = net->first;
      out.net_tx_bytes = net->second;
    }
  }
  if (spec && spec->kind == WorkloadKind::wasm && is_active(record->state))
    if (auto text = read_file(layout_.wasm_memory_path(record->id)))
      if (auto bytes = std::strtoull(text->c_str(), nullptr, 10); bytes > 0) out.wasm_memory_bytes = bytes;
  return out;
}

}  // namespace berth
