#include "oci/events.hpp"

#include <unistd.h>

#include <cstdint>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "common/fs.hpp"

namespace berth::oci {

using nlohmann::json;

namespace {

// A control file's whitespace-separated numbers ("123", "1 2 3"); empty when it cannot be read.
std::vector<std::uint64_t> numbers(const std::string& path) {
  std::vector<std::uint64_t> out;
  auto text = read_file(path);
  if (!text) return out;
  std::istringstream in(*text);
  for (std::uint64_t n; in >> n;) out.push_back(n);
  return out;
}

std::optional<std::uint64_t> number(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::nullopt;
  if (text->starts_with("max")) return UINT64_MAX;  // v2's "no limit", as runc reports it
  auto n = numbers(path);
  if (n.empty()) return std::nullopt;
  return n.front();
}

// "key value" lines (memory.stat, cpu.stat, memory.events, cpuacct.stat).
std::map<std::string, std::uint64_t> keyed(const std::string& path) {
  std::map<std::string, std::uint64_t> out;
  auto text = read_file(path);
  if (!text) return out;
  std::istringstream in(*text);
  std::string key;
  std::uint64_t value;
  while (in >> key >> value) out[key] = value;
  return out;
}

// v1: the directory of the hierarchy that has `controller` ("cpu,cpuacct" has cpuacct).
std::string v1_dir(const linux::Cgroup& cgroup, const linux::CgroupHost& host, const std::string& controller) {
  for (auto& path : cgroup.paths()) {
    if (!path.starts_with(host.mount_root + "/")) continue;
    std::string hierarchy = path.substr(host.mount_root.size() + 1);
    hierarchy = hierarchy.substr(0, hierarchy.find('/'));
    std::istringstream names(hierarchy);
    for (std::string name; std::getline(names, name, ',');)
      if (name == controller) return path;
  }
  return "";
}

void put_if(json& object, const char* key, std::optional<std::uint64_t> value) {
  if (value) object[key] = *value;
}

json memory_entry(const std::string& prefix) {
  // v1: PREFIX.usage_in_bytes, .limit_in_bytes, .max_usage_in_bytes, .failcnt
  json e = json::object();
  put_if(e, "usage", number(prefix + ".usage_in_bytes"));
  put_if(e, "limit", number(prefix + ".limit_in_bytes"));
  put_if(e, "max", number(prefix + ".max_usage_in_bytes"));
  put_if(e, "failcnt", number(prefix + ".failcnt"));
  return e;
}

json v1_stats(const linux::Cgroup& cgroup, const linux::CgroupHost& host) {
  json data = json::object();
  json cpu = {{"usage", json::object()}, {"throttling", json::object()}};
  if (auto dir = v1_dir(cgroup, host, "cpuacct"); !dir.empty()) {
    auto& usage = cpu["usage"];
    put_if(usage, "total", number(dir + "/cpuacct.usage"));
    if (auto percpu = numbers(dir + "/cpuacct.usage_percpu"); !percpu.empty()) usage["percpu"] = percpu;
    if (auto v = numbers(dir + "/cpuacct.usage_percpu_sys"); !v.empty()) usage["percpu_kernel"] = v;
    if (auto v = numbers(dir + "/cpuacct.usage_percpu_user"); !v.empty()) usage["percpu_user"] = v;
    // cpuacct.stat is in clock ticks; runc reports nanoseconds.
    auto ticks = keyed(dir + "/cpuacct.stat");
    long hz = ::sysconf(_SC_CLK_TCK);
    std::uint64_t ns_per_tick = hz > 0 ? 1000000000ULL / static_cast<std::uint64_t>(hz) : 10000000ULL;
    usage["kernel"] = ticks["system"] * ns_per_tick;
    usage["user"] = ticks["user"] * ns_per_tick;
  }
  if (auto dir = v1_dir(cgroup, host, "cpu"); !dir.empty()) {
    auto s = keyed(dir + "/cpu.stat");
    auto& t = cpu["throttling"];
    if (s.count("nr_periods")) t["periods"] = s["nr_periods"];
    if (s.count("nr_throttled")) t["throttledPeriods"] = s["nr_throttled"];
    if (s.count("throttled_time")) t["throttledTime"] = s["throttled_time"];
  }
  data["cpu"] = cpu;
  json memory = json::object();
  if (auto dir = v1_dir(cgroup, host, "memory"); !dir.empty()) {
    auto raw = keyed(dir + "/memory.stat");
    if (raw.count("cache")) memory["cache"] = raw["cache"];
    memory["usage"] = memory_entry(dir + "/memory");
    if (path_exists(dir + "/memory.memsw.usage_in_bytes")) memory["swap"] = memory_entry(dir + "/memory.memsw");
    if (path_exists(dir + "/memory.kmem.usage_in_bytes")) memory["kernel"] = memory_entry(dir + "/memory.kmem");
    if (path_exists(dir + "/memory.kmem.tcp.usage_in_bytes")) memory["kernelTCP"] = memory_entry(dir + "/memory.kmem.tcp");
    memory["raw"] = raw;
  }
  data["memory"] = memory;
  json pids = json::object();
  if (auto dir = v1_dir(cgroup, host, "pids"); !dir.empty()) {
    put_if(pids, "current", number(dir + "/pids.current"));
    if (auto limit = number(dir + "/pids.max"); limit && *limit != UINT64_MAX) pids["limit"] = *limit;
  }
  data["pids"] = pids;
  json blkio = json::object();
  if (auto dir = v1_dir(cgroup, host, "blkio"); !dir.empty()) {
    // "8:0 Read 4096" lines, then "Total N".
    json entries = json::array();
    if (auto text = read_file(dir + "/blkio.throttle.io_service_bytes_recursive")) {
      std::istringstream in(*text);
      for (std::string line; std::getline(in, line);) {
        std::istringstream words(line);
        std::string device, op;
        std::uint64_t value = 0;
        unsigned major = 0, minor = 0;
        if (!(words >> device >> op >> value) || std::sscanf(device.c_str(), "%u:%u", &major, &minor) != 2) continue;
        entries.push_back({{"major", major}, {"minor", minor}, {"op", op}, {"value", value}});
      }
    }
    if (!entries.empty()) blkio["ioServiceBytesRecursive"] = entries;
  }
  data["blkio"] = blkio;
  return data;
}

json v2_stats(const linux::Cgroup& cgroup) {
  json data = json::object();
  auto paths = cgroup.paths();
  if (paths.empty()) return data;
  const std::string& dir = paths.front();
  auto cpu_stat = keyed(dir + "/cpu.stat");
  json usage = json::object();
  usage["total"] = cpu_stat["usage_usec"] * 1000;
  usage["kernel"] = cpu_stat["system_usec"] * 1000;
  usage["user"] = cpu_stat["user_usec"] * 1000;
  json throttling = json::object();
  if (cpu_stat.count("nr_periods")) throttling["periods"] = cpu_stat["nr_periods"];
  if (cpu_stat.count("nr_throttled")) throttling["throttledPeriods"] = cpu_stat["nr_throttled"];
  if (cpu_stat.count("throttled_usec")) throttling["throttledTime"] = cpu_stat["throttled_usec"] * 1000;
  data["cpu"] = {{"usage", usage}, {"throttling", throttling}};

  auto raw = keyed(dir + "/memory.stat");
  json memory = json::object();
  if (raw.count("file")) memory["cache"] = raw["file"];
  json entry = json::object();
  put_if(entry, "usage", number(dir + "/memory.current"));
  put_if(entry, "limit", number(dir + "/memory.max"));
  put_if(entry, "max", number(dir + "/memory.peak"));
  entry["failcnt"] = keyed(dir + "/memory.events")["max"];
  memory["usage"] = entry;
  if (auto swap = number(dir + "/memory.swap.current")) {
    // runc: swap is memory + swap on v2, as memsw is on v1.
    json s = {{"usage", *swap + entry.value("usage", std::uint64_t{0})}};
    put_if(s, "limit", number(dir + "/memory.swap.max"));
    memory["swap"] = s;
  }
  memory["raw"] = raw;
  data["memory"] = memory;

  json pids = json::object();
  put_if(pids, "current", number(dir + "/pids.current"));
  if (auto limit = number(dir + "/pids.max"); limit && *limit != UINT64_MAX) pids["limit"] = *limit;
  data["pids"] = pids;

  // io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N ..." per device.
  json entries = json::array();
  if (auto text = read_file(dir + "/io.stat")) {
    std::istringstream in(*text);
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::string device;
      unsigned major = 0, minor = 0;
      if (!(words >> device) || std::sscanf(device.c_str(), "%u:%u", &major, &minor) != 2) continue;
      for (std::string word; words >> word;) {
        auto eq = word.find('=');
        if (eq == std::string::npos) continue;
        std::string key = word.substr(0, eq);
        const char* op = key == "rbytes" ? "Read" : key == "wbytes" ? "Write" : nullptr;
        if (!op) continue;
        entries.push_back({{"major", major}, {"minor", minor}, {"op", op},
                           {"value", std::strtoull(word.c_str() + eq + 1, nullptr, 10)}});
      }
    }
  }
  data["blkio"] = entries.empty() ? json::object() : json{{"ioServiceBytesRecursive", entries}};
  return data;
}

void emit(std::FILE* out, const json& event) {
  std::fprintf(out, "%s\n", event.dump().c_str());
  std::fflush(out);
}

// The "data" of a stats event for `cgroup`.
json cgroup_stats(const linux::Cgroup& cgroup, const linux::CgroupHost& host) {
  return cgroup.version() == linux::CgroupVersion::v2 ? v2_stats(cgroup) : v1_stats(cgroup, host);
}

}  // namespace

Result<void> container_events(const RuntimeOptions& options, const std::string& id, bool stats_only,
                              std::chrono::milliseconds interval, std::FILE* out) {
  if (interval.count() <= 0) return fail(ErrorCode::invalid_spec, "events: --interval must be greater than zero");
  auto state = container_state(options, id);
  if (!state) return std::unexpected(state.error());
  if (state->status == Status::stopped || state->status == Status::creating)
    return fail(ErrorCode::conflict, fmt::format("events: container \"{}\" is {}, not running", id, to_string(state->status)));
  auto host = linux::detect_cgroup_host();
  if (!host) return std::unexpected(host.error());
  auto cgroup = linux::open_cgroup(*host, state->cgroup_path);
  if (cgroup->paths().empty())
    return fail(ErrorCode::not_found, fmt::format("events: container \"{}\": its cgroup {} is gone", id, state->cgroup_path));
  auto stats_event = [&] {
    return json{{"type", "stats"}, {"id", id}, {"data", cgroup_stats(*cgroup, *host)}};
  };
  if (stats_only) {
    emit(out, stats_event());
    return {};
  }
  // As runc: a stats event every interval, an oom event when the kill count goes up; until the
  // container stops (runc goes on until killed).
  std::uint64_t ooms = cgroup->oom_kills();
  const auto poll = std::min(interval, std::chrono::milliseconds(100));
  auto next = std::chrono::steady_clock::now() + interval;
  for (;;) {
    std::this_thread::sleep_for(poll);
    auto now_state = container_state(options, id);
    bool stopped = !now_state || now_state->status == Status::stopped;
    if (std::uint64_t now = cgroup->oom_kills(); now > ooms) {
      ooms = now;
      emit(out, json{{"type", "oom"}, {"id", id}});
    }
    if (stopped) return {};
    if (std::chrono::steady_clock::now() >= next) {
      emit(out, stats_event());
      next += interval;
      if (next < std::chrono::steady_clock::now()) next = std::chrono::steady_clock::now() + interval;
    }
  }
}

}  // namespace berth::oci
