// The shim's record of how a workload ended, written beside its log as exit.json. It backs up
// the state store: if the shim dies before the store saw the exit, the next reader takes it
// from here (see reconcile in local_runtime.cpp). It also keeps the cgroup's final figures:
// the shim removes the cgroup when the workload exits (as runc does), so that exited
// workloads do not hold kernel cgroups until rm; stats and inspect read the figures here.
#pragma once

#include <string>

#include "berth/error.hpp"
#include "berth/status.hpp"
#include "linux/cgroup.hpp"
#include "state/store.hpp"

namespace berth {

struct ExitRecord {
  ExitInfo exit;
  TimePoint finished_at;
  // What the cgroup had counted when the workload ended (absent when it could not be read).
  std::optional<linux::CgroupStats> usage;
};

Result<void> write_exit_record(const std::string& path, const ExitRecord& record);
Result<ExitRecord> read_exit_record(const std::string& path);

// The event that records an exit: "oom" when the kernel killed it for memory, else "exited";
// attributes reason, exit_code and signal.
state::NewEvent exit_event(const ExitInfo& exit);

}  // namespace berth
