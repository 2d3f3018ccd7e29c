// What this host's kernel and cgroups offer, for tests that need a feature some hosts lack.
// Each check returns the reason the feature is missing (for GTEST_SKIP and for the skip report
// scripts/test.sh prints), or nothing when it is there. The checks read the host's cgroup roots
// as berth itself would find them: v1 controllers under /sys/fs/cgroup/<controller>, or a pure
// v2 hierarchy at /sys/fs/cgroup.
#pragma once

#include <sys/vfs.h>

#include <linux/magic.h>

#include <optional>
#include <string>

#include "common/fs.hpp"

namespace berth::testing {

using MissingFeature = std::optional<std::string>;

inline bool pure_cgroup_v2_host() {
  struct statfs fs;
  return ::statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

// A weight for block I/O: CFQ's blkio.weight or BFQ's blkio.bfq.weight on v1; io.bfq.weight
// (BFQ) or io.weight (the iocost controller) on v2. Disks scheduled by mq-deadline, kyber or
// none have neither on v1.
inline MissingFeature missing_blkio_weight() {
  if (pure_cgroup_v2_host()) {
    auto controllers = read_file("/sys/fs/cgroup/cgroup.controllers").value_or("");
    if (controllers.find("io") == std::string::npos) return "no io controller in this host's cgroup v2 root";
    if (path_exists("/sys/fs/cgroup/io.cost.qos") || path_exists("/sys/fs/cgroup/io.bfq.weight")) return {};
    return "no block I/O weights on this host (neither BFQ's io.bfq.weight nor iocost's io.weight)";
  }
  if (path_exists("/sys/fs/cgroup/blkio/blkio.weight") || path_exists("/sys/fs/cgroup/blkio/blkio.bfq.weight"))
    return {};
  return "no block I/O weights on this host (neither blkio.weight nor blkio.bfq.weight: its disks are not "
         "scheduled by CFQ or BFQ)";
}

// A v1 cpu controller file that depends on a kernel option (cpu.rt_runtime_us needs
// CONFIG_RT_GROUP_SCHED, cpu.cfs_burst_us 5.14+, cpu.idle 5.15+).
inline MissingFeature missing_v1_cpu_file(const std::string& file) {
  if (path_exists("/sys/fs/cgroup/cpu/" + file)) return {};
  return "no " + file + " in this host's v1 cpu controller (a kernel option or version it lacks)";
}

inline MissingFeature missing_huge_pages_2mb() {
  if (path_exists("/sys/kernel/mm/hugepages/hugepages-2048kB")) return {};
  return "no 2MB huge pages on this host";
}

inline MissingFeature missing_swap_accounting() {
  if (pure_cgroup_v2_host() || path_exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")) return {};
  return "no swap accounting on this host (memory.memsw.* absent: swapaccount=0 or no swap support)";
}

}  // namespace berth::testing
