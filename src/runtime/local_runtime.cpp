#include "runtime/local_runtime.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fault_point.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "linux/netlink.hpp"
#include "linux/process.hpp"
#include "linux/unix_socket.hpp"
#include "runtime/exit_record.hpp"
#include "runtime/health_record.hpp"
#include "runtime/network_attach.hpp"
#include "runtime/port_proxy.hpp"
#include "state/network_store.hpp"
#include "runtime/ids.hpp"
#include "runtime/json.hpp"
#include "runtime/shim_launcher.hpp"
#include "runtime/shim_protocol.hpp"
#include "runtime/spec_validation.hpp"
#include "wasm/module_file.hpp"
#include "runtime/teardown.hpp"
#include "runtime/unsupervised.hpp"
#include "state/log_file.hpp"

namespace berth {

using namespace std::chrono_literals;

namespace {

const std::vector<WorkloadState> active_states{WorkloadState::starting, WorkloadState::running,
                                               WorkloadState::healthy, WorkloadState::unhealthy,
                                               WorkloadState::stopping};

constexpr auto shim_report_timeout = 30s;
// How long stop/remove wait for the shim to record an exit after SIGKILL.
constexpr auto kill_settle_timeout = 10s;

// SQLite's "database or disk is full" (and ENOSPC from the files around it).
bool is_disk_full(const Error& error) { return error.code == ErrorCode::limit_exceeded; }

// The row's status and what its log could not keep (the shim counts that next to the log).
WorkloadStatus status_with_log(const StateLayout& layout, const state::WorkloadRecord& record) {
  WorkloadStatus status = status_of(record);
  auto drops = state::read_log_drops(layout.log_path(record.id));
  status.log_dropped_lines = drops.lines;
  status.log_dropped_bytes = drops.bytes;
  return status;
}

}  // namespace

// A host process without its own network namespace, or a container with --network host.
static bool shares_host_network(const WorkloadSpec& spec) {
  if (spec.kind == WorkloadKind::container) return spec.network == "host";
  return !spec.namespaces.net && (spec.network.empty() || spec.network == "host");
}

bool has_live_shim(const state::WorkloadRecord& record) {
  return record.shim_pid && record.shim_start_time &&
         linux::process_matches(*record.shim_pid, *record.shim_start_time);
}

std::string resolve_state_root(const std::string& explicit_root) {
  if (!explicit_root.empty()) return explicit_root;
  if (const char* env = std::getenv("BERTH_ROOT"); env && *env) return env;
  return "/var/lib/berth";
}

WorkloadStatus status_of(const state::WorkloadRecord& r) {
  WorkloadStatus s;
  s.id = r.id;
  s.name = r.name;
  s.kind = r.kind;
  s.state = r.state;
  s.pid = r.pid;
  s.exit_code = r.exit_code;
  s.exit_signal = r.exit_signal;
  s.oom_killed = r.oom_killed;
  s.reason = r.reason;
  s.created_at = r.created_at;
  s.started_at = r.started_at;
  s.finished_at = r.finished_at;
  s.restart_count = r.restart_count;
  s.health = decode_health_results(r.health_json);
  s.stopped_by_user = r.stopped_by_user;
  return s;
}

ExitInfo exit_info_of(const state::WorkloadRecord& r) {
  return ExitInfo{r.exit_code, r.exit_signal, r.oom_killed, r.state, r.reason};
}

Result<std::unique_ptr<Runtime>> open_runtime(const RuntimeOptions& options) {
  auto runtime = LocalRuntime::open(options);
  if (!runtime) return std::unexpected(runtime.error());
  return std::unique_ptr<Runtime>(std::move(*runtime));
}

std::string_view version() { return BERTH_VERSION; }

Result<std::unique_ptr<LocalRuntime>> LocalRuntime::open(const RuntimeOptions& options) {
  StateLayout layout{resolve_state_root(options.root)};
  // Owner only: the root holds every spec (environments with secrets), logs and layers.
  if (auto r = make_private_dir(layout.root); !r) return std::unexpected(r.error());
  // An older berth made these 0755 (the cache's compiled modules, the volumes' data).
  for (const auto& dir : {layout.images_dir(), layout.volumes_dir(), layout.cache_dir()})
    if (path_exists(dir))
      if (auto r = make_private_dir(dir); !r) return std::unexpected(r.error());
  if (auto r = make_dirs(layout.workloads_dir(), 0700); !r) return std::unexpected(r.error());
  auto shim = find_shim(options.shim_path);
  if (!shim) return std::unexpected(shim.error());
  std::string driver = options.storage_driver;
  if (driver.empty()) {
    // overlay when the kernel has it; otherwise every container gets a copy of its layers.
    auto filesystems = read_file("/proc/filesystems").value_or("");
    driver = filesystems.find("\toverlay\n") != std::string::npos ? "overlay" : "copy";
  } else if (driver != "overlay" && driver != "copy") {
    return fail(ErrorCode::invalid_spec,
                fmt::format("storage driver \"{}\" is not one of overlay, copy", driver));
  }
  auto host = linux::detect_cgroup_host();
  if (!host) return std::unexpected(host.error());
  auto store = state::Store::open(layout.root);
  if (!store) return std::unexpected(store.error());
  std::unique_ptr<LocalRuntime> runtime(
      new LocalRuntime(std::move(layout), std::move(*shim), std::move(driver), std::move(*host),
                       std::move(*store)));
  if (options.sweep_network_orphans) {
    if (auto swept = runtime->sweep_workload_orphans(); !swept)
      return std::unexpected(swept.error().with_context("sweep workload orphans"));
    auto swept = runtime->sweep_network_orphans();
    if (!swept) return std::unexpected(swept.error().with_context("sweep network orphans"));
  }
  return runtime;
}

Result<WorkloadSpec> LocalRuntime::spec_of(const state::WorkloadRecord& record) const {
  // A stored spec never changes after create, so a long-lived runtime (berthd listing a
  // thousand workloads) parses each once. Keyed by id and checked against the text, so a
  // reused id or a row written by another process cannot serve a stale spec.
  {
    std::lock_guard lock(spec_cache_mutex_);
    if (auto it = spec_cache_.find(record.id); it != spec_cache_.end() && it->second.first == record.spec_json)
      return it->second.second;
  }
  auto spec = spec_from_json(nlohmann::json::parse(record.spec_json, nullptr, false));
  if (!spec) return std::unexpected(spec.error().with_context("stored spec of " + record.name));
  std::lock_guard lock(spec_cache_mutex_);
  if (spec_cache_.size() >= spec_cache_limit) spec_cache_.clear();
  spec_cache_[record.id] = {record.spec_json, *spec};
  return spec;
}

Result<state::WorkloadRecord> LocalRuntime::reconcile(state::WorkloadRecord record) {
  if (!is_active(record.state)) return record;
  if (has_live_shim(record)) return record;
  // The shim is gone. The cgroup is the truth: processes left in it mean the workload still
  // runs, unsupervised (its reason says so); its main pid is kept while it is one of them.
  if (auto live = live_processes(cgroup_host_, record.id); !live.empty()) {
    state::WorkloadUpdate note;
    note.expected_states = active_states;
    bool changed = false;
    if (!record.reason.starts_with(unsupervised_reason_prefix)) {
      note.reason = unsupervised_reason(record);
      changed = true;
    }
    if (record.pid && std::find(live.begin(), live.end(), *record.pid) == live.end()) {
      note.pid = std::optional<int>();  // the main process ended: a reused pid must not pass for it
      changed = true;
    }
    if (!changed) return record;
    if (auto r = store_->update(record.id, note, std::nullopt); !r) return std::unexpected(r.error());
    return store_->get(record.id);
  }
  // Nothing runs any more. The exit record says how the workload ended, if the shim (or a stop
  // of the unsupervised workload) got that far.
  state::WorkloadUpdate update;
  update.expected_states = active_states;
  update.pid = std::optional<int>();
  ExitInfo exit;
  if (auto recorded = read_exit_record(layout_.exit_path(record.id))) {
    exit = recorded->exit;
    update.finished_at = recorded->finished_at;
  } else {
    exit.state = WorkloadState::failed;
    exit.reason = fmt::format("shim (pid {}) exited without recording how the workload ended",
                              record.shim_pid.value_or(0));
    update.finished_at = Clock::now();
  }
  update.state = exit.state;
  update.exit_code = exit.exit_code;
  update.exit_signal = exit.exit_signal;
  update.oom_killed = exit.oom_killed;
  update.reason = exit.reason;
  auto applied = store_->update(record.id, update, exit_event(exit));
  if (!applied && is_disk_full(applied.error())) {
    // A full disk takes no write: show what was found all the same, so ps, inspect, stop and
    // rm -f still work there (a later look records it once there is room).
    record.state = exit.state;
    record.pid.reset();
    record.exit_code = exit.exit_code;
    record.exit_signal = exit.exit_signal;
    record.oom_killed = exit.oom_killed;
    record.reason = exit.reason;
    record.finished_at = *update.finished_at;
    return record;
  }
  if (!applied) return std::unexpected(applied.error());
  return store_->get(record.id);
}

Result<state::WorkloadRecord> LocalRuntime::find_current(std::string_view ref) {
  auto record = store_->find(std::string(ref));
  if (!record) return std::unexpected(record.error());
  return reconcile(std::move(*record));
}

Result<WorkloadHandle> LocalRuntime::create(const WorkloadSpec& input) {
  if (auto r = validate_spec(input); !r) return std::unexpected(r.error());
  auto id = new_workload_id();
  if (!id) return std::unexpected(id.error());
  WorkloadSpec spec = input;
  if (spec.name.empty()) spec.name = id->substr(0, 12);
  std::string dir = layout_.workload_dir(*id);
  if (::mkdir(dir.c_str(), 0700) != 0) return std::unexpected(errno_error("mkdir", dir, errno));
  // Held until create returns: the sweep of orphans leaves a directory alone while it is held.
  auto create_lock = lock_workload(*id, create_lock_name, true);
  if (!create_lock) {
    (void)remove_tree(dir);
    return std::unexpected(create_lock.error());
  }
  fault_point("create:dir-made");
  // Nothing half-made stays behind when any step below fails.
  auto undo = [&](Error error) -> Result<WorkloadHandle> {
    (void)remove_tree(dir);
    return std::unexpected(std::move(error));
  };
  if (spec.kind == WorkloadKind::container)
    if (auto r = prepare_container(spec, dir); !r) return undo(r.error());
  // Compiled now (once per module and machine), so start does not wait for the C compiler.
  if (spec.kind == WorkloadKind::wasm)
    if (auto r = wasm::prepare_module_file(spec.wasm.engine, spec.module, layout_.wasm_cache_dir()); !r)
      return undo(r.error());
  // A container's published ports need a network: the default one, as Docker's -p uses its bridge.
  if (spec.kind == WorkloadKind::container && !spec.ports.empty() && spec.network.empty())
    spec.network = std::string(default_network_name);
  auto undo_network = [&](Error error) -> Result<WorkloadHandle> {
    (void)state::release_addresses(*store_, *id);
    return undo(std::move(error));
  };
  // An address on each of its networks, handed out now so it is the workload's for its whole life.
  for (const auto& network : joined_networks(spec))
    if (auto address = allocate_network_address(*id, network); !address) return undo_network(address.error());

  state::WorkloadRecord record;
  record.id = *id;
  record.name = spec.name;
  record.kind = spec.kind;
  record.spec_json = to_json(spec).dump();
  if (spec.kind == WorkloadKind::container)
    if (auto r = write_file(layout_.spec_path(*id), record.spec_json); !r) return undo_network(r.error());
  record.state = WorkloadState::created;
  record.created_at = Clock::now();
  if (auto r = store_->insert(record, state::NewEvent{std::string(event_type::created), {{"kind", std::string(to_string(spec.kind))}}}); !r)
    return undo_network(r.error());
  fault_point("create:recorded");
  if (spec.kind == WorkloadKind::container) {
    // A container's process is made now and waits, set up, for start.
    auto pid = launch_shim(shim_path_, layout_.root, record.id, shim_report_timeout, true);
    if (!pid) {
      TeardownReport ignored;
      (void)kill_workload(cgroup_host_, record, ignored);
      (void)release_workload(layout_, cgroup_host_, *store_, record, ignored);
      return undo(pid.error());
    }
  }
  return WorkloadHandle{record.id, record.name};
}

Result<void> LocalRuntime::start(std::string_view ref) {
  auto found = find_current(ref);
  if (!found) return std::unexpected(found.error());
  // One start of a workload at a time, across processes: two shims of one workload would share
  // its cgroup and its container's overlay work dir. The second starter waits, then finds it
  // running.
  auto lock = lock_starts(found->id);
  if (!lock) return std::unexpected(lock.error());
  auto record = find_current(found->id);
  if (!record) return std::unexpected(record.error());
  if (is_active(record->state))
    return fail(ErrorCode::conflict, fmt::format("workload {} is already running", record->name));
  if (record->stopped_by_user) {  // a start undoes a user's stop, for restart policies
    state::WorkloadUpdate clear;
    clear.stopped_by_user = false;
    if (auto r = store_->update(record->id, clear, std::nullopt); !r) return std::unexpected(r.error());
  }
  if (record->state == WorkloadState::created && has_live_shim(*record)) return start_created(*record);
  if (auto r = refuse_leftovers(cgroup_host_, *record, has_live_shim(*record)); !r) return r;
  if (auto spec = spec_of(*record))
    for (const auto& network : joined_networks(*spec))
      if (auto r = restore_network(network); !r) return std::unexpected(r.error().with_context("start " + record->name));
  auto pid = launch_shim(shim_path_, layout_.root, record->id, shim_report_timeout, false);
  if (!pid) return std::unexpected(pid.error());
  fault_point("start:launched");
  return {};
}

Result<UniqueFd> LocalRuntime::lock_workload(const std::string& id, std::string_view lock_name, bool wait) {
  std::string lock_path = layout_.workload_dir(id) + "/" + std::string(lock_name);
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) {
    if (errno == ENOENT) return fail(ErrorCode::not_found, fmt::format("workload {} is gone", id));
    return std::unexpected(errno_error("open", lock_path, errno));
  }
  while (::flock(lock.get(), LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    if (!wait && errno == EWOULDBLOCK) return UniqueFd();
    if (errno != EINTR) return std::unexpected(errno_error("lock", lock_path, errno));
  }
  return lock;
}

Result<UniqueFd> LocalRuntime::lock_starts(const std::string& id) { return lock_workload(id, "start.lock", true); }

Result<void> LocalRuntime::start_created(const state::WorkloadRecord& record) {
  UniqueFd shim(static_cast<int>(::syscall(SYS_pidfd_open, *record.shim_pid, 0)));
  if (!shim || !linux::process_matches(*record.shim_pid, *record.shim_start_time))
    return fail(ErrorCode::conflict, fmt::format("workload {}: its shim is gone", record.name));
  // The shim protocol (shim_protocol.hpp): listen on started.fifo, then ask on start.fifo.
  std::string dir = layout_.workload_dir(record.id);
  UniqueFd started(::open((dir + "/" + shim_protocol::started_fifo).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!started) return std::unexpected(errno_error("open", shim_protocol::started_fifo, errno));
  UniqueFd request(::open((dir + "/" + shim_protocol::start_fifo).c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!request) {
    if (errno == ENXIO)  // nobody reads it: the shim has already started it
      return fail(ErrorCode::conflict, fmt::format("workload {} is already started", record.name));
    return std::unexpected(errno_error("open", shim_protocol::start_fifo, errno));
  }
  char byte = 1;
  if (::write(request.get(), &byte, 1) != 1) return std::unexpected(errno_error("write", shim_protocol::start_fifo, errno));
  request.reset();
  pollfd fds[2] = {{started.get(), POLLIN, 0}, {shim.get(), POLLIN, 0}};
  int ready;
  while ((ready = ::poll(fds, 2, static_cast<int>(std::chrono::milliseconds(shim_report_timeout).count()))) < 0 &&
         errno == EINTR) {
  }
  if (ready == 0)
    return fail(ErrorCode::timeout, fmt::format("workload {}: not started within {} s", record.name,
                                                std::chrono::duration_cast<std::chrono::seconds>(shim_report_timeout).count()));
  // The shim's byte: it has released the process and recorded it running. (Without it, another
  // starter took the byte, or the shim died: the row says which.)
  char ack;
  if (fds[0].revents & POLLIN && ::read(started.get(), &ack, 1) == 1) return {};
  auto current = find_current(record.id);
  if (!current) return std::unexpected(current.error());
  if (current->state == WorkloadState::created)
    return fail(ErrorCode::internal, fmt::format("workload {}: its shim exited before starting it", record.name));
  if (!is_active(current->state) && current->exit_code == 127 && !current->reason.empty())
    return fail(ErrorCode::invalid_spec, current->reason);
  return {};
}

Result<void> LocalRuntime::signal_workload(const state::WorkloadRecord& record, int signal) {
  if (!has_live_shim(record)) return signal_unsupervised(layout_, cgroup_host_, record, signal);
  sigval value{};
  value.sival_int = signal;
  if (::sigqueue(*record.shim_pid, SIGRTMIN, value) != 0)
    return std::unexpected(
        errno_error("signal", fmt::format("shim of {} (pid {})", record.name, *record.shim_pid), errno));
  return {};
}

Result<bool> LocalRuntime::wait_for_exit(const std::string& id, std::chrono::milliseconds timeout,
                                         std::stop_token stop) {
  // The shim records the exit and then exits, so its pidfd turning readable is the signal.
  // (Not inotify: closing an inotify instance waits for an SRCU grace period, often 10+ ms.)
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string exit_path = layout_.exit_path(id);
  UniqueFd shim;
  auto record = store_->get(id);
  if (!record) return std::unexpected(record.error());
  if ((is_active(record->state) || record->state == WorkloadState::created) && record->shim_pid &&
      record->shim_start_time) {
    shim.reset(static_cast<int>(::syscall(SYS_pidfd_open, *record->shim_pid, 0)));
    // The pidfd pins the pid: if the start time still matches, it is our shim.
    if (shim && !linux::process_matches(*record->shim_pid, *record->shim_start_time)) shim.reset();
  }
  for (;;) {
    if (path_exists(exit_path)) return true;
    if (!path_exists(layout_.workload_dir(id)))
      return fail(ErrorCode::not_found, fmt::format("workload {} was removed", id));
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (stop.stop_requested()) return fail(ErrorCode::unavailable, "wait cancelled");
    if (shim) {
      pollfd pfd{shim.get(), POLLIN, 0};
      if (::poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 50))) > 0)
        return true;  // the shim is gone: the exit is recorded, or reconcile will see why not
    } else {
      // No live shim to watch (not started yet, or died): look again shortly.
      ::poll(nullptr, 0, static_cast<int>(std::min<std::int64_t>(left.count(), 10)));
    }
  }
}

Result<ExitInfo> LocalRuntime::stop(std::string_view ref,
                                    std::optional<std::chrono::milliseconds> grace) {
  auto record = find_current(ref);
  if (!record) return std::unexpected(record.error());
  if (!is_active(record->state)) {
    // Already down (perhaps waiting for a policy restart): the user's stop still holds it down.
    if (!record->stopped_by_user && record->state != WorkloadState::created) {
      state::WorkloadUpdate hold;
      hold.stopped_by_user = true;
      (void)store_->update(record->id, hold, std::nullopt);
    }
    return exit_info_of(*record);
  }
  auto spec = spec_of(*record);
  if (!spec) return std::unexpected(spec.error());
  auto grace_period = grace.value_or(spec->stop_grace);

  state::WorkloadUpdate update;
  update.expected_states = {WorkloadState::starting, WorkloadState::running,
                            WorkloadState::healthy, WorkloadState::unhealthy};
  update.state = WorkloadState::stopping;
  update.stopped_by_user = true;
  (void)store_->update(record->id, update,
                       state::NewEvent{std::string(event_type::stopping), {{"grace_ms", std::to_string(grace_period.count())},
                                                {"signal", std::to_string(spec->stop_signal)}}});
  fault_point("stop:marked");
  // The stopped event of a stop that is done, with its exit.
  auto finished = [&](const state::WorkloadRecord& current) -> ExitInfo {
    auto exit = exit_info_of(current);
    auto done = exit_event(exit);
    done.type = event_type::stopped;
    (void)store_->update(current.id, state::WorkloadUpdate{}, done);
    return exit;
  };
  // Its shim is gone (before the stop or during it): the stop goes to the cgroup's processes,
  // and reconcile records the end that writes.
  auto stop_unsupervised = [&](const state::WorkloadRecord& current, std::chrono::milliseconds grace,
                               bool send_stop_signal) -> Result<ExitInfo> {
    if (auto r = end_unsupervised(layout_, cgroup_host_, current, spec->stop_signal, grace, send_stop_signal); !r)
      return std::unexpected(r.error().with_context("stop " + current.name));
    auto ended = find_current(current.id);
    if (!ended) return std::unexpected(ended.error());
    return finished(*ended);
  };
  if (!has_live_shim(*record)) return stop_unsupervised(*record, grace_period, true);
  auto grace_end = std::chrono::steady_clock::now() + grace_period;
  bool exited = false;
  if (grace_period.count() > 0 && signal_workload(*record, spec->stop_signal)) {
    fault_point("stop:signalled");
    auto r = wait_for_exit(record->id, grace_period, {});
    if (!r) return std::unexpected(r.error());
    exited = *r;
  }
  if (exited) {
    // Woken by the shim's end: if it died rather than exited, its workload may still run.
    auto current = find_current(record->id);
    if (!current) return std::unexpected(current.error());
    if (is_active(current->state) && !has_live_shim(*current)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(grace_end - std::chrono::steady_clock::now());
      return stop_unsupervised(*current, std::max(left, std::chrono::milliseconds(0)), false);
    }
  }
  if (!exited) {
    // Past the grace period: every process of the workload gets SIGKILL.
    auto cgroup = linux::open_cgroup(cgroup_host_, StateLayout::cgroup_path(record->id));
    if (auto killed = cgroup->kill_all(); !killed)
      return std::unexpected(killed.error().with_context("stop " + record->name));
    auto r = wait_for_exit(record->id, kill_settle_timeout, {});
    if (!r) return std::unexpected(r.error());
  }
  auto current = find_current(record->id);
  if (!current) return std::unexpected(current.error());
  // The shim died during the stop, after the SIGKILL: what it did not record is recorded here.
  if (is_active(current->state) && !has_live_shim(*current))
    return stop_unsupervised(*current, std::chrono::milliseconds(0), false);
  return finished(*current);
}

Result<void> LocalRuntime::kill(std::string_view ref, int signal) {
  if (signal < 1 || signal >= NSIG)
    return fail(ErrorCode::invalid_spec, fmt::format("signal: {} is not a signal number", signal));
  auto record = find_current(ref);
  if (!record) return std::unexpected(record.error());
  if (!is_active(record->state))
    return fail(ErrorCode::conflict, fmt::format("workload {} is not running", record->name));
  if (auto r = signal_workload(*record, signal); !r) return r;
  state::WorkloadUpdate note;  // no change, only the event
  note.expected_states = active_states;
  (void)store_->update(record->id, note,
                       state::NewEvent{std::string(event_type::killed), {{"signal", std::to_string(signal)}}});
  // Unsupervised, nobody else records the end a SIGKILL made (see signal_unsupervised).
  if (!has_live_shim(*record)) (void)find_current(record->id);
  return {};
}

Result<TeardownReport> LocalRuntime::remove(std::string_view ref, bool force) {
  auto found = find_current(ref);
  if (!found) return std::unexpected(found.error());
  // A start under way (in this process or another) finishes first: removing between its check
  // of the row and its shim's launch would leave a workload running with no row to find it by.
  // A remove killed after its files went and before its row did leaves a row with no directory:
  // nothing can start that any more, so it is finished without the lock.
  auto lock = lock_starts(found->id);
  if (!lock && !(lock.error().code == ErrorCode::not_found && !path_exists(layout_.workload_dir(found->id))))
    return std::unexpected(lock.error());
  auto record = find_current(found->id);
  if (!record) return std::unexpected(record.error());
  if (is_active(record->state) && !force)
    return fail(ErrorCode::conflict,
                fmt::format("workload {} is running: stop it first, or remove with force",
                            record->name));
  TeardownReport report{record->id, record->name};
  // The veth goes while the container's network namespace still lives: deleted later, it
  // would wait for the kernel to tear the namespace down (tens of milliseconds).
  for (std::size_t index = 0; index < max_networks_per_workload; ++index)
    if (std::string veth = veth_host_name(record->id, index); linux::netlink::link_exists(veth))
      if (linux::netlink::delete_link(veth)) report.network.push_back("veth " + veth);
  if (auto r = kill_workload(cgroup_host_, *record, report); !r) return std::unexpected(r.error());
  fault_point("remove:killed");
  // Let a live shim (running, or holding a created container) record the exit before its
  // files go, so its last write lands.
  if (has_live_shim(*record)) (void)wait_for_exit(record->id, kill_settle_timeout, {});
  if (auto r = release_workload(layout_, cgroup_host_, *store_, *record, report); !r)
    return std::unexpected(r.error());
  return report;
}

Result<WorkloadStatus> LocalRuntime::status(std::string_view ref) {
  auto record = find_current(ref);
  if (!record) return std::unexpected(record.error());
  return status_with_log(layout_, *record);
}

Result<WorkloadInfo> LocalRuntime::inspect(std::string_view ref) {
  auto record = find_current(ref);
  if (!record) return std::unexpected(record.error());
  auto spec = spec_of(*record);
  if (!spec) return std::unexpected(spec.error());
  WorkloadInfo info{status_with_log(layout_, *record), std::move(*spec)};
  if (!is_active(record->state))
    if (auto recorded = read_exit_record(layout_.exit_path(record->id)); recorded && recorded->usage)
      info.status.memory_peak_bytes = recorded->usage->memory_peak_bytes;
  return info;
}

Result<ExitInfo> LocalRuntime::wait(std::string_view ref, std::chrono::milliseconds timeout,
                                    std::stop_token stop) {
  auto record = find_current(ref);
  if (!record) return std::unexpected(record.error());
  std::string id = record->id;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (!is_active(record->state) && record->state != WorkloadState::created)
      return exit_info_of(*record);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return fail(ErrorCode::timeout, fmt::format("workload {} still running after {} ms",
                                                  record->name, timeout.count()));
    // The exit record wakes us at once; the period bounds how long a dead shim goes unseen.
    auto woke = wait_for_exit(id, std::min<std::chrono::milliseconds>(left, 250ms), stop);
    if (!woke && woke.error().code == ErrorCode::unavailable) return std::unexpected(woke.error());
    record = find_current(id);
    if (!record) return std::unexpected(record.error());
  }
}

Result<std::unique_ptr<LogReader>> LocalRuntime::logs(std::string_view ref,
                                                      const LogOptions& options) {
  auto record = find_current(ref);
  if (!record) return std::unexpected(record.error());
  std::string id = record->id;
  // The reader calls back into this runtime while following: it must not outlive it.
  return state::open_log_reader(layout_.log_path(id), options, [this, id] {
    auto current = find_current(id);
    return !current || !is_active(current->state);
  });
}

Result<std::uint16_t> LocalRuntime::resolve_host_port(std::string_view ref,
                                                      std::uint16_t container_port) {
  auto info = inspect(ref);
  if (!info) return std::unexpected(info.error());
  // A host process in the host network binds host ports itself.
  if (shares_host_network(info->spec)) return container_port;
  auto published = read_published_ports(layout_.ports_path(info->status.id));
  if (!published) return std::unexpected(published.error());
  for (const auto& p : *published)
    if (p.container_port == container_port) return p.host_port;
  return fail(ErrorCode::not_found,
              fmt::format("workload {} publishes no port {}{}", info->status.name, container_port,
                          info->spec.ports.empty() ? "" : " (or it has not started yet)"));
}

Result<std::string> LocalRuntime::resolve_address(std::string_view ref, std::uint16_t port,
                                                  std::string_view network) {
  auto info = inspect(ref);
  if (!info) return std::unexpected(info.error());
  // Its address on the network asked for, or on its first.
  std::string wanted = network.empty() ? info->spec.network : std::string(network);
  auto joined = joined_networks(info->spec);
  if (std::find(joined.begin(), joined.end(), wanted) != joined.end()) {
    auto addresses = state::addresses_of_workload(*store_, info->status.id);
    if (!addresses) return std::unexpected(addresses.error());
    for (const auto& a : *addresses)
      if (a.network == wanted)
        return fmt::format("{}:{}", linux::netlink::to_string(linux::netlink::Ipv4{a.address}), port);
  }
  if (!network.empty() && network != "host")
    return fail(ErrorCode::not_found, fmt::format("workload {} is not on network \"{}\"",
                                                  info->status.name, network));
  if (!shares_host_network(info->spec))
    return fail(ErrorCode::not_found,
                fmt::format("workload {} has only a private loopback network", info->status.name));
  return fmt::format("127.0.0.1:{}", port);
}

Result<std::vector<WorkloadInfo>> LocalRuntime::list(const ListOptions& options) {
  auto records = store_->all();
  if (!records) return std::unexpected(records.error());
  std::vector<WorkloadInfo> out;
  for (auto& r : *records) {
    auto current = reconcile(r);
    if (!current) {
      if (current.error().code == ErrorCode::not_found) continue;  // removed meanwhile
      return std::unexpected(current.error());
    }
    if (!options.all && !is_active(current->state)) continue;
    auto spec = spec_of(*current);
    if (!spec) return std::unexpected(spec.error());
    out.push_back(WorkloadInfo{status_with_log(layout_, *current), std::move(*spec)});
  }
  return out;
}

Result<int> LocalRuntime::attach(std::string_view ref) {
  auto record = find_current(ref);
  if (!record) return std::unexpected(record.error());
  std::string path = layout_.attach_path(record->id);
  if (!path_exists(path))
    return fail(ErrorCode::conflict,
                fmt::format("workload {} has nothing to attach to (create it with a tty or an open stdin; "
                            "it may have ended)", record->name));
  auto addr = linux::unix_address(path);
  if (!addr) return std::unexpected(addr.error());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return std::unexpected(errno_error("socket", path, errno));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr->address), sizeof addr->address) != 0)
    return std::unexpected(errno_error("attach to", record->name, errno));
  return fd.release();
}

}  // namespace berth

namespace berth {

Result<void> LocalRuntime::report_health(std::string_view ref, const HealthResult& result,
                                         std::optional<WorkloadState> state) {
  if (state && *state != WorkloadState::healthy && *state != WorkloadState::unhealthy)
    return fail(ErrorCode::invalid_spec,
                fmt::format("health state: \"{}\" is not healthy or unhealthy", to_string(*state)));
  auto record = find_current(ref);
  if (!record) return std::unexpected(record.error());
  auto results = decode_health_results(record->health_json);
  results.push_back(result);
  if (results.size() > health_results_kept)
    results.erase(results.begin(), results.end() - health_results_kept);
  state::WorkloadUpdate update;
  update.expected_states = {WorkloadState::running, WorkloadState::healthy, WorkloadState::unhealthy};
  update.health_json = encode_health_results(results);
  std::optional<state::NewEvent> event;
  if (state && *state != record->state) {
    update.state = *state;
    event = state::NewEvent{std::string(to_string(*state)),
                            {{"exit_code", std::to_string(result.exit_code)}, {"output", result.output}}};
  }
  auto applied = store_->update(record->id, update, event);
  if (!applied) return std::unexpected(applied.error());
  if (!*applied)
    return fail(ErrorCode::conflict, fmt::format("workload {} is not running", record->name));
  return {};
}

Result<void> LocalRuntime::restart(std::string_view ref, std::optional<std::chrono::milliseconds> grace) {
  auto record = find_current(ref);
  if (!record) return std::unexpected(record.error());
  // The lock is the "one at a time": it lives as long as this call, in any process.
  auto lock = lock_workload(record->id, "restart.lock", false);
  if (!lock) return std::unexpected(lock.error());
  if (!*lock) return fail(ErrorCode::conflict, fmt::format("workload {} is already being restarted", record->name));
  if (auto stopped = stop(record->id, grace); !stopped)
    return std::unexpected(stopped.error().with_context("restart " + record->name));
  if (auto started = start(record->id); !started)
    return std::unexpected(started.error().with_context("restart " + record->name));
  return {};
}

Result<void> LocalRuntime::restart_by_policy(std::string_view ref) {
  auto record = find_current(ref);
  if (!record) return std::unexpected(record.error());
  if (record->stopped_by_user)
    return fail(ErrorCode::conflict, fmt::format("workload {} was stopped by a user", record->name));
  state::WorkloadUpdate update;
  update.expected_states = {WorkloadState::exited, WorkloadState::oom_killed, WorkloadState::failed};
  update.restart_count = record->restart_count + 1;
  auto applied = store_->update(
      record->id, update,
      state::NewEvent{std::string(event_type::restarting), {{"restart_count", std::to_string(record->restart_count + 1)}}});
  if (!applied) return std::unexpected(applied.error());
  if (!*applied)
    return fail(ErrorCode::conflict,
                fmt::format("workload {} is {}, not exited", record->name, to_string(record->state)));
  return start(record->id);
}

Result<std::uint64_t> LocalRuntime::publish_event(std::string_view subject, std::string_view type,
                                                  const std::map<std::string, std::string>& attributes) {
  if (type.empty()) return fail(ErrorCode::invalid_spec, "event type: must not be empty");
  return store_->append_event("", std::string(subject), state::NewEvent{std::string(type), attributes});
}

}  // namespace berth
