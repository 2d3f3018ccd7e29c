// A container's filesystem view, set up by its init between clone and exec: the root (an
// overlay of image layers, or a plain directory), /proc, /dev with the standard devices, /sys
// read-only, the files berth provides (/etc/hostname, hosts, resolv.conf), the caller's mounts,
// then pivot_root, masked and read-only paths as runc has them, and optionally a read-only root.
//
// Runs in the init of a new mount namespace, which the single-threaded shim cloned, so it may
// allocate. Targets are resolved inside the rootfs (linux/mounts.hpp): nothing in an image can
// point a mount at the host.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "berth/error.hpp"
#include "berth/spec.hpp"

namespace berth::linux {

struct ContainerMount {
  // filesystem: any other type (proc, devpts, mqueue, sysfs, overlay, ...) mounted fresh, as
  // OCI configs list them; cgroup: the container's own cgroup, read-only (cgroup2 on v2, its
  // hierarchies bound under a tmpfs on v1, as runc does).
  enum class Kind { bind, tmpfs, filesystem, cgroup };
  Kind kind = Kind::bind;
  std::string fstype;  // filesystem: the type
  std::string source;  // bind: a host path; filesystem: the device name mount(2) gets
  std::string target;  // absolute, inside the container
  bool read_only = false;
  bool recursive = true;         // rbind (default) or bind
  bool target_is_file = false;   // bind of a file: the target is made as an empty file
  unsigned long flags = 0;       // extra MS_NOSUID / MS_NODEV / MS_NOEXEC
  unsigned long propagation = 0; // MS_PRIVATE / MS_SLAVE / MS_SHARED, | MS_REC; 0: inherit
  std::string data;              // tmpfs: size=..., mode=...; filesystem: its options
  // What the caller calls this mount ("mounts[3]"): errors made while mounting it carry the
  // name, so a failure at create points at the config entry. Empty: the target.
  std::string name;
  // Recursive attributes (OCI "rro", "rnosuid", ...: MOUNT_ATTR_* bits), set with mount_setattr
  // on the new mount and every mount beneath it once it is made. mount(2)'s flags reach only
  // the top mount of an rbind, so without these a submount would stay writable under "ro".
  std::uint64_t attr_set = 0, attr_clr = 0;
  // tmpfs "tmpcopyup" (crun, Podman): the fresh tmpfs starts with a copy of what the rootfs
  // has at the target (files, directories, symlinks, modes, owners) instead of hiding it.
  bool copy_up = false;
  // bind "idmap" / "ridmap": the bind is an ID-mapped mount, files owned by host id H showing
  // as the container id the mappings give H. The mappings come from the mount's
  // uidMappings/gidMappings or, failing those, the container's user namespace (runc's rule);
  // userns_path: a joined user namespace whose mappings are used as they are.
  struct IdMap {
    bool enabled = false;
    bool recursive = false;  // ridmap: every submount of an rbind is mapped too
    std::vector<IdMapping> uid_map, gid_map;
    std::string userns_path;
  } idmap;
};

// A device node made in the container's /dev (OCI linux.devices), as the host's root.
struct DeviceNode {
  std::string path;  // absolute, inside the container
  char type = 'c';   // 'c', 'b', 'p' (fifo)
  unsigned major = 0, minor = 0;
  unsigned mode = 0666;  // permission bits
  unsigned uid = 0, gid = 0;
};

struct RootfsPlan {
  std::string rootfs;           // host directory: the overlay mount point, or the plain rootfs
  std::string overlay_options;  // non-empty: mount an overlay with these options at rootfs
  bool read_only = false;
  bool private_network = true;  // sysfs can be mounted fresh only in an owned netns
  bool cgroup2 = false;         // mount cgroup2 read-only at /sys/fs/cgroup
  // berth's own /proc, /dev (tmpfs, devpts, shm, mqueue), /sys and cgroup mounts. When false
  // (OCI bundles), `mounts` lists every mount and only the standard device nodes are made.
  bool standard_mounts = true;
  std::vector<ContainerMount> mounts;  // berth's /etc files first, then the caller's
  std::vector<DeviceNode> devices;     // made after the mounts, in /dev
  // Without standard mounts: make the standard nodes (null, zero, ...) in /dev. Off when /dev
  // is a bind mount (the nodes there are someone else's, as runc leaves them).
  bool make_standard_devices = true;
  // v1 hierarchies of the container's cgroup (host directory, controller directory name), for a
  // Kind::cgroup mount.
  std::vector<std::pair<std::string, std::string>> cgroup_v1_dirs;
  // runc's --no-pivot, for a root pivot_root refuses (one on the initramfs): every mount outside
  // the rootfs is detached, the rootfs moved onto "/" and chroot'ed into.
  bool no_pivot = false;
  unsigned long root_propagation = 0;  // set on "/" after pivot_root (MS_SLAVE|MS_REC, ...); 0: private
  std::vector<std::string> masked_paths;
  std::vector<std::string> readonly_paths;
  // Called once every mount is made, just before pivot_root (berth-oci's create hooks run then).
  std::function<void()> before_pivot;
};

// runc's defaults (libcontainer/specconv): what a container must not read or write in /proc
// and /sys.
std::vector<std::string> default_masked_paths();
std::vector<std::string> default_readonly_paths();

// Everything up to and including pivot_root and the root's read-only remount; afterwards "/" is
// the container's root and the cwd is "/".
Result<void> set_up_container_root(const RootfsPlan& plan);

}  // namespace berth::linux
