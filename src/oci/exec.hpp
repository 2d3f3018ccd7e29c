// berth-oci exec (runc exec): a new process in a running container. It joins the init's
// namespaces (/proc/PID/ns) and cgroup and gets the container's capabilities, seccomp filter
// and no_new_privs unless its process says otherwise; the child is runtime/exec_child's, the
// one `berth exec` uses. Foreground exec waits (forwarding signals) and returns the process's
// exit code; --detach returns once it has exec'd, with --pid-file written.
#pragma once

#include <string>
#include <vector>

#include "berth/error.hpp"
#include "oci/container.hpp"

namespace berth::oci {

struct ExecOptions {
  std::string id;
  std::vector<std::string> args;  // the command (without --process)
  std::string process_file;       // --process: an OCI process object; the flags below are then unused
  bool tty = false;
  std::string console_socket;
  bool detach = false;
  std::string pid_file;
  std::string cwd;
  std::vector<std::string> env;              // KEY=VALUE, over the config's process.env
  std::string user;                          // UID[:GID]
  std::vector<std::string> additional_gids;  // numbers
  std::vector<std::string> caps;             // added to bounding, effective and permitted
  bool no_new_privs = false;
  int preserve_fds = 0;  // fds 3 .. 3+N-1 of ours passed on to the process
};

// exec's flags as runc takes them ("--env=A=1", "-e A=1", repeated flags accumulate); the
// first argument that is not a flag is the container id, everything after it the command.
Result<ExecOptions> parse_exec_args(const std::vector<std::string>& args);

// The exit code of the process (foreground) or 0 (--detach).
Result<int> exec_container(const RuntimeOptions& options, const ExecOptions& exec);

}  // namespace berth::oci
