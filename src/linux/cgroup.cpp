// Host detection, the create/open entry points and the helpers both cgroup versions share.
#include "linux/cgroup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <charconv>
#include <cstring>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <thread>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "linux/cgroup_common.hpp"

namespace berth::linux {

namespace cgroup_detail {

using namespace std::chrono_literals;

namespace {

// Formats `pid` into `buf` (at least 12 bytes) without allocating; returns the length.
std::size_t format_pid(pid_t pid, char* buf) {
  char tmp[12];
  std::size_t n = 0;
  auto v = static_cast<unsigned>(pid);
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (std::size_t i = 0; i < n; ++i) buf[i] = tmp[n - 1 - i];
  return n;
}

// A pid listed in cgroup.procs that can still run: not gone and not a zombie. Zombies leave
// cgroup.procs at exit on current kernels; older ones list them until their parent reaps them,
// and the caller of kill_all is not necessarily that parent.
bool alive(pid_t pid) {
  auto stat = read_control(fmt::format("/proc/{}/stat", pid));
  if (!stat) return false;
  auto paren = stat->rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat->size()) return true;
  char state = (*stat)[paren + 2];
  return state != 'Z' && state != 'X';
}

Result<std::vector<pid_t>> live_procs(const std::string& dir) {
  auto pids = read_procs(dir);
  if (!pids) return pids;
  std::erase_if(*pids, [](pid_t pid) { return !alive(pid); });
  return pids;
}

// Sleeps a little longer each round: fast when tasks exit at once, cheap when they do not.
void backoff(std::chrono::milliseconds& delay) {
  std::this_thread::sleep_for(delay);
  delay = std::min(delay * 2, std::chrono::milliseconds(20));
}

}  // namespace

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

CgroupDir make_cgroup_dir(const std::string& root, const std::string& relative) {
  CgroupDir dir;
  dir.root = root;
  dir.path = root + "/" + relative;
  dir.procs_file = dir.path + "/cgroup.procs";
  dir.tasks_file = dir.path + "/tasks";
  return dir;
}

bool valid_relative_path(std::string_view relative) {
  if (relative.empty()) return false;
  std::size_t start = 0;
  for (;;) {
    auto slash = relative.find('/', start);
    auto part = relative.substr(start, slash == std::string_view::npos ? std::string_view::npos
                                                                       : slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

std::string normalize_root(std::string root) {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root;
}


Result<void> make_path(const std::string& root, const std::string& relative,
                       const std::function<void(const std::string&)>& prepare_parent,
                       const std::function<Result<void>(const std::string&)>& init_dir) {
  std::optional<Error> init_error;
  for (int attempt = 0; attempt < 20; ++attempt) {
    struct stat st;
    if (::stat(root.c_str(), &st) != 0) return std::unexpected(errno_error("stat", root, errno));
    std::string dir = root;
    bool parent_vanished = false;
    std::size_t start = 0;
    while (start <= relative.size()) {
      auto slash = relative.find('/', start);
      if (slash == std::string::npos) slash = relative.size();
      if (prepare_parent) prepare_parent(dir);
      dir = root + "/" + relative.substr(0, slash);
      if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        if (errno != ENOENT) return std::unexpected(errno_error("mkdir", dir, errno));
        parent_vanished = true;
        break;
      }
      if (init_dir) {
        // A failure here is most often a directory another process removed (and maybe made
        // again) under us: its control files went with it (ENOENT, ENODEV). Start over; an
        // error that persists is returned when the attempts run out.
        if (auto ready = init_dir(dir); !ready) {
          init_error = ready.error();
          parent_vanished = true;
          break;
        }
      }
      start = slash + 1;
    }
    if (!parent_vanished) return {};
  }
  if (init_error) return std::unexpected(*init_error);
  return fail(ErrorCode::internal,
              fmt::format("mkdir {}/{}: a parent directory keeps disappearing", root, relative));
}

Result<void> write_control(const std::string& path, std::string_view value, std::string_view field) {
  auto failed = [&](const char* what, int err) {
    auto error = errno_error(what, path, err);
    // No such control file: this kernel or hierarchy cannot apply the setting.
    if (err == ENOENT) error.code = ErrorCode::invalid_spec;
    return std::unexpected(error.with_context(field));
  };
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return failed("open", errno);
  // cgroupfs takes a value in one write(); a short write would be a kernel bug, not a retry.
  ssize_t n;
  do n = ::write(fd.get(), value.data(), value.size());
  while (n < 0 && errno == EINTR);
  if (n < 0) return failed("write", errno);
  if (static_cast<std::size_t>(n) != value.size())
    return fail(ErrorCode::internal, fmt::format("{}: write {}: short write", field, path));
  return {};
}

std::optional<std::string> read_control(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::nullopt;
  return std::move(*text);
}

std::optional<std::uint64_t> read_u64(const std::string& path) {
  auto text = read_control(path);
  if (!text) return std::nullopt;
  return parse_u64(trim(*text));
}

std::optional<std::uint64_t> read_keyed(const std::string& path, std::string_view key) {
  auto text = read_control(path);
  if (!text) return std::nullopt;
  std::string_view rest = *text;
  while (!rest.empty()) {
    auto eol = rest.find('\n');
    auto line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    auto space = line.find(' ');
    if (space != std::string_view::npos && line.substr(0, space) == key)
      return parse_u64(trim(line.substr(space + 1)));
  }
  return std::nullopt;
}

bool has_word(const std::string& text, std::string_view word) {
  std::string_view rest = text;
  while (!rest.empty()) {
    auto start = rest.find_first_not_of(" \t\n");
    if (start == std::string_view::npos) return false;
    rest.remove_prefix(start);
    auto end = rest.find_first_of(" \t\n");
    if (rest.substr(0, end) == word) return true;
    if (end == std::string_view::npos) return false;
    rest.remove_prefix(end);
  }
  return false;
}

Result<std::vector<pid_t>> read_procs(const std::string& dir) {
  std::string path = dir + "/cgroup.procs";
  // A cgroup removed while we read it (the shim releases a workload's cgroup when it exits)
  // answers ENODEV: like one already gone, it lists no one.
  auto gone = [](int err) { return err == ENOENT || err == ENODEV; };
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (gone(errno)) return std::vector<pid_t>{};
    return std::unexpected(errno_error("read", path, errno));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (gone(errno)) return std::vector<pid_t>{};
      return std::unexpected(errno_error("read", path, errno));
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  std::vector<pid_t> pids;
  std::string_view rest = text;
  while (!rest.empty()) {
    auto eol = rest.find('\n');
    auto line = trim(rest.substr(0, eol));
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    if (line.empty()) continue;
    auto pid = parse_u64(line);
    if (!pid) return fail(ErrorCode::internal, fmt::format("read {}: \"{}\" is not a pid", path, line));
    pids.push_back(static_cast<pid_t>(*pid));
  }
  return pids;
}

Result<void> write_pid(const std::string& file, pid_t pid, bool detailed_errors) {
  // Messages of at most 15 characters stay in std::string's inline buffer: no allocation.
  if (pid < 0) return fail(ErrorCode::invalid_spec, "negative pid");
  char buf[12];
  std::size_t n = format_pid(pid, buf);
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    if (!detailed_errors) return fail(code_for_errno(errno), "join cgroup");
    return std::unexpected(errno_error("open", file, errno));
  }
  ssize_t written = ::write(fd, buf, n);
  int err = errno;
  ::close(fd);
  if (written == static_cast<ssize_t>(n)) return {};
  if (written >= 0) err = EIO;
  errno = err;
  if (!detailed_errors) return fail(code_for_errno(err), "join cgroup");
  return std::unexpected(errno_error(fmt::format("write {} to", pid), file, err));
}

Result<std::vector<pid_t>> kill_until_empty(const std::string& procs_dir,
                                            const std::function<void(bool)>& freeze) {
  std::vector<pid_t> killed;
  auto deadline = std::chrono::steady_clock::now() + kill_deadline;
  auto delay = 1ms;
  for (;;) {
    auto left = live_procs(procs_dir);
    if (!left) return std::unexpected(left.error());
    if (left->empty()) return killed;
    if (std::chrono::steady_clock::now() >= deadline)
      return fail(ErrorCode::timeout,
                  fmt::format("cgroup {} still has {} processes {}s after SIGKILL (pids {})", procs_dir,
                              left->size(), kill_deadline.count(), fmt::join(*left, ", ")));
    freeze(true);
    // Read again while frozen: whatever forked since the first read is in this list.
    auto pids = read_procs(procs_dir);
    if (pids) {
      for (pid_t pid : *pids)
        if (::kill(pid, SIGKILL) == 0 && std::find(killed.begin(), killed.end(), pid) == killed.end())
          killed.push_back(pid);
    }
    freeze(false);
    if (!pids) return std::unexpected(pids.error());
    backoff(delay);
  }
}

Result<void> wait_until_empty(const std::string& procs_dir) {
  auto deadline = std::chrono::steady_clock::now() + kill_deadline;
  auto delay = 1ms;
  for (;;) {
    auto left = live_procs(procs_dir);
    if (!left) return std::unexpected(left.error());
    if (left->empty()) return {};
    if (std::chrono::steady_clock::now() >= deadline)
      return fail(ErrorCode::timeout,
                  fmt::format("cgroup {} still has {} processes {}s after cgroup.kill (pids {})",
                              procs_dir, left->size(), kill_deadline.count(), fmt::join(*left, ", ")));
    backoff(delay);
  }
}

Result<std::vector<std::string>> remove_dirs(std::span<const CgroupDir> dirs) {
  std::vector<std::string> removed;
  std::optional<Error> first_error;
  for (auto& dir : dirs) {
    // A killed task leaves its cgroup a moment after SIGKILL: EBUSY until then.
    bool gone = false;
    for (int attempt = 0;; ++attempt) {
      if (::rmdir(dir.path.c_str()) == 0) {
        removed.push_back(dir.path);
        gone = true;
        break;
      }
      if (errno == ENOENT) {
        gone = true;
        break;
      }
      if (errno != EBUSY || attempt >= 50) {
        if (!first_error) first_error = errno_error("rmdir", dir.path, errno);
        break;
      }
      std::this_thread::sleep_for(20ms);
    }
    if (!gone) continue;
    // Empty parents (e.g. /sys/fs/cgroup/memory/berth) would otherwise be left behind. A parent
    // still holding another cgroup answers EBUSY or ENOTEMPTY; one already gone, ENOENT: stop.
    std::string parent = dir.path;
    for (;;) {
      auto slash = parent.rfind('/');
      if (slash == std::string::npos || slash <= dir.root.size()) break;
      parent.resize(slash);
      if (::rmdir(parent.c_str()) != 0) break;
    }
  }
  if (first_error) return std::unexpected(*first_error);
  return removed;
}

std::optional<std::vector<IdRange>> parse_id_list(std::string_view text) {
  auto number = [](std::string_view digits) -> std::optional<std::uint32_t> {
    if (digits.empty() || digits.size() > 7) return std::nullopt;  // no cpu or node id is that big
    for (char c : digits)
      if (c < '0' || c > '9') return std::nullopt;
    return static_cast<std::uint32_t>(*parse_u64(digits));
  };
  if (text.empty()) return std::nullopt;
  std::vector<IdRange> ranges;
  for (;;) {
    auto comma = text.find(',');
    auto part = text.substr(0, comma);
    auto dash = part.find('-');
    auto first = number(part.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : number(part.substr(dash + 1));
    if (!first || !last || *last < *first) return std::nullopt;
    ranges.push_back({*first, *last});
    if (comma == std::string_view::npos) return ranges;
    text.remove_prefix(comma + 1);
  }
}

std::optional<std::uint32_t> first_missing_id(std::span<const IdRange> wanted,
                                              std::span<const IdRange> available) {
  for (auto& range : wanted) {
    for (std::uint32_t id = range.first;; ++id) {
      bool covered = std::any_of(available.begin(), available.end(),
                                 [&](const IdRange& a) { return a.first <= id && id <= a.last; });
      if (!covered) return id;
      if (id == range.last) break;
    }
  }
  return std::nullopt;
}

std::unexpected<Error> controller_unavailable(std::string_view field, std::string_view controller) {
  return fail(ErrorCode::invalid_spec,
              fmt::format("{}: the {} cgroup controller is not available on this host", field, controller));
}

}  // namespace cgroup_detail

namespace {

constexpr const char* online_cpus_file = "/sys/devices/system/cpu/online";
constexpr const char* online_nodes_file = "/sys/devices/system/node/online";

// A cpuset list (empty: not set) whose every id is online on this host. A kernel without NUMA
// has no node directory: node 0 is then the only one.
Result<void> validate_id_list(const std::string& list, std::string_view field, std::string_view what,
                              const char* online_file) {
  if (list.empty()) return {};
  auto wanted = cgroup_detail::parse_id_list(list);
  if (!wanted)
    return fail(ErrorCode::invalid_spec,
                fmt::format("{}: \"{}\" is not a {} list (comma-separated numbers and ascending ranges, "
                            "e.g. \"0-1,3\")",
                            field, list, what));
  auto text = cgroup_detail::read_control(online_file);
  if (!text && what == "cpu")
    return fail(ErrorCode::unavailable, fmt::format("{}: cannot read {}", field, online_file));
  std::string online = text ? std::string(cgroup_detail::trim(*text)) : "0";
  auto available = cgroup_detail::parse_id_list(online);
  if (!available)
    return fail(ErrorCode::internal, fmt::format("{}: {} holds \"{}\", not a list", field, online_file, online));
  if (auto missing = cgroup_detail::first_missing_id(*wanted, *available))
    return fail(ErrorCode::invalid_spec,
                fmt::format("{}: {} {} is not online on this host (online: {})", field, what, *missing, online));
  return {};
}

}  // namespace

Result<void> validate_resources(const Resources& r) {
  auto invalid = [](std::string message) { return fail(ErrorCode::invalid_spec, std::move(message)); };
  if (r.memory_bytes && *r.memory_bytes < 4096)
    return invalid(fmt::format("resources.memory: {} bytes is below the minimum of 4096", *r.memory_bytes));
  if (r.memory_swap_bytes) {
    if (!r.memory_bytes) return invalid("resources.memory_swap: needs a memory limit as well");
    if (*r.memory_swap_bytes != -1 && *r.memory_swap_bytes < *r.memory_bytes)
      return invalid(fmt::format("resources.memory_swap: {} is below the memory limit {} (use -1 for unlimited swap)",
                                 *r.memory_swap_bytes, *r.memory_bytes));
  }
  if (r.cpus && !(*r.cpus > 0 && *r.cpus <= 1024))
    return invalid(fmt::format("resources.cpus: {} is not in (0, 1024]", *r.cpus));
  if (r.cpu_shares && (*r.cpu_shares < 2 || *r.cpu_shares > 262144))
    return invalid(fmt::format("resources.cpu_shares: {} is not in [2, 262144]", *r.cpu_shares));
  if (r.pids_limit && *r.pids_limit < 1)
    return invalid(fmt::format("resources.pids_limit: {} must be at least 1", *r.pids_limit));
  if (auto valid = validate_id_list(r.cpuset_cpus, "resources.cpuset_cpus", "cpu", online_cpus_file); !valid)
    return valid;
  if (auto valid = validate_id_list(r.cpuset_mems, "resources.cpuset_mems", "memory node", online_nodes_file);
      !valid)
    return valid;
  return {};
}

std::optional<std::string> hugepage_size_name(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  std::uint64_t value = *cgroup_detail::parse_u64(text.substr(0, digits));
  std::string unit(text.substr(digits));
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::uint64_t scale;
  if (unit == "KB" || unit == "K") scale = 1ULL << 10;
  else if (unit == "MB" || unit == "M") scale = 1ULL << 20;
  else if (unit == "GB" || unit == "G") scale = 1ULL << 30;
  else return std::nullopt;
  std::uint64_t bytes = value * scale;
  if (bytes < 1024 || (bytes & (bytes - 1)) != 0) return std::nullopt;
  // The kernel's names (mm/hugetlb_cgroup.c mem_fmt): the largest unit that divides evenly.
  if (bytes >= (1ULL << 30)) return fmt::format("{}GB", bytes >> 30);
  if (bytes >= (1ULL << 20)) return fmt::format("{}MB", bytes >> 20);
  return fmt::format("{}KB", bytes >> 10);
}

namespace {

// The size in kB of a page named "2MB": the kernel's /sys/kernel/mm/hugepages/hugepages-<n>kB.
std::uint64_t hugepage_kb(const std::string& name) {
  std::uint64_t n = std::strtoull(name.c_str(), nullptr, 10);
  if (name.ends_with("GB")) return n << 20;
  if (name.ends_with("MB")) return n << 10;
  return n;
}

Result<void> check_block_device(std::int64_t major, std::int64_t minor, const std::string& field) {
  if (major < 0 || minor < 0)
    return fail(ErrorCode::invalid_spec, fmt::format("{}: {}:{} is not a device number", field, major, minor));
  if (!path_exists(fmt::format("/sys/dev/block/{}:{}", major, minor)))
    return fail(ErrorCode::invalid_spec,
                fmt::format("{}: there is no block device {}:{} on this host", field, major, minor));
  return {};
}

}  // namespace

Result<void> validate_extra_resources(const ExtraResources& x) {
  auto invalid = [](std::string message) { return fail(ErrorCode::invalid_spec, std::move(message)); };
  if (x.memory_reservation && *x.memory_reservation < -1)
    return invalid(fmt::format("memory.reservation: {} is negative (only -1, no reservation, is allowed)",
                               *x.memory_reservation));
  if (x.memory_swappiness && *x.memory_swappiness > 100)
    return invalid(fmt::format("memory.swappiness: {} is not in [0, 100]", *x.memory_swappiness));
  auto weight_ok = [](std::uint16_t w) { return w >= 10 && w <= 1000; };
  if (x.blkio_weight && !weight_ok(*x.blkio_weight))
    return invalid(fmt::format("blockIO.weight: {} is not in [10, 1000]", *x.blkio_weight));
  if (x.blkio_leaf_weight && !weight_ok(*x.blkio_leaf_weight))
    return invalid(fmt::format("blockIO.leafWeight: {} is not in [10, 1000]", *x.blkio_leaf_weight));
  for (std::size_t i = 0; i < x.blkio_weight_device.size(); ++i) {
    auto& d = x.blkio_weight_device[i];
    std::string field = fmt::format("blockIO.weightDevice[{}]", i);
    if (auto ok = check_block_device(d.major, d.minor, field); !ok) return ok;
    if (!d.weight && !d.leaf_weight) return invalid(field + ": needs a weight or a leafWeight");
    if (d.weight && !weight_ok(*d.weight))
      return invalid(fmt::format("{}.weight: {} is not in [10, 1000]", field, *d.weight));
    if (d.leaf_weight && !weight_ok(*d.leaf_weight))
      return invalid(fmt::format("{}.leafWeight: {} is not in [10, 1000]", field, *d.leaf_weight));
  }
  const std::pair<const std::vector<ThrottleDevice>*, const char*> throttles[] = {
      {&x.throttle_read_bps, "throttleReadBpsDevice"},
      {&x.throttle_write_bps, "throttleWriteBpsDevice"},
      {&x.throttle_read_iops, "throttleReadIOPSDevice"},
      {&x.throttle_write_iops, "throttleWriteIOPSDevice"}};
  for (auto [list, name] : throttles)
    for (std::size_t i = 0; i < list->size(); ++i)
      if (auto ok = check_block_device((*list)[i].major, (*list)[i].minor, fmt::format("blockIO.{}[{}]", name, i)); !ok)
        return ok;
  for (std::size_t i = 0; i < x.hugepage_limits.size(); ++i) {
    auto& h = x.hugepage_limits[i];
    std::string field = fmt::format("hugepageLimits[{}].pageSize", i);
    auto name = hugepage_size_name(h.page_size);
    if (!name || *name != h.page_size)
      return invalid(fmt::format("{}: \"{}\" is not a page size as the kernel names them (e.g. \"2MB\", \"1GB\")",
                                 field, h.page_size));
    if (!path_exists(fmt::format("/sys/kernel/mm/hugepages/hugepages-{}kB", hugepage_kb(*name))))
      return invalid(fmt::format("{}: this host has no {} huge pages", field, h.page_size));
  }
  if (x.cpu_rt_runtime && *x.cpu_rt_runtime < -1)
    return invalid(fmt::format("cpu.realtimeRuntime: {} is negative (only -1, unlimited, is allowed)", *x.cpu_rt_runtime));
  if (x.cpu_rt_period && *x.cpu_rt_period < 1)
    return invalid(fmt::format("cpu.realtimePeriod: {} must be at least 1", *x.cpu_rt_period));
  if (x.cpu_idle && *x.cpu_idle != 0 && *x.cpu_idle != 1)
    return invalid(fmt::format("cpu.idle: {} is not 0 or 1", *x.cpu_idle));
  return {};
}

Result<CgroupHost> detect_cgroup_host(const std::string& mount_root) {
  std::string root = cgroup_detail::normalize_root(mount_root);
  struct statfs fs;
  if (::statfs(root.c_str(), &fs) != 0) return std::unexpected(errno_error("statfs", root, errno));
  // Pure v2 mounts cgroup2 at the root; hybrid (v1 controllers plus a controller-less
  // unified/) and legacy mount a tmpfs there with one v1 hierarchy per controller.
  if (fs.f_type == CGROUP2_SUPER_MAGIC) return CgroupHost{CgroupVersion::v2, root};
  return CgroupHost{CgroupVersion::v1, root};
}

Result<std::unique_ptr<Cgroup>> create_cgroup(const CgroupHost& host,
                                              const std::string& relative_path,
                                              const CgroupNeeds& needs) {
  if (!cgroup_detail::valid_relative_path(relative_path))
    return fail(ErrorCode::invalid_spec,
                fmt::format("cgroup path \"{}\": must be relative, without empty, . or .. parts", relative_path));
  std::string root = cgroup_detail::normalize_root(host.mount_root);
  if (host.version == CgroupVersion::v2) return cgroup_detail::create_v2(root, relative_path);
  return cgroup_detail::create_v1(root, relative_path, needs);
}

std::unique_ptr<Cgroup> open_cgroup(const CgroupHost& host, const std::string& relative_path) {
  std::string root = cgroup_detail::normalize_root(host.mount_root);
  // An invalid path names no cgroup we could have made: open it as one that is gone.
  std::string relative = cgroup_detail::valid_relative_path(relative_path) ? relative_path : "";
  if (host.version == CgroupVersion::v2) return cgroup_detail::open_v2(root, relative);
  return cgroup_detail::open_v1(root, relative);
}

}  // namespace berth::linux
