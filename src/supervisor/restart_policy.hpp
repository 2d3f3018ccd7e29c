// When a workload that ended is started again, and after how long: Docker's restart policies.
#pragma once

#include <chrono>

#include "berth/spec.hpp"
#include "berth/status.hpp"

namespace berth::supervisor {

// Docker's numbers: the first restart waits 100 ms, each further one twice as long, at most a
// minute; a run that lasted 10 s or more starts the count afresh.
struct BackoffPolicy {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{60000};
  std::chrono::milliseconds stable_after{10000};
};

// Why the supervisor is looking at an ended workload.
enum class RestartCause {
  exited,     // its processes ended while the supervisor watched
  unhealthy,  // the supervisor ended it because its health check failed
  reconcile,  // it was found ended when the supervisor (re)started
};

// Whether `policy` starts the workload again. `status` is the workload after it ended
// (exit code, restart_count, stopped_by_user).
bool should_restart(const RestartPolicy& policy, const WorkloadStatus& status, RestartCause cause);

// The wait before restart number `consecutive` (0 for the first after a stable run).
std::chrono::milliseconds restart_delay(int consecutive, const BackoffPolicy& backoff);

}  // namespace berth::supervisor
