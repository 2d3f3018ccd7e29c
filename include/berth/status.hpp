// Where a workload is in its lifecycle, and what it consumes.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "berth/spec.hpp"

namespace berth {

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

enum class WorkloadState {
  created,
  starting,
  running,
  healthy,
  unhealthy,
  stopping,
  exited,
  oom_killed,
  failed,
};

std::string_view to_string(WorkloadState state);
std::optional<WorkloadState> parse_workload_state(std::string_view text);
// running, healthy, unhealthy, starting and stopping all have live processes.
bool is_active(WorkloadState state);

// One health probe: exit_code 0 is healthy, as with Docker's HEALTHCHECK.
struct HealthResult {
  TimePoint time;
  int exit_code = 0;
  std::string output;  // what the probe printed or why it failed, truncated
  bool operator==(const HealthResult&) const = default;
};

struct WorkloadStatus {
  std::string id;
  std::string name;
  WorkloadKind kind = WorkloadKind::process;
  WorkloadState state = WorkloadState::created;
  std::optional<int> pid;
  std::optional<int> exit_code;    // set once exited
  std::optional<int> exit_signal;  // the signal that ended it, if any
  bool oom_killed = false;
  // The most memory it used, once exited (from its exit record; inspect only).
  std::optional<std::uint64_t> memory_peak_bytes;
  std::string reason;  // why it failed, or how it ended
  TimePoint created_at;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
  int restart_count = 0;
  std::vector<HealthResult> health;  // the last probes, oldest first
  // stop() was called since the last start: restart policies leave the workload stopped.
  bool stopped_by_user = false;
  // Log records the shim could not write (a full disk): missing from `logs`.
  std::uint64_t log_dropped_lines = 0;
  std::uint64_t log_dropped_bytes = 0;
  bool operator==(const WorkloadStatus&) const = default;
};

// What a workload holds; one entry of list().
struct WorkloadInfo {
  WorkloadStatus status;
  WorkloadSpec spec;
  bool operator==(const WorkloadInfo&) const = default;
};

struct ResourceStats {
  TimePoint timestamp;
  std::uint64_t cpu_usage_ns = 0;  // cumulative
  double cpu_percent = 0;          // over the sampling window; 100 = one core busy
  std::uint64_t memory_bytes = 0;
  std::optional<std::uint64_t> memory_limit_bytes;
  std::uint64_t pids = 0;
  std::optional<std::uint64_t> pids_limit;
  // Only for a workload with its own network namespace; host counters would mislead.
  std::optional<std::uint64_t> net_rx_bytes;
  std::optional<std::uint64_t> net_tx_bytes;
  std::uint64_t io_read_bytes = 0;
  std::uint64_t io_write_bytes = 0;
  // A running wasm workload: its guest's linear memory (memory_bytes is the whole runner's RSS
  // from the cgroup). Updated by the runner whenever a WASI call sees it changed.
  std::optional<std::uint64_t> wasm_memory_bytes;
  bool operator==(const ResourceStats&) const = default;
};

// What remove() released, so callers can see nothing was left behind.
struct TeardownReport {
  std::string id;
  std::string name;
  std::vector<int> killed_pids;
  std::vector<std::string> cgroups;
  std::vector<std::string> mounts;      // mount points the workload still had
  std::vector<std::string> namespaces;  // "mnt:[4026532301]"... of a workload still running
  std::vector<std::string> network;
  std::vector<std::string> files;       // directories removed (container upper dir, logs)
  bool operator==(const TeardownReport&) const = default;
};

struct ExitInfo {
  std::optional<int> exit_code;
  std::optional<int> exit_signal;
  bool oom_killed = false;
  WorkloadState state = WorkloadState::exited;
  std::string reason;
  // What a shell would report: the code, or 128 + signal.
  int shell_code() const {
    if (exit_code) return *exit_code;
    if (exit_signal) return 128 + *exit_signal;
    return 255;
  }
  bool operator==(const ExitInfo&) const = default;
};

struct ExecOptions {
  std::vector<std::string> env;  // added to the workload's environment
  std::string working_dir;
  std::string user;
  std::chrono::milliseconds timeout{30000};
  // Interactive use (`berth exec -i`, `-t`): the command gets these caller-owned fds as its
  // stdin, stdout and stderr instead of captured pipes, and the result's output stays empty.
  std::optional<std::array<int, 3>> stdio;
  // stdio[0] is a terminal (a pty's slave): the command starts a session and takes it as its
  // controlling terminal.
  bool tty = false;
  bool operator==(const ExecOptions&) const = default;
};

struct ExecResult {
  int exit_code = 0;  // 128 + signal when killed
  std::string stdout_data;
  std::string stderr_data;
  bool operator==(const ExecResult&) const = default;
};

}  // namespace berth
