// How a container's init is set up between clone and exec. The shim builds the plan (image
// layers, mounts, capabilities, the compiled seccomp filter) before clone; the child sets up its
// root, drops privileges, reports "ready" and waits for the go byte before it loads seccomp and
// execs, so create leaves a container whose process is waiting to be started (as runc's init
// waits on its exec fifo).
//
// Child protocol on the error pipe: a 1 byte asks the shim for the uid/gid maps (user
// namespaces: the shim writes them, then a byte on the maps pipe); one NUL byte means "ready,
// waiting"; text means it gave up
// (it then exits 127, or 126 when the program cannot run); EOF after the go byte means exec
// happened.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "berth/error.hpp"
#include "berth/spec.hpp"
#include "common/fd.hpp"
#include "linux/capabilities.hpp"
#include "linux/cgroup.hpp"
#include "linux/rootfs.hpp"
#include "linux/scheduling.hpp"
#include "linux/seccomp.hpp"
#include "runtime/process_launch.hpp"

namespace berth {

// A terminal's initial size (OCI process.consoleSize), set on the pty before the process starts.
struct ConsoleSize {
  unsigned short height = 0, width = 0;
};

struct ContainerLaunchPlan {
  linux::RootfsPlan rootfs;
  std::vector<std::string> args;
  std::vector<std::string> env;
  unsigned long clone_flags = 0;
  std::string hostname;
  std::string working_dir;
  std::string user;
  std::vector<std::string> group_add;
  std::vector<std::pair<int, rlimit>> rlimits;
  linux::CapabilitySets capabilities;
  int last_capability = 0;
  std::optional<linux::SeccompProgram> seccomp;
  bool no_new_privileges = true;
  std::vector<IdMapping> uid_map, gid_map;
  bool tty = false;
  std::optional<ConsoleSize> console_size;  // with tty
  linux::Cgroup* cgroup = nullptr;

  // What OCI bundles (src/oci) need beyond berth's own containers; the defaults are berth's.
  std::string domainname;  // set in the new uts namespace when non-empty
  // Namespaces joined rather than made (type CLONE_NEW*, an fd open on the namespace, owned by
  // the caller): the init enters them before its root is set up; a pid namespace is entered
  // by spawn_container_init before clone.
  std::vector<std::pair<int, int>> join_namespaces;
  // kernel parameters ("net.ipv4.ip_forward" -> "1"), written by the init in its namespaces.
  std::vector<std::pair<std::string, std::string>> sysctl;
  std::optional<mode_t> umask;
  // personality(2) of the init, set just before exec (linux.personality: PER_LINUX32...).
  std::optional<unsigned long> personality;
  // OCI process.scheduler and process.ioPriority: set by the init on itself before exec, where
  // personality is set: before any seccomp filter (which may not allow sched_setattr or
  // ioprio_set) and while it still has its capabilities (SCHED_FIFO/RR and IOPRIO_CLASS_RT need
  // CAP_SYS_NICE or CAP_SYS_ADMIN), as runc's init does. Children inherit both.
  std::optional<linux::SchedulerAttributes> scheduler;
  struct IoPriority {
    int io_class = 0;  // IOPRIO_CLASS_RT 1, BE 2, IDLE 3
    int level = 0;     // 0 (highest) .. 7
  };
  std::optional<IoPriority> io_priority;
  // OCI process.execCPUAffinity: for processes exec'd into the container only (the spec leaves
  // the init out, and so does runc); carried here so that exec finds it in config.json. Each
  // is absent when the config gives none.
  struct CpuAffinity {
    std::optional<linux::CpuSet> initial;  // before joining the container's cgroup
    std::optional<linux::CpuSet> final;    // once in it, before exec
  };
  std::optional<CpuAffinity> exec_cpu_affinity;
  // Once in its cgroup, the init takes every CPU the cgroup allows (runc resets its init so, so
  // that a container does not inherit the CPU pinning of whatever started the runtime). berth's
  // own containers inherit the shim's affinity, as they always have.
  bool reset_cpu_affinity = false;
  // PATH and HOSTNAME in the environment when the spec has none (Docker's behaviour; OCI
  // configs give the whole environment). HOME comes from /etc/passwd either way, as in runc.
  bool default_env = true;
  // fds 3 .. 3+preserve_fds-1 stay open across exec (runc's --preserve-fds).
  int preserve_fds = 0;
  // Whether anyone still reads the error pipe once start is given: berth's shim does (it reports
  // a failed exec from start); berth-oci's create has returned by then, so a failure after start
  // goes to the process's own stderr, as runc's does.
  bool error_pipe_read_after_start = true;

  // A program berth runs itself, in the init's own process, instead of exec'ing args[0]:
  // berth-oci's Wasm handler (src/oci/wasm_handler.hpp). `load` runs in the init after it has
  // joined its cgroup and before its root is set up, while the host's files are still in view;
  // `run` runs after start, once the seccomp filter is loaded, in place of exec, with every fd
  // above 2 closed (`preserve_fds` does not apply), and the init exits with what it returns.
  // Either reports a failure as an Error (load: create fails with it; run: on stderr).
  struct InProcessProgram {
    std::function<Result<void>()> load;
    std::function<int(const std::vector<std::string>& args, const std::vector<std::string>& env)> run;
  };
  std::optional<InProcessProgram> in_process;

  // Once its mounts are made, before pivot_root, the init writes a 2 on the error pipe and waits
  // for a byte on the maps pipe (berth-oci runs its prestart, createRuntime and createContainer
  // hooks in between, as runc does).
  bool pause_before_pivot = false;
  // Non-empty: the init joins a new session keyring of this name (runc does, named after the
  // container, unless --no-new-keyring), so that it does not share the caller's.
  std::string session_keyring;
};

// Where a container's files live in its workload directory.
struct ContainerPaths {
  std::string rootfs;  // overlay mount point, or the copied layers
  std::string upper;   // overlay upper and work directories
  std::string work;
  std::string etc;     // hostname, hosts, resolv.conf that berth provides
  static ContainerPaths in(const std::string& workload_dir);
};

// The filesystem part: overlay of the image layers or the plain rootfs, berth's /etc files, the
// spec's mounts (volumes resolved under `volumes_dir`).
Result<linux::RootfsPlan> plan_container_rootfs(const WorkloadSpec& spec,
                                                const std::string& workload_dir,
                                                const std::string& volumes_dir);

// Checks a mount's options (flags, and tmpfs values) the way the launch will take them, so a
// bad one is refused at create, before its volume is made; invalid_spec names mounts[index].
Result<void> validate_mount_options(const Mount& m, std::size_t index);

Result<ContainerLaunchPlan> plan_container_launch(const WorkloadSpec& spec,
                                                  const std::string& workload_dir,
                                                  const std::string& volumes_dir,
                                                  const std::string& cache_dir,
                                                  linux::Cgroup* cgroup);

// The capability mask and seccomp filter a container's processes get (the init and every exec).
Result<linux::CapabilityMask> container_capabilities(const WorkloadSpec& spec);
// `cache_dir` keeps compiled filters between starts (linux::cached_seccomp_program).
Result<std::optional<linux::SeccompProgram>> container_seccomp(const WorkloadSpec& spec,
                                                               linux::CapabilityMask caps,
                                                               const std::string& cache_dir);

// rlimit types by Docker's names ("nofile" -> RLIMIT_NOFILE).
std::optional<int> rlimit_resource(std::string_view type);

// Clones the init per plan. `go_fd` is the read end of the pipe the shim writes the go byte to;
// `maps_fd` (user namespaces only) the pipe the shim writes to once uid/gid maps are in place.
// With plan.tty, the init opens a pty in the container's devpts, makes it its controlling
// terminal and stdio, and sends the master over `console_fd` (a unix socket, SCM_RIGHTS).
Result<std::pair<pid_t, int>> spawn_container_init(const ContainerLaunchPlan& plan,
                                                   const ChildStdio& stdio, int go_fd, int maps_fd,
                                                   int console_fd);

// The pty of a container's process: from the devpts of the mount namespace the caller is in (the
// container's, so the name it sees exists where it runs), its slave owned by uid:gid; the
// master is sent over `console_fd` (SCM_RIGHTS), the slave returned, sized `size` when given.
// (create's init and exec.)
Result<UniqueFd> open_container_terminal(int console_fd, uid_t uid, gid_t gid,
                                         std::optional<ConsoleSize> size = std::nullopt);

// What to say before strerror when sched_setattr(attributes) failed with `err` in a container's
// process (init or exec): a static string that names process.scheduler and, where the kernel's
// errno alone would puzzle, why.
const char* scheduler_failure_stage(const linux::SchedulerAttributes& attributes, int err);

// Writes /proc/PID/uid_map and gid_map.
Result<void> write_id_maps(pid_t pid, const std::vector<IdMapping>& uid_map,
                           const std::vector<IdMapping>& gid_map);

}  // namespace berth
