// exec: a command inside a running workload's namespaces and cgroup, with a timeout.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "linux/namespaces.hpp"
#include "runtime/local_runtime.hpp"
#include "runtime/process_launch.hpp"

namespace berth {

namespace {

// The forked child: join, then exec. Runs in a fork of a possibly multi-threaded caller, so it
// allocates nothing.
[[noreturn]] void run_exec_child(const ProcessLaunchPlan& plan,
                                 const std::vector<linux::NamespaceFd>& namespaces,
                                 int out_fd, int err_fd, int error_fd) {
  ::setpgid(0, 0);  // one group, so a timeout kills the command and what it started
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  if (plan.cgroup && !plan.cgroup->add_process(0)) linux::fail_child(error_fd, "join cgroup", EIO);
  bool joined_pid_namespace = false;
  for (auto& ns : namespaces) {
    if (::setns(ns.fd.get(), ns.type) != 0) linux::fail_child(error_fd, "join namespace", errno);
    if (ns.type == CLONE_NEWPID) joined_pid_namespace = true;
  }
  if (joined_pid_namespace) {
    // setns(pid) applies to children only: the command runs in a child that we mirror.
    pid_t inner = ::fork();
    if (inner < 0) linux::fail_child(error_fd, "fork", errno);
    if (inner > 0) {
      ::close(error_fd);
      int status = 0;
      while (::waitpid(inner, &status, 0) < 0 && errno == EINTR) {
      }
      ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0)
    linux::fail_child(error_fd, "set up stdio", errno);
  if (plan.gid) {
    if (::setgroups(0, nullptr) != 0) linux::fail_child(error_fd, "setgroups", errno);
    if (::setresgid(*plan.gid, *plan.gid, *plan.gid) != 0) linux::fail_child(error_fd, "setgid", errno);
  }
  if (plan.uid && ::setresuid(*plan.uid, *plan.uid, *plan.uid) != 0)
    linux::fail_child(error_fd, "setuid", errno);
  if (::chdir(plan.working_dir.c_str()) != 0)
    linux::fail_child(error_fd, "chdir to working directory", errno);
  linux::mark_fds_cloexec_from(3);
  linux::exec_with_path_search(plan.exec);
  linux::fail_child(error_fd, plan.exec.file(), errno);
}

std::vector<std::string> merge_env(const std::vector<std::string>& base,
                                   const std::vector<std::string>& extra) {
  std::vector<std::string> out = base;
  for (auto& e : extra) {
    auto key = e.substr(0, e.find('=') + 1);
    std::erase_if(out, [&](const std::string& x) { return x.starts_with(key); });
    out.push_back(e);
  }
  return out;
}

}  // namespace

Result<ExecResult> LocalRuntime::exec(std::string_view ref, const std::vector<std::string>& argv,
                                      const ExecOptions& options) {
  if (argv.empty() || argv[0].empty())
    return fail(ErrorCode::invalid_spec, "exec: a command is needed");
  for (auto& e : options.env)
    if (e.find('=') == std::string::npos || e.front() == '=')
      return fail(ErrorCode::invalid_spec, fmt::format("exec env: \"{}\" is not KEY=VALUE", e));
  auto record = find_current(ref);
  if (!record) return std::unexpected(record.error());
  if (!is_active(record->state) || !record->pid)
    return fail(ErrorCode::conflict, fmt::format("workload {} is not running", record->name));
  auto spec = spec_of(*record);
  if (!spec) return std::unexpected(spec.error());

  WorkloadSpec command = *spec;
  command.args = argv;
  command.env = merge_env(spec->env, options.env);
  if (!options.working_dir.empty()) command.working_dir = options.working_dir;
  if (!options.user.empty()) command.user = options.user;
  auto cgroup = linux::open_cgroup(cgroup_host_, StateLayout::cgroup_path(record->id));
  auto plan = plan_process_launch(command, cgroup.get());
  if (!plan) return std::unexpected(plan.error());
  auto namespaces = linux::open_namespaces_of(*record->pid);
  if (!namespaces) return std::unexpected(namespaces.error().with_context("exec in " + record->name));

  int out[2], err[2], errors[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", "exec", errno));
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", "exec", errno));
  UniqueFd err_r(err[0]), err_w(err[1]);
  if (::pipe2(errors, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", "exec", errno));
  UniqueFd errors_r(errors[0]), errors_w(errors[1]);

  pid_t pid = ::fork();
  if (pid < 0) return std::unexpected(errno_error("fork", "exec", errno));
  if (pid == 0) run_exec_child(*plan, *namespaces, out_w.get(), err_w.get(), errors_w.get());
  out_w.reset();
  err_w.reset();
  errors_w.reset();

  ExecResult result;
  std::string failure;
  auto deadline = std::chrono::steady_clock::now() + options.timeout;
  bool timed_out = false;
  while (out_r || err_r || errors_r) {
    pollfd fds[3];
    UniqueFd* owners[3];
    std::string* sinks[3];
    nfds_t n = 0;
    for (auto [fd, sink] : {std::pair{&out_r, &result.stdout_data},
                            std::pair{&err_r, &result.stderr_data},
                            std::pair{&errors_r, &failure}}) {
      if (!*fd) continue;
      fds[n] = {fd->get(), POLLIN, 0};
      owners[n] = fd;
      sinks[n++] = sink;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int ready = ::poll(fds, n, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    for (nfds_t i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      char buf[65536];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) owners[i]->reset();
      else sinks[i]->append(buf, static_cast<std::size_t>(got));
    }
  }
  if (timed_out) ::kill(-pid, SIGKILL), ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
    return fail(ErrorCode::timeout, fmt::format("exec in {}: {} did not finish within {} ms",
                                                record->name, argv[0], options.timeout.count()));
  if (!failure.empty())
    return fail(failure.find("No such file") != std::string::npos ? ErrorCode::not_found
                                                                  : ErrorCode::invalid_spec,
                fmt::format("exec in {}: {}", record->name, failure));
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

}  // namespace berth
