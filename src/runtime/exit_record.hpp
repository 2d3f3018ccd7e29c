// The shim's record of how a workload ended, written beside its log as exit.json. It backs up
// the state store: if the shim dies before the store saw the exit, the next reader takes it
// from here (see reconcile in local_runtime.cpp).
#pragma once

#include <string>

#include "berth/error.hpp"
#include "berth/status.hpp"
#include "state/store.hpp"

namespace berth {

struct ExitRecord {
  ExitInfo exit;
  TimePoint finished_at;
};

Result<void> write_exit_record(const std::string& path, const ExitRecord& record);
Result<ExitRecord> read_exit_record(const std::string& path);

// The event that records an exit: "oom" when the kernel killed it for memory, else "exited";
// attributes reason, exit_code and signal.
state::NewEvent exit_event(const ExitInfo& exit);

}  // namespace berth
