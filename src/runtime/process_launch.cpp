#include "runtime/process_launch.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fmt/format.h>

#include "common/fs.hpp"
#include "linux/namespaces.hpp"

namespace berth {

Result<ProcessLaunchPlan> plan_process_launch(const WorkloadSpec& spec, linux::Cgroup* cgroup) {
  ProcessLaunchPlan plan{linux::ExecArgs(spec.args, spec.env)};
  plan.clone_flags = linux::clone_flags_for(spec.namespaces, spec.network);
  plan.hostname = spec.name;
  plan.working_dir = spec.working_dir.empty() ? "/" : spec.working_dir;
  plan.cgroup = cgroup;
  if (!spec.user.empty()) {
    auto colon = spec.user.find(':');
    auto parse = [](std::string_view text) -> std::optional<unsigned> {
      unsigned v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
      return v;
    };
    auto uid = parse(std::string_view(spec.user).substr(0, colon));
    if (!uid) return fail(ErrorCode::invalid_spec, fmt::format("user: \"{}\" is not UID[:GID]", spec.user));
    plan.uid = *uid;
    plan.gid = *uid;
    if (colon != std::string::npos) {
      auto gid = parse(std::string_view(spec.user).substr(colon + 1));
      if (!gid) return fail(ErrorCode::invalid_spec, fmt::format("user: \"{}\" is not UID[:GID]", spec.user));
      plan.gid = *gid;
    }
  }
  return plan;
}

namespace {

[[noreturn]] void run_child(const ProcessLaunchPlan& plan, const ChildStdio& stdio) {
  // Signals: the shim blocks some and ignores SIGPIPE; the workload starts with defaults.
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);

  if (::setsid() < 0) linux::fail_child(stdio.error_fd, "setsid", errno);
  if (plan.cgroup && plan.cgroup->clone_into_fd() < 0) {
    if (auto r = plan.cgroup->add_process(0); !r) linux::fail_child(stdio.error_fd, "join cgroup", EIO);
  }
  const char* stage = "";
  if (int err = linux::setup_new_namespaces_in_child(plan.clone_flags, plan.hostname.c_str(),
                                                     &stage))
    linux::fail_child(stdio.error_fd, stage, err);
  if (plan.go_fd >= 0) {
    char go = 0;
    ssize_t n;
    while ((n = ::read(plan.go_fd, &go, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1) linux::fail_child(stdio.error_fd, "wait for its network", n < 0 ? errno : EPIPE);
  }

  if (::dup2(stdio.stdin_fd, 0) < 0 || ::dup2(stdio.stdout_fd, 1) < 0 ||
      ::dup2(stdio.stderr_fd, 2) < 0)
    linux::fail_child(stdio.error_fd, "set up stdio", errno);

  if (plan.gid) {
    if (::setgroups(0, nullptr) != 0) linux::fail_child(stdio.error_fd, "setgroups", errno);
    if (::setresgid(*plan.gid, *plan.gid, *plan.gid) != 0)
      linux::fail_child(stdio.error_fd, "setgid", errno);
  }
  if (plan.uid && ::setresuid(*plan.uid, *plan.uid, *plan.uid) != 0)
    linux::fail_child(stdio.error_fd, "setuid", errno);
  if (::chdir(plan.working_dir.c_str()) != 0)
    linux::fail_child(stdio.error_fd, "chdir to working directory", errno);

  // Only 0, 1 and 2 survive exec: no fd of the shim or its caller leaks into the workload.
  linux::mark_fds_cloexec_from(3);
  linux::exec_with_path_search(plan.exec);
  linux::fail_child(stdio.error_fd, plan.exec.file(), errno);
}

}  // namespace

long clone_with_pidfd(unsigned long flags, linux::Cgroup* cgroup, int* pidfd) {
  clone_args args;
  std::memset(&args, 0, sizeof args);
  args.flags = CLONE_PIDFD | flags;
  args.pidfd = reinterpret_cast<std::uint64_t>(pidfd);
  args.exit_signal = SIGCHLD;
  if (int fd = cgroup ? cgroup->clone_into_fd() : -1; fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<std::uint64_t>(fd);
  }
  return ::syscall(SYS_clone3, &args, sizeof args);
}

Result<std::pair<pid_t, int>> spawn_process_workload(const ProcessLaunchPlan& plan,
                                                      const ChildStdio& stdio) {
  int pidfd = -1;
  long pid = clone_with_pidfd(plan.clone_flags, plan.cgroup, &pidfd);
  if (pid < 0) return std::unexpected(errno_error("clone", "workload", errno));
  if (pid == 0) run_child(plan, stdio);
  // The pidfd from clone3 is close-on-exec already.
  return std::pair<pid_t, int>{static_cast<pid_t>(pid), pidfd};
}

}  // namespace berth
