// A workload whose shim died while its processes live on: nobody is their parent any more
// (they were reparented to a subreaper or init), nobody logs their output or records how they
// end. The cgroup is the truth: while it has processes the workload runs, unsupervised, and
// stop, kill and remove act on the cgroup's processes directly (unsupervised.cpp).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "berth/status.hpp"
#include "linux/cgroup.hpp"
#include "runtime/layout.hpp"
#include "state/store.hpp"

namespace berth {

// How the status of such a workload says so: its state stays running (or healthy, stopping...)
// and its reason starts with this. `berth ps` shows "running (unsupervised)".
inline constexpr std::string_view unsupervised_reason_prefix = "unsupervised: ";
inline bool runs_unsupervised(const WorkloadStatus& status) {
  return is_active(status.state) && status.reason.starts_with(unsupervised_reason_prefix);
}
// "unsupervised: its shim (pid N) died; ..." for the record of a workload found so.
std::string unsupervised_reason(const state::WorkloadRecord& record);

// The processes of workload `id`'s cgroup that can still run (zombies left out: whoever is
// their parent reaps them). Empty when the cgroup is gone or cannot be read.
std::vector<pid_t> live_processes(const linux::CgroupHost& host, const std::string& id);

// `signal` to the main process while it is one of the cgroup's (else to every process of the
// cgroup). SIGKILL goes to the whole cgroup, as a shim ends what its main process leaves, and
// the end is written to exit.json first. conflict when nothing runs.
Result<void> signal_unsupervised(const StateLayout& layout, const linux::CgroupHost& host,
                                 const state::WorkloadRecord& record, int signal);

// A stop: `stop_signal` to every process of the cgroup (unless already sent), up to `grace`
// for them to go, then SIGKILL to what is left; returns when the cgroup is empty, with the end
// written to exit.json for reconcile to record.
Result<void> end_unsupervised(const StateLayout& layout, const linux::CgroupHost& host,
                              const state::WorkloadRecord& record, int stop_signal,
                              std::chrono::milliseconds grace, bool send_stop_signal);

// Before a start: never a second copy beside live processes of the workload's cgroup
// (conflict), except a created container's init whose shim died, which waits for a go that
// cannot come and is killed.
Result<void> refuse_leftovers(const linux::CgroupHost& host, const state::WorkloadRecord& record,
                              bool shim_alive);

}  // namespace berth
