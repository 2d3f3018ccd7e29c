// Docker's health state machine: probe results in, healthy/unhealthy transitions out.
#pragma once

#include <chrono>
#include <optional>

#include "berth/spec.hpp"
#include "berth/status.hpp"

namespace berth::supervisor {

class HealthState {
 public:
  explicit HealthState(const HealthCheck& check) : retries_(std::max(1, check.retries)) {}

  // One probe's outcome; `in_start_period`: a failure then does not count (a success still
  // makes the workload healthy). Returns the state to move to, when it changes.
  std::optional<WorkloadState> record(bool passed, bool in_start_period) {
    if (passed) {
      failures_ = 0;
      return change_to(WorkloadState::healthy);
    }
    if (in_start_period) return std::nullopt;
    if (++failures_ >= retries_) return change_to(WorkloadState::unhealthy);
    return std::nullopt;
  }

  std::optional<WorkloadState> current() const { return current_; }
  int consecutive_failures() const { return failures_; }

 private:
  std::optional<WorkloadState> change_to(WorkloadState next) {
    if (current_ == next) return std::nullopt;
    current_ = next;
    return next;
  }

  int retries_;
  int failures_ = 0;
  std::optional<WorkloadState> current_;  // none until the first verdict ("starting")
};

}  // namespace berth::supervisor
