#include "runtime/teardown.hpp"

#include "runtime/network_attach.hpp"
#include "runtime/port_proxy.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "common/fault_point.hpp"
#include "common/fs.hpp"
#include "linux/mounts.hpp"
#include "linux/process.hpp"
#include "state/log_file.hpp"

namespace berth {

namespace {

// The namespaces a process holds that the caller does not share.
std::vector<std::string> own_namespaces_of(pid_t pid) {
  std::vector<std::string> out;
  for (const char* kind : {"mnt", "pid", "net", "ipc", "uts", "cgroup", "user"}) {
    char theirs[64], ours[64];
    auto a = ::readlink(fmt::format("/proc/{}/ns/{}", pid, kind).c_str(), theirs, sizeof theirs - 1);
    auto b = ::readlink(fmt::format("/proc/self/ns/{}", kind).c_str(), ours, sizeof ours - 1);
    if (a <= 0 || b <= 0) continue;
    std::string t(theirs, static_cast<std::size_t>(a)), o(ours, static_cast<std::size_t>(b));
    if (t != o) out.push_back(t);
  }
  return out;
}

}  // namespace

Result<void> kill_workload(const linux::CgroupHost& host, const state::WorkloadRecord& record,
                           TeardownReport& report) {
  if (record.pid && record.kind == WorkloadKind::container) {
    auto namespaces = own_namespaces_of(*record.pid);
    // Only a process in a mount namespace of its own has mounts that are its to release.
    if (!namespaces.empty() && namespaces.front().starts_with("mnt:"))
      report.mounts = linux::mount_points(fmt::format("/proc/{}/mountinfo", *record.pid));
    report.namespaces = std::move(namespaces);
  }
  auto cgroup = linux::open_cgroup(host, StateLayout::cgroup_path(record.id));
  // Its shim removes the cgroup once the kill has ended the workload (before release below
  // gets to it): what is released is what existed now.
  report.cgroups = cgroup->paths();
  auto killed = cgroup->kill_all();
  if (!killed) return std::unexpected(killed.error().with_context("remove " + record.name));
  report.killed_pids.assign(killed->begin(), killed->end());
  return {};
}

Result<void> release_workload(const StateLayout& layout, const linux::CgroupHost& host,
                              state::Store& store, const state::WorkloadRecord& record,
                              TeardownReport& report) {
  for (auto& line : unpublish_ports(layout.ports_path(record.id))) report.network.push_back(std::move(line));
  // The log first: when it has filled the disk, the store's writes below need its room.
  state::remove_log_files(layout.log_path(record.id));
  auto network = detach_from_networks(store, layout, record.id);
  if (!network) return std::unexpected(network.error().with_context("remove " + record.name));
  report.network.insert(report.network.end(), network->begin(), network->end());
  auto cgroup = linux::open_cgroup(host, StateLayout::cgroup_path(record.id));
  auto dirs = cgroup->remove();
  if (!dirs) return std::unexpected(dirs.error().with_context("remove " + record.name));
  for (auto& dir : *dirs)
    if (std::find(report.cgroups.begin(), report.cgroups.end(), dir) == report.cgroups.end())
      report.cgroups.push_back(std::move(dir));
  std::string dir = layout.workload_dir(record.id);
  if (path_exists(dir)) {
    for (const char* part : {"/upper", "/rootfs"})
      if (path_exists(dir + part) && record.kind == WorkloadKind::container) report.files.push_back(dir + part);
    if (auto r = remove_tree(dir); !r) return std::unexpected(r.error().with_context("remove " + record.name));
    report.files.push_back(dir);
  }
  fault_point("remove:files-gone");
  if (auto r = store.erase(record.id, state::NewEvent{std::string(event_type::removed), {}}); !r) return std::unexpected(r.error());
  return {};
}

}  // namespace berth
