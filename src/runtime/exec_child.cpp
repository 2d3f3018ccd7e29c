#include "runtime/exec_child.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "common/fd.hpp"
#include "linux/mounts.hpp"
#include "linux/process.hpp"
#include "linux/scheduling.hpp"
#include "linux/unix_socket.hpp"
#include "runtime/container_launch.hpp"

namespace berth {

namespace {

// The filter, and its listener (when it notifies an agent) sent over `listener_socket` to the
// runtime, which passes it on; closed here either way, so the process never holds it.
void load_seccomp(const linux::SeccompProgram& program, int listener_socket, int error_fd) {
  int listener = -1;
  if (int e = linux::install_seccomp_in_child(program, listener_socket >= 0 ? &listener : nullptr))
    linux::fail_child(error_fd, "load seccomp filter", e);
  if (listener < 0) return;
  if (int e = linux::send_fd_noalloc(listener_socket, listener)) linux::fail_child(error_fd, "pass the seccomp listener", e);
  ::close(listener);
  ::close(listener_socket);
}

}  // namespace

std::string read_container_file(pid_t pid, const char* path) {
  UniqueFd root(::open(fmt::format("/proc/{}/root", pid).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return {};
  UniqueFd fd(linux::open_in_root(root.get(), path, O_RDONLY));
  if (fd.get() < 0) return {};
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

std::vector<std::string> merge_env(const std::vector<std::string>& base, const std::vector<std::string>& extra) {
  std::vector<std::string> out = base;
  for (auto& e : extra) {
    auto key = e.substr(0, e.find('=') + 1);
    std::erase_if(out, [&](const std::string& x) { return x.starts_with(key); });
    out.push_back(e);
  }
  return out;
}

void run_exec_child(const ExecChild& c) {
  const ProcessLaunchPlan& plan = *c.plan;
  const ContainerExecPlan* container = c.container;
  int error_fd = c.error_fd;
  // A container's processes must not reach berth's binary through our /proc entries while we
  // join them (the CVE-2019-5736 class): not dumpable until exec replaces this image.
  if (container) ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (!c.tty && c.new_process_group) ::setpgid(0, 0);  // one group, so a timeout kills the command and what it started
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  if (container && container->cpu_affinity && container->cpu_affinity->initial)
    if (int e = linux::set_cpu_affinity_in_child(*container->cpu_affinity->initial))
      linux::fail_child(error_fd, "process.execCPUAffinity.initial: set the CPU affinity", e);
  if (plan.cgroup && !plan.cgroup->add_process(0)) linux::fail_child(error_fd, "join cgroup", EIO);
  if (container && container->cpu_affinity && container->cpu_affinity->final) {
    if (int e = linux::set_cpu_affinity_in_child(*container->cpu_affinity->final))
      linux::fail_child(error_fd, "process.execCPUAffinity.final: set the CPU affinity (in the container's cgroup)", e);
  } else if (container && !container->cpu_affinity && container->reset_cpu_affinity) {
    if (int e = linux::reset_cpu_affinity_in_child()) linux::fail_child(error_fd, "reset the CPU affinity", e);
  }
  bool joined_pid_namespace = false;
  for (auto& ns : *c.namespaces) {
    if (::setns(ns.fd.get(), ns.type) != 0) linux::fail_child(error_fd, "join namespace", errno);
    if (ns.type == CLONE_NEWPID) joined_pid_namespace = true;
  }
  if (joined_pid_namespace) {
    // setns(pid) applies to children only: the command runs in a child.
    pid_t inner = ::fork();
    if (inner < 0) linux::fail_child(error_fd, "fork", errno);
    if (inner > 0) {
      ::close(error_fd);
      if (c.pid_fd >= 0) {
        linux::write_all_noalloc(c.pid_fd, reinterpret_cast<const char*>(&inner), sizeof inner);
        ::_exit(0);
      }
      int status = 0;
      while (::waitpid(inner, &status, 0) < 0 && errno == EINTR) {
      }
      ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
  } else if (c.pid_fd >= 0) {
    pid_t self = ::getpid();
    linux::write_all_noalloc(c.pid_fd, reinterpret_cast<const char*>(&self), sizeof self);
  }
  if (c.pid_fd >= 0) ::close(c.pid_fd);
  int in_fd = c.in_fd, out_fd = c.out_fd, err_fd = c.err_fd;
  UniqueFd terminal;
  if (c.tty && c.console_fd >= 0) {
    // Now inside the container's mount namespace: /dev/pts is its devpts.
    auto made = open_container_terminal(c.console_fd, *plan.uid, *plan.gid, c.console_size);
    if (!made) {
      linux::write_all_noalloc(error_fd, made.error().message.data(), made.error().message.size());
      ::_exit(127);
    }
    terminal = std::move(*made);
    in_fd = out_fd = err_fd = terminal.get();
  }
  if (in_fd < 0) in_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in_fd < 0 || ::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0)
    linux::fail_child(error_fd, "set up stdio", errno);
  if (c.tty && (::setsid() < 0 || ::ioctl(0, TIOCSCTTY, 0) != 0))
    linux::fail_child(error_fd, "take the terminal", errno);
  if (container) {
    if (container->scheduler)
      if (int e = linux::set_scheduler_in_child(*container->scheduler))
        linux::fail_child(error_fd, scheduler_failure_stage(*container->scheduler, e), e);
    if (container->io_priority)
      if (int e = linux::set_io_priority_in_child(container->io_priority->io_class, container->io_priority->level))
        linux::fail_child(error_fd, "process.ioPriority: set the I/O priority", e);
    for (auto& [resource, limit] : container->rlimits)
      if (::setrlimit(resource, &limit) != 0) linux::fail_child(error_fd, "setrlimit", errno);
    // Without no_new_privs only CAP_SYS_ADMIN may load a filter: load it before dropping
    // capabilities, as the container's init does (container_launch.cpp).
    if (container->seccomp && !container->no_new_privileges)
      load_seccomp(*container->seccomp, c.seccomp_listener_socket, error_fd);
    if (int e = linux::drop_bounding_capabilities_in_child(container->capabilities, container->last_capability))
      linux::fail_child(error_fd, "drop from the capability bounding set", e);
    if (::setgroups(container->groups.size(), container->groups.data()) != 0)
      linux::fail_child(error_fd, "setgroups", errno);
    if (::setresgid(*plan.gid, *plan.gid, *plan.gid) != 0) linux::fail_child(error_fd, "setgid", errno);
    if (linux::keep_capabilities_across_setuid() != 0) linux::fail_child(error_fd, "keep capabilities", errno);
    if (::setresuid(*plan.uid, *plan.uid, *plan.uid) != 0) linux::fail_child(error_fd, "setuid", errno);
    const char* stage = "capabilities";
    if (int e = linux::apply_capabilities_in_child(container->capabilities, container->last_capability, &stage))
      linux::fail_child(error_fd, stage, e);
  } else {
    if (plan.gid) {
      if (::setgroups(0, nullptr) != 0) linux::fail_child(error_fd, "setgroups", errno);
      if (::setresgid(*plan.gid, *plan.gid, *plan.gid) != 0) linux::fail_child(error_fd, "setgid", errno);
    }
    if (plan.uid && ::setresuid(*plan.uid, *plan.uid, *plan.uid) != 0)
      linux::fail_child(error_fd, "setuid", errno);
  }
  if (::chdir(plan.working_dir.c_str()) != 0)
    linux::fail_child(error_fd, "chdir to working directory", errno);
  if (container) {
    if (container->umask) ::umask(*container->umask);
    if (container->no_new_privileges)
      if (int e = linux::set_no_new_privileges()) linux::fail_child(error_fd, "no_new_privs", e);
    if (container->seccomp && container->no_new_privileges)
      load_seccomp(*container->seccomp, c.seccomp_listener_socket, error_fd);
  }
  linux::mark_fds_cloexec_from(3 + (container ? container->preserve_fds : 0));
  linux::exec_with_path_search(plan.exec);
  linux::fail_child(error_fd, plan.exec.file(), errno);
}

}  // namespace berth
