// Releasing what a workload holds on the host, in one place for remove and for the shim's
// auto-remove (--rm): its processes, what they still had mounted and the namespaces they held,
// its cgroup, its directory (logs, a container's upper dir or rootfs copy), then its row.
#pragma once

#include <string>

#include "berth/error.hpp"
#include "berth/status.hpp"
#include "linux/cgroup.hpp"
#include "runtime/layout.hpp"
#include "state/store.hpp"

namespace berth {

// Notes the mounts and namespaces of a live main process (they go when it dies), then sends
// SIGKILL to every process in the workload's cgroup, recording their pids in `report`.
Result<void> kill_workload(const linux::CgroupHost& host, const state::WorkloadRecord& record,
                           TeardownReport& report);

// After the processes are gone: the cgroup, the directory, the row (with a "remove" event).
Result<void> release_workload(const StateLayout& layout, const linux::CgroupHost& host,
                              state::Store& store, const state::WorkloadRecord& record,
                              TeardownReport& report);

}  // namespace berth
