// exec: a command inside a running workload's namespaces and cgroup, with a timeout.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>
#include <fmt/format.h>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "linux/capabilities.hpp"
#include "linux/mounts.hpp"
#include "linux/namespaces.hpp"
#include "linux/seccomp.hpp"
#include "linux/users.hpp"
#include "runtime/container_launch.hpp"
#include "runtime/exec_child.hpp"
#include "runtime/local_runtime.hpp"
#include "runtime/process_launch.hpp"

namespace berth {

namespace {

Result<ContainerExecPlan> plan_container_exec(const WorkloadSpec& spec, pid_t init_pid,
                                              const std::string& cache_dir) {
  ContainerExecPlan extra;
  auto user = linux::resolve_user(spec.user, spec.container.group_add,
                                  read_container_file(init_pid, "/etc/passwd"),
                                  read_container_file(init_pid, "/etc/group"));
  if (!user) return std::unexpected(user.error());
  extra.uid = user->uid;
  extra.gid = user->gid;
  extra.groups = user->supplementary;
  auto caps = container_capabilities(spec);
  if (!caps) return std::unexpected(caps.error());
  extra.capabilities = linux::container_capability_sets(*caps);
  extra.last_capability = linux::last_capability();
  auto seccomp = container_seccomp(spec, *caps, cache_dir);
  if (!seccomp) return std::unexpected(seccomp.error());
  extra.seccomp = std::move(*seccomp);
  extra.no_new_privileges = spec.container.no_new_privileges;
  std::vector<std::string> env = spec.env;
  auto has = [&](std::string_view key) {
    return std::any_of(env.begin(), env.end(), [&](auto& e) { return e.starts_with(key); });
  };
  if (!has("PATH=")) env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (!has("HOME=")) env.push_back("HOME=" + user->home);
  if (!has("HOSTNAME="))
    env.push_back("HOSTNAME=" + (spec.container.hostname.empty() ? spec.name : spec.container.hostname));
  extra.env = std::move(env);
  return extra;
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
  if (is_active(record->state) && !record->pid && !has_live_shim(*record))
    return fail(ErrorCode::conflict,
                fmt::format("workload {} runs unsupervised (its shim died) and its main process has ended: "
                            "there is nothing to exec into; stop or remove it",
                            record->name));
  if (!is_active(record->state) || !record->pid)
    return fail(ErrorCode::conflict, fmt::format("workload {} is not running", record->name));
  auto spec = spec_of(*record);
  if (!spec) return std::unexpected(spec.error());
  // A module has no shell or files of its own; a host command beside it would not be inside it.
  if (spec->kind == WorkloadKind::wasm)
    return fail(ErrorCode::invalid_spec, fmt::format("exec: {} is a wasm module: there is nothing to run a command in", record->name));

  WorkloadSpec command = *spec;
  command.args = argv;
  command.env = merge_env(spec->env, options.env);
  if (!options.working_dir.empty()) command.working_dir = options.working_dir;
  if (!options.user.empty()) command.user = options.user;
  auto cgroup = linux::open_cgroup(cgroup_host_, StateLayout::cgroup_path(record->id));
  std::optional<ContainerExecPlan> container;
  if (spec->kind == WorkloadKind::container) {
    auto extra = plan_container_exec(command, *record->pid, layout_.cache_dir());
    if (!extra) return std::unexpected(extra.error().with_context("exec in " + record->name));
    container = std::move(*extra);
    command.env = container->env;
    command.user.clear();  // resolved above, by name or number, in the container's files
  }
  auto plan = plan_process_launch(command, cgroup.get());
  if (!plan) return std::unexpected(plan.error());
  if (container) {
    plan->uid = container->uid;
    plan->gid = container->gid;
  }
  auto namespaces = linux::open_namespaces_of(*record->pid);
  if (!namespaces) return std::unexpected(namespaces.error().with_context("exec in " + record->name));

  int errors[2];
  if (::pipe2(errors, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", "exec", errno));
  UniqueFd errors_r(errors[0]), errors_w(errors[1]);
  UniqueFd out_r, out_w, err_r, err_w;
  int in_fd = -1, out_fd, err_fd;
  if (options.stdio) {
    std::tie(in_fd, out_fd, err_fd) = std::tuple((*options.stdio)[0], (*options.stdio)[1], (*options.stdio)[2]);
  } else {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", "exec", errno));
    out_r.reset(out[0]);
    out_w.reset(out[1]);
    if (::pipe2(err, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", "exec", errno));
    err_r.reset(err[0]);
    err_w.reset(err[1]);
    out_fd = out_w.get();
    err_fd = err_w.get();
  }

  pid_t pid = ::fork();
  if (pid < 0) return std::unexpected(errno_error("fork", "exec", errno));
  if (pid == 0)
    run_exec_child({.plan = &*plan,
                    .container = container ? &*container : nullptr,
                    .namespaces = &*namespaces,
                    .in_fd = in_fd,
                    .out_fd = out_fd,
                    .err_fd = err_fd,
                    .tty = options.tty,
                    .error_fd = errors_w.get()});
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
  // Interactive: output went straight to the caller's fds; wait for the exit itself.
  if (!timed_out && options.stdio) {
    UniqueFd child(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd pfd{child.get(), POLLIN, 0};
    while (left.count() > 0 && ::poll(&pfd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), INT32_MAX))) == 0)
      left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    timed_out = left.count() <= 0;
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
