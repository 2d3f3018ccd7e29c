// How a process workload's child is set up between clone and exec. The plan is built in the
// shim before clone; the child only follows it (no allocation), and reports a failure as one
// line on the error pipe before exiting 127 (or 126 when the program is not executable).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "berth/error.hpp"
#include "berth/spec.hpp"
#include "linux/cgroup.hpp"
#include "linux/process.hpp"

namespace berth {

struct ProcessLaunchPlan {
  linux::ExecArgs exec;
  unsigned long clone_flags = 0;
  std::string hostname;
  std::string working_dir;  // "/" unless the spec says otherwise
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  linux::Cgroup* cgroup = nullptr;
  // When set, the child waits for one byte here (after its namespaces are made, before exec):
  // the shim connects its network namespace to its networks meanwhile. EOF means give up.
  int go_fd = -1;
};

Result<ProcessLaunchPlan> plan_process_launch(const WorkloadSpec& spec, linux::Cgroup* cgroup);

struct ChildStdio {
  int stdin_fd;
  int stdout_fd;
  int stderr_fd;
  int error_fd;  // close-on-exec: EOF on the other end means exec succeeded
};

// clone3 with a pidfd (into `cgroup` directly where the host allows: v2's CLONE_INTO_CGROUP).
// Returns as fork does: 0 in the child, the pid in the parent (with *pidfd set), -1 and errno.
long clone_with_pidfd(unsigned long flags, linux::Cgroup* cgroup, int* pidfd);

// Clones the workload child per plan (new namespaces from plan.clone_flags), returning its pid
// and a pidfd for it. The child never returns.
Result<std::pair<pid_t, int>> spawn_process_workload(const ProcessLaunchPlan& plan,
                                                      const ChildStdio& stdio);

}  // namespace berth
