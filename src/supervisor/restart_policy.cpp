#include "supervisor/restart_policy.hpp"

#include <algorithm>

namespace berth::supervisor {

namespace {

bool failed(const WorkloadStatus& status) {
  if (status.state == WorkloadState::failed || status.oom_killed) return true;
  return status.exit_code.value_or(1) != 0;  // a signal death has no code: a failure
}

}  // namespace

bool should_restart(const RestartPolicy& policy, const WorkloadStatus& status, RestartCause cause) {
  if (policy.name == "no" || policy.name.empty()) return false;
  if (policy.name == "on-failure") {
    if (status.stopped_by_user) return false;
    if (cause != RestartCause::unhealthy && !failed(status)) return false;
    return policy.max_retries == 0 || status.restart_count < policy.max_retries;
  }
  if (policy.name == "unless-stopped") return !status.stopped_by_user;
  if (policy.name == "always") {
    // As Docker: a user's stop holds while the supervisor runs; a supervisor that starts anew
    // brings "always" workloads back even so.
    return !status.stopped_by_user || cause == RestartCause::reconcile;
  }
  return false;
}

std::chrono::milliseconds restart_delay(int consecutive, const BackoffPolicy& backoff) {
  auto delay = backoff.initial;
  for (int i = 0; i < consecutive && delay < backoff.max; ++i) delay *= 2;
  return std::min(delay, backoff.max);
}

}  // namespace berth::supervisor
