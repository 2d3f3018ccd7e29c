#include "shim/monitor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "berth/runtime.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/time.hpp"
#include "linux/cgroup.hpp"
#include "linux/process.hpp"
#include "runtime/exit_record.hpp"
#include "runtime/json.hpp"
#include "runtime/layout.hpp"
#include "runtime/process_launch.hpp"
#include "runtime/shim_protocol.hpp"
#include "state/log_file.hpp"
#include "state/store.hpp"

namespace berth::shim {

namespace {

using namespace std::chrono_literals;

const std::vector<WorkloadState> startable_states{WorkloadState::created, WorkloadState::exited,
                                                  WorkloadState::oom_killed,
                                                  WorkloadState::failed};
const std::vector<WorkloadState> active_states{WorkloadState::starting, WorkloadState::running,
                                               WorkloadState::healthy, WorkloadState::unhealthy,
                                               WorkloadState::stopping};

// The signal a caller queues (with the signal to forward as its value) to have the shim pass a
// signal to the workload through its pidfd, which cannot hit a recycled pid.
int forward_signal() { return SIGRTMIN; }

struct Pipe {
  UniqueFd read, write;
};

Result<Pipe> make_pipe(std::string_view what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", std::string(what), errno));
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void arm_timer(int fd, std::chrono::milliseconds after) {
  itimerspec spec{};
  auto ms = std::max<std::int64_t>(after.count(), 1);
  spec.it_value.tv_sec = ms / 1000;
  spec.it_value.tv_nsec = (ms % 1000) * 1000000;
  ::timerfd_settime(fd, 0, &spec, nullptr);
}

class Monitor {
 public:
  Monitor(std::string root, std::string id)
      : layout_{std::move(root)}, id_(std::move(id)), report_(shim_protocol::report_fd) {}

  int run() {
    auto started = start();
    if (!started) {
      report(shim_protocol::encode_failed(started.error()));
      return 1;
    }
    report(shim_protocol::encode_started(pid_));
    report_.reset();
    supervise();
    record_exit();
    if (spec_.auto_remove) remove_self();
    return 0;
  }

 private:
  Result<void> start() {
    ::signal(SIGPIPE, SIG_IGN);
    // What the workload leaves behind when its parents die comes to us to be reaped, as in
    // conmon and the containerd shim, rather than to an init that may never reap it.
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, forward_signal()})
      sigaddset(&mask, sig);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    signals_.reset(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_) return std::unexpected(errno_error("signalfd", "shim", errno));
    timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!timer_) return std::unexpected(errno_error("timerfd", "shim", errno));

    auto store = state::Store::open(layout_.root);
    if (!store) return std::unexpected(store.error());
    store_ = std::move(*store);
    auto record = store_->get(id_);
    if (!record) return std::unexpected(record.error());
    name_ = record->name;
    auto spec = spec_from_json(nlohmann::json::parse(record->spec_json, nullptr, false));
    if (!spec) return std::unexpected(spec.error().with_context("stored spec of " + name_));
    spec_ = std::move(*spec);
    if (std::find(startable_states.begin(), startable_states.end(), record->state) ==
        startable_states.end())
      return fail(ErrorCode::conflict,
                  fmt::format("workload {} is {}", name_, to_string(record->state)));

    ::unlink(layout_.exit_path(id_).c_str());
    auto log = state::LogWriter::open(layout_.log_path(id_));
    if (!log) return std::unexpected(log.error());
    log_ = std::move(*log);

    auto host = linux::detect_cgroup_host();
    if (!host) return std::unexpected(host.error());
    auto cgroup = linux::create_cgroup(*host, StateLayout::cgroup_path(id_));
    if (!cgroup) return std::unexpected(cgroup.error());
    cgroup_ = std::move(*cgroup);
    if (auto r = cgroup_->apply(spec_.resources); !r) return fail_and_release(r.error());
    oom_kills_before_ = cgroup_->oom_kills();

    auto plan = plan_process_launch(spec_, cgroup_.get());
    if (!plan) return fail_and_release(plan.error());
    auto out = make_pipe("stdout");
    auto err = make_pipe("stderr");
    auto errors = make_pipe("exec errors");
    if (!out || !err || !errors) return fail_and_release(Error{ErrorCode::internal, "pipe: out of fds"});
    UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!devnull) return fail_and_release(errno_error("open", "/dev/null", errno));

    auto child = spawn_process_workload(
        *plan, {devnull.get(), out->write.get(), err->write.get(), errors->write.get()});
    if (!child) return fail_and_release(child.error());
    pid_ = child->first;
    pidfd_.reset(child->second);
    out->write.reset();
    err->write.reset();
    errors->write.reset();
    stdout_ = std::move(out->read);
    stderr_ = std::move(err->read);

    // EOF on the error pipe means exec happened; a message means the child gave up.
    std::string failure;
    char buf[512];
    for (;;) {
      ssize_t n = ::read(errors->read.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      failure.append(buf, static_cast<std::size_t>(n));
    }
    if (!failure.empty()) {
      siginfo_t info{};
      ::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED);
      return fail_and_release(
          Error{failure.find("No such file") != std::string::npos ? ErrorCode::not_found
                                                                  : ErrorCode::invalid_spec,
                fmt::format("start {}: {}", name_, failure)});
    }

    state::WorkloadUpdate update;
    update.expected_states = startable_states;
    update.state = WorkloadState::running;
    update.pid = pid_;
    update.shim_pid = ::getpid();
    update.shim_start_time = linux::process_start_time(::getpid());
    update.exit_code = std::optional<int>();
    update.exit_signal = std::optional<int>();
    update.oom_killed = false;
    update.reason = "";
    update.started_at = Clock::now();
    update.finished_at = std::optional<TimePoint>();
    auto applied = store_->update(id_, update, state::NewEvent{"start", {{"pid", std::to_string(pid_)}}});
    if (!applied || !*applied) {
      ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
      siginfo_t info{};
      ::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED);
      return fail_and_release(applied ? Error{ErrorCode::conflict,
                                              fmt::format("workload {} changed state while starting", name_)}
                                      : applied.error());
    }
    if (spec_.time_to_live) arm_timer(timer_.get(), *spec_.time_to_live);
    return {};
  }

  // A start that fails leaves nothing behind: the cgroup goes, the row stays as it was.
  std::unexpected<Error> fail_and_release(Error error) {
    if (cgroup_) {
      (void)cgroup_->kill_all();
      (void)cgroup_->remove();
    }
    return std::unexpected(std::move(error));
  }

  void supervise() {
    while (stdout_ || stderr_ || !exited_) {
      pollfd fds[5];
      int n = 0;
      auto add = [&](int fd) {
        fds[n] = {fd, POLLIN, 0};
        return n++;
      };
      int out_i = stdout_ ? add(stdout_.get()) : -1;
      int err_i = stderr_ ? add(stderr_.get()) : -1;
      int pid_i = !exited_ ? add(pidfd_.get()) : -1;
      int sig_i = add(signals_.get());
      int timer_i = add(timer_.get());
      int wait_ms = -1;
      if (exited_) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            drain_deadline_ - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        wait_ms = static_cast<int>(left.count());
      }
      int ready = ::poll(fds, static_cast<nfds_t>(n), wait_ms);
      if (ready < 0 && errno != EINTR) {
        shim_log(fmt::format("poll: {}", std::strerror(errno)));
        break;
      }
      if (ready <= 0) continue;
      if (out_i >= 0 && fds[out_i].revents) pump(stdout_, LogStream::stdout_stream);
      if (err_i >= 0 && fds[err_i].revents) pump(stderr_, LogStream::stderr_stream);
      if (sig_i >= 0 && fds[sig_i].revents) handle_signals();
      if (timer_i >= 0 && fds[timer_i].revents) handle_timer();
      if (pid_i >= 0 && fds[pid_i].revents && !exited_) reap();
    }
    (void)log_->finish(Clock::now());
  }

  void pump(UniqueFd& fd, LogStream stream) {
    char buf[65536];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      fd.reset();
      return;
    }
    if (auto r = log_->feed(stream, std::string_view(buf, static_cast<std::size_t>(n)), Clock::now()); !r)
      shim_log(r.error().message);
  }

  void handle_signals() {
    signalfd_siginfo info;
    while (::read(signals_.get(), &info, sizeof info) == sizeof info) {
      if (static_cast<int>(info.ssi_signo) == SIGCHLD) reap_orphans();
      if (static_cast<int>(info.ssi_signo) != forward_signal() || exited_) continue;
      // Only the workload's owner (or root) may have signals forwarded.
      if (info.ssi_uid != 0 && info.ssi_uid != ::getuid()) continue;
      int sig = info.ssi_int;
      if (sig > 0 && sig < NSIG) ::syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0);
    }
  }

  // Reaps the orphans that were reparented to us; the main process is reaped through its
  // pidfd in reap(), so it is only peeked at here.
  void reap_orphans() {
    for (;;) {
      siginfo_t info{};
      if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) return;
      if (info.si_pid == pid_) {
        if (exited_) return;
        reap();
        continue;
      }
      ::waitpid(info.si_pid, nullptr, WNOHANG);
    }
  }

  void handle_timer() {
    std::uint64_t expirations;
    if (::read(timer_.get(), &expirations, sizeof expirations) != sizeof expirations || exited_) return;
    if (!ttl_expired_) {
      ttl_expired_ = true;
      ::syscall(SYS_pidfd_send_signal, pidfd_.get(), spec_.stop_signal, nullptr, 0);
      arm_timer(timer_.get(), spec_.stop_grace);
    } else {
      (void)cgroup_->kill_all();
    }
  }

  void reap() {
    siginfo_t info{};
    if (::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED) != 0) {
      shim_log(fmt::format("waitid: {}", std::strerror(errno)));
      exit_.reason = "lost track of the workload";
      exit_.state = WorkloadState::failed;
    } else if (info.si_code == CLD_EXITED) {
      exit_.exit_code = info.si_status;
    } else {
      exit_.exit_signal = info.si_status;
    }
    exited_ = true;
    // The workload is its main process: what it left running goes with it, so the pipes
    // close and nothing of it outlives its recorded exit. Output still in the pipes is read
    // for a short while after.
    (void)cgroup_->kill_all();
    drain_deadline_ = std::chrono::steady_clock::now() + 2s;
  }

  void record_exit() {
    if (exit_.state != WorkloadState::failed) {
      if (exit_.exit_signal == SIGKILL && cgroup_->oom_kills() > oom_kills_before_) {
        exit_.oom_killed = true;
        exit_.state = WorkloadState::oom_killed;
        exit_.reason = "killed by the kernel: out of memory";
      } else if (ttl_expired_) {
        exit_.reason = "time to live expired";
      } else if (exit_.exit_code) {
        exit_.reason = fmt::format("exited with code {}", *exit_.exit_code);
      } else if (exit_.exit_signal) {
        exit_.reason = fmt::format("killed by signal {}", *exit_.exit_signal);
      }
    }
    ExitRecord record{exit_, Clock::now()};
    state::WorkloadUpdate update;
    update.expected_states = active_states;
    update.state = exit_.state;
    update.pid = std::optional<int>();
    update.exit_code = exit_.exit_code;
    update.exit_signal = exit_.exit_signal;
    update.oom_killed = exit_.oom_killed;
    update.reason = exit_.reason;
    update.finished_at = record.finished_at;
    std::map<std::string, std::string> attributes{{"reason", exit_.reason}};
    if (exit_.exit_code) attributes["exit_code"] = std::to_string(*exit_.exit_code);
    if (exit_.exit_signal) attributes["signal"] = std::to_string(*exit_.exit_signal);
    if (exit_.oom_killed) attributes["oom_killed"] = "true";
    if (auto r = store_->update(id_, update, state::NewEvent{"exit", attributes}); !r)
      shim_log("record exit: " + r.error().message);
    // Written last: waiters wake on it and then find the store already updated.
    if (auto r = write_exit_record(layout_.exit_path(id_), record); !r)
      shim_log("write exit record: " + r.error().message);
  }

  void remove_self() {
    auto runtime = open_runtime(RuntimeOptions{layout_.root, {}});
    if (!runtime) return shim_log("auto remove: " + runtime.error().message);
    if (auto r = (*runtime)->remove(id_, true); !r && r.error().code != ErrorCode::not_found)
      shim_log("auto remove: " + r.error().message);
  }

  void report(const std::string& line) {
    if (report_) linux::write_all_noalloc(report_.get(), line.data(), line.size());
  }

  void shim_log(const std::string& message) {
    UniqueFd fd(::open(layout_.shim_log_path(id_).c_str(),
                       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
    if (!fd) return;
    std::string line = fmt::format("{} {}\n", format_rfc3339_nano(Clock::now()), message);
    linux::write_all_noalloc(fd.get(), line.data(), line.size());
  }

  StateLayout layout_;
  std::string id_;
  std::string name_;
  UniqueFd report_;
  UniqueFd signals_, timer_;
  std::unique_ptr<state::Store> store_;
  WorkloadSpec spec_;
  std::optional<state::LogWriter> log_;
  std::unique_ptr<linux::Cgroup> cgroup_;
  std::uint64_t oom_kills_before_ = 0;
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UniqueFd stdout_, stderr_;
  bool exited_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  bool ttl_expired_ = false;
  ExitInfo exit_;
};

}  // namespace

int run_monitor(const std::string& root, const std::string& id) {
  Monitor monitor(root, id);
  return monitor.run();
}

}  // namespace berth::shim
