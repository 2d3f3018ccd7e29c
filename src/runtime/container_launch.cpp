#include "runtime/container_launch.hpp"

#include <fcntl.h>
#include <linux/keyctl.h>
#include <stdlib.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "common/fs.hpp"
#include "linux/mounts.hpp"
#include "linux/namespaces.hpp"
#include "linux/unix_socket.hpp"
#include "linux/users.hpp"

namespace berth {

ContainerPaths ContainerPaths::in(const std::string& workload_dir) {
  return {workload_dir + "/rootfs", workload_dir + "/upper", workload_dir + "/work",
          workload_dir + "/etc"};
}

std::optional<int> rlimit_resource(std::string_view type) {
  static constexpr std::pair<std::string_view, int> names[] = {
      {"as", RLIMIT_AS},           {"core", RLIMIT_CORE},       {"cpu", RLIMIT_CPU},
      {"data", RLIMIT_DATA},       {"fsize", RLIMIT_FSIZE},     {"locks", RLIMIT_LOCKS},
      {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
      {"nofile", RLIMIT_NOFILE},   {"nproc", RLIMIT_NPROC},     {"rss", RLIMIT_RSS},
      {"rtprio", RLIMIT_RTPRIO},   {"rttime", RLIMIT_RTTIME},   {"sigpending", RLIMIT_SIGPENDING},
      {"stack", RLIMIT_STACK}};
  for (auto [name, resource] : names)
    if (name == type) return resource;
  return std::nullopt;
}

namespace {

// A tmpfs option's value as the kernel takes it (mm/shmem.c): size and nr_inodes a number with
// an optional k, m, g, t, p or e, or a percentage; mode octal; uid and gid a number.
bool valid_tmpfs_value(std::string_view option) {
  auto equals = option.find('=');
  auto key = option.substr(0, equals), value = option.substr(equals + 1);
  auto digits = [](std::string_view text, std::string_view allowed) {
    return !text.empty() && text.find_first_not_of(allowed) == std::string_view::npos;
  };
  if (key == "mode") return value.size() <= 4 && digits(value, "01234567");
  if (key == "uid" || key == "gid") return value.size() <= 10 && digits(value, "0123456789");
  if (!value.empty() && std::string_view("kKmMgGtTpPeE%").find(value.back()) != std::string_view::npos)
    value.remove_suffix(1);
  return value.size() <= 19 && digits(value, "0123456789");
}

// Mount options as Docker and the OCI spec write them.
Result<void> apply_mount_options(const Mount& m, std::size_t index, linux::ContainerMount& out) {
  std::vector<std::string> data;
  for (auto& option : m.options) {
    if (option == "ro") out.read_only = true;
    else if (option == "rw") out.read_only = false;
    else if (option == "nosuid") out.flags |= MS_NOSUID;
    else if (option == "nodev") out.flags |= MS_NODEV;
    else if (option == "noexec") out.flags |= MS_NOEXEC;
    else if (option == "bind") out.recursive = false;
    else if (option == "rbind") out.recursive = true;
    else if (option == "private") out.propagation = MS_PRIVATE;
    else if (option == "rprivate") out.propagation = MS_PRIVATE | MS_REC;
    else if (option == "slave") out.propagation = MS_SLAVE;
    else if (option == "rslave") out.propagation = MS_SLAVE | MS_REC;
    else if (option == "shared") out.propagation = MS_SHARED;
    else if (option == "rshared") out.propagation = MS_SHARED | MS_REC;
    else if (m.type == "tmpfs" && (option.starts_with("size=") || option.starts_with("mode=") ||
                                   option.starts_with("uid=") || option.starts_with("gid=") ||
                                   option.starts_with("nr_inodes="))) {
      if (!valid_tmpfs_value(option))
        return fail(ErrorCode::invalid_spec,
                    fmt::format("mounts[{}].options: \"{}\" is not a valid tmpfs option value", index, option));
      data.push_back(option);
    }
    else
      return fail(ErrorCode::invalid_spec,
                  fmt::format("mounts[{}].options: \"{}\" is not a mount option berth knows", index, option));
  }
  for (auto& d : data) out.data += (out.data.empty() ? "" : ",") + d;
  if (m.read_only) out.read_only = true;
  return {};
}

}  // namespace

Result<void> validate_mount_options(const Mount& m, std::size_t index) {
  linux::ContainerMount scratch;
  return apply_mount_options(m, index, scratch);
}

namespace {

std::string hosts_file(const std::string& hostname, bool host_network) {
  if (host_network) {
    auto host = read_file("/etc/hosts");
    if (host) return *host;
  }
  return fmt::format(
      "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n", hostname);
}

// The host's resolver config; in a private network namespace, loopback nameservers would point
// at the container itself, so they go (as Docker drops them).
std::string resolv_conf(bool host_network) {
  auto host = read_file("/etc/resolv.conf").value_or("");
  if (host_network) return host;
  std::string out;
  std::size_t start = 0;
  while (start < host.size()) {
    auto end = host.find('\n', start);
    std::string line = host.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? host.size() : end + 1;
    if (line.starts_with("nameserver") &&
        (line.find(" 127.") != std::string::npos || line.find(" ::1") != std::string::npos))
      continue;
    out += line + "\n";
  }
  return out;
}

// A volatile overlay leaves work/work/incompat/volatile behind, and the kernel refuses to mount
// over it again. Once the previous mount is gone in the same boot (its namespace died with the
// container) nothing was lost and the marker goes. After a host crash or reboot, writes to the
// upper layer may have been lost: that is an error to the user, never silently accepted.
Result<void> prepare_volatile_overlay(const ContainerPaths& paths) {
  std::string boot_id = read_file("/proc/sys/kernel/random/boot_id").value_or("unknown\n");
  std::string marker = paths.work + "/work/incompat/volatile";
  std::string mounted_in = paths.work + "/../overlay-boot-id";
  if (path_exists(marker)) {
    if (read_file(mounted_in).value_or("") != boot_id)
      return fail(ErrorCode::conflict,
                  "the container's writable layer was in use when the host went down and may have lost "
                  "writes: remove the container and create it again");
    if (auto r = remove_tree(paths.work + "/work"); !r) return r;
  }
  return write_file(mounted_in, boot_id);
}

std::string container_hostname(const WorkloadSpec& spec) {
  std::string name = spec.container.hostname.empty() ? spec.name : spec.container.hostname;
  return name.substr(0, 63);
}

}  // namespace

Result<linux::RootfsPlan> plan_container_rootfs(const WorkloadSpec& spec,
                                                const std::string& workload_dir,
                                                const std::string& volumes_dir) {
  auto paths = ContainerPaths::in(workload_dir);
  linux::RootfsPlan plan;
  if (!spec.rootfs.empty()) {
    plan.rootfs = spec.rootfs;
  } else {
    plan.rootfs = paths.rootfs;
    if (path_exists(paths.upper)) {
      // overlay's lowerdir lists the top layer first.
      std::string lower;
      for (auto it = spec.container.image_layers.rbegin(); it != spec.container.image_layers.rend(); ++it)
        lower += (lower.empty() ? "" : ":") + *it;
      if (auto r = prepare_volatile_overlay(paths); !r) return std::unexpected(r.error());
      // volatile: no syncs of the upper layer (copy-up and unmount would each sync the host's
      // filesystem, milliseconds per start). What that risks is covered above.
      plan.overlay_options = fmt::format("lowerdir={},upperdir={},workdir={},volatile", lower, paths.upper, paths.work);
      if (plan.overlay_options.size() >= 4096)
        return fail(ErrorCode::invalid_spec,
                    fmt::format("image {}: {} layers are too many for one overlay mount",
                                spec.image, spec.container.image_layers.size()));
    }
  }
  plan.read_only = spec.container.read_only_rootfs;
  plan.private_network = spec.network != "host";
  plan.cgroup2 = false;
  plan.masked_paths = linux::default_masked_paths();
  plan.readonly_paths = linux::default_readonly_paths();

  // berth's /etc files, written fresh at every start (the hostname may have changed).
  if (auto r = make_dirs(paths.etc, 0755); !r) return std::unexpected(r.error());
  std::string hostname = container_hostname(spec);
  bool host_network = spec.network == "host";
  for (auto [name, content] : {std::pair{"hostname", hostname + "\n"},
                               std::pair{"hosts", hosts_file(hostname, host_network)},
                               std::pair{"resolv.conf", resolv_conf(host_network)}}) {
    std::string file = paths.etc + "/" + name;
    if (auto r = write_file_atomic(file, content, false, 0644); !r) return std::unexpected(r.error());
    ::chmod(file.c_str(), 0644);
    linux::ContainerMount m;
    m.source = file;
    m.target = fmt::format("/etc/{}", name);
    m.recursive = false;
    plan.mounts.push_back(m);
  }
  for (std::size_t i = 0; i < spec.mounts.size(); ++i) {
    auto& m = spec.mounts[i];
    linux::ContainerMount out;
    out.target = m.target;
    if (m.type == "tmpfs") {
      out.kind = linux::ContainerMount::Kind::tmpfs;
    } else if (m.type == "volume") {
      out.source = volumes_dir + "/" + m.source + "/_data";
    } else {
      out.source = m.source;
    }
    if (auto r = apply_mount_options(m, i, out); !r) return std::unexpected(r.error());
    plan.mounts.push_back(out);
  }
  return plan;
}

Result<linux::CapabilityMask> container_capabilities(const WorkloadSpec& spec) {
  return linux::resolve_capabilities(linux::default_container_capabilities(), spec.container.cap_add,
                                     spec.container.cap_drop);
}

Result<std::optional<linux::SeccompProgram>> container_seccomp(const WorkloadSpec& spec,
                                                               linux::CapabilityMask caps,
                                                               const std::string& cache_dir) {
  const auto& profile = spec.container.seccomp;
  if (profile == "unconfined") return std::optional<linux::SeccompProgram>();
  std::string text(linux::default_seccomp_profile_json());
  std::string source = "default profile";
  if (!profile.empty()) {
    auto file = read_file(profile);
    if (!file) return std::unexpected(file.error().with_context("seccomp profile"));
    text = std::move(*file);
    source = profile;
  }
  auto program = linux::cached_seccomp_program(text, caps, source, cache_dir);
  if (!program) return std::unexpected(program.error());
  if (linux::needs_seccomp_agent(*program))
    return fail(ErrorCode::invalid_spec,
                fmt::format("seccomp profile {}: SCMP_ACT_NOTIFY needs a seccomp agent, which berth's own containers "
                            "have none of (berth-oci passes the listener to linux.seccomp.listenerPath)",
                            source));
  return std::optional<linux::SeccompProgram>(std::move(*program));
}

Result<ContainerLaunchPlan> plan_container_launch(const WorkloadSpec& spec,
                                                  const std::string& workload_dir,
                                                  const std::string& volumes_dir,
                                                  const std::string& cache_dir,
                                                  linux::Cgroup* cgroup) {
  ContainerLaunchPlan plan;
  auto rootfs = plan_container_rootfs(spec, workload_dir, volumes_dir);
  if (!rootfs) return std::unexpected(rootfs.error());
  plan.rootfs = std::move(*rootfs);
  plan.rootfs.cgroup2 = cgroup && cgroup->version() == linux::CgroupVersion::v2;
  plan.args = spec.args;
  plan.env = spec.env;
  plan.clone_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
  if (spec.network != "host") {
    plan.clone_flags |= CLONE_NEWNET;
    // Without CAP_NET_RAW (not in the default set) ping uses an ICMP datagram socket, which the
    // kernel lets only the groups in this range open: all of them, in the container's own
    // network namespace, as Docker sets it. The host's namespace is not berth's to change.
    plan.sysctl.emplace_back("net.ipv4.ping_group_range", "0 2147483647");
  }
  // A user namespace is entered last, by the init itself (see run_container_init).
  plan.hostname = container_hostname(spec);
  plan.working_dir = spec.working_dir.empty() ? "/" : spec.working_dir;
  plan.user = spec.user;
  plan.group_add = spec.container.group_add;
  for (std::size_t i = 0; i < spec.container.rlimits.size(); ++i) {
    auto& l = spec.container.rlimits[i];
    auto resource = rlimit_resource(l.type);
    if (!resource)
      return fail(ErrorCode::invalid_spec,
                  fmt::format("container.rlimits[{}].type: \"{}\" is not a resource limit", i, l.type));
    plan.rlimits.push_back({*resource, rlimit{l.soft, l.hard}});
  }
  auto caps = container_capabilities(spec);
  if (!caps) return std::unexpected(caps.error());
  plan.capabilities = linux::container_capability_sets(*caps);
  plan.last_capability = linux::last_capability();
  auto seccomp = container_seccomp(spec, *caps, cache_dir);
  if (!seccomp) return std::unexpected(seccomp.error());
  plan.seccomp = std::move(*seccomp);
  plan.no_new_privileges = spec.container.no_new_privileges;
  plan.uid_map = spec.container.uid_map;
  plan.gid_map = spec.container.gid_map.empty() ? spec.container.uid_map : spec.container.gid_map;
  plan.tty = spec.container.tty;
  plan.cgroup = cgroup;
  return plan;
}

Result<void> write_id_maps(pid_t pid, const std::vector<IdMapping>& uid_map,
                           const std::vector<IdMapping>& gid_map) {
  auto render = [](const std::vector<IdMapping>& map) {
    std::string out;
    for (auto& m : map) out += fmt::format("{} {} {}\n", m.container_id, m.host_id, m.size);
    return out;
  };
  for (auto [file, map] : {std::pair{"uid_map", &uid_map}, std::pair{"gid_map", &gid_map}}) {
    std::string path = fmt::format("/proc/{}/{}", pid, file);
    std::string text = render(*map);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return std::unexpected(errno_error("open", path, errno));
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
      return std::unexpected(errno_error("write", path, errno));
  }
  return {};
}

const char* scheduler_failure_stage(const linux::SchedulerAttributes& attributes, int err) {
  // Realtime policies are refused (EPERM) without CAP_SYS_NICE over the host's user namespace,
  // and, when the kernel has realtime group scheduling (cgroup v1's cpu.rt_runtime_us), to any
  // task whose cpu cgroup has no realtime budget: a new cgroup has none.
  if (err == EPERM && linux::is_realtime_policy(attributes.policy))
    return "process.scheduler: set a realtime policy (SCHED_FIFO, SCHED_RR): the kernel refuses it without "
           "CAP_SYS_NICE in the host's user namespace, or (cgroup v1 realtime group scheduling) without a "
           "realtime budget in the container's cpu cgroup (linux.resources.cpu.realtimeRuntime)";
  if (err == EPERM && attributes.policy == linux::sched_deadline_policy)
    return "process.scheduler: set SCHED_DEADLINE: the kernel refuses it without CAP_SYS_NICE in the host's user "
           "namespace, or to a process whose CPU affinity or cpuset does not cover its whole root domain";
  if (err == EINVAL && attributes.policy == linux::sched_iso_policy)
    return "process.scheduler.policy: SCHED_ISO (this kernel has no such policy)";
  return "process.scheduler: set the scheduling policy";
}

namespace {

// The child reports a failure as text and exits; a Result error becomes one line.
[[noreturn]] void give_up(int error_fd, const Error& error, int code = 127) {
  std::string line = error.message;
  linux::write_all_noalloc(error_fd, line.data(), line.size());
  ::_exit(code);
}

std::string env_value(const std::vector<std::string>& env, std::string_view key) {
  for (auto& e : env)
    if (e.size() > key.size() && e.starts_with(key) && e[key.size()] == '=') return e.substr(key.size() + 1);
  return {};
}

// execvp's search, done before waiting for start so a missing program fails create (runc
// checks it there too). Returns the path to exec, or an error naming the program.
Result<std::string> find_executable(const std::string& file, const std::string& path_list) {
  auto usable = [](const std::string& candidate, int& err) {
    struct stat st;
    if (::stat(candidate.c_str(), &st) != 0) {
      err = errno;
      return false;
    }
    if (S_ISDIR(st.st_mode)) {
      err = EACCES;
      return false;
    }
    if (::access(candidate.c_str(), X_OK) != 0) {
      err = errno;
      return false;
    }
    return true;
  };
  int err = ENOENT;
  if (file.find('/') != std::string::npos) {
    if (usable(file, err)) return file;
    return fail(err == ENOENT ? ErrorCode::not_found : ErrorCode::invalid_spec,
                fmt::format("exec {}: {}", file, std::strerror(err)));
  }
  std::size_t start = 0;
  int best = ENOENT;
  for (;;) {
    auto end = path_list.find(':', start);
    std::string dir = path_list.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string candidate = fmt::format("{}/{}", dir.empty() ? "." : dir, file);
    if (usable(candidate, err)) return candidate;
    if (err != ENOENT && err != ENOTDIR) best = err;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (best == ENOENT)
    return fail(ErrorCode::not_found,
                fmt::format("exec {}: executable file not found in $PATH", file));
  return fail(ErrorCode::invalid_spec, fmt::format("exec {}: {}", file, std::strerror(best)));
}

Result<std::string> read_optional(const char* path) {
  auto text = read_file(path);
  if (text) return text;
  if (text.error().code == ErrorCode::not_found) return std::string();
  return text;
}

// The host id a container id maps to (identity without maps; an id the maps leave out stays as
// it is, and setting it later fails with a clear error).
std::uint32_t host_id(std::uint32_t id, const std::vector<IdMapping>& map) {
  for (auto& m : map)
    if (id >= m.container_id && id - m.container_id < m.size) return m.host_id + (id - m.container_id);
  return id;
}

// /dev/console made (an empty file, if the image has none) and the pty's slave bound onto it.
Result<void> mount_console(int slave_fd) {
  UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return std::unexpected(errno_error("open", "/", errno));
  auto console = linux::make_in_root(root.get(), "/dev/console", true);
  if (!console) return std::unexpected(console.error().with_context("/dev/console"));
  if (::mount(fmt::format("/proc/self/fd/{}", slave_fd).c_str(), linux::fd_path(console->get()).c_str(), nullptr, MS_BIND,
              nullptr) != 0)
    return std::unexpected(errno_error("bind the terminal onto", "/dev/console", errno));
  return {};
}

[[noreturn]] void run_container_init(const ContainerLaunchPlan& plan, const ChildStdio& stdio,
                                     int go_fd, int maps_fd, int console_fd) {
  int error_fd = stdio.error_fd;
  auto fail_errno = [&](const char* stage, int err) { linux::fail_child(error_fd, stage, err); };
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Not dumpable while berth's code runs here: nothing else may open our /proc entries (exe,
  // mem, fds). exec resets it for the workload's own binary.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (::setsid() < 0) fail_errno("setsid", errno);
  if (plan.cgroup && plan.cgroup->clone_into_fd() < 0)
    if (auto r = plan.cgroup->add_process(0); !r) give_up(error_fd, r.error());
  if (plan.reset_cpu_affinity)
    if (int e = linux::reset_cpu_affinity_in_child()) fail_errno("reset the CPU affinity", e);

  // The pid namespace was joined before the clone; a user namespace is joined last (below).
  int join_user_fd = -1;
  for (auto [type, fd] : plan.join_namespaces) {
    if (type == CLONE_NEWUSER) join_user_fd = fd;
    else if (type != CLONE_NEWPID && ::setns(fd, type) != 0) fail_errno("join a namespace", errno);
  }
  for (auto& [key, value] : plan.sysctl) {
    std::string path = "/proc/sys/" + key;
    std::replace(path.begin() + 10, path.end(), '.', '/');
    if (auto r = write_file(path, value); !r) give_up(error_fd, r.error().with_context("sysctl " + key));
  }

  if (plan.in_process)
    if (auto r = plan.in_process->load(); !r) give_up(error_fd, r.error());
  if (!plan.session_keyring.empty()) {
    // As runc: a session keyring of its own (named after the container), searchable by its
    // user. Without keyrings (ENOSYS), or when a seccomp profile around us denies keyctl
    // (EPERM), the container keeps the caller's: the protection is best-effort.
    long key = ::syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, plan.session_keyring.c_str(), 0, 0, 0);
    if (key < 0 && errno != ENOSYS && errno != EPERM) fail_errno("join a new session keyring", errno);
    if (key >= 0) {
      char description[512] = {};
      long n = ::syscall(SYS_keyctl, KEYCTL_DESCRIBE, key, description, sizeof description - 1, 0);
      if (n < 0) fail_errno("describe the session keyring", errno);
      // "type;uid;gid;perm;description", perm in hex
      const char* field = description;
      for (int i = 0; i < 3 && field; ++i) {
        field = std::strchr(field, ';');
        if (field) ++field;
      }
      unsigned long perm = field ? std::strtoul(field, nullptr, 16) : 0;
      if (::syscall(SYS_keyctl, KEYCTL_SETPERM, key, perm | 0x00080000UL /* KEY_USR_SEARCH */, 0, 0) != 0)
        fail_errno("set the session keyring's permissions", errno);
    }
  }
  linux::RootfsPlan rootfs = plan.rootfs;
  if (plan.pause_before_pivot)
    rootfs.before_pivot = [&] {
      char ask = 2, byte;
      linux::write_all_noalloc(error_fd, &ask, 1);
      if (::read(maps_fd, &byte, 1) != 1) ::_exit(1);  // the runtime gave up (a hook failed)
    };
  if (auto r = linux::set_up_container_root(rootfs); !r) give_up(error_fd, r.error());
  if (!plan.hostname.empty() && ::sethostname(plan.hostname.c_str(), plan.hostname.size()) != 0)
    fail_errno("set hostname", errno);
  if (!plan.domainname.empty() && ::setdomainname(plan.domainname.c_str(), plan.domainname.size()) != 0)
    fail_errno("set domainname", errno);
  if (plan.clone_flags & CLONE_NEWNET)
    if (int err = linux::bring_loopback_up()) fail_errno("bring up loopback", err);
  for (auto& [resource, limit] : plan.rlimits)
    if (::setrlimit(resource, &limit) != 0) fail_errno("setrlimit", errno);

  // The user is looked up in the container's files, as the host's root (who can read them
  // whoever owns them).
  auto passwd = read_optional("/etc/passwd");
  auto group = read_optional("/etc/group");
  if (!passwd) give_up(error_fd, passwd.error());
  if (!group) give_up(error_fd, group.error());
  auto user = linux::resolve_user(plan.user, plan.group_add, *passwd, *group);
  if (!user) give_up(error_fd, user.error());

  // A terminal is also the container's /dev/console (as runc and Docker make it): a bind mount,
  // so made before a new user namespace, whose root could no longer mount here, and owned by
  // the host ids the user's map to. A joined user namespace's maps are not known here: that
  // container's pty is made after joining, without /dev/console.
  UniqueFd terminal;
  if (plan.tty && join_user_fd < 0) {
    auto t = open_container_terminal(console_fd, host_id(user->uid, plan.uid_map), host_id(user->gid, plan.gid_map),
                                     plan.console_size);
    if (!t) give_up(error_fd, t.error());
    terminal = std::move(*t);
    if (auto r = mount_console(terminal.get()); !r) give_up(error_fd, r.error());
  }

  if (join_user_fd >= 0) {
    // Joined at the same point a new one is made, for the same reason; its owner set it up
    // with mappings of its own, which must map root.
    if (::setns(join_user_fd, CLONE_NEWUSER) != 0) fail_errno("join the user namespace", errno);
    if (::setresgid(0, 0, 0) != 0) fail_errno("setgid 0 in the joined user namespace", errno);
    if (::setresuid(0, 0, 0) != 0) fail_errno("setuid 0 in the joined user namespace", errno);
  } else if (!plan.uid_map.empty()) {
    // The user namespace comes last, once the root is set up as the host's root: the other
    // namespaces stay owned by the host's, so the container's root (an unprivileged host uid)
    // holds no power over its mounts, hostname or network, and the image's files need no
    // chown. The shim writes the id maps when asked (a 1 byte on the error pipe).
    if (::unshare(CLONE_NEWUSER) != 0) fail_errno("enter a user namespace", errno);
    char ask = 1, byte;
    linux::write_all_noalloc(error_fd, &ask, 1);
    if (::read(maps_fd, &byte, 1) != 1) ::_exit(1);  // the shim gave up
    if (::setresgid(0, 0, 0) != 0) fail_errno("setgid 0 in the user namespace", errno);
    if (::setresuid(0, 0, 0) != 0) fail_errno("setuid 0 in the user namespace", errno);
  }
  // Docker makes a missing working directory; made as root, before privileges drop.
  if (plan.working_dir != "/") {
    UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    auto made = linux::make_in_root(root.get(), plan.working_dir, false);
    if (!made) give_up(error_fd, made.error().with_context("working_dir"));
  }

  std::vector<std::string> env = plan.env;
  if (plan.default_env && env_value(env, "PATH").empty() &&
      std::none_of(env.begin(), env.end(), [](auto& e) { return e.starts_with("PATH="); }))
    env.push_back("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (plan.default_env && std::none_of(env.begin(), env.end(), [](auto& e) { return e.starts_with("HOSTNAME="); }))
    env.push_back("HOSTNAME=" + plan.hostname);
  if (std::none_of(env.begin(), env.end(), [](auto& e) { return e.starts_with("HOME="); }))
    env.push_back("HOME=" + user->home);
  auto program = plan.in_process ? Result<std::string>(plan.args.at(0))
                                 : find_executable(plan.args.at(0), env_value(env, "PATH"));
  if (!program) give_up(error_fd, program.error());
  linux::ExecArgs exec(plan.args, env);

  if (plan.tty && !terminal) {
    auto t = open_container_terminal(console_fd, user->uid, user->gid, plan.console_size);
    if (!t) give_up(error_fd, t.error());
    terminal = std::move(*t);
  }
  int in = terminal ? terminal.get() : stdio.stdin_fd;
  int out = terminal ? terminal.get() : stdio.stdout_fd;
  int err = terminal ? terminal.get() : stdio.stderr_fd;
  if (::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) fail_errno("set up stdio", errno);
  if (terminal && ::ioctl(0, TIOCSCTTY, 0) != 0) fail_errno("take the terminal", errno);

  // process.scheduler and process.ioPriority (OCI), as runc's init sets them: before any seccomp
  // filter (which may not allow them) and while the capabilities realtime classes need are held.
  if (plan.scheduler)
    if (int e = linux::set_scheduler_in_child(*plan.scheduler)) fail_errno(scheduler_failure_stage(*plan.scheduler, e), e);
  if (plan.io_priority)
    if (int e = linux::set_io_priority_in_child(plan.io_priority->io_class, plan.io_priority->level))
      fail_errno("process.ioPriority: set the I/O priority", e);
  // linux.personality (OCI): before any seccomp filter, which may not allow it.
  if (plan.personality && ::personality(*plan.personality) < 0) fail_errno("set the personality", errno);
  // Without no_new_privs the kernel only lets a process holding CAP_SYS_ADMIN load a filter, so
  // the filter goes on here, before the capabilities are dropped (runc does the same); it must
  // then allow the few calls left before exec, as Docker's and Podman's profiles do. With
  // no_new_privs it goes on last, below, so it need not allow berth's own setup calls.
  const bool seccomp_before_dropping_capabilities = plan.seccomp && !plan.no_new_privileges;
  // A filter that notifies a seccomp agent is loaded before "ready" in any case (as runc does):
  // its listener goes to the agent during create, the only time the runtime is there to send it.
  const bool seccomp_agent = plan.seccomp && linux::needs_seccomp_agent(*plan.seccomp);
  int listener = -1;
  if (seccomp_before_dropping_capabilities)
    if (int err = linux::install_seccomp_in_child(*plan.seccomp, &listener)) fail_errno("load seccomp filter", err);
  if (int err = linux::drop_bounding_capabilities_in_child(plan.capabilities, plan.last_capability))
    fail_errno("drop from the capability bounding set", err);
  if (::setgroups(user->supplementary.size(), user->supplementary.data()) != 0) fail_errno("setgroups", errno);
  if (::setresgid(user->gid, user->gid, user->gid) != 0) fail_errno("setgid", errno);
  if (linux::keep_capabilities_across_setuid() != 0) fail_errno("keep capabilities", errno);
  if (::setresuid(user->uid, user->uid, user->uid) != 0) fail_errno("setuid", errno);
  const char* stage = "capabilities";
  if (int err = linux::apply_capabilities_in_child(plan.capabilities, plan.last_capability, &stage))
    fail_errno(stage, err);
  if (::chdir(plan.working_dir.c_str()) != 0) fail_errno("chdir to working directory", errno);
  if (plan.no_new_privileges)
    if (int err = linux::set_no_new_privileges()) fail_errno("no_new_privs", err);
  if (seccomp_agent && !seccomp_before_dropping_capabilities)
    if (int err = linux::install_seccomp_in_child(*plan.seccomp, &listener)) fail_errno("load seccomp filter", err);
  if (listener >= 0) {
    // A 3 and the fd's number: the creator takes the listener with pidfd_getfd and answers once
    // it has; then it is closed here, so the workload never holds its own filter's listener.
    char message[1 + sizeof(int)] = {3};
    std::memcpy(message + 1, &listener, sizeof listener);
    linux::write_all_noalloc(error_fd, message, sizeof message);
    char byte;
    if (::read(maps_fd, &byte, 1) != 1) ::_exit(1);  // the runtime gave up
    ::close(listener);
  }

  // Ready: wait for start. EOF instead of the go byte means the shim is gone: never exec then.
  char ready = '\0';
  linux::write_all_noalloc(error_fd, &ready, 1);
  char go;
  ssize_t n;
  while ((n = ::read(go_fd, &go, 1)) < 0 && errno == EINTR) {
  }
  if (n != 1) ::_exit(1);
  if (!plan.error_pipe_read_after_start) error_fd = STDERR_FILENO;

  if (plan.umask) ::umask(*plan.umask);
  if (plan.seccomp && !seccomp_before_dropping_capabilities && !seccomp_agent)
    if (int err = linux::install_seccomp_in_child(*plan.seccomp)) fail_errno("load seccomp filter", err);
  if (plan.in_process) {
    // No exec to close what berth holds (the error and go pipes, the state lock, namespace
    // fds): closed here, so the creator's read of the error pipe ends as after an exec. The
    // pipes by name first, in case a seccomp profile refuses close_range.
    for (int fd : {stdio.error_fd, go_fd, maps_fd, console_fd})
      if (fd > STDERR_FILENO) ::close(fd);
    ::close_range(3, ~0U, 0);
    ::_exit(plan.in_process->run(plan.args, env));
  }
  linux::mark_fds_cloexec_from(3 + plan.preserve_fds);
  ::execve(program->c_str(), exec.argv(), exec.envp());
  linux::fail_child(error_fd, program->c_str(), errno);
}

}  // namespace

// The pty of a -t container: from its own devpts (so the name it sees exists where it runs),
// owned by its user; the master goes to the shim, the slave becomes the process's stdio.
Result<UniqueFd> open_container_terminal(int console_fd, uid_t uid, gid_t gid, std::optional<ConsoleSize> size) {
  UniqueFd master(::open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master) return std::unexpected(errno_error("open", "/dev/pts/ptmx", errno));
  if (::unlockpt(master.get()) != 0) return std::unexpected(errno_error("unlock", "pty", errno));
  UniqueFd slave(::ioctl(master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave) return std::unexpected(errno_error("open", "pty peer", errno));
  if (::fchown(slave.get(), uid, gid) != 0) return std::unexpected(errno_error("chown", "pty", errno));
  if (size) {
    struct winsize ws{};
    ws.ws_row = size->height;
    ws.ws_col = size->width;
    if (::ioctl(slave.get(), TIOCSWINSZ, &ws) != 0) return std::unexpected(errno_error("set the size of", "pty", errno));
  }
  if (auto sent = linux::send_fd(console_fd, master.get(), "pty"); !sent) return std::unexpected(sent.error());
  return slave;
}

Result<std::pair<pid_t, int>> spawn_container_init(const ContainerLaunchPlan& plan,
                                                   const ChildStdio& stdio, int go_fd, int maps_fd,
                                                   int console_fd) {
  for (auto [type, fd] : plan.join_namespaces)
    if (type == CLONE_NEWPID && ::setns(fd, CLONE_NEWPID) != 0)
      return std::unexpected(errno_error("join", "pid namespace", errno));
  int pidfd = -1;
  long pid = clone_with_pidfd(plan.clone_flags, plan.cgroup, &pidfd);
  if (pid < 0) return std::unexpected(errno_error("clone", "container init", errno));
  if (pid == 0) run_container_init(plan, stdio, go_fd, maps_fd, console_fd);
  return std::pair<pid_t, int>{static_cast<pid_t>(pid), pidfd};
}

}  // namespace berth
