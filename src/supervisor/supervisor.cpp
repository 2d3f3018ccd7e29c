#include "supervisor/supervisor.hpp"

#include <signal.h>

#include <cstdio>

#include <fmt/format.h>

#include "runtime/unsupervised.hpp"
#include "supervisor/health_probe.hpp"

namespace berth::supervisor {

using namespace std::chrono_literals;

namespace {

// How often running workloads with a restart policy are checked for a dead shim.
constexpr auto supervision_check_period = 1s;

bool has_restart_policy(const RestartPolicy& policy) { return !policy.name.empty() && policy.name != "no"; }

}  // namespace

struct Supervisor::Watch {
  std::string id;
  std::string name;
  std::optional<HealthCheck> health;
  RestartPolicy policy;
  int stop_signal = SIGTERM;
  std::chrono::milliseconds stop_grace{10000};
  // Bumps on every start, exit and stop: a timer or probe of an older generation is dropped.
  std::uint64_t generation = 0;
  bool running = false;
  SteadyClock::time_point started{};
  std::optional<HealthState> health_state;
  int consecutive_restarts = 0;
  bool ending_unhealthy = false;  // the supervisor is ending it because its health failed
};

Supervisor::Supervisor(Runtime& runtime, SupervisorOptions options)
    : runtime_(runtime), options_(std::move(options)) {}

Result<std::unique_ptr<Supervisor>> Supervisor::start(Runtime& runtime, SupervisorOptions options) {
  std::unique_ptr<Supervisor> self(new Supervisor(runtime, std::move(options)));
  // Events from here on are followed; what happened before is read from the workloads' rows.
  auto since = runtime.last_event_seq();
  if (!since) return std::unexpected(since.error());
  if (auto r = self->reconcile(); !r) return std::unexpected(r.error());
  auto* raw = self.get();
  self->threads_.emplace_back([raw, since = *since](std::stop_token stop) { raw->follow_events(stop, since); });
  self->threads_.emplace_back([raw](std::stop_token stop) { raw->run_timers(stop); });
  for (int i = 0; i < std::max(1, self->options_.workers); ++i)
    self->threads_.emplace_back([raw](std::stop_token stop) { raw->run_worker(stop); });
  return self;
}

Supervisor::~Supervisor() {
  for (auto& t : threads_) t.request_stop();
  changed_.notify_all();
  threads_.clear();  // joins
}

void Supervisor::log(std::string_view message) const {
  if (options_.log) options_.log(message);
  else std::fprintf(stderr, "berth supervisor: %.*s\n", static_cast<int>(message.size()), message.data());
}

std::size_t Supervisor::watched() const {
  std::lock_guard lock(mutex_);
  return watches_.size();
}

void Supervisor::watch_workload(const WorkloadInfo& info) {
  const auto& spec = info.spec;
  bool supervise = spec.health_check.has_value() || (spec.restart_policy.name != "no" && !spec.restart_policy.name.empty());
  std::lock_guard lock(mutex_);
  if (!supervise) {
    unwatched_.insert(info.status.id);
    return;
  }
  auto& w = watches_[info.status.id];
  if (!w) w = std::make_unique<Watch>();
  w->id = info.status.id;
  w->name = info.status.name;
  w->health = spec.health_check;
  w->policy = spec.restart_policy;
  w->stop_signal = spec.stop_signal;
  w->stop_grace = spec.stop_grace;
}

Result<void> Supervisor::reconcile() {
  auto all = runtime_.list();
  if (!all) return std::unexpected(all.error());
  for (const auto& info : *all) {
    watch_workload(info);
    std::lock_guard lock(mutex_);
    auto it = watches_.find(info.status.id);
    if (it == watches_.end()) continue;
    Watch& w = *it->second;
    if (is_active(info.status.state)) {
      // Live restore: probing resumes where the last supervisor left off.
      w.running = true;
      w.started = SteadyClock::now();
      if (w.health) {
        w.health_state.emplace(*w.health);
        schedule(SteadyClock::now() + std::min(w.health->interval, std::chrono::milliseconds(1000)),
                 Task{w.id, w.generation, TaskKind::probe});
      }
    } else if (info.status.state != WorkloadState::created &&
               should_restart(w.policy, info.status, RestartCause::reconcile)) {
      log(fmt::format("{} ended while nobody watched ({}); its restart policy {} starts it again",
                      w.name, info.status.reason, w.policy.name));
      schedule(SteadyClock::now(), Task{w.id, w.generation,
                                        info.status.stopped_by_user ? TaskKind::restart_anew : TaskKind::restart});
    }
  }
  return {};
}

void Supervisor::follow_events(std::stop_token stop, std::uint64_t since) {
  // A running workload whose shim died (runs_unsupervised) has nobody to record its end, so its
  // policy would never restart it: its orphaned processes are killed (the whole cgroup), never
  // left beside a second copy.
  auto end_orphans = [this] {
    std::vector<std::pair<std::string, std::string>> running;  // id, name
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, w] : watches_)
        if (w->running && has_restart_policy(w->policy)) running.emplace_back(id, w->name);
    }
    for (const auto& [id, name] : running) {
      auto status = runtime_.status(id);
      if (!status || !runs_unsupervised(*status)) continue;
      // As Docker does when a container's shim dies: the orphan goes, the restart policy decides.
      // The exit this records comes back as an event, and on_ended restarts it.
      log(fmt::format("{}: its shim died while it ran; killing its orphaned processes so its restart policy "
                      "starts it again cleanly",
                      name));
      if (auto r = runtime_.kill(id, SIGKILL); !r && r.error().code != ErrorCode::conflict)
        log(fmt::format("{}: kill its orphaned processes: {}", name, r.error().message));
    }
  };
  std::unique_ptr<EventReader> reader;
  auto next_check = SteadyClock::now();
  while (!stop.stop_requested()) {
    if (SteadyClock::now() >= next_check) {
      end_orphans();
      next_check = SteadyClock::now() + supervision_check_period;
    }
    if (!reader) {
      auto opened = runtime_.watch(since);
      if (!opened) {
        log("watch events: " + opened.error().message);
        std::this_thread::sleep_for(500ms);
        continue;
      }
      reader = std::move(*opened);
    }
    auto next = reader->next(250ms, stop);
    if (!next) {
      if (next.error().code == ErrorCode::timeout) continue;
      if (stop.stop_requested()) return;
      log("read events: " + next.error().message);
      reader.reset();  // reopen from the last seq handled
      continue;
    }
    if (!*next) continue;
    since = (*next)->seq;
    handle_event(**next);
    {
      std::lock_guard lock(mutex_);
      ++events_seen_;
    }
    changed_.notify_all();
  }
}

void Supervisor::handle_event(const Event& event) {
  if (event.workload_id.empty()) return;  // a stack's event
  const std::string& id = event.workload_id;
  if (event.type == event_type::removed) {
    std::lock_guard lock(mutex_);
    watches_.erase(id);
    unwatched_.erase(id);
    return;
  }
  bool known;
  {
    std::lock_guard lock(mutex_);
    known = watches_.contains(id) || unwatched_.contains(id);
  }
  if (!known) {
    auto info = runtime_.inspect(id);
    if (!info) return;  // removed meanwhile
    watch_workload(*info);
  }
  if (event.type == event_type::exited || event.type == event_type::oom) {
    on_ended(id, RestartCause::exited);
    return;
  }
  std::lock_guard lock(mutex_);
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  Watch& w = *it->second;
  if (event.type == event_type::started) {
    ++w.generation;
    w.running = true;
    w.started = SteadyClock::now();
    w.ending_unhealthy = false;
    if (w.health) {
      w.health_state.emplace(*w.health);
      // Docker probes first one interval after the start; a short first wait gets dependents
      // going sooner when the interval is long.
      schedule(SteadyClock::now() + std::min(w.health->interval, std::chrono::milliseconds(1000)),
               Task{w.id, w.generation, TaskKind::probe});
    }
  } else if (event.type == event_type::stopping) {
    ++w.generation;  // a user's stop: no probe or restart of the old run goes ahead
  }
}

void Supervisor::on_ended(const std::string& id, RestartCause cause) {
  std::uint64_t generation;
  {
    std::lock_guard lock(mutex_);
    auto it = watches_.find(id);
    if (it == watches_.end()) return;
    Watch& w = *it->second;
    ++w.generation;
    w.running = false;
    if (w.ending_unhealthy) cause = RestartCause::unhealthy;
    w.ending_unhealthy = false;
    generation = w.generation;
  }
  auto status = runtime_.status(id);
  if (!status) return;
  std::lock_guard lock(mutex_);
  auto it = watches_.find(id);
  if (it == watches_.end() || it->second->generation != generation) return;
  Watch& w = *it->second;
  if (!should_restart(w.policy, *status, cause)) return;
  auto ran = SteadyClock::now() - w.started;
  if (ran >= options_.backoff.stable_after) w.consecutive_restarts = 0;
  auto delay = restart_delay(w.consecutive_restarts++, options_.backoff);
  log(fmt::format("{} {} ({}); restarting in {} ms (policy {})", w.name,
                  cause == RestartCause::unhealthy ? "was unhealthy" : "ended", status->reason,
                  delay.count(), w.policy.name));
  schedule(SteadyClock::now() + delay, Task{w.id, w.generation, TaskKind::restart});
}

void Supervisor::schedule(SteadyClock::time_point due, Task task) {
  timers_.emplace(due, std::move(task));
  changed_.notify_all();
}

void Supervisor::run_timers(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    auto now = SteadyClock::now();
    bool moved = false;
    while (!timers_.empty() && timers_.begin()->first <= now) {
      ready_tasks_.push_back(std::move(timers_.begin()->second));
      timers_.erase(timers_.begin());
      moved = true;
    }
    if (moved) changed_.notify_all();
    if (timers_.empty()) changed_.wait(lock, stop, [&] { return !timers_.empty(); });
    else changed_.wait_until(lock, stop, timers_.begin()->first, [&] { return timers_.begin()->first <= SteadyClock::now(); });
  }
}

void Supervisor::run_worker(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  while (!stop.stop_requested()) {
    if (!changed_.wait(lock, stop, [&] { return !ready_tasks_.empty(); })) return;
    Task task = std::move(ready_tasks_.front());
    ready_tasks_.erase(ready_tasks_.begin());
    lock.unlock();
    execute(task);
    lock.lock();
  }
}

void Supervisor::execute(const Task& task) {
  switch (task.kind) {
    case TaskKind::probe:
      probe(task);
      break;
    case TaskKind::restart:
    case TaskKind::restart_anew:
      restart(task);
      break;
    case TaskKind::force_kill: {
      {
        std::lock_guard lock(mutex_);
        auto it = watches_.find(task.id);
        if (it == watches_.end() || it->second->generation != task.generation) return;
      }
      (void)runtime_.kill(task.id, SIGKILL);
      break;
    }
  }
}

void Supervisor::probe(const Task& task) {
  HealthCheck check;
  {
    std::lock_guard lock(mutex_);
    auto it = watches_.find(task.id);
    if (it == watches_.end() || it->second->generation != task.generation || !it->second->health) return;
    check = *it->second->health;
  }
  auto status = runtime_.status(task.id);
  if (!status || !is_active(status->state)) return;  // its exit event is on the way
  HealthResult result = run_health_probe(runtime_, *status, check);
  std::optional<WorkloadState> transition;
  bool end_it = false;
  int stop_signal = SIGTERM;
  std::chrono::milliseconds grace{};
  std::string name;
  {
    std::lock_guard lock(mutex_);
    auto it = watches_.find(task.id);
    if (it == watches_.end() || it->second->generation != task.generation) return;
    Watch& w = *it->second;
    name = w.name;
    bool in_start_period = SteadyClock::now() < w.started + check.start_period;
    transition = w.health_state->record(result.exit_code == 0, in_start_period);
    if (transition == WorkloadState::unhealthy &&
        should_restart(w.policy, *status, RestartCause::unhealthy)) {
      end_it = true;
      w.ending_unhealthy = true;
      stop_signal = w.stop_signal;
      grace = w.stop_grace;
      schedule(SteadyClock::now() + grace, Task{w.id, w.generation, TaskKind::force_kill});
    } else {
      schedule(SteadyClock::now() + check.interval, Task{w.id, w.generation, TaskKind::probe});
    }
  }
  if (auto r = runtime_.report_health(task.id, result, transition); !r && r.error().code != ErrorCode::conflict)
    log(fmt::format("{}: record health: {}", name, r.error().message));
  if (end_it) {
    log(fmt::format("{} is unhealthy ({}); ending it for its restart policy", name, result.output));
    (void)runtime_.kill(task.id, stop_signal);
  }
}

void Supervisor::restart(const Task& task) {
  std::string name;
  {
    std::lock_guard lock(mutex_);
    auto it = watches_.find(task.id);
    if (it == watches_.end() || it->second->generation != task.generation) return;
    name = it->second->name;
  }
  auto r = task.kind == TaskKind::restart_anew ? runtime_.start(task.id) : runtime_.restart_by_policy(task.id);
  if (!r) {
    // A start that failed in the shim records an exit, which comes back here with more backoff.
    if (r.error().code != ErrorCode::conflict) log(fmt::format("restart {}: {}", name, r.error().message));
  }
}

Result<void> Supervisor::wait_ready(const std::string& ref, std::chrono::milliseconds timeout,
                                    std::stop_token stop) {
  auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    std::uint64_t seen;
    {
      std::lock_guard lock(mutex_);
      seen = events_seen_;
    }
    auto info = runtime_.inspect(ref);
    if (!info) return std::unexpected(info.error());
    const auto& s = info->status;
    bool has_health = info->spec.health_check.has_value();
    auto last_probe = [&] {
      if (s.health.empty()) return std::string("no probe has run");
      const auto& h = s.health.back();
      return fmt::format("last probe: exit {}: {}", h.exit_code, h.output);
    };
    if (s.state == WorkloadState::healthy) return {};
    if (!has_health && is_active(s.state)) return {};
    if (s.state == WorkloadState::exited && s.exit_code == 0 && !has_health) return {};
    if (s.state == WorkloadState::unhealthy)
      return fail(ErrorCode::unavailable, fmt::format("{} is unhealthy ({})", s.name, last_probe()));
    if (!is_active(s.state) && s.state != WorkloadState::created)
      return fail(ErrorCode::unavailable, fmt::format("{} {}: {}", s.name, to_string(s.state), s.reason));
    if (SteadyClock::now() >= deadline)
      return fail(ErrorCode::timeout,
                  fmt::format("{} did not become {} within {} ms ({})", s.name, has_health ? "healthy" : "running",
                              timeout.count(), has_health ? last_probe() : to_string(s.state)));
    std::unique_lock lock(mutex_);
    changed_.wait_until(lock, stop, std::min(deadline, SteadyClock::now() + 200ms), [&] { return events_seen_ != seen; });
    if (stop.stop_requested()) return fail(ErrorCode::unavailable, "cancelled");
  }
}

}  // namespace berth::supervisor
