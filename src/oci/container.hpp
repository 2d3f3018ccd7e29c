// The OCI lifecycle (runtime.md "Lifecycle", "Operations") over state directories under a root:
// create leaves the container's init waiting (on ROOT/ID/exec.fifo, as runc's init waits on its
// exec fifo) and returns; the init is the caller's child until create exits, then it belongs to
// the caller's subreaper (or init), as with runc: there is no daemon. start releases it; kill
// signals it; delete releases its cgroup and state. run is create + start in the foreground.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "berth/error.hpp"
#include "common/fd.hpp"
#include "oci/state.hpp"

namespace berth::oci {

struct BundleConfig;

struct RuntimeOptions {
  std::string root = "/run/berth-oci";
  bool systemd_cgroup = false;  // cgroupsPath is "slice:prefix:name"; cgroupfs paths are used
  std::function<void(const std::string&)> warn;  // logged warnings
};

struct CreateOptions {
  std::string bundle = ".";
  std::string pid_file;
  std::string console_socket;
  int preserve_fds = 0;
  bool no_pivot = false;        // MS_MOVE and chroot instead of pivot_root (linux::RootfsPlan)
  bool no_new_keyring = false;  // keep the caller's session keyring (else a new one named ID)
};

struct Created {
  ContainerState state;
  UniqueFd pidfd;   // the init (our child)
  UniqueFd errors;  // the init's error pipe: EOF after start means exec happened
};

Result<Created> create_container(const RuntimeOptions& options, const std::string& id, const CreateOptions& create);
Result<void> start_container(const RuntimeOptions& options, const std::string& id);
// The status now: current_status, with running or paused as the cgroup's freezer says.
Status live_status(const ContainerState& state);
// The state with its current status (live_status).
Result<ContainerState> container_state(const RuntimeOptions& options, const std::string& id);
Result<void> kill_container(const RuntimeOptions& options, const std::string& id, int signal, bool all);
Result<void> delete_container(const RuntimeOptions& options, const std::string& id, bool force);
// Runs to the end: the exit code (128 + signal when killed). The container is deleted after.
Result<int> run_container(const RuntimeOptions& options, const std::string& id, const CreateOptions& create);
// run --detach: create + start, leaving the container running (as runc run -d).
Result<void> run_detached(const RuntimeOptions& options, const std::string& id, const CreateOptions& create);
// Every container under the root with its current status.
std::vector<ContainerState> list_containers(const RuntimeOptions& options);

// A connection to a --console-socket, where a pty master is sent (create's and exec's).
Result<UniqueFd> connect_console_socket(const std::string& path);

// runtime.md "container process state": the seccomp `listener` of process `pid` sent to the
// agent at linux.seccomp.listenerPath, with `state` and listenerMetadata: one connection, one
// message, the fd attached.
Result<void> send_to_seccomp_agent(const BundleConfig& config, const ContainerState& state, pid_t pid, int listener);
// Waits for our child behind `pidfd` to exit, passing each signal read from `signals` (a
// signalfd) on to it: its exit code (128 + the signal when killed), or -1.
int wait_forwarding_signals(int pidfd, int signals);

// An error of linux::Cgroup::apply_extra (or validate_extra_resources), whose field names are
// relative to linux.resources ("blockIO.weight: ..."), with the full name.
Error under_linux_resources(Error error);

// "system.slice:docker:abc" (systemd) or "/a/b" or "" -> a cgroupfs path relative to the root.
std::string cgroup_path_for(const std::string& cgroups_path, const std::string& id, bool systemd);

}  // namespace berth::oci
