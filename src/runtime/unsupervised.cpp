#include "runtime/unsupervised.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "linux/process.hpp"
#include "runtime/exit_record.hpp"

namespace berth {

namespace {

using namespace std::chrono_literals;

bool member(const std::vector<pid_t>& pids, pid_t pid) {
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

std::unique_ptr<linux::Cgroup> cgroup_of(const linux::CgroupHost& host, const std::string& id) {
  return linux::open_cgroup(host, StateLayout::cgroup_path(id));
}

Result<std::vector<pid_t>> live_members(const linux::Cgroup& cgroup) {
  auto pids = cgroup.processes();
  if (!pids) return pids;
  // process_start_time is nullopt for a process that is gone or a zombie.
  std::erase_if(*pids, [](pid_t pid) { return !linux::process_start_time(pid); });
  return pids;
}

// Signals `pid` only while it is a process of `cgroup`: its pidfd is taken first, then the
// cgroup is asked again, so a pid reused meanwhile by a process elsewhere is never signalled.
Result<void> signal_member(const linux::Cgroup& cgroup, pid_t pid, int signal) {
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) {
    if (errno == ESRCH) return {};  // it ended: nothing to signal
    return std::unexpected(errno_error("pidfd_open", std::to_string(pid), errno));
  }
  auto live = live_members(cgroup);
  if (!live) return std::unexpected(live.error());
  if (!member(*live, pid)) return {};
  if (::syscall(SYS_pidfd_send_signal, pidfd.get(), signal, nullptr, 0) != 0 && errno != ESRCH)
    return std::unexpected(errno_error("signal", std::to_string(pid), errno));
  return {};
}

// Waits until the cgroup has no live process; false when `timeout` passed first.
bool wait_until_empty(const linux::Cgroup& cgroup, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto live = live_members(cgroup);
    if (live && live->empty()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
}

// How an unsupervised workload ended, as far as anyone can know who is not its parent: the
// signal after which its processes were gone. reconcile takes it from exit.json, as it takes
// a shim's record, once the cgroup is empty.
Result<void> write_end(const StateLayout& layout, const state::WorkloadRecord& record, int signal,
                       std::string_view what) {
  ExitInfo exit;
  exit.state = WorkloadState::exited;
  exit.exit_signal = signal;
  exit.reason = fmt::format("{} while unsupervised (its shim, pid {}, had died): it ended after signal {}; "
                            "its exact exit status is unknown",
                            what, record.shim_pid.value_or(0), signal);
  return write_exit_record(layout.exit_path(record.id), ExitRecord{exit, Clock::now()});
}

// SIGKILL to the whole cgroup, its end written first so no reader finds the cgroup empty with
// no record of why.
Result<void> kill_recorded(const StateLayout& layout, linux::Cgroup& cgroup, const state::WorkloadRecord& record,
                           std::string_view what) {
  if (auto r = write_end(layout, record, SIGKILL, what); !r) return r;
  if (auto killed = cgroup.kill_all(); !killed) {
    ::unlink(layout.exit_path(record.id).c_str());  // it did not end after all
    return std::unexpected(killed.error().with_context(std::string(what) + " " + record.name));
  }
  return {};
}

}  // namespace

std::string unsupervised_reason(const state::WorkloadRecord& record) {
  return fmt::format("{}its shim (pid {}) died; its processes run on in its cgroup, their output no longer logged",
                     unsupervised_reason_prefix, record.shim_pid.value_or(0));
}

std::vector<pid_t> live_processes(const linux::CgroupHost& host, const std::string& id) {
  return live_members(*cgroup_of(host, id)).value_or(std::vector<pid_t>{});
}

Result<void> signal_unsupervised(const StateLayout& layout, const linux::CgroupHost& host,
                                 const state::WorkloadRecord& record, int signal) {
  auto cgroup = cgroup_of(host, record.id);
  auto live = live_members(*cgroup);
  if (!live) return std::unexpected(live.error().with_context("signal " + record.name));
  if (live->empty()) return fail(ErrorCode::conflict, fmt::format("workload {} is not running", record.name));
  if (signal == SIGKILL) return kill_recorded(layout, *cgroup, record, "killed");
  // As under a shim, the main process gets the signal; when it has ended, whatever is left does.
  if (record.pid && member(*live, *record.pid)) return signal_member(*cgroup, *record.pid, signal);
  for (pid_t pid : *live)
    if (auto r = signal_member(*cgroup, pid, signal); !r) return r;
  return {};
}

Result<void> end_unsupervised(const StateLayout& layout, const linux::CgroupHost& host,
                              const state::WorkloadRecord& record, int stop_signal,
                              std::chrono::milliseconds grace, bool send_stop_signal) {
  auto cgroup = cgroup_of(host, record.id);
  if (grace.count() > 0) {
    // Every process gets the stop signal: with no shim, nothing ends the others when the main
    // process goes, so each has its chance to shut down cleanly.
    if (send_stop_signal)
      if (auto live = live_members(*cgroup))
        for (pid_t pid : *live) (void)signal_member(*cgroup, pid, stop_signal);
    if (wait_until_empty(*cgroup, grace)) return write_end(layout, record, stop_signal, "stopped");
  }
  return kill_recorded(layout, *cgroup, record, "stopped");
}

Result<void> refuse_leftovers(const linux::CgroupHost& host, const state::WorkloadRecord& record,
                              bool shim_alive) {
  auto live = live_processes(host, record.id);
  if (live.empty()) return {};
  if (record.state == WorkloadState::created && !shim_alive) {
    if (auto killed = cgroup_of(host, record.id)->kill_all(); !killed)
      return std::unexpected(killed.error().with_context("start " + record.name));
    return {};
  }
  return fail(ErrorCode::conflict,
              fmt::format("workload {} still has processes in its cgroup (pids {}): stop or remove it first",
                          record.name, fmt::join(live, ", ")));
}

}  // namespace berth
