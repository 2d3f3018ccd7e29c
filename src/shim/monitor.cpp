#include "shim/monitor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
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

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/pipe.hpp"
#include "common/time.hpp"
#include "linux/cgroup.hpp"
#include "linux/process.hpp"
#include "linux/unix_socket.hpp"
#include "runtime/container_launch.hpp"
#include "runtime/exit_record.hpp"
#include "runtime/network_attach.hpp"
#include "runtime/port_proxy.hpp"
#include "runtime/json.hpp"
#include "runtime/layout.hpp"
#include "runtime/process_launch.hpp"
#include "runtime/shim_protocol.hpp"
#include "runtime/teardown.hpp"
#include "shim/wasm_runner.hpp"
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

using shim_protocol::forward_signal;

// The child's stdout and stderr, and its error pipe (see process_launch.hpp).
struct OutputPipes {
  Pipe out, err, errors;
  ChildStdio stdio_with(int stdin_fd) const {
    return {stdin_fd, out.write.get(), err.write.get(), errors.write.get()};
  }
};

Result<OutputPipes> make_output_pipes() {
  auto out = make_pipe("stdout");
  if (!out) return std::unexpected(out.error());
  auto err = make_pipe("stderr");
  if (!err) return std::unexpected(err.error());
  auto errors = make_pipe("exec errors");
  if (!errors) return std::unexpected(errors.error());
  return OutputPipes{std::move(*out), std::move(*err), std::move(*errors)};
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
  Monitor(std::string root, std::string id, bool create_only)
      : layout_{std::move(root)},
        id_(std::move(id)),
        create_only_(create_only),
        report_(shim_protocol::report_fd) {}

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

    // A container's spec comes from spec.json, so the store is opened while its init sets up
    // its root on the other core (the init waits before exec, so a start refused by the store
    // below has run nothing of the workload's).
    bool overlapped = false;
    if (auto text = read_file(layout_.spec_path(id_))) {
      auto spec = spec_from_json(nlohmann::json::parse(*text, nullptr, false));
      if (spec && spec->kind == WorkloadKind::container) {
        spec_ = std::move(*spec);
        name_ = spec_.name;
        overlapped = true;
      }
    }
    if (!overlapped)
      if (auto r = open_store_and_check(); !r) return r;

    ::unlink(layout_.exit_path(id_).c_str());
    ::unlink(layout_.wasm_memory_path(id_).c_str());
    ::unlink(layout_.wasm_reason_path(id_).c_str());
    auto host = linux::detect_cgroup_host();
    if (!host) return std::unexpected(host.error());
    cgroup_host_ = *host;
    linux::CgroupNeeds needs;
    needs.cpuset = !spec_.resources.cpuset_cpus.empty() || !spec_.resources.cpuset_mems.empty();
    needs.devices = spec_.kind == WorkloadKind::container;
    auto cgroup = linux::create_cgroup(*host, StateLayout::cgroup_path(id_), needs);
    if (!cgroup) return std::unexpected(cgroup.error());
    cgroup_ = std::move(*cgroup);
    if (auto r = cgroup_->apply(spec_.resources); !r) return fail_and_release(r.error());
    oom_kills_before_ = cgroup_->oom_kills();

    if (spec_.kind == WorkloadKind::container) {
      // A container may open (and mknod) only the devices runc allows; root inside must not
      // reach the host's disks through a node it makes.
      if (auto r = cgroup_->restrict_devices(linux::default_container_device_rules()); !r)
        return fail_and_release(r.error());
      if (auto r = spawn_container(); !r) return fail_and_release(r.error());
      if (overlapped) {
        if (auto r = open_store_and_check(); !r) {
          // Another start won (the row is no longer startable): only our own process goes; the
          // cgroup is the winner's.
          kill_and_reap();
          return std::unexpected(r.error());
        }
      }
      if (auto r = open_log(); !r) {
        kill_and_reap();
        return fail_and_release(r.error());
      }
      if (auto r = join_networks(); !r) {
        kill_and_reap();
        return fail_and_release(r.error());
      }
      if (auto r = await_ready(); !r) return fail_and_release(r.error());
      if (console_) {
        auto master = linux::receive_fd(console_.get(), "pty");
        if (!master) {
          kill_and_reap();
          return fail_and_release(master.error());
        }
        terminal_.reset(*master);
        // The terminal's output is the process's stdout; its own pipes stay unused.
        stdout_.reset(::fcntl(terminal_.get(), F_DUPFD_CLOEXEC, 0));
        console_.reset();
      }
    } else {
      if (auto r = open_log(); !r) return fail_and_release(r.error());
      if (auto r = spawn_process(); !r) return fail_and_release(r.error());
    }
    if (create_only_) return record_created();
    if (waiting_) {
      if (auto r = release(); !r) return fail_and_release(r.error());
    }
    return record_running(startable_states);
  }

  Result<void> open_store_and_check() {
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
    return {};
  }

  Result<void> open_log() {
    auto log = state::LogWriter::open(layout_.log_path(id_), spec_.log);
    if (!log) return std::unexpected(log.error());
    log_ = std::move(*log);
    return {};
  }

  // The child is ours to watch: its pid and pidfd, and our ends of its output pipes (the
  // child's ends close here, so EOF means the child and whatever it started are done).
  void adopt_child(std::pair<pid_t, int> child, OutputPipes& pipes) {
    pid_ = child.first;
    pidfd_.reset(child.second);
    pipes.out.write.reset();
    pipes.err.write.reset();
    pipes.errors.write.reset();
    stdout_ = std::move(pipes.out.read);
    stderr_ = std::move(pipes.err.read);
    errors_ = std::move(pipes.errors.read);
  }

  // Connects the child's network namespace to each of its networks (eth0, eth1, ...) and
  // publishes its ports on the first.
  Result<void> join_networks() {
    auto networks = joined_networks(spec_);
    for (std::size_t index = 0; index < networks.size(); ++index) {
      auto address = attach_to_network(*store_, layout_, id_, networks[index], index, pid_);
      if (!address) return std::unexpected(address.error());
      if (index == 0 && !spec_.ports.empty())
        if (auto published = publish_ports(spec_.ports, *address, layout_.ports_path(id_)); !published)
          return std::unexpected(published.error());
    }
    return {};
  }

  // A process runs its args; a wasm workload runs berth-wasm with its module (wasm_runner.hpp).
  Result<void> spawn_process() {
    auto launched = spec_.kind == WorkloadKind::wasm ? wasm_runner_spec(spec_, layout_, id_) : Result<WorkloadSpec>(spec_);
    if (!launched) return std::unexpected(launched.error());
    auto plan = plan_process_launch(*launched, cgroup_.get());
    if (!plan) return std::unexpected(plan.error());
    auto pipes = make_output_pipes();
    if (!pipes) return std::unexpected(pipes.error());
    UniqueFd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!devnull) return std::unexpected(errno_error("open", "/dev/null", errno));
    // On a network, the child waits before exec until its interfaces are there.
    bool on_network = !joined_networks(spec_).empty();
    std::optional<Pipe> go;
    if (on_network) {
      auto made = make_pipe("start");
      if (!made) return std::unexpected(made.error());
      go = std::move(*made);
      plan->go_fd = go->read.get();
    }

    auto child = spawn_process_workload(*plan, pipes->stdio_with(devnull.get()));
    if (!child) return std::unexpected(child.error());
    adopt_child(*child, *pipes);
    if (on_network) {
      go->read.reset();
      if (auto r = join_networks(); !r) {
        kill_and_reap();
        return std::unexpected(r.error());
      }
      char byte = 1;
      linux::write_all_noalloc(go->write.get(), &byte, 1);
    }
    // EOF on the error pipe means exec happened; a message means the child gave up.
    return check_exec();
  }

  // The container's init sets up its root and privileges, says it is ready with a NUL byte on
  // the error pipe, and waits for the go byte before it execs.
  Result<void> spawn_container() {
    auto plan = plan_container_launch(spec_, layout_.workload_dir(id_), layout_.volumes_dir(),
                                      layout_.cache_dir(), cgroup_.get());
    if (!plan) return std::unexpected(plan.error());
    auto pipes = make_output_pipes();
    if (!pipes) return std::unexpected(pipes.error());
    auto go = make_pipe("start");
    if (!go) return std::unexpected(go.error());
    auto maps = make_pipe("id maps");
    if (!maps) return std::unexpected(maps.error());
    UniqueFd stdin_read(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!stdin_read) return std::unexpected(errno_error("open", "/dev/null", errno));
    // -i without -t: the process reads a pipe that attached callers write to.
    if (spec_.container.stdin_open && !spec_.container.tty) {
      auto in = make_pipe("stdin");
      if (!in) return std::unexpected(in.error());
      stdin_read = std::move(in->read);
      input_ = std::move(in->write);
    }
    UniqueFd console_parent, console_child;
    if (spec_.container.tty) {
      int pair[2];
      if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
        return std::unexpected(errno_error("socketpair", "console", errno));
      console_parent.reset(pair[0]);
      console_child.reset(pair[1]);
    }
    if (spec_.container.tty || spec_.container.stdin_open)
      if (auto r = listen_for_attach(); !r) return r;
    auto child = spawn_container_init(*plan, pipes->stdio_with(stdin_read.get()), go->read.get(),
                                      maps->read.get(), console_child.get());
    if (!child) return std::unexpected(child.error());
    adopt_child(*child, *pipes);
    go->read.reset();
    maps->read.reset();
    go_ = std::move(go->write);
    maps_ = std::move(maps->write);
    uid_map_ = plan->uid_map;
    gid_map_ = plan->gid_map;
    console_ = std::move(console_parent);
    return {};
  }

  // attach.sock: one caller at a time relays input to the process and gets its output.
  Result<void> listen_for_attach() {
    std::string path = layout_.attach_path(id_);
    auto addr = linux::unix_address(path);
    if (!addr) return std::unexpected(addr.error());
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!listener_) return std::unexpected(errno_error("socket", path, errno));
    ::unlink(path.c_str());
    if (::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&addr->address), sizeof addr->address) != 0 ||
        ::chmod(path.c_str(), 0600) != 0 || ::listen(listener_.get(), 4) != 0)
      return std::unexpected(errno_error("listen", path, errno));
    return {};
  }

  void accept_attach() {
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) return;
    attached_ = std::move(client);  // a newer caller takes over
    attached_input_open_ = true;
  }

  // Input from the attached caller to the process's terminal or stdin pipe.
  void relay_input() {
    char buf[8192];
    ssize_t n = ::read(attached_.get(), buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    int target = terminal_ ? terminal_.get() : input_.get();
    if (n <= 0) {
      // The caller has no more input (it still reads the output): the process sees end of input.
      attached_input_open_ = false;
      if (!terminal_) input_.reset();
      return;
    }
    if (target >= 0) linux::write_all_noalloc(target, buf, static_cast<std::size_t>(n));
  }

  // The init's first word on the error pipe: ready (a NUL byte), or why it gave up.
  Result<void> await_ready() {
    char first = 0;
    ssize_t n;
    for (;;) {
      while ((n = ::read(errors_.get(), &first, 1)) < 0 && errno == EINTR) {
      }
      if (n != 1 || first != 1) break;
      // The init entered its user namespace and asks for its id maps.
      if (auto r = write_id_maps(pid_, uid_map_, gid_map_); !r) {
        kill_and_reap();
        return std::unexpected(r.error().with_context("user namespace of " + name_));
      }
      char byte = 1;
      linux::write_all_noalloc(maps_.get(), &byte, 1);
    }
    maps_.reset();
    if (n == 1 && first == '\0') {
      waiting_ = true;
      return {};
    }
    std::string failure = n == 1 ? std::string(1, first) : std::string();
    return child_failed(failure + read_to_end(errors_.get()));
  }

  // Lets a waiting container exec, and checks that it did.
  Result<void> release() {
    waiting_ = false;
    char go = 1;
    linux::write_all_noalloc(go_.get(), &go, 1);
    go_.reset();
    return check_exec();
  }

  Result<void> check_exec() {
    std::string failure = read_to_end(errors_.get());
    errors_.reset();
    if (failure.empty()) return {};
    return child_failed(failure);
  }

  std::unexpected<Error> child_failed(const std::string& failure) {
    kill_and_reap();
    if (failure.empty())
      return fail(ErrorCode::internal, fmt::format("{} {}: the workload died while being set up",
                                                   create_only_ ? "create" : "start", name_));
    return fail(failure.find("No such file") != std::string::npos || failure.find("not found") != std::string::npos
                    ? ErrorCode::not_found
                    : ErrorCode::invalid_spec,
                fmt::format("{} {}: {}", create_only_ ? "create" : "start", name_, failure));
  }

  void kill_and_reap() {
    ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
    siginfo_t info{};
    ::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED);
    exited_ = true;
  }


  // Create mode: the workload waits; the row stays "created" with its pid and this shim.
  Result<void> record_created() {
    auto dir = layout_.workload_dir(id_);
    for (const char* name : {shim_protocol::start_fifo, shim_protocol::started_fifo}) {
      std::string path = dir + "/" + name;
      ::unlink(path.c_str());
      if (::mkfifo(path.c_str(), 0600) != 0) {
        kill_and_reap();
        return fail_and_release(errno_error("mkfifo", path, errno));
      }
    }
    start_fifo_.reset(::open((dir + "/" + shim_protocol::start_fifo).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!start_fifo_) {
      kill_and_reap();
      return fail_and_release(errno_error("open", shim_protocol::start_fifo, errno));
    }
    state::WorkloadUpdate update;
    update.expected_states = {WorkloadState::created};
    update.pid = pid_;
    update.shim_pid = ::getpid();
    update.shim_start_time = linux::process_start_time(::getpid());
    auto applied = store_->update(id_, update, std::nullopt);
    if (!applied || !*applied) {
      kill_and_reap();
      return fail_and_release(applied ? Error{ErrorCode::conflict,
                                              fmt::format("workload {} changed state while being created", name_)}
                                      : applied.error());
    }
    return {};
  }

  // A start request for a created container: release it and record that it runs (or, if the
  // exec failed, let the exit that follows say why).
  void handle_start_request() {
    char buf[64];
    ssize_t n = ::read(start_fifo_.get(), buf, sizeof buf);
    if (n == 0) {
      // The starter closed without a byte: reopen, or poll would report the hangup forever.
      start_fifo_.reset(::open((layout_.workload_dir(id_) + "/" + shim_protocol::start_fifo).c_str(),
                               O_RDONLY | O_NONBLOCK | O_CLOEXEC));
      return;
    }
    if (n < 0 || !waiting_) return;
    // Release it and see it exec before recording it running and waking the starter: once start
    // returns, the pid in the row is the workload's own program, never berth's code still
    // holding the shim's fds. A failed exec (the program was found at create, so rare) ends as
    // exit code 127 with the reason.
    if (auto r = release(); !r) {
      exec_failure_ = r.error().message;
      exit_.exit_code = 127;
      drain_deadline_ = std::chrono::steady_clock::now();
    }
    if (auto r = record_running({WorkloadState::created}); !r) shim_log("record start: " + r.error().message);
    start_fifo_.reset();
    // Wake whoever waits on started.fifo: a byte for one of them, and the hangup (last
    // writer gone) for the rest.
    auto started = layout_.workload_dir(id_) + "/" + shim_protocol::started_fifo;
    UniqueFd fd(::open(started.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
    if (fd) {
      char byte = 1;
      (void)!::write(fd.get(), &byte, 1);
    }
  }

  Result<void> record_running(const std::vector<WorkloadState>& expected) {
    state::WorkloadUpdate update;
    update.expected_states = expected;
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
    auto applied = store_->update(id_, update, state::NewEvent{std::string(event_type::started), {{"pid", std::to_string(pid_)}}});
    if (!applied) {
      kill_and_reap();
      return fail_and_release(applied.error());
    }
    if (!*applied) {
      // Another start of the same workload won the row: our process goes, but the cgroup (the
      // same one) holds the winner's, so it stays.
      kill_and_reap();
      return fail(ErrorCode::conflict, fmt::format("workload {} was started by someone else meanwhile", name_));
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
      pollfd fds[8];
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
      int start_i = start_fifo_ ? add(start_fifo_.get()) : -1;
      int listen_i = listener_ ? add(listener_.get()) : -1;
      int attached_i = attached_ && attached_input_open_ ? add(attached_.get()) : -1;
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
      if (start_i >= 0 && fds[start_i].revents) handle_start_request();
      if (listen_i >= 0 && fds[listen_i].revents) accept_attach();
      if (attached_i >= 0 && fds[attached_i].revents && attached_) relay_input();
      if (pid_i >= 0 && fds[pid_i].revents && !exited_) reap();
    }
    (void)log_->finish(Clock::now());
    // The attached caller sees the end of the output; nobody attaches to what has ended.
    attached_.reset();
    terminal_.reset();
    if (listener_) {
      listener_.reset();
      ::unlink(layout_.attach_path(id_).c_str());
    }
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
    if (attached_ && !write_all(attached_.get(), buf, static_cast<std::size_t>(n))) attached_.reset();  // gone
  }

  static bool write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
      ssize_t n = ::write(fd, data, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
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
      } else if (auto why = wasm_reason(); !why.empty()) {
        exit_.reason = why;  // "wasm trap: deadline exceeded", from berth-wasm
      } else if (!exec_failure_.empty()) {
        exit_.reason = exec_failure_;
      } else if (ttl_expired_) {
        exit_.reason = "time to live expired";
      } else if (exit_.exit_code) {
        exit_.reason = fmt::format("exited with code {}", *exit_.exit_code);
      } else if (exit_.exit_signal) {
        exit_.reason = fmt::format("killed by signal {}", *exit_.exit_signal);
      }
    }
    ExitRecord record{exit_, Clock::now()};
    release_cgroup(record);
    state::WorkloadUpdate update;
    update.expected_states = active_states;
    update.state = exit_.state;
    update.pid = std::optional<int>();
    update.exit_code = exit_.exit_code;
    update.exit_signal = exit_.exit_signal;
    update.oom_killed = exit_.oom_killed;
    update.reason = exit_.reason;
    update.finished_at = record.finished_at;
    if (auto r = store_->update(id_, update, exit_event(exit_)); !r)
      shim_log("record exit: " + r.error().message);
    // Written last: waiters wake on it and then find the store already updated.
    if (auto r = write_exit_record(layout_.exit_path(id_), record); !r)
      shim_log("write exit record: " + r.error().message);
  }

  // An exited workload holds no kernel cgroups (six directories each on v1) until rm, as
  // under runc: its final figures go into the exit record and the cgroup goes, before the exit
  // is recorded, so whoever sees the exit finds it gone. A start makes it anew.
  void release_cgroup(ExitRecord& record) {
    if (auto usage = cgroup_->stats()) record.usage = *usage;
    if (auto removed = cgroup_->remove(); !removed) shim_log("remove cgroup: " + removed.error().message);
  }

  // Why a wasm workload's guest ended abnormally, as its runner wrote it (empty otherwise).
  std::string wasm_reason() const {
    if (spec_.kind != WorkloadKind::wasm) return {};
    auto text = read_file(layout_.wasm_reason_path(id_));
    if (!text) return {};
    while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
    return *text;
  }

  void remove_self() {
    auto record = store_->get(id_);
    if (!record) {
      if (record.error().code != ErrorCode::not_found) shim_log("auto remove: " + record.error().message);
      return;
    }
    TeardownReport report{record->id, record->name};
    if (auto r = kill_workload(*cgroup_host_, *record, report); !r) return shim_log("auto remove: " + r.error().message);
    if (auto r = release_workload(layout_, *cgroup_host_, *store_, *record, report); !r)
      shim_log("auto remove: " + r.error().message);
  }

  void report(const std::string& line) {
    if (report_) linux::write_all_noalloc(report_.get(), line.data(), line.size());
  }

  void shim_log(const std::string& message) {
    UniqueFd fd(::open(layout_.shim_log_path(id_).c_str(),
                       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return;
    std::string line = fmt::format("{} {}\n", format_rfc3339_nano(Clock::now()), message);
    linux::write_all_noalloc(fd.get(), line.data(), line.size());
  }

  StateLayout layout_;
  std::string id_;
  bool create_only_ = false;
  std::string name_;
  UniqueFd report_;
  UniqueFd signals_, timer_;
  std::unique_ptr<state::Store> store_;
  WorkloadSpec spec_;
  std::optional<state::LogWriter> log_;
  std::optional<linux::CgroupHost> cgroup_host_;
  std::unique_ptr<linux::Cgroup> cgroup_;
  std::uint64_t oom_kills_before_ = 0;
  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UniqueFd stdout_, stderr_;
  UniqueFd errors_;  // the child's error pipe until it has exec'd
  UniqueFd go_;      // a waiting container execs when a byte arrives here
  UniqueFd maps_;    // the init waits here for its id maps (user namespaces)
  std::vector<IdMapping> uid_map_, gid_map_;
  UniqueFd start_fifo_;  // create mode: a byte here is a start request
  UniqueFd console_;     // -t: the init sends its pty master here
  UniqueFd terminal_;    // -t: the pty master (input goes here)
  UniqueFd input_;       // -i without -t: the process's stdin pipe
  UniqueFd listener_;    // attach.sock
  UniqueFd attached_;    // the attached caller
  bool attached_input_open_ = false;
  bool waiting_ = false;
  std::string exec_failure_;
  bool exited_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  bool ttl_expired_ = false;
  ExitInfo exit_;
};

}  // namespace

int run_monitor(const std::string& root, const std::string& id, bool create_only) {
  Monitor monitor(root, id, create_only);
  return monitor.run();
}

}  // namespace berth::shim
