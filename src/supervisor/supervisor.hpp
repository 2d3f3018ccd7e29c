// The supervisor: keeps workloads up. It follows the event stream, probes the health of every
// running workload that has a health check, and starts ended workloads again as their restart
// policies say, with Docker's backoff. It holds no state of its own that matters: everything is
// in the store, so a supervisor that starts anew (berthd after a crash) picks up where the last
// one was.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "berth/runtime.hpp"
#include "supervisor/health_state.hpp"
#include "supervisor/restart_policy.hpp"

namespace berth::supervisor {

struct SupervisorOptions {
  BackoffPolicy backoff;
  int workers = 4;  // probes and restarts run on this many threads
  std::function<void(std::string_view)> log;  // default: stderr
};

class Supervisor {
 public:
  // Reconciles (probes what runs, restarts what ended and should not have), then follows.
  static Result<std::unique_ptr<Supervisor>> start(Runtime& runtime, SupervisorOptions options = {});
  ~Supervisor();  // stops supervising; the workloads keep running
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  Runtime& runtime() { return runtime_; }

  // Waits until the workload is ready for its dependents: healthy when it has a health check,
  // else running (or exited with code 0: a one-shot job that did its work). Errors name why
  // not: unhealthy, exited, or still starting at the timeout.
  Result<void> wait_ready(const std::string& ref, std::chrono::milliseconds timeout,
                          std::stop_token stop = {});

  // How many workloads are watched (health check or restart policy); for status and tests.
  std::size_t watched() const;

 private:
  struct Watch;
  // restart_anew: a supervisor that starts anew brings an "always" workload back even after a
  // user's stop (a plain start, as Docker's daemon does at boot).
  enum class TaskKind { probe, restart, restart_anew, force_kill };
  struct Task {
    std::string id;
    std::uint64_t generation;
    TaskKind kind;
  };
  using SteadyClock = std::chrono::steady_clock;

  Supervisor(Runtime& runtime, SupervisorOptions options);
  Result<void> reconcile();
  void follow_events(std::stop_token stop, std::uint64_t since);
  void handle_event(const Event& event);
  void on_ended(const std::string& id, RestartCause cause_hint);
  void watch_workload(const WorkloadInfo& info);
  void schedule(SteadyClock::time_point due, Task task);  // caller holds mutex_
  void run_timers(std::stop_token stop);
  void run_worker(std::stop_token stop);
  void execute(const Task& task);
  void probe(const Task& task);
  void restart(const Task& task);
  void log(std::string_view message) const;

  Runtime& runtime_;
  SupervisorOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable_any changed_;  // timers, the work queue, and readiness waiters
  std::map<std::string, std::unique_ptr<Watch>> watches_;  // by workload id
  std::set<std::string> unwatched_;                        // seen, with nothing to supervise
  std::multimap<SteadyClock::time_point, Task> timers_;
  std::vector<Task> ready_tasks_;
  std::uint64_t events_seen_ = 0;     // bumps on every event: readiness waiters look again
  std::vector<std::jthread> threads_;
};

}  // namespace berth::supervisor
