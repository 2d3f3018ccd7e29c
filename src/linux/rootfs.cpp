#include "linux/rootfs.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "linux/copy_tree.hpp"
#include "linux/idmapped_mount.hpp"
#include "linux/mounts.hpp"

namespace berth::linux {

std::vector<std::string> default_masked_paths() {
  return {"/proc/acpi",        "/proc/asound",      "/proc/interrupts",
          "/proc/kcore",       "/proc/keys",        "/proc/latency_stats",
          "/proc/timer_list",  "/proc/timer_stats", "/proc/sched_debug",
          "/proc/scsi",        "/sys/firmware",     "/sys/devices/virtual/powercap"};
}

std::vector<std::string> default_readonly_paths() {
  return {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
}

namespace {

struct Device {
  const char* name;
  unsigned major, minor;
};
// The devices every container gets (runc's default set without /dev/console, which is only a
// terminal's and would otherwise be the host's console).
constexpr Device standard_devices[] = {{"null", 1, 3},   {"zero", 1, 5},    {"full", 1, 7},
                                       {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};

Result<UniqueFd> target_in(int root_fd, const std::string& path, bool file = false) {
  return make_in_root(root_fd, path, file);
}

Result<void> mount_fs(int root_fd, const std::string& target, const char* fstype,
                      unsigned long flags, const char* data) {
  auto fd = target_in(root_fd, target);
  if (!fd) return std::unexpected(fd.error());
  return mount_onto(fstype, fd->get(), fstype, flags, data, target);
}

// As the host's root (a user namespace, if any, is entered after the root is set up), so the
// nodes are real ones, as runc makes them.
Result<void> make_devices(int root_fd, bool keep_existing = false) {
  auto dev_dir = make_in_root(root_fd, "/dev", false);
  if (!dev_dir) return std::unexpected(dev_dir.error());
  UniqueFd dev(open_in_root(root_fd, "/dev", O_DIRECTORY | O_RDONLY));
  if (!dev) return std::unexpected(errno_error("open", "/dev", errno));
  for (auto& d : standard_devices) {
    std::string path = fmt::format("/dev/{}", d.name);
    // The umask must not thin out the modes: these are world-readable and -writable.
    mode_t old = ::umask(0);
    int made = ::mknodat(dev.get(), d.name, S_IFCHR | 0666, makedev(d.major, d.minor));
    ::umask(old);
    if (made != 0 && keep_existing && errno == EEXIST) continue;
    if (made != 0) return std::unexpected(errno_error("mknod", path, errno));
  }
  constexpr std::pair<const char*, const char*> links[] = {{"fd", "/proc/self/fd"},
                                                           {"stdin", "/proc/self/fd/0"},
                                                           {"stdout", "/proc/self/fd/1"},
                                                           {"stderr", "/proc/self/fd/2"},
                                                           {"ptmx", "pts/ptmx"}};
  for (auto [name, to] : links)
    if (::symlinkat(to, dev.get(), name) != 0 && errno != EEXIST)
      return std::unexpected(errno_error("symlink", fmt::format("/dev/{}", name), errno));
  return {};
}

Result<void> mount_standard_filesystems(int root_fd, const RootfsPlan& plan) {
  constexpr unsigned long nosuid_nodev_noexec = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (auto r = mount_fs(root_fd, "/proc", "proc", nosuid_nodev_noexec, nullptr); !r) return r;
  if (auto r = mount_fs(root_fd, "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"); !r)
    return r;
  if (auto r = make_devices(root_fd); !r) return r;
  if (auto r = mount_fs(root_fd, "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620,gid=5"); !r)
    return r;
  if (auto r = mount_fs(root_fd, "/dev/shm", "tmpfs", nosuid_nodev_noexec, "mode=1777,size=65536k"); !r)
    return r;
  if (auto r = mount_fs(root_fd, "/dev/mqueue", "mqueue", nosuid_nodev_noexec, nullptr); !r) return r;

  auto sys = target_in(root_fd, "/sys");
  if (!sys) return std::unexpected(sys.error());
  bool sys_mounted = false;
  if (plan.private_network) {
    sys_mounted = ::mount("sysfs", fd_path(sys->get()).c_str(), "sysfs",
                          nosuid_nodev_noexec | MS_RDONLY, nullptr) == 0;
    if (!sys_mounted && errno != EPERM) return std::unexpected(errno_error("mount", "/sys", errno));
  }
  if (!sys_mounted) {
    // sysfs belongs to a network namespace: without one of our own, the host's is bound
    // read-only instead (runc does the same).
    if (::mount("/sys", fd_path(sys->get()).c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
      return std::unexpected(errno_error("bind", "/sys", errno));
    UniqueFd bound(open_in_root(root_fd, "/sys"));
    if (!bound) return std::unexpected(errno_error("open", "/sys", errno));
    if (auto r = remount_bind(bound.get(), MS_RDONLY | nosuid_nodev_noexec, "/sys"); !r) return r;
  }
  if (plan.cgroup2) {
    UniqueFd cg(open_in_root(root_fd, "/sys/fs/cgroup"));
    if (cg && ::mount("cgroup2", fd_path(cg.get()).c_str(), "cgroup2",
                      nosuid_nodev_noexec | MS_RDONLY, nullptr) != 0)
      return std::unexpected(errno_error("mount", "/sys/fs/cgroup", errno));
  }
  return {};
}

// The caller's device nodes (OCI linux.devices), with their owner and exact mode.
Result<void> make_device_nodes(int root_fd, const std::vector<DeviceNode>& devices) {
  for (auto& d : devices) {
    auto slash = d.path.rfind('/');
    auto parent = make_in_root(root_fd, d.path.substr(0, slash == 0 ? 1 : slash), false);
    if (!parent) return std::unexpected(parent.error());
    UniqueFd dir(::openat(parent->get(), ".", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    if (!dir) return std::unexpected(errno_error("open", d.path.substr(0, slash), errno));
    std::string name = d.path.substr(slash + 1);
    mode_t type = d.type == 'b' ? S_IFBLK : d.type == 'p' ? S_IFIFO : S_IFCHR;
    ::unlinkat(dir.get(), name.c_str(), 0);  // the image's node, if any, is replaced
    if (::mknodat(dir.get(), name.c_str(), type | (d.mode & 07777), makedev(d.major, d.minor)) != 0)
      return std::unexpected(errno_error("mknod", d.path, errno));
    if (::fchownat(dir.get(), name.c_str(), d.uid, d.gid, AT_SYMLINK_NOFOLLOW) != 0 ||
        ::fchmodat(dir.get(), name.c_str(), d.mode & 07777, 0) != 0)
      return std::unexpected(errno_error("set owner and mode of", d.path, errno));
  }
  return {};
}

// sysfs belongs to a network namespace: without one of our own, the host's is bound
// read-only instead (runc does the same).
Result<void> bind_host_sys(int root_fd, int target_fd) {
  if (::mount("/sys", fd_path(target_fd).c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    return std::unexpected(errno_error("bind", "/sys", errno));
  UniqueFd bound(open_in_root(root_fd, "/sys"));
  if (!bound) return std::unexpected(errno_error("open", "/sys", errno));
  return remount_bind(bound.get(), MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "/sys");
}

// tmpcopyup: the tmpfs is mounted writable over the target, filled from the directory it
// covers (still reachable through an fd opened before the mount), given that directory's owner
// and, unless the options set one, its mode, and only then made read-only if asked.
Result<void> mount_tmpfs_copied_up(int root_fd, const ContainerMount& m, int target_fd) {
  UniqueFd under(::openat(target_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!under) return std::unexpected(errno_error("open (tmpcopyup)", m.target, errno));
  const char* data = m.data.empty() ? nullptr : m.data.c_str();
  if (auto r = mount_onto(m.source.c_str(), target_fd, "tmpfs", m.flags, data, m.target); !r) return r;
  UniqueFd top(open_in_root(root_fd, m.target, O_RDONLY | O_DIRECTORY));
  if (!top) return std::unexpected(errno_error("open", m.target, errno));
  if (auto r = copy_tree(under.get(), top.get(), m.target); !r) return r;
  struct stat st;
  if (::fstat(under.get(), &st) != 0) return std::unexpected(errno_error("stat", m.target, errno));
  if (::fchown(top.get(), st.st_uid, st.st_gid) != 0) return std::unexpected(errno_error("chown", m.target, errno));
  bool mode_given = m.data.starts_with("mode=") || m.data.find(",mode=") != std::string::npos;
  if (!mode_given && ::fchmod(top.get(), st.st_mode & 07777) != 0)
    return std::unexpected(errno_error("chmod", m.target, errno));
  if (m.read_only) return remount_bind(top.get(), MS_RDONLY | m.flags, m.target);
  return {};
}

// An "idmap"/"ridmap" bind: the mount's own mappings, or the joined user namespace's.
Result<void> bind_idmapped(const ContainerMount& m, int target_fd) {
  UniqueFd userns;
  if (!m.idmap.userns_path.empty()) {
    userns.reset(::open(m.idmap.userns_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!userns) return std::unexpected(errno_error("open", m.idmap.userns_path, errno));
  } else {
    auto made = user_namespace_with(m.idmap.uid_map, m.idmap.gid_map);
    if (!made) return std::unexpected(made.error());
    userns = std::move(*made);
  }
  return attach_idmapped_bind({.source = m.source, .recursive_tree = m.recursive,
                               .recursive_map = m.idmap.recursive, .userns_fd = userns.get()},
                              target_fd);
}

// The recursive attributes ("rro", "rnosuid", ...), on the mount now at the target and every
// mount beneath it.
Result<void> set_recursive_attributes(int root_fd, const ContainerMount& m) {
  if (!m.attr_set && !m.attr_clr) return {};
  UniqueFd mounted(open_in_root(root_fd, m.target));
  if (!mounted) return std::unexpected(errno_error("open", m.target, errno));
  mount_attr attr{};
  attr.attr_set = m.attr_set;
  attr.attr_clr = m.attr_clr;
  if (::mount_setattr(mounted.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
    return std::unexpected(errno_error("set recursive mount attributes (mount_setattr) of", m.target, errno));
  return {};
}

Result<void> make_mount(int root_fd, const ContainerMount& m, const RootfsPlan& plan) {
  if (m.kind == ContainerMount::Kind::filesystem) {
    auto target = target_in(root_fd, m.target);
    if (!target) return std::unexpected(target.error());
    if (m.copy_up && m.fstype == "tmpfs") {
      if (auto r = mount_tmpfs_copied_up(root_fd, m, target->get()); !r) return r;
      if (m.propagation) {
        UniqueFd mounted(open_in_root(root_fd, m.target));
        if (!mounted || ::mount(nullptr, fd_path(mounted.get()).c_str(), nullptr, m.propagation, nullptr) != 0)
          return std::unexpected(errno_error("set propagation of", m.target, errno));
      }
      return {};
    }
    unsigned long flags = m.flags | (m.read_only ? MS_RDONLY : 0);
    const char* data = m.data.empty() ? nullptr : m.data.c_str();
    if (::mount(m.source.c_str(), fd_path(target->get()).c_str(), m.fstype.c_str(), flags, data) != 0) {
      if (m.fstype == "sysfs" && errno == EPERM) return bind_host_sys(root_fd, target->get());
      return std::unexpected(errno_error(fmt::format("mount {}", m.fstype), m.target, errno));
    }
    if (m.propagation) {
      UniqueFd mounted(open_in_root(root_fd, m.target));
      if (!mounted || ::mount(nullptr, fd_path(mounted.get()).c_str(), nullptr, m.propagation, nullptr) != 0)
        return std::unexpected(errno_error("set propagation of", m.target, errno));
    }
    return {};
  }
  if (m.kind == ContainerMount::Kind::cgroup) {
    auto target = target_in(root_fd, m.target);
    if (!target) return std::unexpected(target.error());
    constexpr unsigned long nosuid_nodev_noexec = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    if (plan.cgroup2)
      return mount_onto("cgroup2", target->get(), "cgroup2", nosuid_nodev_noexec | MS_RDONLY, nullptr, m.target);
    if (auto r = mount_onto("tmpfs", target->get(), "tmpfs", nosuid_nodev_noexec, "mode=755", m.target); !r) return r;
    for (auto& [host_dir, name] : plan.cgroup_v1_dirs) {
      auto sub = target_in(root_fd, m.target + "/" + name);
      if (!sub) return std::unexpected(sub.error());
      if (::mount(host_dir.c_str(), fd_path(sub->get()).c_str(), nullptr, MS_BIND, nullptr) != 0)
        return std::unexpected(errno_error("bind", host_dir, errno));
      UniqueFd bound(open_in_root(root_fd, m.target + "/" + name));
      if (!bound) return std::unexpected(errno_error("open", m.target + "/" + name, errno));
      if (auto r = remount_bind(bound.get(), MS_RDONLY | nosuid_nodev_noexec, name); !r) return r;
    }
    UniqueFd top(open_in_root(root_fd, m.target));
    if (!top) return std::unexpected(errno_error("open", m.target, errno));
    return remount_bind(top.get(), MS_RDONLY | nosuid_nodev_noexec, m.target);
  }
  if (m.kind == ContainerMount::Kind::tmpfs) {
    auto target = target_in(root_fd, m.target);
    if (!target) return std::unexpected(target.error());
    unsigned long flags = MS_NOSUID | MS_NODEV | m.flags | (m.read_only ? MS_RDONLY : 0);
    return mount_onto("tmpfs", target->get(), "tmpfs", flags, m.data.empty() ? nullptr : m.data.c_str(),
                      m.target);
  }
  struct stat st;
  if (::stat(m.source.c_str(), &st) != 0) return std::unexpected(errno_error("stat", m.source, errno));
  auto target = target_in(root_fd, m.target, !S_ISDIR(st.st_mode));
  if (!target) return std::unexpected(target.error());
  if (m.idmap.enabled) {
    if (auto r = bind_idmapped(m, target->get()); !r) return r;
  } else if (::mount(m.source.c_str(), fd_path(target->get()).c_str(), nullptr,
                     MS_BIND | (m.recursive ? MS_REC : 0), nullptr) != 0) {
    return std::unexpected(errno_error("bind", fmt::format("{} to {}", m.source, m.target), errno));
  }
  if (!m.read_only && !m.flags && !m.propagation) return {};
  // Flags apply to the new mount, so look the target up again to reach it rather than what
  // was under it.
  UniqueFd mounted(open_in_root(root_fd, m.target));
  if (!mounted) return std::unexpected(errno_error("open", m.target, errno));
  if (m.read_only || m.flags)
    if (auto r = remount_bind(mounted.get(), (m.read_only ? MS_RDONLY : 0) | m.flags, m.target); !r) return r;
  if (m.propagation && ::mount(nullptr, fd_path(mounted.get()).c_str(), nullptr, m.propagation, nullptr) != 0)
    return std::unexpected(errno_error("set propagation of", m.target, errno));
  return {};
}

Result<void> apply_mount(int root_fd, const ContainerMount& m, const RootfsPlan& plan) {
  if (auto r = make_mount(root_fd, m, plan); !r) return r;
  return set_recursive_attributes(root_fd, m);
}

Result<void> pivot_into(const std::string& rootfs) {
  if (::chdir(rootfs.c_str()) != 0) return std::unexpected(errno_error("chdir", rootfs, errno));
  // pivot_root(".", "."): the old root ends up stacked under the new one and is detached at
  // once, so no path to the host's filesystem stays reachable.
  if (::syscall(SYS_pivot_root, ".", ".") != 0)
    return std::unexpected(errno_error("pivot_root", rootfs, errno));
  if (::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) != 0)
    return std::unexpected(errno_error("make old root a slave", rootfs, errno));
  if (::umount2(".", MNT_DETACH) != 0) return std::unexpected(errno_error("detach old root", rootfs, errno));
  if (::chdir("/") != 0) return std::unexpected(errno_error("chdir", "/", errno));
  return {};
}

// --no-pivot: the host's mounts are detached first (a chroot alone would leave them reachable
// to a process that escapes it), then the rootfs takes "/"'s place.
Result<void> move_into(const std::string& rootfs) {
  auto points = mount_points("/proc/self/mountinfo");
  for (auto it = points.rbegin(); it != points.rend(); ++it) {
    const std::string& point = *it;
    if (point == "/" || point == rootfs || point.starts_with(rootfs + "/")) continue;
    if (rootfs.starts_with(point + "/")) continue;  // a parent of the rootfs: goes with the move
    if (::umount2(point.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
      return std::unexpected(errno_error("detach", point, errno));
  }
  if (::chdir(rootfs.c_str()) != 0) return std::unexpected(errno_error("chdir", rootfs, errno));
  if (::mount(rootfs.c_str(), "/", nullptr, MS_MOVE, nullptr) != 0)
    return std::unexpected(errno_error("move the root onto /", rootfs, errno));
  if (::chroot(".") != 0) return std::unexpected(errno_error("chroot", rootfs, errno));
  if (::chdir("/") != 0) return std::unexpected(errno_error("chdir", "/", errno));
  return {};
}

Result<void> mask_paths(const std::vector<std::string>& paths) {
  for (auto& path : paths) {
    UniqueFd fd(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) continue;
      return std::unexpected(errno_error("open", path, errno));
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return std::unexpected(errno_error("stat", path, errno));
    int rc = S_ISDIR(st.st_mode)
                 ? ::mount("tmpfs", fd_path(fd.get()).c_str(), "tmpfs", MS_RDONLY, "size=0")
                 : ::mount("/dev/null", fd_path(fd.get()).c_str(), nullptr, MS_BIND, nullptr);
    if (rc != 0) return std::unexpected(errno_error("mask", path, errno));
  }
  return {};
}

Result<void> make_readonly(const std::vector<std::string>& paths) {
  for (auto& path : paths) {
    UniqueFd fd(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) continue;
      return std::unexpected(errno_error("open", path, errno));
    }
    if (::mount(fd_path(fd.get()).c_str(), fd_path(fd.get()).c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
      return std::unexpected(errno_error("bind", path, errno));
    UniqueFd bound(::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!bound) return std::unexpected(errno_error("open", path, errno));
    if (auto r = remount_bind(bound.get(), MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, path); !r)
      return r;
  }
  return {};
}

}  // namespace

Result<void> set_up_container_root(const RootfsPlan& plan) {
  // Nothing mounted from here on may propagate back to the host.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return std::unexpected(errno_error("make mounts private", "/", errno));
  if (!plan.overlay_options.empty()) {
    if (::mount("overlay", plan.rootfs.c_str(), "overlay", 0, plan.overlay_options.c_str()) != 0)
      return std::unexpected(errno_error("mount overlay at", plan.rootfs, errno));
  } else if (::mount(plan.rootfs.c_str(), plan.rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
    // pivot_root needs the new root to be a mount point.
    return std::unexpected(errno_error("bind", plan.rootfs, errno));
  }
  UniqueFd root(::open(plan.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return std::unexpected(errno_error("open", plan.rootfs, errno));
  if (plan.standard_mounts)
    if (auto r = mount_standard_filesystems(root.get(), plan); !r) return r;
  for (auto& m : plan.mounts)
    if (auto r = apply_mount(root.get(), m, plan); !r)
      return std::unexpected(m.name.empty() ? r.error() : r.error().with_context(m.name));
  if (!plan.standard_mounts && plan.make_standard_devices)
    if (auto r = make_devices(root.get(), true); !r) return r;
  if (auto r = make_device_nodes(root.get(), plan.devices); !r) return r;
  root.reset();
  if (plan.before_pivot) plan.before_pivot();
  if (auto r = plan.no_pivot ? move_into(plan.rootfs) : pivot_into(plan.rootfs); !r) return r;
  if (plan.root_propagation && ::mount(nullptr, "/", nullptr, plan.root_propagation, nullptr) != 0)
    return std::unexpected(errno_error("set propagation of", "/", errno));
  if (auto r = mask_paths(plan.masked_paths); !r) return r;
  if (auto r = make_readonly(plan.readonly_paths); !r) return r;
  if (plan.read_only) {
    if (::mount(nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)
      return std::unexpected(errno_error("remount read-only", "/", errno));
  }
  return {};
}

}  // namespace berth::linux
