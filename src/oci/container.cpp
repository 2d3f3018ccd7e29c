#include "oci/container.hpp"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.hpp"
#include "common/pipe.hpp"
#include "common/time.hpp"
#include "linux/cgroup.hpp"
#include "linux/process.hpp"
#include "linux/seccomp.hpp"
#include "linux/unix_socket.hpp"
#include "oci/config.hpp"
#include "oci/wasm_handler.hpp"
#include "oci/hooks.hpp"
#include "runtime/container_launch.hpp"

namespace berth::oci {

namespace {

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_signal(int pidfd, int sig) { return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0)); }

Result<std::string> absolute_dir(const std::string& path) {
  char* real = ::realpath(path.c_str(), nullptr);
  if (!real) return std::unexpected(errno_error("resolve", path, errno));
  std::string out(real);
  std::free(real);
  return out;
}

// A pidfd for the container's init, if it is still the process we recorded.
UniqueFd open_init(const ContainerState& state) {
  if (state.pid <= 0) return {};
  UniqueFd fd(pidfd_open(state.pid));
  if (!fd || !linux::process_matches(state.pid, state.start_time)) return {};
  return fd;
}

// Undoes a create that failed half way: its init, cgroup and state directory.
struct CreateCleanup {
  StateDir* dir = nullptr;
  linux::Cgroup* cgroup = nullptr;
  int pidfd = -1;
  bool armed = true;
  ~CreateCleanup() {
    if (!armed) return;
    if (pidfd >= 0) {
      pidfd_signal(pidfd, SIGKILL);
      siginfo_t info{};
      ::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED);
    }
    if (cgroup) {
      (void)cgroup->kill_all();
      (void)cgroup->remove();
    }
    if (dir) (void)dir->remove();
  }
};

}  // namespace

// linux::Cgroup::apply_extra's errors name the field below linux.resources.
Error under_linux_resources(Error error) {
  error.message = "linux.resources." + error.message;
  return error;
}

namespace {

Result<std::unique_ptr<linux::Cgroup>> open_container_cgroup(const std::string& path) {
  auto host = linux::detect_cgroup_host();
  if (!host) return std::unexpected(host.error());
  return linux::open_cgroup(*host, path);
}

// Waits (up to `limit`) for the init to be gone or a zombie; it is not our child to reap.
bool wait_gone(const ContainerState& state, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (linux::process_matches(state.pid, state.start_time)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// A namespace named by path must be one of the type it is listed as (setns would refuse it
// later, with a bare EINVAL). A mount namespace must not be berth-oci's own: the container's
// root is set up in a joined mount namespace (as runc and crun do), and pivot_root there would
// move the root of every process in it, the host's included.
Result<void> check_joinable(int fd, const NamespacePath& ns) {
  int actual = ::ioctl(fd, NS_GET_NSTYPE);
  if (actual < 0) return fail(ErrorCode::invalid_spec, fmt::format("{}: {} is not a namespace", ns.field, ns.path));
  if (actual != ns.type)
    return fail(ErrorCode::invalid_spec, fmt::format("{}: {} is a namespace of another type", ns.field, ns.path));
  if (ns.type != CLONE_NEWNS) return {};
  struct stat joined, own;
  if (::fstat(fd, &joined) != 0 || ::stat("/proc/self/ns/mnt", &own) != 0)
    return std::unexpected(errno_error("stat", "mount namespace", errno));
  if (joined.st_dev == own.st_dev && joined.st_ino == own.st_ino)
    return fail(ErrorCode::invalid_spec,
                fmt::format("{}: {} is berth-oci's own mount namespace (the host's); the container's root would "
                            "replace its root",
                            ns.field, ns.path));
  return {};
}

// systemd's socket activation protocol: LISTEN_FDS=N fds from 3, meant for LISTEN_PID when set.
int listen_fds_for_this_process() {
  const char* count = std::getenv("LISTEN_FDS");
  if (count == nullptr) return 0;
  if (const char* pid = std::getenv("LISTEN_PID"); pid != nullptr && std::to_string(::getpid()) != pid) return 0;
  int n = 0;
  auto [end, ec] = std::from_chars(count, count + std::strlen(count), n);
  if (ec != std::errc() || *end != '\0' || n < 0) return 0;
  return n;
}

}  // namespace

namespace {

// A stream connection to the unix socket at `path`; errors name `field`, where the path came from.
Result<UniqueFd> connect_unix(const std::string& path, const std::string& field) {
  auto address = linux::unix_address(path);
  if (!address) return std::unexpected(address.error().with_context(field));
  UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) return std::unexpected(errno_error("socket", path, errno));
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address->address), sizeof address->address) != 0)
    return std::unexpected(errno_error("connect", path, errno).with_context(field));
  return socket;
}

}  // namespace

Result<UniqueFd> connect_console_socket(const std::string& path) { return connect_unix(path, "--console-socket"); }

Result<void> send_to_seccomp_agent(const BundleConfig& config, const ContainerState& state, pid_t pid, int listener) {
  const std::string& path = config.seccomp_listener_path;
  auto agent = connect_unix(path, "linux.seccomp.listenerPath");
  if (!agent) return std::unexpected(agent.error());
  nlohmann::json message = {{"ociVersion", state.oci_version},
                            {"fds", {"seccompFd"}},
                            {"pid", pid},
                            {"metadata", config.seccomp_listener_metadata},
                            {"state", nlohmann::json::parse(state_json(state))}};
  if (auto r = linux::send_with_fd(agent->get(), message.dump(), listener, "the seccomp listener"); !r)
    return std::unexpected(r.error().with_context("linux.seccomp.listenerPath " + path));
  return {};
}

int wait_forwarding_signals(int pidfd, int signals) {
  for (;;) {
    pollfd fds[2] = {{pidfd, POLLIN, 0}, {signals, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo info;
      while (::read(signals, &info, sizeof info) == sizeof info) pidfd_signal(pidfd, static_cast<int>(info.ssi_signo));
    }
    if (fds[0].revents & POLLIN) {
      siginfo_t info{};
      if (::waitid(P_PIDFD, static_cast<id_t>(pidfd), &info, WEXITED) != 0) {
        if (errno == EINTR) continue;
        return -1;
      }
      return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    }
  }
}

std::string cgroup_path_for(const std::string& cgroups_path, const std::string& id, bool systemd) {
  if (cgroups_path.empty()) return "berth-oci/" + id;
  if (systemd) {
    // slice:prefix:name -> slice/prefix-name.scope (what systemd would make, on cgroupfs)
    auto first = cgroups_path.find(':');
    auto second = first == std::string::npos ? std::string::npos : cgroups_path.find(':', first + 1);
    if (second != std::string::npos) {
      std::string slice = cgroups_path.substr(0, first);
      std::string prefix = cgroups_path.substr(first + 1, second - first - 1);
      std::string name = cgroups_path.substr(second + 1);
      if (slice.empty()) slice = "system.slice";
      return fmt::format("{}/{}{}{}.scope", slice, prefix, prefix.empty() ? "" : "-", name);
    }
  }
  std::string out = cgroups_path;
  while (out.starts_with("/")) out.erase(0, 1);
  return out;
}

Result<Created> create_container(const RuntimeOptions& options, const std::string& id, const CreateOptions& create) {
  if (auto v = validate_id(id); !v) return std::unexpected(v.error());
  auto bundle = absolute_dir(create.bundle);
  if (!bundle) return std::unexpected(bundle.error().with_context("--bundle"));
  auto config = load_bundle_config(*bundle);
  if (!config) return std::unexpected(config.error());
  for (auto& w : config->warnings)
    if (options.warn) options.warn(w);
  auto& plan = config->plan;
  if (plan.tty && create.console_socket.empty())
    return fail(ErrorCode::invalid_spec, "process.terminal: a terminal needs --console-socket");
  if (!plan.tty && !create.console_socket.empty())
    return fail(ErrorCode::invalid_spec, "--console-socket: process.terminal is false, there is no terminal to send");
  if (create.preserve_fds < 0) return fail(ErrorCode::invalid_spec, "--preserve-fds: must not be negative");
  plan.rootfs.no_pivot = create.no_pivot;
  plan.preserve_fds = create.preserve_fds;
  // Socket activation, as runc: fds handed to berth-oci by systemd (LISTEN_FDS, for this pid or
  // no pid named) come first, at 3.., and the process is told so (LISTEN_PID=1: it is the init);
  // --preserve-fds counts the fds after them.
  if (auto listen = listen_fds_for_this_process(); listen > 0) {
    plan.preserve_fds += listen;
    std::erase_if(plan.env, [](const std::string& e) { return e.starts_with("LISTEN_FDS=") || e.starts_with("LISTEN_PID="); });
    plan.env.push_back(fmt::format("LISTEN_FDS={}", listen));
    plan.env.push_back("LISTEN_PID=1");
  }
  plan.error_pipe_read_after_start = false;
  // The Wasm handler: the module is read and compiled now, before anything exists to undo.
  // Its cache sits beside the seccomp filters' (a dot name is never a container id).
  auto wasm = wants_wasm_handler(config->annotations, plan.args);
  if (!wasm) return std::unexpected(wasm.error());
  if (*wasm && create.preserve_fds > 0)
    return fail(ErrorCode::invalid_spec,
                "--preserve-fds: a Wasm module (run.oci.handler) sees no fds but its stdio and its root");
  if (*wasm)
    if (auto r = use_wasm_handler(plan, options.root + "/.cache/wasm"); !r) return std::unexpected(r.error());
  if (!create.no_new_keyring) plan.session_keyring = id;
  const Hooks& hooks = config->hooks;
  plan.pause_before_pivot = !hooks.prestart.empty() || !hooks.create_runtime.empty() || !hooks.create_container.empty();

  // Before anything exists: the seccomp filter and the namespaces to join.
  if (config->seccomp_json) {
    auto program = linux::cached_seccomp_program(*config->seccomp_json, plan.capabilities.bounding, "linux.seccomp",
                                                 options.root + "/.cache");
    if (!program) return std::unexpected(program.error());
    // runtime-spec: with SCMP_ACT_NOTIFY the listener goes to listenerPath; without it, the
    // path is ignored.
    if (linux::needs_seccomp_agent(*program) && config->seccomp_listener_path.empty())
      return fail(ErrorCode::invalid_spec,
                  "linux.seccomp.listenerPath: the profile uses SCMP_ACT_NOTIFY, which needs a seccomp agent's socket");
    plan.seccomp = std::move(*program);
  }
  std::vector<UniqueFd> namespace_fds;
  for (auto& ns : config->join) {
    UniqueFd fd(::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return std::unexpected(errno_error("open namespace", ns.path, errno).with_context(ns.field));
    if (auto r = check_joinable(fd.get(), ns); !r) return std::unexpected(r.error());
    plan.join_namespaces.push_back({ns.type, fd.get()});
    namespace_fds.push_back(std::move(fd));
  }

  auto dir = StateDir::make(options.root, id);
  if (!dir) return std::unexpected(dir.error());
  // Declared before the cleanup, which uses them, so they outlive it.
  UniqueFd pidfd;
  std::unique_ptr<linux::Cgroup> cgroup;
  CreateCleanup cleanup;
  cleanup.dir = &*dir;

  ContainerState state;
  state.oci_version = config->oci_version;
  state.id = id;
  state.status = Status::creating;
  state.bundle = *bundle;
  state.rootfs = plan.rootfs.rootfs;
  state.created = format_rfc3339_nano(std::chrono::system_clock::now());
  state.annotations = config->annotations;
  state.cgroup_path = cgroup_path_for(config->cgroups_path, id, options.systemd_cgroup);
  // delete kills what is left in the cgroup and removes it: never the root or a path outside.
  if (state.cgroup_path.empty() || ("/" + state.cgroup_path + "/").find("/../") != std::string::npos ||
      ("/" + state.cgroup_path + "/").find("/./") != std::string::npos)
    return fail(ErrorCode::invalid_spec,
                fmt::format("linux.cgroupsPath: \"{}\" does not name a cgroup of its own", config->cgroups_path));
  if (auto r = dir->save(state); !r) return std::unexpected(r.error());
  if (auto r = save_hooks(dir->path(), hooks); !r) return std::unexpected(r.error());

  auto host = linux::detect_cgroup_host();
  if (!host) return std::unexpected(host.error());
  linux::CgroupNeeds needs;
  needs.cpuset = !config->resources.cpuset_cpus.empty() || !config->resources.cpuset_mems.empty();
  needs.devices = true;
  needs.hugetlb = !config->extra_resources.hugepage_limits.empty();
  auto made = linux::create_cgroup(*host, state.cgroup_path, needs);
  if (!made) return std::unexpected(made.error());
  cgroup = std::move(*made);
  cleanup.cgroup = cgroup.get();
  if (auto r = cgroup->apply(config->resources); !r) return std::unexpected(r.error().with_context("linux.resources"));
  auto extra = cgroup->apply_extra(config->extra_resources);
  if (!extra) return std::unexpected(under_linux_resources(extra.error()));
  for (auto& w : *extra)
    if (options.warn) options.warn("linux.resources." + w);
  if (auto r = cgroup->restrict_devices(config->device_rules); !r)
    return std::unexpected(r.error().with_context("linux.resources.devices"));
  plan.cgroup = cgroup.get();
  plan.rootfs.cgroup2 = host->version == linux::CgroupVersion::v2;
  if (config->cgroup_mount && host->version == linux::CgroupVersion::v1)
    for (auto& path : cgroup->paths()) {
      auto rest = path.substr(host->mount_root.size() + 1);
      plan.rootfs.cgroup_v1_dirs.push_back({path, rest.substr(0, rest.find('/'))});
    }

  auto errors = make_pipe("init errors");
  if (!errors) return std::unexpected(errors.error());
  auto maps = make_pipe("id maps");
  if (!maps) return std::unexpected(maps.error());
  // The exec fifo: the init holds it open read-write and reads one byte; start writes it.
  std::string fifo = dir->fifo_path();
  if (::mkfifo(fifo.c_str(), 0600) != 0) return std::unexpected(errno_error("mkfifo", fifo, errno));
  UniqueFd go(::open(fifo.c_str(), O_RDWR | O_CLOEXEC));
  if (!go) return std::unexpected(errno_error("open", fifo, errno));
  UniqueFd console;
  if (plan.tty) {
    auto connected = connect_console_socket(create.console_socket);
    if (!connected) return std::unexpected(connected.error());
    console = std::move(*connected);
  }

  ChildStdio stdio{0, 1, 2, errors->write.get()};
  auto child = spawn_container_init(plan, stdio, go.get(), maps->read.get(), console.get());
  if (!child) return std::unexpected(child.error());
  pidfd.reset(child->second);
  cleanup.pidfd = pidfd.get();
  errors->write.reset();
  maps->read.reset();
  go.reset();
  console.reset();
  namespace_fds.clear();
  state.pid = child->first;
  state.start_time = linux::process_start_time(state.pid).value_or(0);
  if (auto r = dir->save(state); !r) return std::unexpected(r.error());

  // The init's first word: a 1 asks for id maps, a 2 for the create hooks (its mounts are made,
  // pivot_root is next), NUL means ready, text means it gave up.
  char first = 0;
  ssize_t n;
  for (;;) {
    while ((n = ::read(errors->read.get(), &first, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1 || (first != 1 && first != 2 && first != 3)) break;
    if (first == 3) {
      // The init's seccomp listener: its fd number follows; taken with pidfd_getfd.
      int number = -1;
      while ((n = ::read(errors->read.get(), &number, sizeof number)) < 0 && errno == EINTR) {
      }
      if (n != sizeof number) break;
      UniqueFd listener(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), number, 0)));
      if (!listener) return std::unexpected(errno_error("take", "the init's seccomp listener", errno));
      if (auto r = send_to_seccomp_agent(*config, state, state.pid, listener.get()); !r)
        return fail(r.error().code, fmt::format("create {}: {}", id, r.error().message));
    } else if (first == 1) {
      if (auto r = write_id_maps(state.pid, plan.uid_map, plan.gid_map); !r)
        return std::unexpected(r.error().with_context("linux.uidMappings"));
    } else {
      // runtime.md: prestart (deprecated) and createRuntime in the runtime's namespaces, then
      // createContainer in the container's; a failure fails create, and the cleanup kills the
      // init and removes its cgroup and state.
      std::string hook_state = state_json(state);
      for (auto kind : {HookKind::prestart, HookKind::create_runtime, HookKind::create_container})
        if (auto r = run_hooks(hooks, kind, hook_state, state.pid); !r)
          return fail(r.error().code, fmt::format("create {}: {}", id, r.error().message));
    }
    char byte = 1;
    linux::write_all_noalloc(maps->write.get(), &byte, 1);
  }
  if (n != 1 || first != '\0') {
    std::string failure = (n == 1 ? std::string(1, first) : std::string()) + read_to_end(errors->read.get());
    if (failure.empty()) failure = "the container's init died while being set up";
    return fail(failure.find("No such file") != std::string::npos || failure.find("not found") != std::string::npos
                    ? ErrorCode::not_found
                    : ErrorCode::invalid_spec,
                fmt::format("create {}: {}", id, failure));
  }
  if (config->oom_score_adj) {
    if (auto r = write_file(fmt::format("/proc/{}/oom_score_adj", state.pid), std::to_string(*config->oom_score_adj)); !r)
      return std::unexpected(r.error().with_context("process.oomScoreAdj"));
  }
  state.status = Status::created;
  if (auto r = dir->save(state); !r) return std::unexpected(r.error());
  if (!create.pid_file.empty())
    if (auto r = write_file_atomic(create.pid_file, std::to_string(state.pid), false, 0644); !r)
      return std::unexpected(r.error().with_context("--pid-file"));
  cleanup.armed = false;
  return Created{std::move(state), std::move(pidfd), std::move(errors->read)};
}

Result<void> start_container(const RuntimeOptions& options, const std::string& id) {
  auto dir = StateDir::open(options.root, id);
  if (!dir) return std::unexpected(dir.error());
  auto state = dir->load();
  if (!state) return std::unexpected(state.error());
  auto status = current_status(*state);
  if (status != Status::created)
    return fail(ErrorCode::conflict,
                fmt::format("cannot start container \"{}\": it is {}, only a created container can start", id,
                            to_string(status)));
  UniqueFd fifo(::open(dir->fifo_path().c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fifo) {
    if (errno == ENXIO) return fail(ErrorCode::conflict, fmt::format("cannot start container \"{}\": its init has gone", id));
    return std::unexpected(errno_error("open", dir->fifo_path(), errno));
  }
  auto hooks = load_hooks(dir->path());
  if (!hooks) return std::unexpected(hooks.error().with_context(fmt::format("start {}", id)));
  // startContainer: in the container's namespaces, before the process execs. A failure stops
  // the container (its init and whatever is in its cgroup are killed); delete removes it.
  if (auto r = run_hooks(*hooks, HookKind::start_container, state_json(*state), state->pid); !r) {
    if (UniqueFd init = open_init(*state)) pidfd_signal(init.get(), SIGKILL);
    if (auto cgroup = open_container_cgroup(state->cgroup_path)) (void)(*cgroup)->kill_all();
    (void)wait_gone(*state, std::chrono::seconds(10));
    return fail(r.error().code, fmt::format("start {}: {} (the container is stopped)", id, r.error().message));
  }
  char go = 1;
  if (::write(fifo.get(), &go, 1) != 1) return std::unexpected(errno_error("write", dir->fifo_path(), errno));
  fifo.reset();
  ::unlink(dir->fifo_path().c_str());
  state->status = Status::running;
  if (auto r = dir->save(*state); !r) return r;
  // poststart: in the runtime's namespaces once the process runs; a failure is a warning. The
  // state directory is unlocked first, so that a hook may ask for the container's state.
  std::string hook_state = state_json(*state);
  *dir = StateDir{};
  for (auto& failure : run_every_hook(*hooks, HookKind::poststart, hook_state))
    if (options.warn) options.warn(fmt::format("start {}: {} (the container keeps running)", id, failure.message));
  return {};
}

Status live_status(const ContainerState& state) {
  Status status = current_status(state);
  // As runc: paused is what the cgroup's freezer says, whoever froze or thawed it.
  if (status == Status::running || status == Status::paused)
    if (auto cgroup = open_container_cgroup(state.cgroup_path))
      status = (*cgroup)->frozen() ? Status::paused : Status::running;
  return status;
}

Result<ContainerState> container_state(const RuntimeOptions& options, const std::string& id) {
  auto dir = StateDir::open(options.root, id);
  if (!dir) return std::unexpected(dir.error());
  auto state = dir->load();
  if (!state) return std::unexpected(state.error());
  state->status = live_status(*state);
  return state;
}

Result<void> kill_container(const RuntimeOptions& options, const std::string& id, int signal, bool all) {
  auto dir = StateDir::open(options.root, id);
  if (!dir) return std::unexpected(dir.error());
  auto state = dir->load();
  if (!state) return std::unexpected(state.error());
  auto status = live_status(*state);
  if (status != Status::created && status != Status::running && status != Status::paused)
    return fail(ErrorCode::conflict, fmt::format("cannot kill container \"{}\": it is {}", id, to_string(status)));
  // As runc: a frozen task dies of SIGKILL only once thawed; other signals wait for resume.
  auto thaw_if_killed = [&]() -> Result<void> {
    if (status != Status::paused || signal != SIGKILL) return {};
    auto cgroup = open_container_cgroup(state->cgroup_path);
    if (!cgroup) return std::unexpected(cgroup.error());
    return (*cgroup)->freeze(false);
  };
  if (all) {
    auto cgroup = open_container_cgroup(state->cgroup_path);
    if (!cgroup) return std::unexpected(cgroup.error());
    auto pids = (*cgroup)->processes();
    if (!pids) return std::unexpected(pids.error());
    for (pid_t pid : *pids)
      if (::kill(pid, signal) != 0 && errno != ESRCH) return std::unexpected(errno_error("kill", std::to_string(pid), errno));
    return thaw_if_killed();
  }
  UniqueFd init = open_init(*state);
  if (!init) return fail(ErrorCode::conflict, fmt::format("cannot kill container \"{}\": it is stopped", id));
  if (pidfd_signal(init.get(), signal) != 0)
    return std::unexpected(errno_error("signal", fmt::format("container {}", id), errno));
  return thaw_if_killed();
}

namespace {

Result<void> destroy(StateDir& dir, const ContainerState& state) {
  auto cgroup = open_container_cgroup(state.cgroup_path);
  if (!cgroup) return std::unexpected(cgroup.error());
  if (UniqueFd init = open_init(state)) pidfd_signal(init.get(), SIGKILL);
  if (auto pids = (*cgroup)->processes(); pids && !pids->empty())
    if (auto r = (*cgroup)->kill_all(); !r) return std::unexpected(r.error());
  if (!wait_gone(state, std::chrono::seconds(10)))
    return fail(ErrorCode::timeout, fmt::format("container \"{}\": its init did not die", state.id));
  if (auto r = (*cgroup)->remove(); !r) return std::unexpected(r.error());
  return dir.remove();
}

}  // namespace

Result<void> delete_container(const RuntimeOptions& options, const std::string& id, bool force) {
  auto dir = StateDir::open(options.root, id);
  if (!dir) {
    if (force && dir.error().code == ErrorCode::not_found) return {};
    return std::unexpected(dir.error());
  }
  auto state = dir->load();
  if (!state) return std::unexpected(state.error());
  auto status = live_status(*state);
  // As runc: a created container (never started) may go without --force; a running one not.
  if ((status == Status::running || status == Status::paused) && !force)
    return fail(ErrorCode::conflict, fmt::format("cannot delete container \"{}\": it is {} (stop it first, or use --force)",
                                                 id, to_string(status)));
  auto hooks = load_hooks(dir->path());
  if (!hooks && options.warn) options.warn(fmt::format("delete {}: {} (no poststop hooks run)", id, hooks.error().message));
  if (auto r = destroy(*dir, *state); !r) return r;
  // poststop: once the container is gone (processes, cgroup, state); a failure is a warning.
  if (hooks && !hooks->poststop.empty()) {
    state->status = Status::stopped;
    for (auto& failure : run_every_hook(*hooks, HookKind::poststop, state_json(*state)))
      if (options.warn) options.warn(fmt::format("delete {}: {}", id, failure.message));
  }
  return {};
}

Result<int> run_container(const RuntimeOptions& options, const std::string& id, const CreateOptions& create) {
  // Signals to us go to the container; blocked before the init is cloned (it unblocks its own).
  sigset_t forwarded, old;
  sigemptyset(&forwarded);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH}) sigaddset(&forwarded, sig);
  ::sigprocmask(SIG_BLOCK, &forwarded, &old);
  UniqueFd signals(::signalfd(-1, &forwarded, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals) return std::unexpected(errno_error("signalfd", "run", errno));

  auto created = create_container(options, id, create);
  if (!created) return std::unexpected(created.error());
  auto delete_after = [&] { (void)delete_container(options, id, true); };
  if (auto r = start_container(options, id); !r) {
    delete_after();
    return std::unexpected(r.error());
  }
  // EOF on the error pipe: exec happened; text: it failed (and the init exits).
  std::string failure = read_to_end(created->errors.get());
  created->errors.reset();

  int code = wait_forwarding_signals(created->pidfd.get(), signals.get());
  delete_after();
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  if (!failure.empty()) return fail(ErrorCode::invalid_spec, fmt::format("run {}: {}", id, failure));
  return code;
}

Result<void> run_detached(const RuntimeOptions& options, const std::string& id, const CreateOptions& create) {
  auto created = create_container(options, id, create);
  if (!created) return std::unexpected(created.error());
  if (auto r = start_container(options, id); !r) {
    (void)delete_container(options, id, true);
    return r;
  }
  return {};
}

std::vector<ContainerState> list_containers(const RuntimeOptions& options) {
  std::vector<ContainerState> out;
  for (auto& id : list_ids(options.root)) {
    auto state = container_state(options, id);
    if (state) out.push_back(std::move(*state));
  }
  return out;
}

}  // namespace berth::oci
