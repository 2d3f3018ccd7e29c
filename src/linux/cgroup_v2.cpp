// cgroup v2: one directory in the unified hierarchy; the controllers it uses are enabled in
// cgroup.subtree_control of every ancestor.
#include <fcntl.h>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <thread>
#include <tuple>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "linux/cgroup_common.hpp"
#include "linux/device_filter.hpp"

namespace berth::linux::cgroup_detail {

namespace {

using namespace std::chrono_literals;

constexpr const char* wanted_controllers[] = {"memory", "cpu", "cpuset", "pids", "io", "hugetlb"};

// Enables what we use and `dir` offers in its children. A controller that cannot be enabled
// (e.g. `dir` holds processes itself, or is a threaded cgroup) is skipped: apply() then
// reports the limit that needs it.
void enable_controllers(const std::string& dir) {
  auto available = read_control(dir + "/cgroup.controllers");
  if (!available) return;
  auto enabled = read_control(dir + "/cgroup.subtree_control").value_or("");
  for (const char* controller : wanted_controllers)
    if (has_word(*available, controller) && !has_word(enabled, controller))
      (void)write_control(dir + "/cgroup.subtree_control", fmt::format("+{}", controller), "subtree_control");
}

class CgroupV2 final : public Cgroup {
 public:
  CgroupV2(const std::string& mount_root, const std::string& relative)
      : relative_(relative), dir_(make_cgroup_dir(mount_root, relative)) {}

  Result<void> create_dir() {
    if (auto made = make_path(dir_.root, relative_, enable_controllers); !made) return made;
    return open_dir();
  }

  // Open without create: an object with no directory when the cgroup is gone.
  void open_existing() {
    if (relative_.empty() || !open_dir()) exists_ = false;
  }

  CgroupVersion version() const override { return CgroupVersion::v2; }

  std::vector<std::string> paths() const override {
    if (!exists_) return {};
    return {dir_.path};
  }

  int clone_into_fd() const override { return dir_fd_.get(); }

  Result<void> apply(const Resources& r) override {
    if (auto valid = validate_resources(r); !valid) return valid;
    if (!exists_) return fail(ErrorCode::not_found, fmt::format("cgroup {}: does not exist", dir_.path));
    // What the parent enabled for us; a limit whose controller is missing cannot be applied.
    std::string available = read_control(dir_.path + "/cgroup.controllers").value_or("");
    if (r.memory_bytes) {
      if (!has_word(available, "memory")) return controller_unavailable("resources.memory", "memory");
      if (auto w = write_control(file("memory.max"), std::to_string(*r.memory_bytes), "resources.memory"); !w)
        return w;
      if (r.memory_swap_bytes) {
        // v1's memsw counts memory + swap; v2's memory.swap.max counts swap alone.
        bool unlimited = *r.memory_swap_bytes == -1;
        if (!path_exists(file("memory.swap.max"))) {
          if (!unlimited)
            return fail(ErrorCode::invalid_spec,
                        fmt::format("resources.memory_swap: this host has no swap accounting ({} is missing)",
                                    file("memory.swap.max")));
        } else {
          std::string swap = unlimited ? "max" : std::to_string(*r.memory_swap_bytes - *r.memory_bytes);
          if (auto w = write_control(file("memory.swap.max"), swap, "resources.memory_swap"); !w) return w;
        }
      }
    }
    if (r.cpus) {
      if (!has_word(available, "cpu")) return controller_unavailable("resources.cpus", "cpu");
      auto quota = std::max<long long>(std::llround(*r.cpus * 100000.0), 1000);
      if (auto w = write_control(file("cpu.max"), fmt::format("{} 100000", quota), "resources.cpus"); !w) return w;
    }
    if (r.cpu_shares) {
      if (!has_word(available, "cpu")) return controller_unavailable("resources.cpu_shares", "cpu");
      // runc's mapping of v1 shares [2, 262144] onto v2 weight [1, 10000].
      auto weight = 1 + ((*r.cpu_shares - 2) * 9999) / 262142;
      if (auto w = write_control(file("cpu.weight"), std::to_string(weight), "resources.cpu_shares"); !w) return w;
    }
    if (r.pids_limit) {
      if (!has_word(available, "pids")) return controller_unavailable("resources.pids_limit", "pids");
      if (auto w = write_control(file("pids.max"), std::to_string(*r.pids_limit), "resources.pids_limit"); !w)
        return w;
    }
    if (!r.cpuset_cpus.empty()) {
      if (!has_word(available, "cpuset")) return controller_unavailable("resources.cpuset_cpus", "cpuset");
      if (auto w = write_control(file("cpuset.cpus"), r.cpuset_cpus, "resources.cpuset_cpus"); !w) return w;
    }
    if (!r.cpuset_mems.empty()) {
      if (!has_word(available, "cpuset")) return controller_unavailable("resources.cpuset_mems", "cpuset");
      if (auto w = write_control(file("cpuset.mems"), r.cpuset_mems, "resources.cpuset_mems"); !w) return w;
    }
    return {};
  }

  Result<std::vector<std::string>> apply_extra(const ExtraResources& x) override {
    if (auto valid = validate_extra_resources(x); !valid) return std::unexpected(valid.error());
    if (!exists_) return fail(ErrorCode::not_found, fmt::format("cgroup {}: does not exist", dir_.path));
    auto unsupported = [](std::string_view field, std::string_view why) {
      return fail(ErrorCode::invalid_spec, fmt::format("{}: {}", field, why));
    };
    // What cgroup v2 has no file for, then every controller: nothing is written when any of
    // them cannot be applied.
    if (x.memory_swappiness) return unsupported("memory.swappiness", "cgroup v2 has no per-cgroup swappiness");
    if (x.blkio_leaf_weight) return unsupported("blockIO.leafWeight", "cgroup v2 has no leaf weights");
    for (std::size_t i = 0; i < x.blkio_weight_device.size(); ++i)
      if (x.blkio_weight_device[i].leaf_weight)
        return unsupported(fmt::format("blockIO.weightDevice[{}].leafWeight", i), "cgroup v2 has no leaf weights");
    if (x.cpu_rt_runtime || x.cpu_rt_period)
      return unsupported(x.cpu_rt_runtime ? "cpu.realtimeRuntime" : "cpu.realtimePeriod",
                         "cgroup v2 has no realtime cpu bandwidth");
    std::string available = read_control(file("cgroup.controllers")).value_or("");
    bool memory_wanted = x.memory_reservation.has_value();
    bool cpu_wanted = x.cpu_idle || x.cpu_burst;
    if (memory_wanted && !has_word(available, "memory")) return controller_unavailable("memory.reservation", "memory");
    if (x.blkio() && !has_word(available, "io")) return controller_unavailable("blockIO", "io");
    if (!x.hugepage_limits.empty() && !has_word(available, "hugetlb"))
      return controller_unavailable("hugepageLimits", "hugetlb");
    if (cpu_wanted && !has_word(available, "cpu")) return controller_unavailable(x.cpu_idle ? "cpu.idle" : "cpu.burst", "cpu");
    bool bfq = path_exists(file("io.bfq.weight"));
    bool device_weights = !x.blkio_weight_device.empty();
    // io.bfq.weight takes "MAJ:MIN WEIGHT" lines only where it lists a "default" line.
    if (device_weights && !(bfq && read_control(file("io.bfq.weight")).value_or("").starts_with("default")))
      return unsupported("blockIO.weightDevice", "this host's io controller has no per-device weights (io.bfq.weight)");

    std::vector<std::string> warnings;
    if (x.disable_oom_killer)
      warnings.push_back("memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer; ignored");
    if (x.memory_reservation)
      if (auto w = write_control(file("memory.low"),
                                 *x.memory_reservation == -1 ? "max" : std::to_string(*x.memory_reservation),
                                 "memory.reservation");
          !w)
        return std::unexpected(w.error());
    if (x.blkio_weight) {
      // BFQ takes the v1 range as it is; io.weight is [1, 10000] (runc's mapping).
      std::string value = bfq ? std::to_string(*x.blkio_weight)
                              : std::to_string(1 + (static_cast<std::uint64_t>(*x.blkio_weight) - 10) * 9999 / 990);
      if (auto w = write_control(file(bfq ? "io.bfq.weight" : "io.weight"), value, "blockIO.weight"); !w)
        return std::unexpected(w.error());
    }
    for (std::size_t i = 0; i < x.blkio_weight_device.size(); ++i) {
      auto& d = x.blkio_weight_device[i];
      if (auto w = write_control(file("io.bfq.weight"), fmt::format("{}:{} {}", d.major, d.minor, *d.weight),
                                 fmt::format("blockIO.weightDevice[{}].weight", i));
          !w)
        return std::unexpected(w.error());
    }
    const std::tuple<const std::vector<ThrottleDevice>*, const char*, const char*> throttles[] = {
        {&x.throttle_read_bps, "throttleReadBpsDevice", "rbps"},
        {&x.throttle_write_bps, "throttleWriteBpsDevice", "wbps"},
        {&x.throttle_read_iops, "throttleReadIOPSDevice", "riops"},
        {&x.throttle_write_iops, "throttleWriteIOPSDevice", "wiops"}};
    for (auto [list, name, key] : throttles)
      for (std::size_t i = 0; i < list->size(); ++i) {
        auto& t = (*list)[i];
        if (auto w = write_control(file("io.max"), fmt::format("{}:{} {}={}", t.major, t.minor, key, t.rate),
                                   fmt::format("blockIO.{}[{}]", name, i));
            !w)
          return std::unexpected(w.error());
      }
    for (std::size_t i = 0; i < x.hugepage_limits.size(); ++i) {
      auto& h = x.hugepage_limits[i];
      if (auto w = write_control(file(fmt::format("hugetlb.{}.max", h.page_size)), std::to_string(h.limit),
                                 fmt::format("hugepageLimits[{}]", i));
          !w)
        return std::unexpected(w.error());
    }
    if (x.cpu_burst)
      if (auto w = write_control(file("cpu.max.burst"), std::to_string(*x.cpu_burst), "cpu.burst"); !w)
        return std::unexpected(w.error());
    if (x.cpu_idle)
      if (auto w = write_control(file("cpu.idle"), std::to_string(*x.cpu_idle), "cpu.idle"); !w)
        return std::unexpected(w.error());
    return warnings;
  }

  Result<void> restrict_devices(const std::vector<DeviceRule>& rules) override {
    if (auto valid = validate_device_rules(rules); !valid) return valid;
    if (!exists_) return fail(ErrorCode::not_found, fmt::format("devices: cgroup {} does not exist", dir_.path));
    // bpf(2) takes a real directory fd, not the O_PATH one kept for clone3.
    UniqueFd dir(::open(dir_.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return std::unexpected(errno_error("open", dir_.path, errno).with_context("devices"));
    auto attached = attach_device_filter(dir.get(), rules);
    if (!attached) return std::unexpected(attached.error().with_context(fmt::format("cgroup {}", dir_.path)));
    return {};
  }

  Result<void> add_process(pid_t pid) override {
    if (!exists_) return fail(ErrorCode::not_found, "no cgroup");  // short: no allocation
    return write_pid(dir_.procs_file, pid, pid != 0);
  }

  Result<std::vector<pid_t>> processes() const override {
    if (!exists_) return std::vector<pid_t>{};
    return read_procs(dir_.path);
  }

  Result<std::vector<pid_t>> kill_all() override {
    if (!exists_) return std::vector<pid_t>{};
    if (path_exists(file("cgroup.kill"))) {
      // The kernel kills every task, including one forking right now; we only wait. The pids
      // listed just before are the ones reported.
      auto before = read_procs(dir_.path);
      if (!before) return before;
      if (auto w = write_control(file("cgroup.kill"), "1", "kill"); !w) return std::unexpected(w.error());
      if (auto empty = wait_until_empty(dir_.path); !empty) return std::unexpected(empty.error());
      return before;
    }
    // Kernels before 5.14: freeze, kill what is listed, thaw, until empty.
    bool can_freeze = path_exists(file("cgroup.freeze"));
    return kill_until_empty(dir_.path, [&](bool freeze) {
      if (can_freeze) set_frozen(freeze);
    });
  }

  Result<void> freeze(bool on) override {
    if (!exists_) return fail(ErrorCode::not_found, fmt::format("cgroup {}: does not exist", dir_.path));
    if (!path_exists(file("cgroup.freeze"))) return controller_unavailable("freeze", "cgroup.freeze");
    if (auto w = write_control(file("cgroup.freeze"), on ? "1" : "0", "cgroup.freeze"); !w) return w;
    if (!on) return {};
    auto until = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < until) {
      auto state = read_keyed(file("cgroup.events"), "frozen");
      if (!state || *state == 1) return {};
      std::this_thread::sleep_for(1ms);
    }
    (void)write_control(file("cgroup.freeze"), "0", "cgroup.freeze");
    return fail(ErrorCode::timeout, fmt::format("{}: the cgroup did not freeze within 5 s", dir_.path));
  }

  bool frozen() const override {
    if (!exists_) return false;
    auto text = read_control(file("cgroup.freeze"));
    return text && trim(*text) == "1";
  }

  Result<CgroupStats> stats() const override {
    CgroupStats s;
    if (!exists_) return s;
    s.cpu_usage_ns = read_keyed(file("cpu.stat"), "usage_usec").value_or(0) * 1000;
    // As on v1 (and as docker reports both): without the inactive page cache.
    std::uint64_t usage = read_u64(file("memory.current")).value_or(0);
    std::uint64_t inactive = read_keyed(file("memory.stat"), "inactive_file").value_or(0);
    s.memory_bytes = usage > inactive ? usage - inactive : usage;
    s.memory_limit_bytes = read_u64(file("memory.max"));  // "max": nullopt
    s.memory_peak_bytes = read_u64(file("memory.peak"));   // kernels since 5.19
    s.pids = read_u64(file("pids.current")).value_or(0);
    s.pids_limit = read_u64(file("pids.max"));
    s.oom_kills = oom_kills();
    // io.stat: "<major:minor> rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" per device.
    if (auto text = read_control(file("io.stat"))) {
      std::string_view rest = *text;
      while (!rest.empty()) {
        auto end = rest.find_first_of(" \n");
        auto word = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        if (word.starts_with("rbytes=")) s.io_read_bytes += parse_u64(word.substr(7)).value_or(0);
        if (word.starts_with("wbytes=")) s.io_write_bytes += parse_u64(word.substr(7)).value_or(0);
      }
    }
    return s;
  }

  std::uint64_t oom_kills() const override {
    if (!exists_) return 0;
    return read_keyed(file("memory.events"), "oom_kill").value_or(0);
  }

  Result<std::vector<std::string>> remove() override {
    if (!exists_) return std::vector<std::string>{};
    auto removed = remove_dirs(std::span(&dir_, 1));
    if (removed) dir_fd_.reset();
    return removed;
  }

 private:
  std::string file(std::string_view name) const { return fmt::format("{}/{}", dir_.path, name); }

  // The directory fd clone3(CLONE_INTO_CGROUP) takes; opened here, not in clone_into_fd(), so
  // that the child side of a clone never opens anything.
  Result<void> open_dir() {
    dir_fd_.reset(::open(dir_.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!dir_fd_) return std::unexpected(errno_error("open", dir_.path, errno));
    exists_ = true;
    return {};
  }

  // Freezes (waiting, bounded, until cgroup.events says frozen 1) or thaws. Best effort.
  void set_frozen(bool frozen) const {
    if (!write_control(file("cgroup.freeze"), frozen ? "1" : "0", "freeze")) return;
    if (!frozen) return;
    auto until = std::chrono::steady_clock::now() + 500ms;
    while (std::chrono::steady_clock::now() < until) {
      auto state = read_keyed(file("cgroup.events"), "frozen");
      if (!state || *state == 1) return;
      std::this_thread::sleep_for(1ms);
    }
  }

  std::string relative_;
  CgroupDir dir_;
  bool exists_ = false;
  UniqueFd dir_fd_;
};

}  // namespace

Result<std::unique_ptr<Cgroup>> create_v2(const std::string& mount_root, const std::string& relative) {
  auto cgroup = std::make_unique<CgroupV2>(mount_root, relative);
  if (auto made = cgroup->create_dir(); !made) return std::unexpected(made.error());
  return cgroup;
}

std::unique_ptr<Cgroup> open_v2(const std::string& mount_root, const std::string& relative) {
  auto cgroup = std::make_unique<CgroupV2>(mount_root, relative);
  cgroup->open_existing();
  return cgroup;
}

}  // namespace berth::linux::cgroup_detail
