// A process joining a running workload (berth exec, berth-oci exec): the child that enters
// the workload's cgroup and namespaces and, for a container, takes the same privileges as its
// init (capabilities, seccomp filter, no_new_privs) before exec. One implementation for both.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "linux/capabilities.hpp"
#include "linux/namespaces.hpp"
#include "linux/seccomp.hpp"
#include "runtime/container_launch.hpp"
#include "runtime/process_launch.hpp"

namespace berth {

// What an exec into a container gets on top of the process plan: the same capabilities,
// seccomp filter and no_new_privs as the container's init, and the user as the container's
// /etc/passwd and /etc/group name it.
struct ContainerExecPlan {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<std::string> env;
  std::vector<gid_t> groups;
  linux::CapabilitySets capabilities;
  int last_capability = 0;
  std::optional<linux::SeccompProgram> seccomp;
  bool no_new_privileges = true;
  std::vector<std::pair<int, rlimit>> rlimits;  // set before privileges drop
  std::optional<mode_t> umask;
  int preserve_fds = 0;  // fds 3 .. 3+preserve_fds-1 stay open across exec (runc exec --preserve-fds)
  // OCI process.scheduler and process.ioPriority, set before privileges drop (as the init's).
  std::optional<linux::SchedulerAttributes> scheduler;
  std::optional<ContainerLaunchPlan::IoPriority> io_priority;
  // OCI process.execCPUAffinity: `initial` is taken first thing after fork, so the process joins
  // the container's cgroup on those CPUs; `final` right after joining. Without either (no
  // affinity at all) and with reset_cpu_affinity, the process takes every CPU its cgroup allows
  // once in it, as runc's exec processes do.
  std::optional<ContainerLaunchPlan::CpuAffinity> cpu_affinity;
  bool reset_cpu_affinity = false;
};

struct ExecChild {
  const ProcessLaunchPlan* plan = nullptr;         // exec, working_dir, uid/gid, cgroup
  const ContainerExecPlan* container = nullptr;    // null for a process workload
  const std::vector<linux::NamespaceFd>* namespaces = nullptr;  // open_namespaces_of order
  int in_fd = -1;  // -1: /dev/null
  int out_fd = 1, err_fd = 2;
  bool tty = false;  // in_fd is a terminal: a session of its own with it as controlling tty
  // Without a tty: a process group of its own (berth exec kills the group on timeout). Off
  // when stdin may be the caller's terminal, where a background group could not read it.
  bool new_process_group = true;
  int error_fd = -1;  // close-on-exec: text on failure, EOF on exec
  // With tty: the pty is made here, in the container's own devpts once joined, and its master
  // sent over this unix socket (SCM_RIGHTS) as create's console socket does; in/out/err unused.
  int console_fd = -1;
  std::optional<ConsoleSize> console_size;  // with console_fd: the pty's first size
  // A unix socket: the seccomp listener of a filter that notifies an agent is sent over it
  // (SCM_RIGHTS) right after the filter is loaded, then closed here. -1: no agent.
  int seccomp_listener_socket = -1;
  // -1: when a pid namespace is joined, the forked child waits for the command and exits with
  // its code (one pid to wait for). Otherwise the pid of the process that execs is written here
  // (a pid_t) and the intermediate exits 0 at once: the command is reparented to the caller's
  // subreaper, as runc's exec processes are.
  int pid_fd = -1;
};

// The forked child: join, then exec. Runs in a fork of a possibly multi-threaded caller, so it
// allocates nothing (but for the console, which only single-threaded callers ask for).
[[noreturn]] void run_exec_child(const ExecChild& child);

// A file of the container's, read through the root of `pid` without following anything out
// of it; "" when it cannot be read.
std::string read_container_file(pid_t pid, const char* path);

// `base` with each KEY=VALUE of `extra` replacing the same key's entry (or appended).
std::vector<std::string> merge_env(const std::vector<std::string>& base, const std::vector<std::string>& extra);

}  // namespace berth
