// cgroup v1: one hierarchy per controller (or per co-mounted group, e.g. cpu,cpuacct), each
// with its own directory for the cgroup.
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <fmt/format.h>
#include <thread>
#include <tuple>

#include "common/fs.hpp"
#include "linux/cgroup_common.hpp"

namespace berth::linux::cgroup_detail {

namespace {

using namespace std::chrono_literals;

enum Controller : unsigned {
  memory = 1u << 0,
  cpu = 1u << 1,
  cpuacct = 1u << 2,
  pids = 1u << 3,
  freezer = 1u << 4,
  blkio = 1u << 5,
  cpuset = 1u << 6,
  devices = 1u << 7,
  hugetlb = 1u << 8,
  // Not a controller: the hierarchy is the unified (v2) one of a hybrid host, where it holds
  // controllers v1 lacks (hugetlb). Its control files are v2's.
  unified = 1u << 9,
};

struct ControllerName {
  const char* name;
  Controller bit;
};
constexpr ControllerName controller_names[] = {
    {"memory", memory}, {"cpu", cpu},         {"cpuacct", cpuacct}, {"pids", pids},
    {"cpuset", cpuset}, {"freezer", freezer}, {"devices", devices},   {"blkio", blkio},
    {"hugetlb", hugetlb},
};

// v1 reports "no limit" as the page counter's maximum (0x7ffffffffffff000 on 64-bit pages).
constexpr std::uint64_t v1_unlimited_floor = 1ULL << 62;

struct Hierarchy {
  std::string root;  // e.g. /sys/fs/cgroup/memory
  unsigned controllers = 0;
};

// The v1 hierarchies under `mount_root` that hold controllers we use. A controller counts when
// `mount_root`/<name> is a v1 cgroup mount. Co-mounted controllers (cpu,cpuacct mounted once,
// with cpu and cpuacct as symlinks to it) share one superblock: one hierarchy serves both.
std::vector<Hierarchy> find_hierarchies(const std::string& mount_root) {
  std::vector<std::pair<Hierarchy, dev_t>> found;
  for (auto [name, bit] : controller_names) {
    std::string root = mount_root + "/" + name;
    struct statfs fs;
    struct stat st;
    if (::statfs(root.c_str(), &fs) != 0 || fs.f_type != CGROUP_SUPER_MAGIC) continue;
    if (::stat(root.c_str(), &st) != 0) continue;
    auto same = std::find_if(found.begin(), found.end(), [&](auto& h) { return h.second == st.st_dev; });
    if (same != found.end()) {
      same->first.controllers |= bit;
      continue;
    }
    found.push_back({Hierarchy{root, bit}, st.st_dev});
  }
  std::vector<Hierarchy> hierarchies;
  for (auto& [h, dev] : found) hierarchies.push_back(std::move(h));
  // Hybrid: a controller-less cgroup2 at unified/ may still offer hugetlb (when no v1
  // hierarchy has it). Last, so that it is never the one procs_dir() answers from.
  bool v1_hugetlb = std::any_of(hierarchies.begin(), hierarchies.end(), [](auto& h) { return h.controllers & hugetlb; });
  std::string unified_root = mount_root + "/unified";
  struct statfs fs;
  if (!v1_hugetlb && ::statfs(unified_root.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC &&
      has_word(read_control(unified_root + "/cgroup.controllers").value_or(""), "hugetlb"))
    hierarchies.push_back(Hierarchy{unified_root, hugetlb | unified});
  return hierarchies;
}

// v2 enables a controller for a directory's children in its parent's cgroup.subtree_control.
void enable_unified_hugetlb(const std::string& dir) {
  if (!has_word(read_control(dir + "/cgroup.subtree_control").value_or(""), "hugetlb"))
    (void)write_control(dir + "/cgroup.subtree_control", "+hugetlb", "subtree_control");
}

class CgroupV1 final : public Cgroup {
 public:
  CgroupV1(const std::vector<Hierarchy>& hierarchies, const std::string& relative)
      : relative_(relative) {
    for (auto& h : hierarchies) {
      dirs_.push_back(make_cgroup_dir(h.root, relative));
      // v2 has no "tasks": add_process(0) writes 0 (the caller) to cgroup.procs there.
      if (h.controllers & unified) dirs_.back().tasks_file = dirs_.back().procs_file;
      controllers_.push_back(h.controllers);
    }
  }

  Result<void> create_dirs() {
    for (std::size_t i = 0; i < dirs_.size(); ++i) {
      auto& dir = dirs_[i];
      std::function<Result<void>(const std::string&)> init;
      if (controllers_[i] & cpuset) init = inherit_cpuset;
      std::function<void(const std::string&)> prepare;
      if (controllers_[i] & unified) prepare = enable_unified_hugetlb;
      if (auto made = make_path(dir.root, relative_, prepare, init); !made) {
        (void)remove_dirs(dirs_);  // none half-made left behind
        return made;
      }
    }
    return {};
  }

  // A new cpuset cgroup starts with empty cpuset.cpus and cpuset.mems and refuses tasks until
  // both are set: each directory we make or pass takes its parent's values when it has none.
  static Result<void> inherit_cpuset(const std::string& dir) {
    std::string parent = dir.substr(0, dir.rfind('/'));
    for (const char* name : {"cpuset.cpus", "cpuset.mems"}) {
      auto own = read_control(dir + "/" + name);
      if (!own) return fail(ErrorCode::not_found, fmt::format("read {}/{}", dir, name));
      if (!trim(*own).empty()) continue;
      auto inherited = read_control(parent + "/" + name);
      if (!inherited) return fail(ErrorCode::not_found, fmt::format("read {}/{}", parent, name));
      if (auto w = write_control(dir + "/" + name, trim(*inherited), fmt::format("cgroup {}", dir)); !w) return w;
    }
    return {};
  }

  // Drops the hierarchies where the cgroup does not exist (open without create).
  void keep_existing() {
    for (std::size_t i = dirs_.size(); i-- > 0;) {
      if (relative_.empty() || !path_exists(dirs_[i].path)) {
        dirs_.erase(dirs_.begin() + static_cast<std::ptrdiff_t>(i));
        controllers_.erase(controllers_.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
  }

  CgroupVersion version() const override { return CgroupVersion::v1; }

  std::vector<std::string> paths() const override {
    std::vector<std::string> out;
    for (auto& dir : dirs_) out.push_back(dir.path);
    return out;
  }

  Result<void> apply(const Resources& r) override {
    if (auto valid = validate_resources(r); !valid) return valid;
    if (r.memory_bytes) {
      auto* dir = dir_of(memory);
      if (!dir) return controller_unavailable("resources.memory", "memory");
      if (auto set = set_memory(dir->path, *r.memory_bytes, r.memory_swap_bytes); !set) return set;
    }
    if (r.cpus || r.cpu_shares) {
      auto* dir = dir_of(cpu);
      if (!dir) return controller_unavailable(r.cpus ? "resources.cpus" : "resources.cpu_shares", "cpu");
      if (r.cpus) {
        // CFS bandwidth: `cpus` cores' worth of runtime per 100 ms period (1 ms at least,
        // the kernel's minimum quota).
        auto quota = std::max<long long>(std::llround(*r.cpus * 100000.0), 1000);
        if (auto w = write_control(dir->path + "/cpu.cfs_period_us", "100000", "resources.cpus"); !w) return w;
        if (auto w = write_control(dir->path + "/cpu.cfs_quota_us", std::to_string(quota), "resources.cpus"); !w)
          return w;
      }
      if (r.cpu_shares) {
        if (auto w = write_control(dir->path + "/cpu.shares", std::to_string(*r.cpu_shares), "resources.cpu_shares");
            !w)
          return w;
      }
    }
    if (r.pids_limit) {
      auto* dir = dir_of(pids);
      if (!dir) return controller_unavailable("resources.pids_limit", "pids");
      if (auto w = write_control(dir->path + "/pids.max", std::to_string(*r.pids_limit), "resources.pids_limit"); !w)
        return w;
    }
    if (!r.cpuset_cpus.empty() || !r.cpuset_mems.empty()) {
      auto* dir = dir_of(cpuset);
      if (!dir)
        return controller_unavailable(r.cpuset_cpus.empty() ? "resources.cpuset_mems" : "resources.cpuset_cpus",
                                      "cpuset");
      if (!r.cpuset_cpus.empty())
        if (auto w = write_control(dir->path + "/cpuset.cpus", r.cpuset_cpus, "resources.cpuset_cpus"); !w) return w;
      if (!r.cpuset_mems.empty())
        if (auto w = write_control(dir->path + "/cpuset.mems", r.cpuset_mems, "resources.cpuset_mems"); !w) return w;
    }
    return {};
  }

  Result<std::vector<std::string>> apply_extra(const ExtraResources& x) override {
    if (auto valid = validate_extra_resources(x); !valid) return std::unexpected(valid.error());
    // Every controller first: a limit this cgroup cannot take fails before anything is written.
    bool memory_wanted = x.memory_reservation || x.memory_swappiness || x.disable_oom_killer;
    bool cpu_wanted = x.cpu_rt_runtime || x.cpu_rt_period || x.cpu_idle || x.cpu_burst;
    if (memory_wanted && !dir_of(memory))
      return controller_unavailable(x.memory_reservation ? "memory.reservation"
                                    : x.memory_swappiness ? "memory.swappiness"
                                                          : "memory.disableOOMKiller",
                                    "memory");
    if (x.blkio() && !dir_of(blkio)) return controller_unavailable("blockIO", "blkio");
    if (!x.hugepage_limits.empty() && !dir_of(hugetlb)) return controller_unavailable("hugepageLimits", "hugetlb");
    if (cpu_wanted && !dir_of(cpu)) return controller_unavailable("cpu", "cpu");

    if (memory_wanted) {
      const std::string& dir = dir_of(memory)->path;
      if (x.memory_reservation)
        if (auto w = write_control(dir + "/memory.soft_limit_in_bytes", std::to_string(*x.memory_reservation),
                                   "memory.reservation");
            !w)
          return std::unexpected(w.error());
      if (x.memory_swappiness)
        if (auto w = write_control(dir + "/memory.swappiness", std::to_string(*x.memory_swappiness),
                                   "memory.swappiness");
            !w)
          return std::unexpected(w.error());
      if (x.disable_oom_killer)
        if (auto w = write_control(dir + "/memory.oom_control", "1", "memory.disableOOMKiller"); !w)
          return std::unexpected(w.error());
    }
    if (x.blkio())
      if (auto r = apply_blkio(dir_of(blkio)->path, x); !r) return std::unexpected(r.error());
    for (std::size_t i = 0; i < x.hugepage_limits.size(); ++i) {
      auto& h = x.hugepage_limits[i];
      std::size_t index = static_cast<std::size_t>(dir_of(hugetlb) - dirs_.data());
      bool v2 = controllers_[index] & unified;
      std::string file = fmt::format("{}/hugetlb.{}.{}", dirs_[index].path, h.page_size, v2 ? "max" : "limit_in_bytes");
      if (auto w = write_control(file, std::to_string(h.limit), fmt::format("hugepageLimits[{}]", i)); !w)
        return std::unexpected(w.error());
    }
    if (cpu_wanted) {
      const std::string& dir = dir_of(cpu)->path;
      // The period first (as runc): a runtime is checked against the period it is set under.
      if (x.cpu_rt_period)
        if (auto w = write_control(dir + "/cpu.rt_period_us", std::to_string(*x.cpu_rt_period), "cpu.realtimePeriod"); !w)
          return std::unexpected(w.error());
      if (x.cpu_rt_runtime)
        if (auto w = write_control(dir + "/cpu.rt_runtime_us", std::to_string(*x.cpu_rt_runtime), "cpu.realtimeRuntime");
            !w) {
          // The kernel's EINVAL does not say why: a cgroup gets no more realtime time than its
          // parent has left, and a new parent (berth-oci's own, by default) has none.
          auto error = w.error();
          std::string parent = dir.substr(0, dir.rfind('/'));
          if (auto budget = read_u64(parent + "/cpu.rt_runtime_us"); budget && *x.cpu_rt_runtime > 0 &&
                                                                     static_cast<std::uint64_t>(*x.cpu_rt_runtime) > *budget)
            error.message += fmt::format(" (the parent cgroup {} has a realtime budget of {} us in cpu.rt_runtime_us, "
                                         "and a cgroup gets no more than its parent has left)",
                                         parent, *budget);
          return std::unexpected(error);
        }
      if (x.cpu_burst)
        if (auto w = write_control(dir + "/cpu.cfs_burst_us", std::to_string(*x.cpu_burst), "cpu.burst"); !w)
          return std::unexpected(w.error());
      if (x.cpu_idle)
        if (auto w = write_control(dir + "/cpu.idle", std::to_string(*x.cpu_idle), "cpu.idle"); !w)
          return std::unexpected(w.error());
    }
    return std::vector<std::string>{};
  }

  Result<void> restrict_devices(const std::vector<DeviceRule>& rules) override {
    if (auto valid = validate_device_rules(rules); !valid) return valid;
    auto* dir = dir_of(devices);
    if (!dir) return controller_unavailable("devices", "devices");
    std::string allow = dir->path + "/devices.allow";
    std::string deny = dir->path + "/devices.deny";
    // Deny everything first: from here on the cgroup is an allow-list.
    if (auto w = write_control(deny, "a", "devices"); !w) return w;
    for (std::size_t i = 0; i < rules.size(); ++i) {
      auto rule = v1_device_rule(rules[i]);
      if (auto w = write_control(rules[i].allow ? allow : deny, rule, fmt::format("devices[{}] \"{}\"", i, rule)); !w)
        return w;
    }
    return {};
  }

  Result<void> add_process(pid_t pid) override {
    // Moving the calling process in through "tasks" with "0" skips the global threadgroup
    // rwsem (and its RCU grace period, ~10 ms) that a cgroup.procs write takes. It moves only
    // the calling thread: right for the single-threaded child between fork and exec, the one
    // caller of add_process(0). No allocation on any path (see write_pid).
    for (auto& dir : dirs_) {
      const std::string& file = pid == 0 ? dir.tasks_file : dir.procs_file;
      if (auto joined = write_pid(file, pid, pid != 0); !joined) return joined;
    }
    return {};
  }

  Result<std::vector<pid_t>> processes() const override {
    auto* dir = procs_dir();
    if (!dir) return std::vector<pid_t>{};
    return read_procs(dir->path);
  }

  Result<std::vector<pid_t>> kill_all() override {
    auto* dir = procs_dir();
    if (!dir) return std::vector<pid_t>{};
    const CgroupDir* freezer_dir = dir_of(freezer);
    return kill_until_empty(dir->path, [&](bool freeze) {
      if (freezer_dir) set_frozen(freezer_dir->path, freeze);
    });
  }

  Result<void> freeze(bool on) override {
    auto* dir = dir_of(freezer);
    if (!dir) return controller_unavailable("freeze", "freezer");
    std::string state = dir->path + "/freezer.state";
    if (auto w = write_control(state, on ? "FROZEN" : "THAWED", "freezer.state"); !w) return w;
    if (!on) return {};
    // FREEZING until every task has stopped; a task in an uninterruptible sleep can hold it.
    auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
      auto text = read_control(state);
      if (!text) return fail(ErrorCode::not_found, fmt::format("read {}", state));
      if (text->starts_with("FROZEN")) return {};
      std::this_thread::sleep_for(1ms);
    }
    (void)write_control(state, "THAWED", "freezer.state");
    return fail(ErrorCode::timeout, fmt::format("{}: the cgroup did not freeze within 5 s", state));
  }

  bool frozen() const override {
    auto* dir = dir_of(freezer);
    if (!dir) return false;
    auto text = read_control(dir->path + "/freezer.state");
    return text && (text->starts_with("FROZEN") || text->starts_with("FREEZING"));
  }

  Result<CgroupStats> stats() const override {
    CgroupStats s;
    if (auto* dir = dir_of(cpuacct)) s.cpu_usage_ns = read_u64(dir->path + "/cpuacct.usage").value_or(0);
    if (auto* dir = dir_of(memory)) {
      // Like docker: usage without the inactive page cache the kernel reclaims first.
      std::uint64_t usage = read_u64(dir->path + "/memory.usage_in_bytes").value_or(0);
      std::uint64_t inactive = read_keyed(dir->path + "/memory.stat", "total_inactive_file").value_or(0);
      s.memory_bytes = usage > inactive ? usage - inactive : usage;
      auto limit = read_u64(dir->path + "/memory.limit_in_bytes");
      if (limit && *limit < v1_unlimited_floor) s.memory_limit_bytes = limit;
      s.memory_peak_bytes = read_u64(dir->path + "/memory.max_usage_in_bytes");
      s.oom_kills = oom_kills();
    }
    if (auto* dir = dir_of(pids)) {
      s.pids = read_u64(dir->path + "/pids.current").value_or(0);
      s.pids_limit = read_u64(dir->path + "/pids.max");  // "max": nullopt
    }
    if (auto* dir = dir_of(blkio)) add_io(dir->path + "/blkio.throttle.io_service_bytes", s);
    return s;
  }

  std::uint64_t oom_kills() const override {
    auto* dir = dir_of(memory);
    return dir ? read_keyed(dir->path + "/memory.oom_control", "oom_kill").value_or(0) : 0;
  }

  Result<std::vector<std::string>> remove() override { return remove_dirs(dirs_); }

 private:
  const CgroupDir* dir_of(unsigned controller) const {
    for (std::size_t i = 0; i < dirs_.size(); ++i)
      if (controllers_[i] & controller) return &dirs_[i];
    return nullptr;
  }

  // Every hierarchy holds the same processes; any one with the cgroup answers.
  const CgroupDir* procs_dir() const {
    for (unsigned c : {pids, freezer, memory})
      if (auto* dir = dir_of(c)) return dir;
    return dirs_.empty() ? nullptr : &dirs_.front();
  }

  // The kernel keeps memory.limit_in_bytes <= memory.memsw.limit_in_bytes at every step. When
  // memory goes up (or swap becomes unlimited) memsw must go up first; when it goes down,
  // memory must go down first.
  static Result<void> set_memory(const std::string& dir, std::int64_t memory_bytes,
                                 std::optional<std::int64_t> swap_bytes) {
    auto set_memory_limit = [&] {
      return write_control(dir + "/memory.limit_in_bytes", std::to_string(memory_bytes), "resources.memory");
    };
    std::string memsw = dir + "/memory.memsw.limit_in_bytes";
    if (!swap_bytes || (*swap_bytes == -1 && !path_exists(memsw))) return set_memory_limit();
    if (!path_exists(memsw))
      return fail(ErrorCode::invalid_spec,
                  fmt::format("resources.memory_swap: this host has no swap accounting ({} is missing)", memsw));
    auto set_swap_limit = [&] { return write_control(memsw, std::to_string(*swap_bytes), "resources.memory_swap"); };
    auto current = read_u64(dir + "/memory.limit_in_bytes");
    bool swap_first = *swap_bytes == -1 || (current && *current < static_cast<std::uint64_t>(memory_bytes));
    if (swap_first) {
      if (auto w = set_swap_limit(); !w) return w;
      return set_memory_limit();
    }
    if (auto w = set_memory_limit(); !w) return w;
    return set_swap_limit();
  }

  // blkio: the CFQ files (blkio.weight, blkio.weight_device) or, on kernels with only BFQ, its
  // (blkio.bfq.weight, blkio.bfq.weight_device), as runc picks them; throttles as "MAJ:MIN N".
  static Result<void> apply_blkio(const std::string& dir, const ExtraResources& x) {
    bool cfq = path_exists(dir + "/blkio.weight");
    bool bfq = !cfq && path_exists(dir + "/blkio.bfq.weight");
    std::string weight_file = dir + (cfq ? "/blkio.weight" : "/blkio.bfq.weight");
    std::string weight_device_file = dir + (cfq ? "/blkio.weight_device" : "/blkio.bfq.weight_device");
    bool device_weights = std::any_of(x.blkio_weight_device.begin(), x.blkio_weight_device.end(),
                                      [](auto& d) { return d.weight.has_value(); });
    if ((x.blkio_weight || device_weights) && !cfq && !bfq)
      return fail(ErrorCode::invalid_spec,
                  fmt::format("{}: this host's blkio controller has no weights (neither blkio.weight nor "
                              "blkio.bfq.weight in {})",
                              x.blkio_weight ? "blockIO.weight" : "blockIO.weightDevice", dir));
    if (x.blkio_weight)
      if (auto w = write_control(weight_file, std::to_string(*x.blkio_weight), "blockIO.weight"); !w) return w;
    if (x.blkio_leaf_weight)
      if (auto w = write_control(dir + "/blkio.leaf_weight", std::to_string(*x.blkio_leaf_weight), "blockIO.leafWeight");
          !w)
        return w;
    for (std::size_t i = 0; i < x.blkio_weight_device.size(); ++i) {
      auto& d = x.blkio_weight_device[i];
      std::string field = fmt::format("blockIO.weightDevice[{}]", i);
      if (d.weight)
        if (auto w = write_control(weight_device_file, fmt::format("{}:{} {}", d.major, d.minor, *d.weight),
                                   field + ".weight");
            !w)
          return w;
      if (d.leaf_weight)
        if (auto w = write_control(dir + "/blkio.leaf_weight_device",
                                   fmt::format("{}:{} {}", d.major, d.minor, *d.leaf_weight), field + ".leafWeight");
            !w)
          return w;
    }
    const std::tuple<const std::vector<ThrottleDevice>*, const char*, const char*> throttles[] = {
        {&x.throttle_read_bps, "throttleReadBpsDevice", "read_bps_device"},
        {&x.throttle_write_bps, "throttleWriteBpsDevice", "write_bps_device"},
        {&x.throttle_read_iops, "throttleReadIOPSDevice", "read_iops_device"},
        {&x.throttle_write_iops, "throttleWriteIOPSDevice", "write_iops_device"}};
    for (auto [list, name, file] : throttles)
      for (std::size_t i = 0; i < list->size(); ++i) {
        auto& t = (*list)[i];
        if (auto w = write_control(fmt::format("{}/blkio.throttle.{}", dir, file),
                                   fmt::format("{}:{} {}", t.major, t.minor, t.rate),
                                   fmt::format("blockIO.{}[{}]", name, i));
            !w)
          return w;
      }
    return {};
  }

  // Freezes (and waits until the kernel reports FROZEN, so no task forks between our read of
  // cgroup.procs and the kills) or thaws. Best effort: SIGKILL works on an unfrozen cgroup too.
  static void set_frozen(const std::string& dir, bool frozen) {
    std::string state = dir + "/freezer.state";
    if (!write_control(state, frozen ? "FROZEN" : "THAWED", "freezer")) return;
    if (!frozen) return;
    auto until = std::chrono::steady_clock::now() + 500ms;
    while (std::chrono::steady_clock::now() < until) {
      auto text = read_control(state);
      if (!text || text->starts_with("FROZEN")) return;
      std::this_thread::sleep_for(1ms);
    }
  }

  // blkio.throttle.io_service_bytes: "<major:minor> Read|Write|Sync|Async|Discard|Total <n>"
  // lines, then "Total <n>". Absent or empty: zero.
  static void add_io(const std::string& path, CgroupStats& s) {
    auto text = read_control(path);
    if (!text) return;
    std::string_view rest = *text;
    while (!rest.empty()) {
      auto eol = rest.find('\n');
      auto line = rest.substr(0, eol);
      rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
      auto first = line.find(' ');
      if (first == std::string_view::npos) continue;
      auto second = line.find(' ', first + 1);
      if (second == std::string_view::npos) continue;  // the closing "Total <n>"
      auto op = line.substr(first + 1, second - first - 1);
      std::uint64_t value = parse_u64(trim(line.substr(second + 1))).value_or(0);
      if (op == "Read") s.io_read_bytes += value;
      if (op == "Write") s.io_write_bytes += value;
    }
  }

  std::string relative_;
  std::vector<CgroupDir> dirs_;
  std::vector<unsigned> controllers_;  // bits of Controller, per entry of dirs_
};

}  // namespace

Result<std::unique_ptr<Cgroup>> create_v1(const std::string& mount_root, const std::string& relative,
                                         const CgroupNeeds& needs) {
  auto hierarchies = find_hierarchies(mount_root);
  // A hierarchy that holds only an unneeded controller is left out (co-mounted ones stay).
  std::erase_if(hierarchies, [&](const Hierarchy& h) {
    return (!needs.cpuset && h.controllers == cpuset) || (!needs.devices && h.controllers == devices) ||
           (!needs.hugetlb && (h.controllers == hugetlb || h.controllers == (hugetlb | unified)));
  });
  if (hierarchies.empty())
    return fail(ErrorCode::unavailable, fmt::format("no cgroup v1 controller is mounted under {}", mount_root));
  auto cgroup = std::make_unique<CgroupV1>(hierarchies, relative);
  if (auto made = cgroup->create_dirs(); !made) return std::unexpected(made.error());
  return cgroup;
}

std::unique_ptr<Cgroup> open_v1(const std::string& mount_root, const std::string& relative) {
  auto cgroup = std::make_unique<CgroupV1>(find_hierarchies(mount_root), relative);
  cgroup->keep_existing();
  return cgroup;
}

}  // namespace berth::linux::cgroup_detail
