// One cgroup interface over cgroup v1 (one hierarchy per controller) and v2 (unified),
// chosen at run time by what is mounted at /sys/fs/cgroup.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "berth/error.hpp"
#include "berth/spec.hpp"

namespace berth::linux {

enum class CgroupVersion { v1, v2 };

struct CgroupStats {
  std::uint64_t cpu_usage_ns = 0;
  std::uint64_t memory_bytes = 0;
  std::optional<std::uint64_t> memory_limit_bytes;
  // The most memory the cgroup ever used (v1 memory.max_usage_in_bytes, v2 memory.peak where
  // the kernel has it).
  std::optional<std::uint64_t> memory_peak_bytes;
  std::uint64_t pids = 0;
  std::optional<std::uint64_t> pids_limit;
  std::uint64_t io_read_bytes = 0;
  std::uint64_t io_write_bytes = 0;
  std::uint64_t oom_kills = 0;
};

// One rule of a device allow-list: which device nodes a cgroup's processes may open (r, w)
// or create (m). major/minor -1 match any number. Type 'a' (block and char) takes only
// -1:-1 and "rwm": cgroup v1 cannot express anything narrower for it.
struct DeviceRule {
  bool allow = true;
  char type = 'a';          // 'a' all, 'c' char, 'b' block
  std::int64_t major = -1;  // -1: any
  std::int64_t minor = -1;
  std::string access = "rwm";
};

// runc's default allow-list for containers, minus /dev/console: deny all, then
// c *:* m, b *:* m, c 1:3 (null), 1:5 (zero), 1:7 (full), 1:8 (random), 1:9 (urandom), 5:0 (tty),
// 5:2 (ptmx), 136:* (pts), 10:200 (tun) rwm.
std::vector<DeviceRule> default_container_device_rules();

// Checks rules the way restrict_devices will take them; invalid_spec names "devices[i].<field>".
Result<void> validate_device_rules(const std::vector<DeviceRule>& rules);

// Limits beyond Resources, as OCI's linux.resources has them (runtime-spec config-linux.md):
// what berth's own workloads do not ask for. Unset fields are left as the kernel has them.
// Errors name the OCI field below linux.resources ("blockIO.weight", "memory.swappiness").
struct WeightDevice {
  std::int64_t major = 0, minor = 0;
  std::optional<std::uint16_t> weight, leaf_weight;  // [10, 1000]
};
struct ThrottleDevice {
  std::int64_t major = 0, minor = 0;
  std::uint64_t rate = 0;  // bytes or I/O operations per second
};
struct HugepageLimit {
  std::string page_size;  // as cgroup files name it: "2MB", "1GB", "64KB"
  std::uint64_t limit = 0;  // bytes
};
struct ExtraResources {
  std::optional<std::int64_t> memory_reservation;  // bytes; -1: none. v1 soft limit, v2 memory.low
  std::optional<std::uint64_t> memory_swappiness;  // [0, 100]; v1 only
  bool disable_oom_killer = false;                 // v1 only (a warning on v2)
  std::optional<std::uint16_t> blkio_weight, blkio_leaf_weight;  // [10, 1000]
  std::vector<WeightDevice> blkio_weight_device;
  std::vector<ThrottleDevice> throttle_read_bps, throttle_write_bps, throttle_read_iops, throttle_write_iops;
  std::vector<HugepageLimit> hugepage_limits;
  std::optional<std::int64_t> cpu_rt_runtime;  // us; v1 only
  std::optional<std::uint64_t> cpu_rt_period;  // us; v1 only
  std::optional<std::int64_t> cpu_idle;        // 0 or 1
  std::optional<std::uint64_t> cpu_burst;      // us
  bool blkio() const {
    return blkio_weight || blkio_leaf_weight || !blkio_weight_device.empty() || !throttle_read_bps.empty() ||
           !throttle_write_bps.empty() || !throttle_read_iops.empty() || !throttle_write_iops.empty();
  }
  bool operator==(const ExtraResources&) const = default;
};

// Checks extra limits the way apply_extra will take them, against this host: bounds, block
// devices that exist (/sys/dev/block/MAJ:MIN), huge page sizes the kernel has
// (/sys/kernel/mm/hugepages). invalid_spec names the field ("blockIO.throttleReadBpsDevice[0]").
Result<void> validate_extra_resources(const ExtraResources& extra);
// "2MB" for a page size given as "2MB", "2M", "2048KB", "2048kB"...; nullopt when it is not a
// size (bytes the kernel would name: a power of two of at least 1 KB).
std::optional<std::string> hugepage_size_name(std::string_view text);

// A cgroup named `relative_path` (e.g. "berth/<id>") under the mount root (default
// /sys/fs/cgroup). v1: one directory per controller we use (memory, cpu, cpuacct, pids, cpuset,
// freezer, devices, blkio, where mounted); v2: one directory with the controllers enabled in
// the parents.
class Cgroup {
 public:
  virtual ~Cgroup() = default;

  virtual CgroupVersion version() const = 0;
  // Every directory this cgroup has on the host (one per v1 hierarchy, one for v2).
  virtual std::vector<std::string> paths() const = 0;

  // Applies limits; an unsupported limit on this host is an invalid_spec error naming it.
  virtual Result<void> apply(const Resources& resources) = 0;
  // Applies the extra limits (validate_extra_resources first). A limit this host or cgroup
  // version cannot apply is an invalid_spec error naming its field; returns warnings for what
  // the spec lets a runtime skip (disableOOMKiller on v2, which has no such switch).
  virtual Result<std::vector<std::string>> apply_extra(const ExtraResources& extra) = 0;
  // Replaces the cgroup's device access rules (checked first: validate_device_rules).
  // Anything no rule allows is denied; where rules overlap, the last one that matches decides.
  // v1: "a" to devices.deny, then each rule to devices.allow or devices.deny; v1 takes a deny
  // rule only off an earlier allow entry for the very same type and major:minor (as under
  // runc), so a deny narrower or wider than the allow before it has no effect there. v2: an
  // eBPF device program built from the rules (linux/device_filter.hpp), attached in place of
  // the one a previous call attached. Call it before any process joins.
  virtual Result<void> restrict_devices(const std::vector<DeviceRule>& rules) = 0;
  // Moves `pid` (0: the calling process) into every hierarchy of this cgroup. Async-signal-safe
  // enough to call between fork and exec: no allocation, only open/write/close.
  virtual Result<void> add_process(pid_t pid) = 0;
  virtual Result<std::vector<pid_t>> processes() const = 0;
  // A directory fd for clone3's CLONE_INTO_CGROUP (v2), owned by this object; -1 on v1.
  virtual int clone_into_fd() const { return -1; }
  // Sends SIGKILL to every process, repeating until the cgroup is empty (freezer on v1,
  // cgroup.kill on v2 when present). Returns the pids it killed.
  virtual Result<std::vector<pid_t>> kill_all() = 0;
  // Freezes every process of the cgroup (v1 freezer.state FROZEN, v2 cgroup.freeze 1) and waits
  // until the kernel reports it frozen (timeout, and thawed again, when it will not), or thaws it.
  // unavailable when the host has no freezer for this cgroup.
  virtual Result<void> freeze(bool frozen) = 0;
  // Whether the cgroup is frozen or freezing; false without a freezer.
  virtual bool frozen() const = 0;
  virtual Result<CgroupStats> stats() const = 0;
  // How many times the kernel's OOM killer struck in this cgroup (one file read: the shim
  // reads it on every start and exit).
  virtual std::uint64_t oom_kills() const = 0;
  // Removes every directory (parents named by the caller's prefix are left alone unless empty).
  // Idempotent: missing directories are fine. Returns the directories it removed.
  virtual Result<std::vector<std::string>> remove() = 0;
};

// Checks limits the way apply() will take them (bounds, memory+swap consistency), so a spec
// is refused at create, before anything exists; invalid_spec names the field.
Result<void> validate_resources(const Resources& resources);

struct CgroupHost {
  CgroupVersion version;
  std::string mount_root;  // /sys/fs/cgroup
};

// Detects the cgroup layout of this host. `mount_root` overrides /sys/fs/cgroup for tests.
Result<CgroupHost> detect_cgroup_host(const std::string& mount_root = "/sys/fs/cgroup");

// The v1 hierarchies a cgroup can do without: each costs a directory to make, join and remove
// on every start (v2 has one directory whatever is needed).
struct CgroupNeeds {
  bool cpuset = true;   // resources.cpuset_*
  bool devices = true;  // restrict_devices (containers)
  // extra.hugepage_limits: the v1 hugetlb hierarchy or, on a hybrid host whose hugetlb
  // controller is in the unified (v2) hierarchy at <root>/unified, a directory there too.
  bool hugetlb = false;
};

// Creates (or opens, when it exists) the cgroup `relative_path`, creating parents as needed.
Result<std::unique_ptr<Cgroup>> create_cgroup(const CgroupHost& host,
                                              const std::string& relative_path,
                                              const CgroupNeeds& needs = {});
// Opens an existing cgroup without creating anything; directories that are gone are skipped.
std::unique_ptr<Cgroup> open_cgroup(const CgroupHost& host, const std::string& relative_path);

}  // namespace berth::linux
