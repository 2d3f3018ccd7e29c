// Device access rules for cgroup v2: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE, built
// from DeviceRules with hand-written instructions and loaded with the raw bpf(2) syscall (no
// libbpf). The v2 Cgroup uses it; it is its own header so that tests can attach a filter to
// any cgroup v2 directory (e.g. on a hybrid host's unified mount).
#pragma once

#include <vector>

#include "berth/error.hpp"
#include "linux/cgroup.hpp"

namespace berth::linux {

// Loads a program that allows what `rules` allow (last matching rule wins; no match: deny)
// and attaches it to the cgroup v2 directory `cgroup_dir_fd` (an fd opened O_RDONLY |
// O_DIRECTORY) with BPF_F_ALLOW_MULTI. Device programs that were attached directly to that
// cgroup before are detached once the new one is in place, so there is never a moment without
// a filter. The program's fd is closed before returning: the attachment keeps it alive, and
// removing the cgroup frees it. Rules are checked first (validate_device_rules).
Result<void> attach_device_filter(int cgroup_dir_fd, const std::vector<DeviceRule>& rules);

// How many device programs are attached directly to the cgroup `cgroup_dir_fd` (for tests).
Result<std::size_t> attached_device_filters(int cgroup_dir_fd);

}  // namespace berth::linux
