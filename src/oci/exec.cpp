#include "oci/exec.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fmt/format.h>

#include "common/fs.hpp"
#include "linux/cgroup.hpp"
#include "linux/namespaces.hpp"
#include "linux/process.hpp"
#include "linux/seccomp.hpp"
#include "linux/unix_socket.hpp"
#include "linux/users.hpp"
#include "oci/config.hpp"
#include "oci/container.hpp"
#include "runtime/exec_child.hpp"

namespace berth::oci {

namespace {

std::optional<std::uint32_t> number(const std::string& text) {
  if (text.empty() || text.size() > 10 || !std::all_of(text.begin(), text.end(), [](unsigned char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  auto value = std::stoull(text);
  if (value > UINT32_MAX) return std::nullopt;
  return static_cast<std::uint32_t>(value);
}

void reap(pid_t pid) {
  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// The process to run: the container's own (config.json's process) with the flags over it, or
// the --process file's, as runc's exec builds it.
Result<void> apply_process(const RuntimeOptions& options, const ExecOptions& exec, ContainerLaunchPlan& plan) {
  if (!exec.process_file.empty()) {
    if (!exec.args.empty())
      return fail(ErrorCode::invalid_spec, "exec: give the command either in --process or after the id, not both");
    auto text = read_file(exec.process_file);
    if (!text) return std::unexpected(text.error().with_context("--process"));
    auto process = parse_process_config(*text);
    if (!process) return std::unexpected(process.error().with_context("--process " + exec.process_file));
    for (auto& w : process->warnings)
      if (options.warn) options.warn(w);
    auto& p = process->plan;
    plan.args = p.args;
    plan.env = p.env;
    plan.working_dir = p.working_dir;
    plan.user = p.user;
    plan.group_add = p.group_add;
    plan.umask = p.umask;
    plan.capabilities = p.capabilities;
    plan.rlimits = p.rlimits;
    plan.no_new_privileges = p.no_new_privileges;
    plan.tty = p.tty;
    plan.console_size = p.console_size;
    // As runc: the process's own scheduling fields when it has them, else the container's.
    if (p.scheduler) plan.scheduler = p.scheduler;
    if (p.io_priority) plan.io_priority = p.io_priority;
    if (p.exec_cpu_affinity) plan.exec_cpu_affinity = p.exec_cpu_affinity;
    return {};
  }
  if (exec.args.empty() || exec.args[0].empty())
    return fail(ErrorCode::invalid_spec, "exec: needs a command after the container id (or --process FILE)");
  plan.args = exec.args;
  for (auto& e : exec.env)
    if (e.find('=') == std::string::npos || e.front() == '=')
      return fail(ErrorCode::invalid_spec, fmt::format("--env: \"{}\" is not KEY=VALUE", e));
  plan.env = merge_env(plan.env, exec.env);
  if (!exec.cwd.empty()) {
    if (exec.cwd[0] != '/') return fail(ErrorCode::invalid_spec, fmt::format("--cwd: \"{}\" is not an absolute path", exec.cwd));
    plan.working_dir = exec.cwd;
  }
  plan.tty = exec.tty;
  if (exec.no_new_privs) plan.no_new_privileges = true;
  if (!exec.user.empty()) {
    // UID[:GID]; without a GID the process's own gid stays (plan.user is "uid:gid").
    auto colon = exec.user.find(':');
    auto uid = number(exec.user.substr(0, colon));
    auto gid = colon == std::string::npos ? number(plan.user.substr(plan.user.find(':') + 1))
                                          : number(exec.user.substr(colon + 1));
    if (!uid || !gid)
      return fail(ErrorCode::invalid_spec, fmt::format("--user: \"{}\" is not UID[:GID] (numbers)", exec.user));
    plan.user = fmt::format("{}:{}", *uid, *gid);
  }
  for (auto& g : exec.additional_gids) {
    if (!number(g)) return fail(ErrorCode::invalid_spec, fmt::format("--additional-gids: \"{}\" is not a number", g));
    plan.group_add.push_back(g);
  }
  for (auto& name : exec.caps) {
    auto cap = linux::capability_from_name(name);
    if (!cap || *cap > linux::last_capability())
      return fail(ErrorCode::invalid_spec, fmt::format("--cap: \"{}\" is not a capability this kernel has", name));
    auto bit = linux::CapabilityMask{1} << *cap;
    plan.capabilities.bounding |= bit;
    plan.capabilities.effective |= bit;
    plan.capabilities.permitted |= bit;
  }
  return {};
}

}  // namespace

Result<ExecOptions> parse_exec_args(const std::vector<std::string>& args) {
  ExecOptions o;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;
    std::string name = arg.substr(arg[1] == '-' ? 2 : 1);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.erase(eq);
    }
    auto boolean = [&](bool& field) {
      field = inline_value.value_or("true") != "false";
    };
    if (name == "tty" || name == "t") boolean(o.tty);
    else if (name == "detach" || name == "d") boolean(o.detach);
    else if (name == "no-new-privs") boolean(o.no_new_privs);
    else {
      std::string value;
      if (inline_value) value = *inline_value;
      else if (i + 1 < args.size()) value = args[++i];
      else return fail(ErrorCode::invalid_spec, fmt::format("exec: flag --{} needs a value", name));
      if (name == "process" || name == "p") o.process_file = value;
      else if (name == "console-socket") o.console_socket = value;
      else if (name == "pid-file") o.pid_file = value;
      else if (name == "cwd") o.cwd = value;
      else if (name == "env" || name == "e") o.env.push_back(value);
      else if (name == "user" || name == "u") o.user = value;
      else if (name == "additional-gids" || name == "g") o.additional_gids.push_back(value);
      else if (name == "cap" || name == "c") o.caps.push_back(value);
      else if (name == "preserve-fds") {
        char* end = nullptr;
        long n = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || n < 0 || n > 65536)
          return fail(ErrorCode::invalid_spec, fmt::format("exec: --preserve-fds: \"{}\" is not a count of fds", value));
        o.preserve_fds = static_cast<int>(n);
      }
      else return fail(ErrorCode::invalid_spec, fmt::format("exec: unknown flag --{}", name));
    }
  }
  if (i >= args.size()) return fail(ErrorCode::invalid_spec, "exec: needs a container id");
  o.id = args[i++];
  o.args.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return o;
}

Result<int> exec_container(const RuntimeOptions& options, const ExecOptions& exec) {
  const std::string& id = exec.id;
  ContainerState state;
  {
    // The lock only while reading: a long exec must not block state, kill or delete.
    auto dir = StateDir::open(options.root, id);
    if (!dir) return std::unexpected(dir.error());
    auto loaded = dir->load();
    if (!loaded) return std::unexpected(loaded.error());
    state = std::move(*loaded);
  }
  auto status = live_status(state);  // paused (from the freezer) is not running either
  if (status != Status::running)
    return fail(ErrorCode::conflict, fmt::format("cannot exec in container \"{}\": it is {}, not running", id,
                                                 to_string(status)));
  auto config = load_bundle_config(state.bundle);
  if (!config) return std::unexpected(config.error().with_context(fmt::format("exec in {}", id)));
  ContainerLaunchPlan& plan = config->plan;
  if (auto r = apply_process(options, exec, plan); !r) return std::unexpected(r.error());
  if (plan.tty && exec.console_socket.empty())
    return fail(ErrorCode::invalid_spec,
                "exec: a terminal (--tty, process.terminal) needs --console-socket; berth-oci relays no terminal itself");
  if (!plan.tty && !exec.console_socket.empty())
    return fail(ErrorCode::invalid_spec, "--console-socket: the process has no terminal (--tty) to send");

  // What the init got: its seccomp filter (for this process's capabilities), its user lookup.
  ContainerExecPlan extra;
  if (config->seccomp_json) {
    auto program = linux::cached_seccomp_program(*config->seccomp_json, plan.capabilities.bounding, "linux.seccomp",
                                                 options.root + "/.cache");
    if (!program) return std::unexpected(program.error());
    if (linux::needs_seccomp_agent(*program) && config->seccomp_listener_path.empty())
      return fail(ErrorCode::invalid_spec,
                  "linux.seccomp.listenerPath: the profile uses SCMP_ACT_NOTIFY, which needs a seccomp agent's socket");
    extra.seccomp = std::move(*program);
  }
  auto user = linux::resolve_user(plan.user, plan.group_add, read_container_file(state.pid, "/etc/passwd"),
                                  read_container_file(state.pid, "/etc/group"));
  if (!user) return std::unexpected(user.error().with_context(fmt::format("exec in {}", id)));
  extra.uid = user->uid;
  extra.gid = user->gid;
  extra.groups = user->supplementary;
  extra.capabilities = plan.capabilities;
  extra.last_capability = linux::last_capability();
  extra.no_new_privileges = plan.no_new_privileges;
  extra.rlimits = plan.rlimits;
  extra.umask = plan.umask;
  extra.preserve_fds = exec.preserve_fds;
  extra.scheduler = plan.scheduler;
  extra.io_priority = plan.io_priority;
  extra.cpu_affinity = plan.exec_cpu_affinity;
  extra.reset_cpu_affinity = true;  // as runc's exec: not berth-oci's caller's pinning
  extra.env = plan.env;
  if (std::none_of(extra.env.begin(), extra.env.end(), [](auto& e) { return e.starts_with("HOME="); }))
    extra.env.push_back("HOME=" + user->home);

  auto host = linux::detect_cgroup_host();
  if (!host) return std::unexpected(host.error());
  auto cgroup = linux::open_cgroup(*host, state.cgroup_path);
  ProcessLaunchPlan launch{.exec = linux::ExecArgs(plan.args, extra.env)};
  launch.working_dir = plan.working_dir;
  launch.uid = extra.uid;
  launch.gid = extra.gid;
  launch.cgroup = cgroup.get();
  auto namespaces = linux::open_namespaces_of(state.pid);
  if (!namespaces) return std::unexpected(namespaces.error().with_context(fmt::format("exec in {}", id)));
  // Opened by pid: still the init we recorded?
  if (!linux::process_matches(state.pid, state.start_time))
    return fail(ErrorCode::conflict, fmt::format("cannot exec in container \"{}\": its init has gone", id));
  UniqueFd console;
  if (plan.tty) {
    auto connected = connect_console_socket(exec.console_socket);
    if (!connected) return std::unexpected(connected.error());
    console = std::move(*connected);
  }
  // A filter notifying an agent: the child sends its listener back over this pair, and we pass
  // it on to the agent with the process's pid, as create does for the init.
  UniqueFd listener_r, listener_w;
  if (extra.seccomp && linux::needs_seccomp_agent(*extra.seccomp)) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
      return std::unexpected(errno_error("socketpair", "exec", errno));
    listener_r.reset(pair[0]);
    listener_w.reset(pair[1]);
  }
  int errors[2], pids[2];
  if (::pipe2(errors, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", "exec", errno));
  UniqueFd errors_r(errors[0]), errors_w(errors[1]);
  if (::pipe2(pids, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", "exec", errno));
  UniqueFd pids_r(pids[0]), pids_w(pids[1]);

  // Signals to us go to the process (foreground); blocked before fork (the child unblocks its
  // own). As a subreaper we get the process when the intermediate that joined the pid
  // namespace exits, so we can wait for it.
  sigset_t forwarded, old;
  sigemptyset(&forwarded);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&forwarded, sig);
  UniqueFd signals;
  if (!exec.detach) {
    ::sigprocmask(SIG_BLOCK, &forwarded, &old);
    signals.reset(::signalfd(-1, &forwarded, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals) return std::unexpected(errno_error("signalfd", "exec", errno));
  }
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
    return std::unexpected(errno_error("become a subreaper", "exec", errno));

  pid_t child = ::fork();
  if (child < 0) return std::unexpected(errno_error("fork", "exec", errno));
  if (child == 0)
    run_exec_child({.plan = &launch,
                    .container = &extra,
                    .namespaces = &*namespaces,
                    .in_fd = 0,
                    .out_fd = 1,
                    .err_fd = 2,
                    .tty = plan.tty,
                    .new_process_group = false,
                    .error_fd = errors_w.get(),
                    .console_fd = console.get(),
                    .console_size = plan.console_size,
                    .seccomp_listener_socket = listener_w.get(),
                    .pid_fd = pids_w.get()});
  errors_w.reset();
  pids_w.reset();
  listener_w.reset();
  console.reset();
  namespaces->clear();

  pid_t target = -1;
  ssize_t got;
  while ((got = ::read(pids_r.get(), &target, sizeof target)) < 0 && errno == EINTR) {
  }
  if (got != static_cast<ssize_t>(sizeof target)) target = -1;
  // The intermediate (when it forked into the pid namespace) exits at once; reaped, its child
  // is ours.
  if (target != child) reap(child);
  // Before waiting for the exec: a notified syscall on the way there waits for the agent.
  std::string agent_failure;
  if (listener_r && target > 0) {
    if (auto listener = linux::receive_fd(listener_r.get(), "the seccomp listener")) {
      UniqueFd owned(*listener);
      ContainerState running = state;
      running.status = Status::running;
      if (auto r = send_to_seccomp_agent(*config, running, target, owned.get()); !r) {
        agent_failure = r.error().message;
        ::kill(target, SIGKILL);
      }
    }
  }
  std::string failure = read_to_end(errors_r.get());  // EOF: exec happened
  if (!agent_failure.empty()) failure = agent_failure;
  auto restore = [&] {
    if (!exec.detach) ::sigprocmask(SIG_SETMASK, &old, nullptr);
  };
  if (!failure.empty() || target < 0) {
    if (target > 0) reap(target);
    restore();
    if (failure.empty()) failure = "the process died before it could run";
    return fail(failure.find("No such file") != std::string::npos ? ErrorCode::not_found : ErrorCode::invalid_spec,
                fmt::format("exec in {}: {}", id, failure));
  }
  if (!exec.pid_file.empty())
    if (auto r = write_file_atomic(exec.pid_file, std::to_string(target), false, 0644); !r) {
      restore();
      return std::unexpected(r.error().with_context("--pid-file"));
    }
  if (exec.detach) return 0;
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, target, 0)));
  if (!pidfd) {
    restore();
    return std::unexpected(errno_error("pidfd_open", std::to_string(target), errno));
  }
  int code = wait_forwarding_signals(pidfd.get(), signals.get());
  restore();
  if (code < 0) return std::unexpected(errno_error("wait", fmt::format("exec in {}", id), errno));
  return code;
}

}  // namespace berth::oci
