#include "linux/cgroup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <functional>
#include <cstring>
#include <fmt/format.h>
#include <sstream>
#include <thread>

#include "common/fs.hpp"

namespace berth::linux {

namespace {

using namespace std::chrono_literals;

// How long kill_all keeps killing before it gives up on an emptying cgroup.
constexpr auto kill_deadline = 5s;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// mkdir -p that tolerates a concurrent rmdir of an empty parent (another workload's teardown).
Result<void> make_cgroup_dir(const std::string& path) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (::mkdir(path.c_str(), 0755) == 0 || errno == EEXIST) return {};
    if (errno != ENOENT) return std::unexpected(errno_error("mkdir", path, errno));
    auto parent = path.substr(0, path.rfind('/'));
    if (auto r = make_cgroup_dir(parent); !r) return r;
  }
  return fail(ErrorCode::internal, fmt::format("mkdir {}: parent keeps disappearing", path));
}

std::optional<std::uint64_t> read_u64(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::nullopt;
  auto t = trim(*text);
  if (t.empty() || t == "max") return std::nullopt;
  return std::strtoull(t.c_str(), nullptr, 10);
}

// "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control).
std::optional<std::uint64_t> read_keyed(const std::string& path, std::string_view key) {
  auto text = read_file(path);
  if (!text) return std::nullopt;
  std::istringstream lines(*text);
  std::string k;
  std::uint64_t v;
  while (lines >> k >> v)
    if (k == key) return v;
  return std::nullopt;
}

std::vector<pid_t> parse_pids(const std::string& text) {
  std::vector<pid_t> pids;
  std::istringstream in(text);
  pid_t pid;
  while (in >> pid) pids.push_back(pid);
  return pids;
}

// Formats `pid` into `buf` without allocating; returns the length.
std::size_t format_pid(pid_t pid, char* buf) {
  char tmp[16];
  std::size_t n = 0;
  unsigned v = static_cast<unsigned>(pid < 0 ? 0 : pid);
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  for (std::size_t i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
  return n;
}

// Removes `dir`, retrying while the kernel still counts exiting tasks; missing is fine.
Result<bool> remove_cgroup_dir(const std::string& dir) {
  for (int attempt = 0;; ++attempt) {
    if (::rmdir(dir.c_str()) == 0) return true;
    if (errno == ENOENT) return false;
    if (errno != EBUSY || attempt >= 50) return std::unexpected(errno_error("rmdir", dir, errno));
    std::this_thread::sleep_for(20ms);
  }
}

// Removes the empty parents of `dir` up to (not including) `mount_root`.
void remove_empty_parents(std::string dir, const std::string& mount_root) {
  for (;;) {
    auto slash = dir.rfind('/');
    if (slash == std::string::npos) return;
    dir = dir.substr(0, slash);
    if (dir.size() <= mount_root.size()) return;
    if (::rmdir(dir.c_str()) != 0) return;  // not empty (EBUSY), gone, or not ours: stop
  }
}

class CgroupBase : public Cgroup {
 public:
  Result<void> add_process(pid_t pid) override {
    char buf[16];
    std::size_t n = format_pid(pid, buf);
    // Moving ourselves through v1's "tasks" file skips the global threadgroup lock (and its
    // synchronize_rcu, ~10 ms) that a cgroup.procs write takes. It moves only the calling
    // thread: fine for the single-threaded child this is called in.
    const auto& files = pid == 0 && version() == CgroupVersion::v1 ? tasks_files_ : procs_files_;
    for (auto& path : files) {
      int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return fail(ErrorCode::internal, "join cgroup");
      ssize_t w = ::write(fd, buf, n);
      ::close(fd);
      if (w != static_cast<ssize_t>(n)) return fail(ErrorCode::internal, "join cgroup");
    }
    return {};
  }

  std::vector<std::string> paths() const override { return dirs_; }

  Result<std::vector<std::string>> remove() override {
    std::vector<std::string> removed;
    for (std::size_t i = 0; i < dirs_.size(); ++i) {
      auto r = remove_cgroup_dir(dirs_[i]);
      if (!r) return std::unexpected(r.error());
      if (*r) removed.push_back(dirs_[i]);
      remove_empty_parents(dirs_[i], roots_[i]);
    }
    return removed;
  }

 protected:
  // Sets up the directories (roots_[i]/relative) and the cgroup.procs paths, computed once so
  // add_process allocates nothing.
  void set_dirs(std::vector<std::string> roots, const std::string& relative) {
    roots_ = std::move(roots);
    for (auto& root : roots_) {
      dirs_.push_back(root + "/" + relative);
      procs_files_.push_back(dirs_.back() + "/cgroup.procs");
      tasks_files_.push_back(dirs_.back() + "/tasks");
    }
  }

  Result<void> write(const std::string& dir, const char* file, std::string_view value,
                     std::string_view field) {
    std::string path = dir + "/" + file;
    if (auto r = write_file(path, value); !r)
      return fail(r.error().code == ErrorCode::not_found ? ErrorCode::invalid_spec : r.error().code,
                  fmt::format("{}: cannot set {} to {}: {}", field, path, value, r.error().message));
    return {};
  }

  Result<std::vector<pid_t>> read_procs(const std::string& dir) const {
    auto text = read_file(dir + "/cgroup.procs");
    if (!text) {
      if (text.error().code == ErrorCode::not_found) return std::vector<pid_t>{};
      return std::unexpected(text.error());
    }
    return parse_pids(*text);
  }

  // Kills what is in `dir` (frozen first by the caller when it can), until empty or deadline.
  Result<std::vector<pid_t>> kill_loop(const std::string& dir,
                                       const std::function<void(bool)>& freeze) {
    std::vector<pid_t> killed;
    auto deadline = std::chrono::steady_clock::now() + kill_deadline;
    for (;;) {
      auto pids = read_procs(dir);
      if (!pids) return std::unexpected(pids.error());
      if (pids->empty()) return killed;
      if (std::chrono::steady_clock::now() > deadline)
        return fail(ErrorCode::timeout,
                    fmt::format("cgroup {} still has {} processes after SIGKILL", dir, pids->size()));
      freeze(true);
      if (auto again = read_procs(dir)) pids = std::move(again);
      for (pid_t pid : *pids)
        if (::kill(pid, SIGKILL) == 0 &&
            std::find(killed.begin(), killed.end(), pid) == killed.end())
          killed.push_back(pid);
      freeze(false);
      std::this_thread::sleep_for(5ms);
    }
  }

  std::vector<std::string> roots_, dirs_, procs_files_, tasks_files_;
};

// cgroup v1: one directory per controller hierarchy.
class CgroupV1 final : public CgroupBase {
 public:
  CgroupV1(const std::string& mount_root, const std::string& relative) {
    std::vector<std::string> roots;
    for (auto controller : {"memory", "cpu", "cpuacct", "pids", "freezer", "blkio"}) {
      std::string root = mount_root + "/" + controller;
      // cpu and cpuacct may be one hierarchy mounted twice (cpu,cpuacct): use it once.
      struct stat st;
      if (::stat((root + "/cgroup.procs").c_str(), &st) != 0) continue;
      bool duplicate = false;
      for (auto& seen : roots) {
        struct stat other;
        if (::stat(seen.c_str(), &other) == 0) {
          struct stat mine;
          if (::stat(root.c_str(), &mine) == 0 && mine.st_dev == other.st_dev) duplicate = true;
        }
      }
      if (duplicate) continue;
      roots.push_back(root);
      controllers_.push_back(controller);
    }
    set_dirs(std::move(roots), relative);
  }

  CgroupVersion version() const override { return CgroupVersion::v1; }

  Result<void> create_dirs() {
    for (auto& dir : dirs_)
      if (auto r = make_cgroup_dir(dir); !r) return r;
    return {};
  }

  // Keeps only the directories that exist (open without create).
  void keep_existing() {
    std::vector<std::string> roots, dirs, procs, tasks;
    std::vector<std::string> controllers;
    for (std::size_t i = 0; i < dirs_.size(); ++i) {
      if (!path_exists(dirs_[i])) continue;
      roots.push_back(roots_[i]);
      dirs.push_back(dirs_[i]);
      procs.push_back(procs_files_[i]);
      tasks.push_back(tasks_files_[i]);
      controllers.push_back(controllers_[i]);
    }
    roots_ = std::move(roots);
    dirs_ = std::move(dirs);
    procs_files_ = std::move(procs);
    tasks_files_ = std::move(tasks);
    controllers_ = std::move(controllers);
  }

  Result<void> apply(const Resources& r) override {
    if (r.memory_bytes) {
      auto dir = dir_of("memory");
      if (!dir) return unavailable("resources.memory", "memory");
      if (auto w = write(*dir, "memory.limit_in_bytes", std::to_string(*r.memory_bytes), "resources.memory"); !w) return w;
      if (r.memory_swap_bytes) {
        if (!path_exists(*dir + "/memory.memsw.limit_in_bytes"))
          return fail(ErrorCode::invalid_spec, "resources.memory_swap: this kernel has no swap accounting (memory.memsw)");
        if (auto w = write(*dir, "memory.memsw.limit_in_bytes", std::to_string(*r.memory_swap_bytes),
                           "resources.memory_swap"); !w)
          return w;
      }
    }
    if (r.cpus) {
      auto dir = dir_of("cpu");
      if (!dir) return unavailable("resources.cpus", "cpu");
      auto quota = static_cast<std::int64_t>(*r.cpus * 100000.0);
      if (auto w = write(*dir, "cpu.cfs_period_us", "100000", "resources.cpus"); !w) return w;
      if (auto w = write(*dir, "cpu.cfs_quota_us", std::to_string(std::max<std::int64_t>(quota, 1000)), "resources.cpus"); !w) return w;
    }
    if (r.cpu_shares) {
      auto dir = dir_of("cpu");
      if (!dir) return unavailable("resources.cpu_shares", "cpu");
      if (auto w = write(*dir, "cpu.shares", std::to_string(*r.cpu_shares), "resources.cpu_shares"); !w) return w;
    }
    if (r.pids_limit) {
      auto dir = dir_of("pids");
      if (!dir) return unavailable("resources.pids_limit", "pids");
      if (auto w = write(*dir, "pids.max", std::to_string(*r.pids_limit), "resources.pids_limit"); !w) return w;
    }
    return {};
  }

  Result<std::vector<pid_t>> processes() const override {
    if (dirs_.empty()) return std::vector<pid_t>{};
    return read_procs(procs_dir());
  }

  Result<std::vector<pid_t>> kill_all() override {
    if (dirs_.empty()) return std::vector<pid_t>{};
    auto freezer = dir_of("freezer");
    return kill_loop(procs_dir(), [&](bool freeze) {
      if (!freezer) return;
      std::string state = *freezer + "/freezer.state";
      (void)write_file(state, freeze ? "FROZEN" : "THAWED");
      if (!freeze) return;
      // Frozen means no task can fork between our read of cgroup.procs and the kills.
      for (int i = 0; i < 100; ++i) {
        auto s = read_file(state);
        if (!s || trim(*s) == "FROZEN") break;
        std::this_thread::sleep_for(1ms);
      }
    });
  }

  Result<CgroupStats> stats() const override {
    CgroupStats s;
    if (auto dir = dir_of("cpuacct")) s.cpu_usage_ns = read_u64(*dir + "/cpuacct.usage").value_or(0);
    if (auto dir = dir_of("memory")) {
      std::uint64_t usage = read_u64(*dir + "/memory.usage_in_bytes").value_or(0);
      std::uint64_t inactive = read_keyed(*dir + "/memory.stat", "total_inactive_file").value_or(0);
      s.memory_bytes = usage > inactive ? usage - inactive : usage;
      auto limit = read_u64(*dir + "/memory.limit_in_bytes");
      if (limit && *limit < (1ULL << 62)) s.memory_limit_bytes = limit;
      s.oom_kills = oom_kills();
    }
    if (auto dir = dir_of("pids")) {
      s.pids = read_u64(*dir + "/pids.current").value_or(0);
      s.pids_limit = read_u64(*dir + "/pids.max");
    }
    if (auto dir = dir_of("blkio")) {
      if (auto text = read_file(*dir + "/blkio.throttle.io_service_bytes")) {
        std::istringstream lines(*text);
        std::string device, op;
        std::uint64_t v;
        while (lines >> device) {
          if (device == "Total") {
            lines >> v;
            continue;
          }
          if (!(lines >> op >> v)) break;
          if (op == "Read") s.io_read_bytes += v;
          if (op == "Write") s.io_write_bytes += v;
        }
      }
    }
    return s;
  }

  std::uint64_t oom_kills() const override {
    auto dir = dir_of("memory");
    return dir ? read_keyed(*dir + "/memory.oom_control", "oom_kill").value_or(0) : 0;
  }

 private:
  std::optional<std::string> dir_of(std::string_view controller) const {
    for (std::size_t i = 0; i < controllers_.size(); ++i)
      if (controllers_[i] == controller) return dirs_[i];
    // co-mounted cpu,cpuacct: the one directory serves both
    if (controller == "cpuacct" || controller == "cpu")
      for (std::size_t i = 0; i < dirs_.size(); ++i)
        if (path_exists(dirs_[i] + (controller == "cpu" ? "/cpu.shares" : "/cpuacct.usage")))
          return dirs_[i];
    return std::nullopt;
  }

  std::string procs_dir() const {
    for (auto c : {"pids", "freezer", "memory"})
      if (auto d = dir_of(c)) return *d;
    return dirs_.front();
  }

  std::unexpected<Error> unavailable(std::string_view field, std::string_view controller) const {
    return fail(ErrorCode::invalid_spec,
                fmt::format("{}: the {} cgroup controller is not available on this host", field, controller));
  }

  std::vector<std::string> controllers_;
};

// cgroup v2: one directory; controllers enabled in every ancestor's subtree_control.
class CgroupV2 final : public CgroupBase {
 public:
  CgroupV2(const std::string& mount_root, const std::string& relative)
      : mount_root_(mount_root) {
    set_dirs({mount_root}, relative);
  }

  CgroupVersion version() const override { return CgroupVersion::v2; }

  Result<void> create_dirs() {
    // Enable what we need from the root down to the parent, then create the leaf.
    std::string relative = dirs_[0].substr(mount_root_.size() + 1);
    std::string current = mount_root_;
    std::size_t pos = 0;
    for (;;) {
      enable_controllers(current);
      auto slash = relative.find('/', pos);
      std::string next = mount_root_ + "/" + relative.substr(0, slash);
      if (auto r = make_cgroup_dir(next); !r) return r;
      if (slash == std::string::npos) break;
      current = next;
      pos = slash + 1;
    }
    return {};
  }

  void keep_existing() {
    if (!path_exists(dirs_[0])) {
      roots_.clear();
      dirs_.clear();
      procs_files_.clear();
      tasks_files_.clear();
    }
  }

  // clone3(CLONE_INTO_CGROUP) starts the child in the cgroup: no migration at all.
  int clone_into_fd() const override {
    if (dirs_.empty()) return -1;
    if (clone_fd_ < 0) clone_fd_ = ::open(dirs_[0].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    return clone_fd_;
  }

  ~CgroupV2() override {
    if (clone_fd_ >= 0) ::close(clone_fd_);
  }

  Result<void> apply(const Resources& r) override {
    const std::string& dir = dirs_[0];
    if (r.memory_bytes) {
      if (!has("memory")) return unavailable("resources.memory", "memory");
      if (auto w = write(dir, "memory.max", std::to_string(*r.memory_bytes), "resources.memory"); !w) return w;
      if (r.memory_swap_bytes) {
        std::string swap = *r.memory_swap_bytes < 0 ? "max" : std::to_string(*r.memory_swap_bytes - *r.memory_bytes);
        if (auto w = write(dir, "memory.swap.max", swap, "resources.memory_swap"); !w) return w;
      }
    }
    if (r.cpus) {
      if (!has("cpu")) return unavailable("resources.cpus", "cpu");
      auto quota = std::max<std::int64_t>(static_cast<std::int64_t>(*r.cpus * 100000.0), 1000);
      if (auto w = write(dir, "cpu.max", fmt::format("{} 100000", quota), "resources.cpus"); !w) return w;
    }
    if (r.cpu_shares) {
      if (!has("cpu")) return unavailable("resources.cpu_shares", "cpu");
      auto weight = 1 + ((*r.cpu_shares - 2) * 9999) / 262142;
      if (auto w = write(dir, "cpu.weight", std::to_string(weight), "resources.cpu_shares"); !w) return w;
    }
    if (r.pids_limit) {
      if (!has("pids")) return unavailable("resources.pids_limit", "pids");
      if (auto w = write(dir, "pids.max", std::to_string(*r.pids_limit), "resources.pids_limit"); !w) return w;
    }
    return {};
  }

  Result<std::vector<pid_t>> processes() const override {
    if (dirs_.empty()) return std::vector<pid_t>{};
    return read_procs(dirs_[0]);
  }

  Result<std::vector<pid_t>> kill_all() override {
    if (dirs_.empty()) return std::vector<pid_t>{};
    const std::string dir = dirs_[0];
    std::vector<pid_t> before;
    if (auto p = read_procs(dir)) before = *p;
    if (path_exists(dir + "/cgroup.kill")) {
      // The kernel kills every task, including ones forking right now.
      if (auto w = write_file(dir + "/cgroup.kill", "1"); !w) return std::unexpected(w.error());
    }
    auto killed = kill_loop(dir, [&](bool freeze) {
      if (path_exists(dir + "/cgroup.freeze")) (void)write_file(dir + "/cgroup.freeze", freeze ? "1" : "0");
    });
    if (!killed) return killed;
    for (pid_t p : before)
      if (std::find(killed->begin(), killed->end(), p) == killed->end()) killed->push_back(p);
    return killed;
  }

  Result<CgroupStats> stats() const override {
    CgroupStats s;
    if (dirs_.empty()) return s;
    const std::string& dir = dirs_[0];
    s.cpu_usage_ns = read_keyed(dir + "/cpu.stat", "usage_usec").value_or(0) * 1000;
    s.memory_bytes = read_u64(dir + "/memory.current").value_or(0);
    s.memory_limit_bytes = read_u64(dir + "/memory.max");
    s.pids = read_u64(dir + "/pids.current").value_or(0);
    s.pids_limit = read_u64(dir + "/pids.max");
    s.oom_kills = oom_kills();
    if (auto text = read_file(dir + "/io.stat")) {
      std::istringstream in(*text);
      std::string word;
      while (in >> word) {
        if (word.starts_with("rbytes=")) s.io_read_bytes += std::strtoull(word.c_str() + 7, nullptr, 10);
        if (word.starts_with("wbytes=")) s.io_write_bytes += std::strtoull(word.c_str() + 7, nullptr, 10);
      }
    }
    return s;
  }

  std::uint64_t oom_kills() const override {
    if (dirs_.empty()) return 0;
    return read_keyed(dirs_[0] + "/memory.events", "oom_kill").value_or(0);
  }

 private:
  void enable_controllers(const std::string& dir) {
    auto available = read_file(dir + "/cgroup.controllers");
    if (!available) return;
    std::istringstream in(*available);
    std::string controller;
    while (in >> controller)
      if (controller == "memory" || controller == "cpu" || controller == "pids" || controller == "io")
        (void)write_file(dir + "/cgroup.subtree_control", "+" + controller);
  }

  bool has(std::string_view controller) const {
    auto text = read_file(dirs_[0].substr(0, dirs_[0].rfind('/')) + "/cgroup.subtree_control");
    if (!text) return false;
    std::istringstream in(*text);
    std::string c;
    while (in >> c)
      if (c == controller) return true;
    return false;
  }

  std::unexpected<Error> unavailable(std::string_view field, std::string_view controller) const {
    return fail(ErrorCode::invalid_spec,
                fmt::format("{}: the {} cgroup controller is not available on this host", field, controller));
  }

  std::string mount_root_;
  mutable int clone_fd_ = -1;
};

}  // namespace

Result<CgroupHost> detect_cgroup_host(const std::string& mount_root) {
  struct statfs fs;
  if (::statfs(mount_root.c_str(), &fs) != 0)
    return std::unexpected(errno_error("statfs", mount_root, errno));
  if (fs.f_type == CGROUP2_SUPER_MAGIC) return CgroupHost{CgroupVersion::v2, mount_root};
  return CgroupHost{CgroupVersion::v1, mount_root};
}

Result<std::unique_ptr<Cgroup>> create_cgroup(const CgroupHost& host,
                                              const std::string& relative_path) {
  if (host.version == CgroupVersion::v2) {
    auto cgroup = std::make_unique<CgroupV2>(host.mount_root, relative_path);
    if (auto r = cgroup->create_dirs(); !r) return std::unexpected(r.error());
    return std::unique_ptr<Cgroup>(std::move(cgroup));
  }
  auto cgroup = std::make_unique<CgroupV1>(host.mount_root, relative_path);
  if (cgroup->paths().empty())
    return fail(ErrorCode::unavailable, fmt::format("no cgroup v1 controllers under {}", host.mount_root));
  if (auto r = cgroup->create_dirs(); !r) {
    (void)cgroup->remove();
    return std::unexpected(r.error());
  }
  return std::unique_ptr<Cgroup>(std::move(cgroup));
}

std::unique_ptr<Cgroup> open_cgroup(const CgroupHost& host, const std::string& relative_path) {
  if (host.version == CgroupVersion::v2) {
    auto cgroup = std::make_unique<CgroupV2>(host.mount_root, relative_path);
    cgroup->keep_existing();
    return cgroup;
  }
  auto cgroup = std::make_unique<CgroupV1>(host.mount_root, relative_path);
  cgroup->keep_existing();
  return cgroup;
}

}  // namespace berth::linux
