#include "oci/config.hpp"

#include <sched.h>
#include <sys/personality.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fs.hpp"
#include "linux/capabilities.hpp"
#include "linux/scheduling.hpp"
#include "oci/mount_options.hpp"

namespace berth::oci {

namespace {

using nlohmann::json;

std::unexpected<Error> bad(const std::string& where, const std::string& what) {
  return fail(ErrorCode::invalid_spec, fmt::format("{}: {}", where, what));
}

std::string at(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// An object's keys: each must be one berth reads; `empty_ok` are accepted only when empty
// (null, false, 0, "", [] or {}), as they then ask for nothing.
Result<void> check_keys(const json& object, const std::string& where,
                        std::initializer_list<std::string_view> known,
                        std::initializer_list<std::string_view> empty_ok = {}) {
  if (!object.is_object()) return bad(where.empty() ? "config.json" : where, "must be an object");
  for (auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    bool empty = value.is_null() || (value.is_boolean() && !value.get<bool>()) ||
                 (value.is_number() && value.get<double>() == 0) ||
                 ((value.is_string() || value.is_array() || value.is_object()) && value.empty());
    if (empty && std::find(empty_ok.begin(), empty_ok.end(), key) != empty_ok.end()) continue;
    return bad(at(where, key), "is not supported by berth-oci");
  }
  return {};
}

template <typename T>
Result<T> get(const json& object, const std::string& key, const std::string& where, T fallback) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return bad(at(where, key), "has the wrong type");
  }
}

Result<linux::CapabilityMask> capability_set(const json& caps, const std::string& key,
                                             const std::string& where) {
  auto names = get<std::vector<std::string>>(caps, key, where, {});
  if (!names) return std::unexpected(names.error());
  linux::CapabilityMask mask = 0;
  for (std::size_t i = 0; i < names->size(); ++i) {
    auto cap = linux::capability_from_name((*names)[i]);
    if (!cap || *cap > linux::last_capability())
      return bad(fmt::format("{}.{}[{}]", where, key, i),
                 fmt::format("\"{}\" is not a capability this kernel has", (*names)[i]));
    mask |= linux::CapabilityMask{1} << *cap;
  }
  return mask;
}

Result<std::optional<std::int64_t>> number_in(const json& object, const std::string& key, const std::string& where,
                                              std::int64_t min, std::int64_t max);

// process.scheduler, checked as runc checks it (a nice value in [-20, 19] for the policies that
// use one, a priority only for SCHED_FIFO and SCHED_RR, runtime/deadline/period only for
// SCHED_DEADLINE) and, beyond runc, a realtime priority in [1, 99], which the kernel would
// otherwise refuse only once the container runs.
Result<linux::SchedulerAttributes> read_scheduler(const json& s) {
  const std::string w = "process.scheduler";
  if (auto r = check_keys(s, w, {"policy", "nice", "priority", "flags", "runtime", "deadline", "period"}); !r)
    return std::unexpected(r.error());
  linux::SchedulerAttributes out;
  auto name = get<std::string>(s, "policy", w, "");
  if (!name) return std::unexpected(name.error());
  if (name->empty()) return bad(w + ".policy", "is required");
  auto policy = linux::scheduling_policy(*name);
  if (!policy) return bad(w + ".policy", fmt::format("\"{}\" is not a scheduling policy", *name));
  out.policy = *policy;
  bool realtime = linux::is_realtime_policy(out.policy);
  auto nice = number_in(s, "nice", w, INT32_MIN, INT32_MAX);
  if (!nice) return std::unexpected(nice.error());
  if (*nice && (*name == "SCHED_OTHER" || *name == "SCHED_BATCH") && (**nice < -20 || **nice > 19))
    return bad(w + ".nice", fmt::format("{} is not in [-20, 19] (the nice values of {})", **nice, *name));
  out.nice = static_cast<std::int32_t>(nice->value_or(0));
  auto priority = number_in(s, "priority", w, INT32_MIN, INT32_MAX);
  if (!priority) return std::unexpected(priority.error());
  std::int64_t level = priority->value_or(0);
  if (!realtime && level != 0)
    return bad(w + ".priority", fmt::format("is for SCHED_FIFO and SCHED_RR only, not {}", *name));
  if (realtime && (level < 1 || level > 99))
    return bad(w + ".priority", fmt::format("{} needs a priority in [1, 99], not {}", *name, level));
  out.priority = static_cast<std::uint32_t>(level);
  std::uint64_t* times[] = {&out.runtime, &out.deadline, &out.period};
  const char* keys[] = {"runtime", "deadline", "period"};
  for (int i = 0; i < 3; ++i) {
    auto value = number_in(s, keys[i], w, 0, INT64_MAX);
    if (!value) return std::unexpected(value.error());
    if (value->value_or(0) != 0 && out.policy != linux::sched_deadline_policy)
      return bad(at(w, keys[i]), fmt::format("is for SCHED_DEADLINE only, not {}", *name));
    *times[i] = static_cast<std::uint64_t>(value->value_or(0));
  }
  auto flags = get<std::vector<std::string>>(s, "flags", w, {});
  if (!flags) return std::unexpected(flags.error());
  for (std::size_t i = 0; i < flags->size(); ++i) {
    auto flag = linux::scheduling_flag((*flags)[i]);
    if (!flag) return bad(fmt::format("{}.flags[{}]", w, i), fmt::format("\"{}\" is not a scheduling flag", (*flags)[i]));
    out.flags |= *flag;
  }
  return out;
}

Result<ContainerLaunchPlan::IoPriority> read_io_priority(const json& io) {
  const std::string w = "process.ioPriority";
  if (auto r = check_keys(io, w, {"class", "priority"}); !r) return std::unexpected(r.error());
  auto name = get<std::string>(io, "class", w, "");
  if (!name) return std::unexpected(name.error());
  if (name->empty()) return bad(w + ".class", "is required");
  auto io_class = linux::io_priority_class(*name);
  if (!io_class)
    return bad(w + ".class", fmt::format("\"{}\" is not an I/O priority class (IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, "
                                         "IOPRIO_CLASS_IDLE)",
                                         *name));
  auto level = number_in(io, "priority", w, 0, 7);
  if (!level) return std::unexpected(level.error());
  return ContainerLaunchPlan::IoPriority{*io_class, static_cast<int>(level->value_or(0))};
}

// process.execCPUAffinity: absent when neither list names a CPU (an empty list asks for nothing).
Result<std::optional<ContainerLaunchPlan::CpuAffinity>> read_exec_cpu_affinity(const json& a) {
  const std::string w = "process.execCPUAffinity";
  if (auto r = check_keys(a, w, {"initial", "final"}); !r) return std::unexpected(r.error());
  ContainerLaunchPlan::CpuAffinity out;
  for (auto [key, field] : {std::pair{"initial", &out.initial}, std::pair{"final", &out.final}}) {
    auto text = get<std::string>(a, key, w, "");
    if (!text) return std::unexpected(text.error());
    if (text->empty()) continue;
    auto cpus = linux::parse_cpu_list(*text);
    if (!cpus) return bad(at(w, key), cpus.error().message);
    *field = std::move(*cpus);
  }
  if (!out.initial && !out.final) return std::optional<ContainerLaunchPlan::CpuAffinity>{};
  return std::optional<ContainerLaunchPlan::CpuAffinity>{std::move(out)};
}

Result<void> read_process(const json& p, BundleConfig& out) {
  const std::string w = "process";
  if (auto r = check_keys(p, w, {"terminal", "cwd", "env", "args", "rlimits", "capabilities", "noNewPrivileges",
                                 "oomScoreAdj", "user", "apparmorProfile", "selinuxLabel", "consoleSize",
                                 "ioPriority", "scheduler", "execCPUAffinity"},
                          {"commandLine"});
      !r)
    return r;
  auto& plan = out.plan;
  auto terminal = get<bool>(p, "terminal", w, false);
  auto cwd = get<std::string>(p, "cwd", w, "");
  auto env = get<std::vector<std::string>>(p, "env", w, {});
  auto args = get<std::vector<std::string>>(p, "args", w, {});
  auto nnp = get<bool>(p, "noNewPrivileges", w, false);
  if (!terminal) return std::unexpected(terminal.error());
  if (!cwd) return std::unexpected(cwd.error());
  if (!env) return std::unexpected(env.error());
  if (!args) return std::unexpected(args.error());
  if (!nnp) return std::unexpected(nnp.error());
  if (args->empty()) return bad("process.args", "must name the program to run");
  if (cwd->empty() || (*cwd)[0] != '/') return bad("process.cwd", "must be an absolute path");
  plan.tty = *terminal;
  plan.working_dir = *cwd;
  plan.env = *env;
  plan.args = *args;
  plan.no_new_privileges = *nnp;
  if (p.contains("consoleSize") && !p["consoleSize"].is_null()) {
    // The terminal's first size (a client resizes it later through the master); without a
    // terminal there is nothing to size, and runc ignores it too.
    const std::string cw = "process.consoleSize";
    if (auto r = check_keys(p["consoleSize"], cw, {"height", "width"}); !r) return r;
    auto height = get<std::uint32_t>(p["consoleSize"], "height", cw, 0);
    auto width = get<std::uint32_t>(p["consoleSize"], "width", cw, 0);
    if (!height) return std::unexpected(height.error());
    if (!width) return std::unexpected(width.error());
    if (*height > 65535 || *width > 65535) return bad(cw, "height and width must be at most 65535");
    if (*terminal)
      plan.console_size = ConsoleSize{static_cast<unsigned short>(*height), static_cast<unsigned short>(*width)};
  }
  if (p.contains("oomScoreAdj") && !p["oomScoreAdj"].is_null()) {
    auto adj = get<int>(p, "oomScoreAdj", w, 0);
    if (!adj) return std::unexpected(adj.error());
    if (*adj < -1000 || *adj > 1000) return bad("process.oomScoreAdj", "must be between -1000 and 1000");
    out.oom_score_adj = *adj;
  }
  if (p.contains("scheduler") && !p["scheduler"].is_null()) {
    auto scheduler = read_scheduler(p["scheduler"]);
    if (!scheduler) return std::unexpected(scheduler.error());
    out.plan.scheduler = *scheduler;
  }
  if (p.contains("ioPriority") && !p["ioPriority"].is_null()) {
    auto io = read_io_priority(p["ioPriority"]);
    if (!io) return std::unexpected(io.error());
    out.plan.io_priority = *io;
  }
  if (p.contains("execCPUAffinity") && !p["execCPUAffinity"].is_null()) {
    auto affinity = read_exec_cpu_affinity(p["execCPUAffinity"]);
    if (!affinity) return std::unexpected(affinity.error());
    out.plan.exec_cpu_affinity = std::move(*affinity);
  }
  // As runc: the init takes every CPU its cgroup allows, not berth-oci's caller's pinning.
  out.plan.reset_cpu_affinity = true;
  for (auto key : {"apparmorProfile", "selinuxLabel"})
    if (p.contains(key) && p[key].is_string() && !p[key].get<std::string>().empty())
      out.warnings.push_back(fmt::format("process.{}: this host has no {}; ignored", key,
                                         std::string_view(key) == "apparmorProfile" ? "AppArmor" : "SELinux"));

  // user
  if (p.contains("user")) {
    const auto& u = p["user"];
    if (auto r = check_keys(u, "process.user", {"uid", "gid", "umask", "additionalGids"}, {"username"}); !r) return r;
    auto uid = get<std::uint32_t>(u, "uid", "process.user", 0);
    auto gid = get<std::uint32_t>(u, "gid", "process.user", 0);
    auto extra = get<std::vector<std::uint32_t>>(u, "additionalGids", "process.user", {});
    if (!uid) return std::unexpected(uid.error());
    if (!gid) return std::unexpected(gid.error());
    if (!extra) return std::unexpected(extra.error());
    plan.user = fmt::format("{}:{}", *uid, *gid);
    for (auto g : *extra) plan.group_add.push_back(std::to_string(g));
    if (u.contains("umask") && !u["umask"].is_null()) {
      auto mask = get<std::uint32_t>(u, "umask", "process.user", 022);
      if (!mask) return std::unexpected(mask.error());
      plan.umask = static_cast<mode_t>(*mask & 0777);
    }
  } else {
    plan.user = "0:0";
  }
  if (!plan.umask) plan.umask = 022;  // runc's default

  // capabilities: absent sets are empty
  if (p.contains("capabilities") && !p["capabilities"].is_null()) {
    const auto& c = p["capabilities"];
    const std::string cw = "process.capabilities";
    if (auto r = check_keys(c, cw, {"bounding", "effective", "inheritable", "permitted", "ambient"}); !r) return r;
    linux::CapabilityMask* sets[] = {&plan.capabilities.bounding, &plan.capabilities.effective,
                                     &plan.capabilities.inheritable, &plan.capabilities.permitted,
                                     &plan.capabilities.ambient};
    const char* keys[] = {"bounding", "effective", "inheritable", "permitted", "ambient"};
    for (int i = 0; i < 5; ++i) {
      auto mask = capability_set(c, keys[i], cw);
      if (!mask) return std::unexpected(mask.error());
      *sets[i] = *mask;
    }
    // The kernel raises an ambient capability only when it is permitted and inheritable; runc
    // warns and goes on, and so does berth (never silently).
    auto& caps = plan.capabilities;
    linux::CapabilityMask unraisable = caps.ambient & ~(caps.permitted & caps.inheritable);
    for (int cap = 0; cap < 64; ++cap)
      if (unraisable & (linux::CapabilityMask{1} << cap))
        out.warnings.push_back(fmt::format(
            "process.capabilities.ambient: {} is not both permitted and inheritable; it cannot be raised",
            linux::capability_name(cap)));
    caps.ambient &= ~unraisable;
  }
  plan.last_capability = linux::last_capability();

  // rlimits
  auto limits = p.find("rlimits");
  if (limits != p.end() && !limits->is_null()) {
    if (!limits->is_array()) return bad("process.rlimits", "must be an array");
    for (std::size_t i = 0; i < limits->size(); ++i) {
      std::string lw = fmt::format("process.rlimits[{}]", i);
      const auto& l = (*limits)[i];
      if (auto r = check_keys(l, lw, {"type", "soft", "hard"}); !r) return r;
      auto type = get<std::string>(l, "type", lw, "");
      auto soft = get<std::uint64_t>(l, "soft", lw, 0);
      auto hard = get<std::uint64_t>(l, "hard", lw, 0);
      if (!type) return std::unexpected(type.error());
      if (!soft) return std::unexpected(soft.error());
      if (!hard) return std::unexpected(hard.error());
      std::string name = *type;
      if (!name.starts_with("RLIMIT_")) return bad(lw + ".type", fmt::format("\"{}\" is not a resource limit", name));
      name.erase(0, 7);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      auto resource = rlimit_resource(name);
      if (!resource) return bad(lw + ".type", fmt::format("\"{}\" is not a resource limit", *type));
      plan.rlimits.push_back({*resource, rlimit{*soft, *hard}});
    }
  }
  return {};
}

Result<int> namespace_type(const std::string& name, const std::string& where) {
  static constexpr std::pair<std::string_view, int> table[] = {
      {"pid", CLONE_NEWPID},  {"network", CLONE_NEWNET}, {"mount", CLONE_NEWNS},  {"ipc", CLONE_NEWIPC},
      {"uts", CLONE_NEWUTS},  {"user", CLONE_NEWUSER},   {"cgroup", CLONE_NEWCGROUP}};
  for (auto [n, type] : table)
    if (n == name) return type;
  return bad(where, fmt::format("namespace type \"{}\" is not supported by berth-oci", name));
}

// uidMappings or gidMappings of `object`, which the config calls `where` ("linux", "mounts[2]").
Result<std::vector<IdMapping>> id_mappings(const json& object, const char* key, const std::string& where) {
  std::vector<IdMapping> out;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_array()) return bad(fmt::format("{}.{}", where, key), "must be an array");
  for (std::size_t i = 0; i < it->size(); ++i) {
    std::string w = fmt::format("{}.{}[{}]", where, key, i);
    const auto& m = (*it)[i];
    if (auto r = check_keys(m, w, {"containerID", "hostID", "size"}); !r) return std::unexpected(r.error());
    auto c = get<std::uint32_t>(m, "containerID", w, 0);
    auto h = get<std::uint32_t>(m, "hostID", w, 0);
    auto s = get<std::uint32_t>(m, "size", w, 0);
    if (!c || !h || !s) return bad(w, "containerID, hostID and size must be numbers");
    out.push_back({*c, *h, *s});
  }
  return out;
}

// A whole number at `key` (nullopt when absent or null), refused by name outside [min, max].
Result<std::optional<std::int64_t>> number_in(const json& object, const std::string& key, const std::string& where,
                                              std::int64_t min, std::int64_t max) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<std::int64_t>{};
  if (!it->is_number_integer()) return bad(at(where, key), "must be a whole number");
  if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(max))
    return bad(at(where, key), fmt::format("{} is not in [{}, {}]", it->get<std::uint64_t>(), min, max));
  auto value = it->get<std::int64_t>();
  if (value < min || value > max) return bad(at(where, key), fmt::format("{} is not in [{}, {}]", value, min, max));
  return std::optional<std::int64_t>{value};
}

// linux.resources.memory beyond limit and swap: reservation, swappiness, disableOOMKiller, and
// the deprecated kernel and kernelTCP (ignored with a warning, as runc does).
Result<void> read_memory_extras(const json& m, const std::string& mw, BundleConfig& out) {
  auto& x = out.extra_resources;
  auto reservation = number_in(m, "reservation", mw, -1, INT64_MAX);
  if (!reservation) return std::unexpected(reservation.error());
  if (*reservation && **reservation != 0) x.memory_reservation = **reservation;
  auto swappiness = number_in(m, "swappiness", mw, 0, 100);
  if (!swappiness) return std::unexpected(swappiness.error());
  if (*swappiness) x.memory_swappiness = static_cast<std::uint64_t>(**swappiness);
  auto oom = get<bool>(m, "disableOOMKiller", mw, false);
  if (!oom) return std::unexpected(oom.error());
  x.disable_oom_killer = *oom;
  for (auto key : {"kernel", "kernelTCP"})
    if (m.contains(key) && !m[key].is_null())
      out.warnings.push_back(fmt::format("{}.{}: kernel memory limits are deprecated and ignored (as by runc)", mw, key));
  return {};
}

// linux.resources.cpu beyond shares, quota, period, cpus and mems.
Result<void> read_cpu_extras(const json& c, const std::string& cw, BundleConfig& out) {
  auto& x = out.extra_resources;
  auto runtime = number_in(c, "realtimeRuntime", cw, -1, INT64_MAX);
  auto period = number_in(c, "realtimePeriod", cw, 0, INT64_MAX);
  auto idle = number_in(c, "idle", cw, 0, 1);
  auto burst = number_in(c, "burst", cw, 0, INT64_MAX);
  for (auto* r : {&runtime, &period, &idle, &burst})
    if (!*r) return std::unexpected(r->error());
  if (*runtime && **runtime != 0) x.cpu_rt_runtime = **runtime;
  if (*period && **period != 0) x.cpu_rt_period = static_cast<std::uint64_t>(**period);
  if (*idle) x.cpu_idle = **idle;
  if (*burst) x.cpu_burst = static_cast<std::uint64_t>(**burst);
  return {};
}

// linux.resources.blockIO.
Result<void> read_block_io(const json& b, const std::string& bw, BundleConfig& out) {
  if (auto c = check_keys(b, bw,
                          {"weight", "leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
                           "throttleReadIOPSDevice", "throttleWriteIOPSDevice"});
      !c)
    return c;
  auto& x = out.extra_resources;
  auto weight = number_in(b, "weight", bw, 10, 1000);
  auto leaf = number_in(b, "leafWeight", bw, 10, 1000);
  if (!weight) return std::unexpected(weight.error());
  if (!leaf) return std::unexpected(leaf.error());
  if (*weight) x.blkio_weight = static_cast<std::uint16_t>(**weight);
  if (*leaf) x.blkio_leaf_weight = static_cast<std::uint16_t>(**leaf);
  auto list = [&](const char* key) -> Result<const json*> {
    auto it = b.find(key);
    if (it == b.end() || it->is_null()) return nullptr;
    if (!it->is_array()) return bad(at(bw, key), "must be an array");
    return &*it;
  };
  auto device = [&](const json& d, const std::string& dw) -> Result<std::pair<std::int64_t, std::int64_t>> {
    auto major = number_in(d, "major", dw, 0, UINT32_MAX);
    auto minor = number_in(d, "minor", dw, 0, UINT32_MAX);
    if (!major) return std::unexpected(major.error());
    if (!minor) return std::unexpected(minor.error());
    if (!*major || !*minor) return bad(dw, "needs a major and a minor device number");
    return std::pair{**major, **minor};
  };
  auto weights = list("weightDevice");
  if (!weights) return std::unexpected(weights.error());
  for (std::size_t i = 0; *weights && i < (*weights)->size(); ++i) {
    std::string dw = fmt::format("{}.weightDevice[{}]", bw, i);
    const auto& d = (**weights)[i];
    if (auto c = check_keys(d, dw, {"major", "minor", "weight", "leafWeight"}); !c) return c;
    auto dev = device(d, dw);
    if (!dev) return std::unexpected(dev.error());
    auto w = number_in(d, "weight", dw, 10, 1000);
    auto l = number_in(d, "leafWeight", dw, 10, 1000);
    if (!w) return std::unexpected(w.error());
    if (!l) return std::unexpected(l.error());
    linux::WeightDevice entry{dev->first, dev->second, {}, {}};
    if (*w) entry.weight = static_cast<std::uint16_t>(**w);
    if (*l) entry.leaf_weight = static_cast<std::uint16_t>(**l);
    x.blkio_weight_device.push_back(entry);
  }
  const std::pair<const char*, std::vector<linux::ThrottleDevice>*> throttles[] = {
      {"throttleReadBpsDevice", &x.throttle_read_bps},
      {"throttleWriteBpsDevice", &x.throttle_write_bps},
      {"throttleReadIOPSDevice", &x.throttle_read_iops},
      {"throttleWriteIOPSDevice", &x.throttle_write_iops}};
  for (auto [key, into] : throttles) {
    auto entries = list(key);
    if (!entries) return std::unexpected(entries.error());
    for (std::size_t i = 0; *entries && i < (*entries)->size(); ++i) {
      std::string dw = fmt::format("{}.{}[{}]", bw, key, i);
      const auto& d = (**entries)[i];
      if (auto c = check_keys(d, dw, {"major", "minor", "rate"}); !c) return c;
      auto dev = device(d, dw);
      if (!dev) return std::unexpected(dev.error());
      auto rate = number_in(d, "rate", dw, 0, INT64_MAX);
      if (!rate) return std::unexpected(rate.error());
      if (!*rate) return bad(dw + ".rate", "is required");
      into->push_back({dev->first, dev->second, static_cast<std::uint64_t>(**rate)});
    }
  }
  return {};
}

// linux.resources.hugepageLimits: [{pageSize: "2MB", limit: bytes}].
Result<void> read_hugepage_limits(const json& list, const std::string& hw, BundleConfig& out) {
  if (!list.is_array()) return bad(hw, "must be an array");
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string ew = fmt::format("{}[{}]", hw, i);
    if (auto c = check_keys(list[i], ew, {"pageSize", "limit"}); !c) return c;
    auto size = get<std::string>(list[i], "pageSize", ew, "");
    if (!size) return std::unexpected(size.error());
    auto limit = number_in(list[i], "limit", ew, 0, INT64_MAX);
    if (!limit) return std::unexpected(limit.error());
    if (!*limit) return bad(ew + ".limit", "is required");
    out.extra_resources.hugepage_limits.push_back({*size, static_cast<std::uint64_t>(**limit)});
  }
  return {};
}

Result<void> read_resources(const json& r, BundleConfig& out) {
  const std::string w = "linux.resources";
  if (auto c = check_keys(r, w, {"devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits"},
                          {"network", "rdma", "unified"});
      !c)
    return c;
  if (r.contains("devices") && !r["devices"].is_null()) {
    const auto& list = r["devices"];
    if (!list.is_array()) return bad(w + ".devices", "must be an array");
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string dw = fmt::format("{}.devices[{}]", w, i);
      const auto& d = list[i];
      if (auto c = check_keys(d, dw, {"allow", "type", "major", "minor", "access"}); !c) return c;
      linux::DeviceRule rule;
      auto allow = get<bool>(d, "allow", dw, false);
      auto type = get<std::string>(d, "type", dw, "a");
      auto major = get<std::int64_t>(d, "major", dw, -1);
      auto minor = get<std::int64_t>(d, "minor", dw, -1);
      auto access = get<std::string>(d, "access", dw, "rwm");
      if (!allow || !type || !major || !minor || !access) return bad(dw, "has a field of the wrong type");
      if (type->size() != 1) return bad(dw + ".type", fmt::format("\"{}\" is not a device type", *type));
      rule.allow = *allow;
      rule.type = (*type)[0];
      rule.major = *major;
      rule.minor = *minor;
      rule.access = *access;
      out.device_rules.push_back(rule);
    }
  }
  auto& res = out.resources;
  if (r.contains("memory") && !r["memory"].is_null()) {
    const auto& m = r["memory"];
    std::string mw = w + ".memory";
    if (auto c = check_keys(m, mw, {"limit", "swap", "useHierarchy", "checkBeforeUpdate", "reservation", "kernel",
                                    "kernelTCP", "swappiness", "disableOOMKiller"});
        !c)
      return c;
    if (auto x = read_memory_extras(m, mw, out); !x) return x;
    auto limit = get<std::int64_t>(m, "limit", mw, 0);
    auto swap = get<std::int64_t>(m, "swap", mw, 0);
    if (!limit || !swap) return bad(mw, "limit and swap must be numbers");
    if (*limit > 0) res.memory_bytes = *limit;
    if (*swap > 0) res.memory_swap_bytes = *swap;
    else if (*swap == -1 && *limit > 0) res.memory_swap_bytes = -1;
  }
  if (r.contains("cpu") && !r["cpu"].is_null()) {
    const auto& c = r["cpu"];
    std::string cw = w + ".cpu";
    if (auto k = check_keys(c, cw, {"shares", "quota", "period", "cpus", "mems", "realtimeRuntime", "realtimePeriod",
                                    "idle", "burst"});
        !k)
      return k;
    if (auto x = read_cpu_extras(c, cw, out); !x) return x;
    auto shares = get<std::int64_t>(c, "shares", cw, 0);
    auto quota = get<std::int64_t>(c, "quota", cw, 0);
    auto period = get<std::int64_t>(c, "period", cw, 0);
    auto cpus = get<std::string>(c, "cpus", cw, "");
    auto mems = get<std::string>(c, "mems", cw, "");
    if (!shares || !quota || !period || !cpus || !mems) return bad(cw, "has a field of the wrong type");
    if (*shares > 0) res.cpu_shares = *shares;
    if (*period != 0 && *period != 100000)
      return bad(cw + ".period", "only the default period (100000 us) is supported by berth-oci");
    if (*quota > 0) res.cpus = static_cast<double>(*quota) / 100000.0;
    res.cpuset_cpus = *cpus;
    res.cpuset_mems = *mems;
  }
  if (r.contains("pids") && !r["pids"].is_null()) {
    if (auto k = check_keys(r["pids"], w + ".pids", {"limit"}); !k) return k;
    auto limit = get<std::int64_t>(r["pids"], "limit", w + ".pids", 0);
    if (!limit) return std::unexpected(limit.error());
    if (*limit > 0) res.pids_limit = *limit;
  }
  if (r.contains("blockIO") && !r["blockIO"].is_null())
    if (auto b = read_block_io(r["blockIO"], w + ".blockIO", out); !b) return b;
  if (r.contains("hugepageLimits") && !r["hugepageLimits"].is_null())
    if (auto h = read_hugepage_limits(r["hugepageLimits"], w + ".hugepageLimits", out); !h) return h;
  if (auto v = linux::validate_resources(res); !v) return std::unexpected(v.error().with_context(w));
  // Checked against this host (devices, page sizes) before anything exists.
  if (auto v = linux::validate_extra_resources(out.extra_resources); !v)
    return bad(w + "." + v.error().message.substr(0, v.error().message.find(": ")),
               v.error().message.substr(v.error().message.find(": ") + 2));
  return {};
}

Result<void> read_devices(const json& list, BundleConfig& out) {
  if (!list.is_array()) return bad("linux.devices", "must be an array");
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string w = fmt::format("linux.devices[{}]", i);
    const auto& d = list[i];
    if (auto c = check_keys(d, w, {"path", "type", "major", "minor", "fileMode", "uid", "gid"}); !c) return c;
    linux::DeviceNode node;
    auto path = get<std::string>(d, "path", w, "");
    auto type = get<std::string>(d, "type", w, "");
    auto major = get<std::int64_t>(d, "major", w, 0);
    auto minor = get<std::int64_t>(d, "minor", w, 0);
    auto mode = get<std::uint32_t>(d, "fileMode", w, 0666);
    auto uid = get<std::uint32_t>(d, "uid", w, 0);
    auto gid = get<std::uint32_t>(d, "gid", w, 0);
    if (!path || !type || !major || !minor || !mode || !uid || !gid) return bad(w, "has a field of the wrong type");
    if (path->empty() || (*path)[0] != '/') return bad(w + ".path", "must be an absolute path");
    if (*type != "c" && *type != "b" && *type != "u" && *type != "p")
      return bad(w + ".type", fmt::format("\"{}\" is not a device type", *type));
    node.path = *path;
    node.type = *type == "u" ? 'c' : (*type)[0];
    node.major = static_cast<unsigned>(*major);
    node.minor = static_cast<unsigned>(*minor);
    node.mode = *mode & 07777;
    node.uid = *uid;
    node.gid = *gid;
    out.plan.rootfs.devices.push_back(node);
    if (node.type != 'p') {
      linux::DeviceRule rule;
      rule.type = node.type;
      rule.major = *major;
      rule.minor = *minor;
      rule.access = "rwm";
      out.device_rules.push_back(rule);
    }
  }
  return {};
}

// linux.personality: the execution domain LINUX or LINUX32, as runc takes it (no flags).
Result<void> read_personality(const json& p, BundleConfig& out) {
  const std::string w = "linux.personality";
  if (auto c = check_keys(p, w, {"domain"}, {"flags"}); !c) return c;
  auto domain = get<std::string>(p, "domain", w, "");
  if (!domain) return std::unexpected(domain.error());
  if (*domain == "LINUX") out.plan.personality = PER_LINUX;
  else if (*domain == "LINUX32") out.plan.personality = PER_LINUX32;
  else return bad(w + ".domain", fmt::format("\"{}\" is not LINUX or LINUX32", *domain));
  return {};
}

Result<void> read_linux(const json& l, BundleConfig& out, bool& has_uts) {
  const std::string w = "linux";
  if (auto c = check_keys(l, w, {"namespaces", "uidMappings", "gidMappings", "devices", "cgroupsPath", "resources",
                                 "sysctl", "seccomp", "rootfsPropagation", "maskedPaths", "readonlyPaths",
                                 "mountLabel", "personality"},
                          {"timeOffsets", "intelRdt", "memoryPolicy"});
      !c)
    return c;
  auto& plan = out.plan;
  bool has_mount = false, has_user = false, has_net = false, joins_user = false;
  if (l.contains("namespaces") && !l["namespaces"].is_null()) {
    const auto& list = l["namespaces"];
    if (!list.is_array()) return bad("linux.namespaces", "must be an array");
    for (std::size_t i = 0; i < list.size(); ++i) {
      std::string nw = fmt::format("linux.namespaces[{}]", i);
      if (auto c = check_keys(list[i], nw, {"type", "path"}); !c) return c;
      auto name = get<std::string>(list[i], "type", nw, "");
      auto path = get<std::string>(list[i], "path", nw, "");
      if (!name || !path) return bad(nw, "type and path must be strings");
      auto type = namespace_type(*name, nw + ".type");
      if (!type) return std::unexpected(type.error());
      if (*type == CLONE_NEWNS) has_mount = true;
      if (*type == CLONE_NEWUTS) has_uts = true;
      if (*type == CLONE_NEWNET) has_net = true;
      if (*type == CLONE_NEWUSER) has_user = true;
      if (path->empty()) {
        if (*type != CLONE_NEWUSER) plan.clone_flags |= static_cast<unsigned long>(*type);
        continue;
      }
      if (*type == CLONE_NEWUSER) joins_user = true;
      out.join.push_back({*type, *path, nw + ".path"});
    }
  }
  if (!has_mount) return bad("linux.namespaces", "berth-oci needs a mount namespace (type \"mount\")");
  plan.rootfs.private_network = has_net;
  auto uid_map = id_mappings(l, "uidMappings", "linux");
  auto gid_map = id_mappings(l, "gidMappings", "linux");
  if (!uid_map) return std::unexpected(uid_map.error());
  if (!gid_map) return std::unexpected(gid_map.error());
  // A joined user namespace brings its own mappings (runc refuses mappings with a path too).
  if (joins_user && (!uid_map->empty() || !gid_map->empty()))
    return bad("linux.uidMappings", "a joined user namespace (a path) has its mappings already; give none");
  if (has_user && !joins_user && (uid_map->empty() || gid_map->empty()))
    return bad("linux.uidMappings", "a user namespace needs uidMappings and gidMappings");
  if (!has_user && (!uid_map->empty() || !gid_map->empty()))
    return bad("linux.uidMappings", "mappings need a user namespace (type \"user\")");
  plan.uid_map = *uid_map;
  plan.gid_map = *gid_map;

  auto cgroups_path = get<std::string>(l, "cgroupsPath", w, "");
  if (!cgroups_path) return std::unexpected(cgroups_path.error());
  out.cgroups_path = *cgroups_path;
  // Device rules: the config's, then runc's default allow-list (without its leading deny-all),
  // then one for each node linux.devices makes.
  if (l.contains("resources") && !l["resources"].is_null())
    if (auto r = read_resources(l["resources"], out); !r) return r;
  auto defaults = linux::default_container_device_rules();
  if (out.device_rules.empty()) out.device_rules.push_back(defaults.front());  // deny all
  out.device_rules.insert(out.device_rules.end(), defaults.begin() + 1, defaults.end());
  if (l.contains("devices") && !l["devices"].is_null())
    if (auto r = read_devices(l["devices"], out); !r) return r;
  if (auto v = linux::validate_device_rules(out.device_rules); !v)
    return std::unexpected(v.error().with_context("linux.resources"));

  if (l.contains("sysctl") && !l["sysctl"].is_null()) {
    // Only parameters that belong to one of the container's own namespaces: anything else would
    // be written on the host (runc's rule, libcontainer/configs/validate).
    bool netns = (plan.clone_flags & CLONE_NEWNET) ||
                 std::any_of(out.join.begin(), out.join.end(), [](auto& j) { return j.type == CLONE_NEWNET; });
    auto namespaced = [&](const std::string& key) {
      static constexpr std::string_view ipc_keys[] = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
                                                      "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
                                                      "kernel.shm_rmid_forced"};
      for (auto k : ipc_keys)
        if (key == k) return (plan.clone_flags & CLONE_NEWIPC) != 0;
      if (key.starts_with("fs.mqueue.")) return (plan.clone_flags & CLONE_NEWIPC) != 0;
      if (key.starts_with("net.")) return netns;
      if (key == "kernel.hostname" || key == "kernel.domainname") return (plan.clone_flags & CLONE_NEWUTS) != 0;
      return false;
    };
    auto sysctl = get<std::map<std::string, std::string>>(l, "sysctl", w, {});
    if (!sysctl) return std::unexpected(sysctl.error());
    for (auto& [key, value] : *sysctl) {
      if (key.empty() || key.find('/') != std::string::npos || key.find("..") != std::string::npos)
        return bad(fmt::format("linux.sysctl[\"{}\"]", key), "is not a kernel parameter name");
      if (!namespaced(key))
        return bad(fmt::format("linux.sysctl[\"{}\"]", key),
                   "is not a parameter of a namespace the container owns (it would change the host)");
      plan.sysctl.emplace_back(key, value);
    }
  }
  if (l.contains("seccomp") && !l["seccomp"].is_null()) {
    out.seccomp_json = l["seccomp"].dump();
    const std::string sw = "linux.seccomp";
    if (!l["seccomp"].is_object()) return bad(sw, "must be an object");
    auto listener = get<std::string>(l["seccomp"], "listenerPath", sw, "");
    auto metadata = get<std::string>(l["seccomp"], "listenerMetadata", sw, "");
    if (!listener) return std::unexpected(listener.error());
    if (!metadata) return std::unexpected(metadata.error());
    if (!listener->empty() && (*listener)[0] != '/') return bad(sw + ".listenerPath", "must be an absolute path");
    out.seccomp_listener_path = *listener;
    out.seccomp_listener_metadata = *metadata;
  }
  auto propagation = get<std::string>(l, "rootfsPropagation", w, "");
  if (!propagation) return std::unexpected(propagation.error());
  if (!propagation->empty()) {
    auto flags = propagation_flags(*propagation);
    if (!flags) return bad("linux.rootfsPropagation", fmt::format("\"{}\" is not a propagation", *propagation));
    plan.rootfs.root_propagation = *flags;
  }
  auto masked = get<std::vector<std::string>>(l, "maskedPaths", w, {});
  auto readonly = get<std::vector<std::string>>(l, "readonlyPaths", w, {});
  if (!masked) return std::unexpected(masked.error());
  if (!readonly) return std::unexpected(readonly.error());
  plan.rootfs.masked_paths = *masked;
  plan.rootfs.readonly_paths = *readonly;
  if (l.contains("personality") && !l["personality"].is_null())
    if (auto p = read_personality(l["personality"], out); !p) return p;
  if (l.contains("mountLabel") && l["mountLabel"].is_string() && !l["mountLabel"].get<std::string>().empty())
    out.warnings.push_back("linux.mountLabel: this host has no SELinux; ignored");
  return {};
}

// A mount's uidMappings/gidMappings and its "idmap"/"ridmap" option, as runc takes them:
// mappings without the option still ask for an ID-mapped mount (non-recursive), only a bind
// can be one, and mappings come both or neither (none: the container's, filled in by
// idmap_from_container once linux is read).
Result<void> read_mount_id_mappings(const json& m, const std::string& w, linux::ContainerMount& mount) {
  auto uid_map = id_mappings(m, "uidMappings", w);
  auto gid_map = id_mappings(m, "gidMappings", w);
  if (!uid_map) return std::unexpected(uid_map.error());
  if (!gid_map) return std::unexpected(gid_map.error());
  if (!uid_map->empty() || !gid_map->empty()) mount.idmap.enabled = true;
  if (!mount.idmap.enabled) return {};
  if (mount.kind != linux::ContainerMount::Kind::bind)
    return bad(w, "an ID-mapped mount (idmap, ridmap, uidMappings, gidMappings) must be a bind mount");
  if (uid_map->empty() != gid_map->empty())
    return bad(w + (uid_map->empty() ? ".uidMappings" : ".gidMappings"),
               "an ID-mapped mount needs both uidMappings and gidMappings, or neither (the container's)");
  mount.idmap.uid_map = std::move(*uid_map);
  mount.idmap.gid_map = std::move(*gid_map);
  return {};
}

// "idmap"/"ridmap" without mappings of its own takes the container's user namespace: the
// mappings of a new one, or a joined one as it is (runc's specconv). Without a user namespace
// there is nothing to take, and the mount is refused by name.
Result<void> idmap_from_container(BundleConfig& out) {
  auto joined = std::find_if(out.join.begin(), out.join.end(), [](auto& j) { return j.type == CLONE_NEWUSER; });
  for (auto& m : out.plan.rootfs.mounts) {
    if (!m.idmap.enabled || !m.idmap.uid_map.empty()) continue;
    if (joined != out.join.end()) {
      m.idmap.userns_path = joined->path;
    } else if (!out.plan.uid_map.empty()) {
      m.idmap.uid_map = out.plan.uid_map;
      m.idmap.gid_map = out.plan.gid_map;
    } else {
      return bad(m.name, "an ID-mapped mount without uidMappings and gidMappings takes the container's user "
                         "namespace, and the container has none");
    }
  }
  return {};
}

Result<void> read_mounts(const json& list, BundleConfig& out) {
  if (!list.is_array()) return bad("mounts", "must be an array");
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string w = fmt::format("mounts[{}]", i);
    const auto& m = list[i];
    if (auto c = check_keys(m, w, {"destination", "type", "source", "options", "uidMappings", "gidMappings"}); !c)
      return c;
    auto destination = get<std::string>(m, "destination", w, "");
    auto type = get<std::string>(m, "type", w, "");
    auto source = get<std::string>(m, "source", w, "");
    auto options = get<std::vector<std::string>>(m, "options", w, {});
    if (!destination || !type || !source || !options) return bad(w, "has a field of the wrong type");
    if (destination->empty() || (*destination)[0] != '/') return bad(w + ".destination", "must be an absolute path");
    linux::ContainerMount mount;
    mount.name = w;
    mount.target = *destination;
    mount.recursive = false;
    if (*type == "bind") mount.kind = linux::ContainerMount::Kind::bind;
    else if (*type == "cgroup" || *type == "cgroup2") mount.kind = linux::ContainerMount::Kind::cgroup;
    else mount.kind = linux::ContainerMount::Kind::filesystem;
    mount.fstype = *type;
    if (auto r = apply_mount_options(*options, w, mount); !r) return r;
    if (mount.copy_up && *type != "tmpfs") return bad(w + ".options", "\"tmpcopyup\" is for tmpfs mounts only");
    if (auto r = read_mount_id_mappings(m, w, mount); !r) return r;
    if (mount.kind == linux::ContainerMount::Kind::bind) {
      if (source->empty()) return bad(w + ".source", "a bind mount needs a source");
      mount.source = (*source)[0] == '/' ? *source : out.bundle + "/" + *source;
      struct stat st;
      if (::stat(mount.source.c_str(), &st) != 0)
        return std::unexpected(errno_error("stat", mount.source, errno).with_context(w + ".source"));
    } else if (mount.kind == linux::ContainerMount::Kind::filesystem) {
      if (type->empty()) return bad(w + ".type", "is required for a mount that is not a bind mount");
      mount.source = source->empty() ? *type : *source;
    } else {
      out.cgroup_mount = true;
    }
    out.plan.rootfs.mounts.push_back(std::move(mount));
  }
  return {};
}

}  // namespace

Result<BundleConfig> parse_bundle_config(const std::string& json_text, const std::string& bundle) {
  auto config = json::parse(json_text, nullptr, false);
  if (config.is_discarded() || !config.is_object()) return bad("config.json", "is not a JSON object");
  BundleConfig out;
  out.bundle = bundle;
  if (auto c = check_keys(config, "", {"ociVersion", "root", "process", "hostname", "domainname", "mounts",
                                       "annotations", "linux", "hooks"},
                          {"solaris", "windows", "vm", "zos"});
      !c)
    return std::unexpected(c.error());
  if (config.contains("hooks")) {
    auto hooks = parse_hooks(config["hooks"].dump());
    if (!hooks) return std::unexpected(hooks.error());
    out.hooks = std::move(*hooks);
  }
  auto version = get<std::string>(config, "ociVersion", "", "");
  if (!version) return std::unexpected(version.error());
  if (version->empty()) return bad("ociVersion", "is required");
  if (!version->starts_with("1.")) return bad("ociVersion", fmt::format("\"{}\" is not a 1.x version", *version));
  out.oci_version = *version;

  auto& plan = out.plan;
  plan.default_env = false;
  plan.rootfs.standard_mounts = false;
  plan.rootfs.masked_paths.clear();
  plan.rootfs.readonly_paths.clear();
  if (!config.contains("root")) return bad("root", "is required");
  if (auto c = check_keys(config["root"], "root", {"path", "readonly"}); !c) return std::unexpected(c.error());
  auto root_path = get<std::string>(config["root"], "path", "root", "");
  auto readonly = get<bool>(config["root"], "readonly", "root", false);
  if (!root_path) return std::unexpected(root_path.error());
  if (!readonly) return std::unexpected(readonly.error());
  if (root_path->empty()) return bad("root.path", "is required");
  plan.rootfs.rootfs = (*root_path)[0] == '/' ? *root_path : bundle + "/" + *root_path;
  struct stat st;
  if (::stat(plan.rootfs.rootfs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return bad("root.path", fmt::format("{} is not a directory", plan.rootfs.rootfs));
  plan.rootfs.read_only = *readonly;

  if (!config.contains("process")) return bad("process", "is required (berth-oci has no exec of a created container without one)");
  if (auto r = read_process(config["process"], out); !r) return std::unexpected(r.error());
  auto hostname = get<std::string>(config, "hostname", "", "");
  auto domainname = get<std::string>(config, "domainname", "", "");
  if (!hostname || !domainname) return bad("hostname", "must be a string");
  plan.hostname = *hostname;
  plan.domainname = *domainname;
  if (config.contains("mounts") && !config["mounts"].is_null())
    if (auto r = read_mounts(config["mounts"], out); !r) return std::unexpected(r.error());
  auto annotations = get<std::map<std::string, std::string>>(config, "annotations", "", {});
  if (!annotations) return std::unexpected(annotations.error());
  out.annotations = *annotations;
  if (!config.contains("linux")) return bad("linux", "is required on Linux");
  bool has_uts = false;
  if (auto r = read_linux(config["linux"], out, has_uts); !r) return std::unexpected(r.error());
  if (auto r = idmap_from_container(out); !r) return std::unexpected(r.error());
  // /dev bound from elsewhere (the host's, usually): its nodes are not ours to make or replace.
  for (auto& m : plan.rootfs.mounts)
    if (m.kind == linux::ContainerMount::Kind::bind && (m.target == "/dev" || m.target == "/dev/")) {
      plan.rootfs.make_standard_devices = false;
      if (!plan.rootfs.devices.empty())
        return bad("linux.devices", "cannot make device nodes in a /dev that is a bind mount");
    }
  if ((!plan.hostname.empty() || !plan.domainname.empty()) && !has_uts)
    return bad(plan.hostname.empty() ? "domainname" : "hostname", "needs a uts namespace");
  return out;
}

Result<BundleConfig> parse_process_config(const std::string& json_text) {
  auto process = json::parse(json_text, nullptr, false);
  if (process.is_discarded() || !process.is_object()) return bad("process", "is not a JSON object");
  BundleConfig out;
  if (auto r = read_process(process, out); !r) return std::unexpected(r.error());
  return out;
}

Result<BundleConfig> load_bundle_config(const std::string& bundle) {
  auto text = read_file(bundle + "/config.json");
  if (!text) return std::unexpected(text.error());
  return parse_bundle_config(*text, bundle);
}

Result<ResourceLimits> parse_linux_resources(const std::string& json_text) {
  json r = json::parse(json_text, nullptr, false);
  if (r.is_discarded() || !r.is_object()) return bad("linux.resources", "is not a JSON object");
  BundleConfig out;
  if (auto read = read_resources(r, out); !read) return std::unexpected(read.error());
  return ResourceLimits{out.resources, out.extra_resources, out.warnings};
}

}  // namespace berth::oci
