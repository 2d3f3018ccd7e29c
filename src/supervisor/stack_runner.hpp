// A stack's life: up (create and start in dependency order, gated on health, rolled back on
// failure), down (reverse order, with grace), and what runs in it. A stack is not a record of
// its own: its workloads carry labels naming it, their place in it and their dependencies, so
// any process that opens the store (the CLI, berthd after a crash) sees the same stack. Beside
// them, a StackRecord says what the latest up set out to run and whether it finished.
#pragma once

#include <chrono>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "berth/runtime.hpp"
#include "supervisor/stack_file.hpp"
#include "supervisor/supervisor.hpp"

namespace berth::stack {

inline constexpr const char* stack_label = "berth.stack";
inline constexpr const char* member_label = "berth.stack.workload";
inline constexpr const char* depends_label = "berth.stack.depends_on";  // comma-separated
inline constexpr const char* spec_hash_label = "berth.stack.spec_hash";

// "<stack>-<workload>": the workload's name in the runtime.
std::string member_name(std::string_view stack, std::string_view workload);

struct UpReport {
  std::string stack;
  std::vector<std::string> created;    // new (or replaced because its definition changed)
  std::vector<std::string> started;    // existing, stopped, started again
  std::vector<std::string> unchanged;  // already running as defined
  std::chrono::milliseconds took{0};
};

struct DownReport {
  std::string stack;
  std::vector<TeardownReport> removed;  // in the order they went (dependents first)
};

// Starts every workload once all its dependencies are ready (healthy, or running when they have
// no health check); independent workloads start in parallel. A workload that fails to start or
// to become ready within file.start_timeout fails the up: the error names it and why, and with
// file.rollback what this up created or started is removed again.
Result<UpReport> stack_up(supervisor::Supervisor& supervisor, const StackFile& file,
                          std::stop_token stop = {});

// Stops (dependents before their dependencies, each level in parallel, with `grace` or each
// workload's own) and removes the stack's workloads. not_found when the stack has none.
Result<DownReport> stack_down(Runtime& runtime, std::string_view stack,
                              std::optional<std::chrono::milliseconds> grace = {});

// The stack's workloads, in start order.
Result<std::vector<WorkloadInfo>> stack_workloads(Runtime& runtime, std::string_view stack);

// Names of the stacks that have workloads or a record of an up (StackRecord), sorted.
Result<std::vector<std::string>> stack_names(Runtime& runtime);

}  // namespace berth::stack
