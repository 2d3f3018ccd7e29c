#include "oci/operations.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <fmt/format.h>
#include <set>
#include <sstream>

#include "common/fs.hpp"
#include "linux/cgroup.hpp"
#include "oci/config.hpp"

extern char** environ;

namespace berth::oci {

namespace {

struct Opened {
  StateDir dir;
  ContainerState state;
  Status status;
};

// The container's state under its lock, with its current status.
Result<Opened> open_container(const RuntimeOptions& options, const std::string& id) {
  auto dir = StateDir::open(options.root, id);
  if (!dir) return std::unexpected(dir.error());
  auto state = dir->load();
  if (!state) return std::unexpected(state.error());
  Status status = live_status(*state);
  return Opened{std::move(*dir), std::move(*state), status};
}

Result<std::unique_ptr<linux::Cgroup>> container_cgroup(const ContainerState& state) {
  auto host = linux::detect_cgroup_host();
  if (!host) return std::unexpected(host.error());
  return linux::open_cgroup(*host, state.cgroup_path);
}

std::unexpected<Error> wrong_status(const char* verb, const std::string& id, Status status, const char* needed) {
  return fail(ErrorCode::conflict,
              fmt::format("cannot {} container \"{}\": it is {}, {}", verb, id, to_string(status), needed));
}

}  // namespace

Result<void> pause_container(const RuntimeOptions& options, const std::string& id) {
  auto c = open_container(options, id);
  if (!c) return std::unexpected(c.error());
  if (c->status != Status::running) return wrong_status("pause", id, c->status, "only a running container can pause");
  auto cgroup = container_cgroup(c->state);
  if (!cgroup) return std::unexpected(cgroup.error());
  if (auto r = (*cgroup)->freeze(true); !r) return std::unexpected(r.error().with_context(fmt::format("pause {}", id)));
  c->state.status = Status::paused;
  if (auto r = c->dir.save(c->state); !r) {
    (void)(*cgroup)->freeze(false);
    return r;
  }
  return {};
}

Result<void> resume_container(const RuntimeOptions& options, const std::string& id) {
  auto c = open_container(options, id);
  if (!c) return std::unexpected(c.error());
  if (c->status != Status::paused) return wrong_status("resume", id, c->status, "only a paused container can resume");
  auto cgroup = container_cgroup(c->state);
  if (!cgroup) return std::unexpected(cgroup.error());
  if (auto r = (*cgroup)->freeze(false); !r) return std::unexpected(r.error().with_context(fmt::format("resume {}", id)));
  c->state.status = Status::running;
  return c->dir.save(c->state);
}

Result<std::vector<pid_t>> container_pids(const RuntimeOptions& options, const std::string& id) {
  auto c = open_container(options, id);
  if (!c) return std::unexpected(c.error());
  if (c->status == Status::stopped) return wrong_status("list the processes of", id, c->status, "it has none");
  auto cgroup = container_cgroup(c->state);
  if (!cgroup) return std::unexpected(cgroup.error());
  auto pids = (*cgroup)->processes();
  if (!pids) return std::unexpected(pids.error());
  std::sort(pids->begin(), pids->end());
  return pids;
}

Result<std::string> ps_table(const std::vector<pid_t>& pids, const std::vector<std::string>& ps_args) {
  std::vector<std::string> args{"ps"};
  if (ps_args.empty()) args.push_back("-ef");
  else args.insert(args.end(), ps_args.begin(), ps_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::unexpected(errno_error("pipe", "ps", errno));
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  pid_t child = -1;
  int spawned = posix_spawnp(&child, "ps", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  write_end.reset();
  if (spawned != 0) return std::unexpected(errno_error("run", "ps", spawned));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return fail(ErrorCode::invalid_spec, fmt::format("ps {}: failed (exit status {})", fmt::join(args.begin() + 1, args.end(), " "),
                                                     WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)));

  std::istringstream lines(out);
  std::string header;
  if (!std::getline(lines, header)) return fail(ErrorCode::internal, "ps: printed nothing");
  auto fields = [](const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> out;
    for (std::string f; in >> f;) out.push_back(f);
    return out;
  };
  auto names = fields(header);
  auto column = std::find(names.begin(), names.end(), "PID");
  if (column == names.end())
    return fail(ErrorCode::invalid_spec, "ps: its output has no PID column (ps options must keep it)");
  auto index = static_cast<std::size_t>(column - names.begin());
  std::set<pid_t> wanted(pids.begin(), pids.end());
  std::string table = header + "\n";
  for (std::string line; std::getline(lines, line);) {
    auto row = fields(line);
    if (row.size() <= index) continue;
    char* end = nullptr;
    long pid = std::strtol(row[index].c_str(), &end, 10);
    if (end && *end == '\0' && wanted.count(static_cast<pid_t>(pid))) table += line + "\n";
  }
  return table;
}

namespace {

// A whole number, optionally negative (so that the error can say so), with the k/m/g/t
// suffixes (powers of 1024, an optional trailing "b") when `sizes`.
Result<std::int64_t> parse_number(const std::string& flag, const std::string& text, bool sizes) {
  auto bad = [&] {
    return fail(ErrorCode::invalid_spec,
                fmt::format("--{}: \"{}\" is not a whole number{}", flag, text, sizes ? " (of bytes, or with k, m, g, t)" : ""));
  };
  std::size_t i = 0;
  bool negative = !text.empty() && text[0] == '-';
  if (negative) ++i;
  std::size_t digits = i;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == digits || i - digits > 18) return bad();
  std::int64_t value = std::stoll(text.substr(digits, i - digits));
  std::int64_t unit = 1;
  if (sizes && i < text.size()) {
    switch (std::tolower(static_cast<unsigned char>(text[i]))) {
      case 'k': unit = 1LL << 10; break;
      case 'm': unit = 1LL << 20; break;
      case 'g': unit = 1LL << 30; break;
      case 't': unit = 1LL << 40; break;
      case 'b': break;
      default: return bad();
    }
    ++i;
    if (unit != 1 && i < text.size() && std::tolower(static_cast<unsigned char>(text[i])) == 'b') ++i;
  }
  if (i != text.size()) return bad();
  if (value > INT64_MAX / unit) return bad();
  value *= unit;
  return negative ? -value : value;
}

Result<std::string> read_stdin() {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(errno_error("read", "standard input", errno));
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace

// runc's update flags for limits beyond Resources: --blkio-weight, --memory-reservation,
// --cpu-burst, --cpu-rt-period, --cpu-rt-runtime.
Result<void> extra_update_request(const std::map<std::string, std::string>& flags, linux::ExtraResources& x) {
  auto number = [&](const char* flag, bool sizes) -> Result<std::optional<std::int64_t>> {
    auto it = flags.find(flag);
    if (it == flags.end()) return std::optional<std::int64_t>{};
    auto n = parse_number(flag, it->second, sizes);
    if (!n) return std::unexpected(n.error());
    return std::optional<std::int64_t>{*n};
  };
  auto weight = number("blkio-weight", false);
  auto reservation = number("memory-reservation", true);
  auto burst = number("cpu-burst", false);
  auto rt_period = number("cpu-rt-period", false);
  auto rt_runtime = number("cpu-rt-runtime", false);
  for (auto* n : {&weight, &reservation, &burst, &rt_period, &rt_runtime})
    if (!*n) return std::unexpected(n->error());
  auto negative = [](const char* flag, std::int64_t value, bool minus_one_ok) -> Result<void> {
    if (value >= 0 || (minus_one_ok && value == -1)) return {};
    return fail(ErrorCode::invalid_spec, fmt::format("--{}: {} is negative{}", flag, value,
                                                     minus_one_ok ? " (only -1, unlimited, is allowed)" : ""));
  };
  if (*weight) {
    if (**weight < 10 || **weight > 1000)
      return fail(ErrorCode::invalid_spec, fmt::format("--blkio-weight: {} is not in [10, 1000]", **weight));
    x.blkio_weight = static_cast<std::uint16_t>(**weight);
  }
  if (*reservation) {
    if (auto v = negative("memory-reservation", **reservation, true); !v) return v;
    x.memory_reservation = **reservation;
  }
  if (*burst) {
    if (auto v = negative("cpu-burst", **burst, false); !v) return v;
    x.cpu_burst = static_cast<std::uint64_t>(**burst);
  }
  if (*rt_period) {
    if (auto v = negative("cpu-rt-period", **rt_period, false); !v) return v;
    x.cpu_rt_period = static_cast<std::uint64_t>(**rt_period);
  }
  if (*rt_runtime) {
    if (auto v = negative("cpu-rt-runtime", **rt_runtime, true); !v) return v;
    x.cpu_rt_runtime = **rt_runtime;
  }
  if (auto v = linux::validate_extra_resources(x); !v) return std::unexpected(v.error());
  return {};
}

Result<ResourceLimits> update_request(const std::map<std::string, std::string>& flags) {
  static const char* const limit_flags[] = {"memory",      "memory-swap",   "cpu-shares",     "cpu-quota",
                                            "cpu-period",  "cpuset-cpus",   "cpuset-mems",    "pids-limit",
                                            "blkio-weight", "memory-reservation", "cpu-burst", "cpu-rt-period",
                                            "cpu-rt-runtime"};
  bool any_limit_flag = std::any_of(std::begin(limit_flags), std::end(limit_flags),
                                    [&](const char* f) { return flags.count(f) > 0; });
  if (auto it = flags.find("resources"); it != flags.end()) {
    if (any_limit_flag)
      return fail(ErrorCode::invalid_spec, "--resources: give the limits in the file or as flags, not both");
    auto text = it->second == "-" ? read_stdin() : read_file(it->second);
    if (!text) return std::unexpected(text.error().with_context("--resources"));
    auto parsed = parse_linux_resources(*text);
    if (!parsed) return std::unexpected(parsed.error().with_context("--resources"));
    return parsed;
  }

  ResourceLimits limits;
  Resources& r = limits.resources;
  auto number = [&](const char* flag, bool sizes, bool minus_one_ok) -> Result<std::optional<std::int64_t>> {
    auto it = flags.find(flag);
    if (it == flags.end()) return std::optional<std::int64_t>{};
    auto n = parse_number(flag, it->second, sizes);
    if (!n) return std::unexpected(n.error());
    if (*n < 0 && !(minus_one_ok && *n == -1))
      return fail(ErrorCode::invalid_spec, fmt::format("--{}: {} is negative{}", flag, it->second,
                                                       minus_one_ok ? " (only -1, unlimited, is allowed)" : ""));
    return std::optional<std::int64_t>{*n};
  };
  auto memory = number("memory", true, false);
  if (!memory) return std::unexpected(memory.error());
  auto swap = number("memory-swap", true, true);
  if (!swap) return std::unexpected(swap.error());
  auto shares = number("cpu-shares", false, false);
  if (!shares) return std::unexpected(shares.error());
  auto quota = number("cpu-quota", false, false);
  if (!quota) return std::unexpected(quota.error());
  auto period = number("cpu-period", false, false);
  if (!period) return std::unexpected(period.error());
  auto pids = number("pids-limit", false, false);
  if (!pids) return std::unexpected(pids.error());

  r.memory_bytes = *memory;
  r.memory_swap_bytes = *swap;
  r.cpu_shares = *shares;
  r.pids_limit = *pids;
  if (*period && **period != 100000)
    return fail(ErrorCode::invalid_spec,
                fmt::format("--cpu-period: only the default period (100000 us) is supported by berth-oci, not {}", **period));
  if (*quota) {
    if (**quota == 0) return fail(ErrorCode::invalid_spec, "--cpu-quota: must be above 0");
    r.cpus = static_cast<double>(**quota) / 100000.0;
  }
  if (auto it = flags.find("cpuset-cpus"); it != flags.end()) {
    if (it->second.empty()) return fail(ErrorCode::invalid_spec, "--cpuset-cpus: must not be empty");
    r.cpuset_cpus = it->second;
  }
  if (auto it = flags.find("cpuset-mems"); it != flags.end()) {
    if (it->second.empty()) return fail(ErrorCode::invalid_spec, "--cpuset-mems: must not be empty");
    r.cpuset_mems = it->second;
  }
  if (auto v = linux::validate_resources(r); !v) return std::unexpected(v.error());
  if (auto x = extra_update_request(flags, limits.extra); !x) return std::unexpected(x.error());
  return limits;
}

namespace {

// Whether the container's cgroup has `controller` (v1: a directory in that hierarchy; v2: in
// its cgroup.controllers).
bool has_controller(const linux::Cgroup& cgroup, const linux::CgroupHost& host, const std::string& controller) {
  auto paths = cgroup.paths();
  if (cgroup.version() == linux::CgroupVersion::v2) {
    if (paths.empty()) return false;
    auto text = read_file(paths.front() + "/cgroup.controllers");
    if (!text) return false;
    std::istringstream in(*text);
    for (std::string word; in >> word;)
      if (word == controller) return true;
    return false;
  }
  std::string prefix = host.mount_root + "/" + controller + "/";
  // A hybrid host's hugetlb is in its unified hierarchy (linux::CgroupNeeds::hugetlb).
  std::string unified = host.mount_root + "/unified/";
  return std::any_of(paths.begin(), paths.end(), [&](const std::string& p) {
    return p.starts_with(prefix) || (controller == "hugetlb" && p.starts_with(unified));
  });
}

}  // namespace

Result<void> update_container(const RuntimeOptions& options, const std::string& id, const ResourceLimits& limits) {
  const Resources& resources = limits.resources;
  const linux::ExtraResources& x = limits.extra;
  for (auto& w : limits.warnings)
    if (options.warn) options.warn(w);
  auto c = open_container(options, id);
  if (!c) return std::unexpected(c.error());
  if (c->status == Status::stopped) return wrong_status("update", id, c->status, "there is nothing to limit");
  if (auto v = linux::validate_resources(resources); !v) return std::unexpected(v.error());
  auto host = linux::detect_cgroup_host();
  if (!host) return std::unexpected(host.error());
  auto cgroup = linux::open_cgroup(*host, c->state.cgroup_path);
  if (cgroup->paths().empty())
    return fail(ErrorCode::not_found, fmt::format("update {}: its cgroup {} is gone", id, c->state.cgroup_path));
  // What cgroup v2 has no file for: refused before anything is written.
  bool v2 = host->version == linux::CgroupVersion::v2;
  if (v2 && (x.memory_swappiness || x.blkio_leaf_weight || x.cpu_rt_period || x.cpu_rt_runtime ||
             std::any_of(x.blkio_weight_device.begin(), x.blkio_weight_device.end(),
                         [](auto& d) { return d.leaf_weight.has_value(); })))
    return fail(ErrorCode::invalid_spec,
                fmt::format("update {}: {}: cgroup v2 has no such setting", id,
                            x.memory_swappiness ? "memory.swappiness"
                            : x.cpu_rt_period || x.cpu_rt_runtime ? "cpu realtime bandwidth"
                                                                  : "blockIO leaf weights"));
  // Every controller first, so that a limit that cannot be applied leaves the others unchanged.
  struct Need {
    bool wanted;
    const char* field;
    const char* controller;
  };
  const Need needs[] = {
      {resources.memory_bytes.has_value(), "memory", "memory"},
      {resources.cpus.has_value(), "cpu-quota", "cpu"},
      {resources.cpu_shares.has_value(), "cpu-shares", "cpu"},
      {resources.pids_limit.has_value(), "pids-limit", "pids"},
      {!resources.cpuset_cpus.empty(), "cpuset-cpus", "cpuset"},
      {!resources.cpuset_mems.empty(), "cpuset-mems", "cpuset"},
      {x.memory_reservation || x.memory_swappiness || x.disable_oom_killer, "memory-reservation", "memory"},
      {x.blkio(), "blkio-weight", v2 ? "io" : "blkio"},
      {x.cpu_burst || x.cpu_idle || x.cpu_rt_period || x.cpu_rt_runtime, "cpu-burst", "cpu"},
      {!x.hugepage_limits.empty(), "resources: hugepageLimits", "hugetlb"},
  };
  for (auto& need : needs)
    if (need.wanted && !has_controller(*cgroup, *host, need.controller))
      return fail(ErrorCode::invalid_spec,
                  fmt::format("update {}: --{}: the container's cgroup has no {} controller{}", id, need.field,
                              need.controller,
                              std::string(need.controller) == "cpuset"
                                  ? " (berth-oci makes it only for containers created with cpuset limits)"
                              : std::string(need.controller) == "hugetlb" && !v2
                                  ? " (berth-oci makes it only for containers created with hugepage limits)"
                                  : ""));
  if (auto r = cgroup->apply(resources); !r) return std::unexpected(r.error().with_context(fmt::format("update {}", id)));
  auto extra = cgroup->apply_extra(x);
  if (!extra) return std::unexpected(under_linux_resources(extra.error()).with_context(fmt::format("update {}", id)));
  for (auto& w : *extra)
    if (options.warn) options.warn("linux.resources." + w);
  return {};
}

}  // namespace berth::oci
