#include "runtime/json.hpp"

#include <fmt/format.h>

#include <set>

#include "common/time.hpp"

namespace berth {

using nlohmann::json;

namespace {

json time_or_null(const std::optional<TimePoint>& t) {
  return t ? json(format_rfc3339_nano(*t)) : json(nullptr);
}

template <typename T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// Reads a spec object field by field, remembering the first problem and rejecting unknown keys,
// so a typo in a stored or posted spec is an error instead of a silently ignored setting.
class SpecReader {
 public:
  SpecReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {
    if (!object_.is_object()) fail_with(path_.empty() ? "spec" : path_, "must be an object");
  }

  template <typename T>
  void get(const char* key, T& out) {
    seen_.insert(key);
    if (error_ || !object_.is_object()) return;
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return;
    try {
      out = it->template get<T>();
    } catch (const json::exception&) {
      fail_with(field(key), "has the wrong type");
    }
  }

  template <typename T>
  void get_opt(const char* key, std::optional<T>& out) {
    seen_.insert(key);
    if (error_ || !object_.is_object()) return;
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return;
    try {
      out = it->template get<T>();
    } catch (const json::exception&) {
      fail_with(field(key), "has the wrong type");
    }
  }

  void get_ms(const char* key, std::chrono::milliseconds& out) {
    std::optional<std::int64_t> ms;
    get_opt(key, ms);
    if (ms) out = std::chrono::milliseconds(*ms);
  }
  void get_ms_opt(const char* key, std::optional<std::chrono::milliseconds>& out) {
    std::optional<std::int64_t> ms;
    get_opt(key, ms);
    if (ms) out = std::chrono::milliseconds(*ms);
  }

  const json* child(const char* key) {
    seen_.insert(key);
    if (error_ || !object_.is_object()) return nullptr;
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::string field(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }

  void fail_with(const std::string& field, std::string_view what) {
    if (!error_) error_ = Error{ErrorCode::invalid_spec, fmt::format("{}: {}", field, what)};
  }
  void adopt(const std::optional<Error>& e) {
    if (e && !error_) error_ = e;
  }

  std::optional<Error> finish() {
    if (!error_ && object_.is_object())
      for (auto& [key, value] : object_.items())
        if (!seen_.contains(key)) fail_with(field(key), "unknown field");
    return error_;
  }

 private:
  const json& object_;
  std::string path_;
  std::set<std::string, std::less<>> seen_;
  std::optional<Error> error_;
};

}  // namespace

json to_json(const WorkloadSpec& s) {
  json j;
  j["name"] = s.name;
  j["kind"] = to_string(s.kind);
  if (!s.image.empty()) j["image"] = s.image;
  if (!s.rootfs.empty()) j["rootfs"] = s.rootfs;
  if (!s.module.empty()) j["module"] = s.module;
  j["args"] = s.args;
  j["env"] = s.env;
  if (!s.working_dir.empty()) j["working_dir"] = s.working_dir;
  if (!s.user.empty()) j["user"] = s.user;
  j["labels"] = s.labels;
  if (!s.annotations.empty()) j["annotations"] = s.annotations;
  json r = json::object();
  if (s.resources.memory_bytes) r["memory_bytes"] = *s.resources.memory_bytes;
  if (s.resources.memory_swap_bytes) r["memory_swap_bytes"] = *s.resources.memory_swap_bytes;
  if (s.resources.cpus) r["cpus"] = *s.resources.cpus;
  if (s.resources.cpu_shares) r["cpu_shares"] = *s.resources.cpu_shares;
  if (s.resources.pids_limit) r["pids_limit"] = *s.resources.pids_limit;
  if (!s.resources.cpuset_cpus.empty()) r["cpuset_cpus"] = s.resources.cpuset_cpus;
  if (!s.resources.cpuset_mems.empty()) r["cpuset_mems"] = s.resources.cpuset_mems;
  j["resources"] = r;
  if (s.namespaces.any())
    j["namespaces"] = {{"pid", s.namespaces.pid},     {"ipc", s.namespaces.ipc},
                       {"uts", s.namespaces.uts},     {"mount", s.namespaces.mount},
                       {"net", s.namespaces.net}};
  if (!s.ports.empty()) {
    json ports = json::array();
    for (auto& p : s.ports)
      ports.push_back({{"host_ip", p.host_ip},
                       {"host_port", opt(p.host_port)},
                       {"container_port", p.container_port},
                       {"protocol", p.protocol}});
    j["ports"] = ports;
  }
  if (!s.mounts.empty()) {
    json mounts = json::array();
    for (auto& m : s.mounts)
      mounts.push_back({{"type", m.type},
                        {"source", m.source},
                        {"target", m.target},
                        {"read_only", m.read_only},
                        {"options", m.options}});
    j["mounts"] = mounts;
  }
  if (!s.network.empty()) j["network"] = s.network;
  if (!s.aliases.empty()) j["aliases"] = s.aliases;
  if (s.health_check) {
    auto& h = *s.health_check;
    j["health_check"] = {{"type", h.type},
                         {"command", h.command},
                         {"target", h.target},
                         {"interval_ms", h.interval.count()},
                         {"timeout_ms", h.timeout.count()},
                         {"retries", h.retries},
                         {"start_period_ms", h.start_period.count()}};
  }
  j["restart_policy"] = {{"name", s.restart_policy.name},
                         {"max_retries", s.restart_policy.max_retries}};
  j["stop_signal"] = s.stop_signal;
  j["stop_grace_ms"] = s.stop_grace.count();
  if (s.time_to_live) j["time_to_live_ms"] = s.time_to_live->count();
  j["auto_remove"] = s.auto_remove;
  if (!s.container.empty()) {
    auto& c = s.container;
    json rlimits = json::array();
    for (auto& l : c.rlimits) rlimits.push_back({{"type", l.type}, {"soft", l.soft}, {"hard", l.hard}});
    auto maps = [](const std::vector<IdMapping>& m) {
      json out = json::array();
      for (auto& e : m)
        out.push_back({{"container_id", e.container_id}, {"host_id", e.host_id}, {"size", e.size}});
      return out;
    };
    j["container"] = {{"entrypoint", c.entrypoint ? json(*c.entrypoint) : json(nullptr)},
                      {"hostname", c.hostname},
                      {"read_only_rootfs", c.read_only_rootfs},
                      {"cap_add", c.cap_add},
                      {"cap_drop", c.cap_drop},
                      {"seccomp", c.seccomp},
                      {"no_new_privileges", c.no_new_privileges},
                      {"rlimits", rlimits},
                      {"group_add", c.group_add},
                      {"uid_map", maps(c.uid_map)},
                      {"gid_map", maps(c.gid_map)},
                      {"tty", c.tty},
                      {"stdin_open", c.stdin_open},
                      {"image_id", c.image_id},
                      {"image_layers", c.image_layers}};
  }
  if (!s.wasm.empty()) {
    auto& w = s.wasm;
    json wj = json::object();
    if (!w.engine.empty()) wj["engine"] = w.engine;
    if (w.memory_limit_bytes) wj["memory_limit_bytes"] = *w.memory_limit_bytes;
    if (w.execution_time_limit) wj["execution_time_limit_ms"] = w.execution_time_limit->count();
    if (w.fuel) wj["fuel"] = *w.fuel;
    if (!w.preopened_dirs.empty()) wj["preopened_dirs"] = w.preopened_dirs;
    if (!w.allowed_peers.empty()) wj["allowed_peers"] = w.allowed_peers;
    if (w.kv_max_entries) wj["kv_max_entries"] = *w.kv_max_entries;
    if (w.kv_max_value_bytes) wj["kv_max_value_bytes"] = *w.kv_max_value_bytes;
    if (w.pool_size) wj["pool_size"] = *w.pool_size;
    j["wasm"] = wj;
  }
  return j;
}

Result<WorkloadSpec> spec_from_json(const json& j) {
  WorkloadSpec s;
  SpecReader r(j, "");
  r.get("name", s.name);
  std::string kind = "process";
  r.get("kind", kind);
  if (auto k = parse_workload_kind(kind))
    s.kind = *k;
  else
    r.fail_with("kind", fmt::format("unknown kind \"{}\" (process, container or wasm)", kind));
  r.get("image", s.image);
  r.get("rootfs", s.rootfs);
  r.get("module", s.module);
  r.get("args", s.args);
  r.get("env", s.env);
  r.get("working_dir", s.working_dir);
  r.get("user", s.user);
  r.get("labels", s.labels);
  r.get("annotations", s.annotations);
  if (auto* res = r.child("resources")) {
    SpecReader rr(*res, "resources");
    rr.get_opt("memory_bytes", s.resources.memory_bytes);
    rr.get_opt("memory_swap_bytes", s.resources.memory_swap_bytes);
    rr.get_opt("cpus", s.resources.cpus);
    rr.get_opt("cpu_shares", s.resources.cpu_shares);
    rr.get_opt("pids_limit", s.resources.pids_limit);
    rr.get("cpuset_cpus", s.resources.cpuset_cpus);
    rr.get("cpuset_mems", s.resources.cpuset_mems);
    r.adopt(rr.finish());
  }
  if (auto* ns = r.child("namespaces")) {
    SpecReader nr(*ns, "namespaces");
    nr.get("pid", s.namespaces.pid);
    nr.get("ipc", s.namespaces.ipc);
    nr.get("uts", s.namespaces.uts);
    nr.get("mount", s.namespaces.mount);
    nr.get("net", s.namespaces.net);
    r.adopt(nr.finish());
  }
  if (auto* ports = r.child("ports")) {
    if (!ports->is_array()) r.fail_with("ports", "must be an array");
    else
      for (std::size_t i = 0; i < ports->size(); ++i) {
        PortMapping p;
        SpecReader pr((*ports)[i], fmt::format("ports[{}]", i));
        pr.get("host_ip", p.host_ip);
        pr.get_opt("host_port", p.host_port);
        pr.get("container_port", p.container_port);
        pr.get("protocol", p.protocol);
        r.adopt(pr.finish());
        s.ports.push_back(p);
      }
  }
  if (auto* mounts = r.child("mounts")) {
    if (!mounts->is_array()) r.fail_with("mounts", "must be an array");
    else
      for (std::size_t i = 0; i < mounts->size(); ++i) {
        Mount m;
        SpecReader mr((*mounts)[i], fmt::format("mounts[{}]", i));
        mr.get("type", m.type);
        mr.get("source", m.source);
        mr.get("target", m.target);
        mr.get("read_only", m.read_only);
        mr.get("options", m.options);
        r.adopt(mr.finish());
        s.mounts.push_back(m);
      }
  }
  r.get("network", s.network);
  r.get("aliases", s.aliases);
  if (auto* hc = r.child("health_check")) {
    HealthCheck h;
    SpecReader hr(*hc, "health_check");
    hr.get("type", h.type);
    hr.get("command", h.command);
    hr.get("target", h.target);
    hr.get_ms("interval_ms", h.interval);
    hr.get_ms("timeout_ms", h.timeout);
    hr.get("retries", h.retries);
    hr.get_ms("start_period_ms", h.start_period);
    r.adopt(hr.finish());
    s.health_check = h;
  }
  if (auto* rp = r.child("restart_policy")) {
    SpecReader pr(*rp, "restart_policy");
    pr.get("name", s.restart_policy.name);
    pr.get("max_retries", s.restart_policy.max_retries);
    r.adopt(pr.finish());
  }
  r.get("stop_signal", s.stop_signal);
  r.get_ms("stop_grace_ms", s.stop_grace);
  r.get_ms_opt("time_to_live_ms", s.time_to_live);
  r.get("auto_remove", s.auto_remove);
  if (auto* w = r.child("wasm")) {
    SpecReader wr(*w, "wasm");
    wr.get("engine", s.wasm.engine);
    wr.get_opt("memory_limit_bytes", s.wasm.memory_limit_bytes);
    wr.get_ms_opt("execution_time_limit_ms", s.wasm.execution_time_limit);
    wr.get_opt("fuel", s.wasm.fuel);
    wr.get("preopened_dirs", s.wasm.preopened_dirs);
    wr.get("allowed_peers", s.wasm.allowed_peers);
    wr.get_opt("kv_max_entries", s.wasm.kv_max_entries);
    wr.get_opt("kv_max_value_bytes", s.wasm.kv_max_value_bytes);
    wr.get_opt("pool_size", s.wasm.pool_size);
    r.adopt(wr.finish());
  }
  if (auto* c = r.child("container")) {
    SpecReader cr(*c, "container");
    auto& cs = s.container;
    cr.get_opt("entrypoint", cs.entrypoint);
    cr.get("hostname", cs.hostname);
    cr.get("read_only_rootfs", cs.read_only_rootfs);
    cr.get("cap_add", cs.cap_add);
    cr.get("cap_drop", cs.cap_drop);
    cr.get("seccomp", cs.seccomp);
    cr.get("no_new_privileges", cs.no_new_privileges);
    cr.get("group_add", cs.group_add);
    cr.get("tty", cs.tty);
    cr.get("stdin_open", cs.stdin_open);
    cr.get("image_id", cs.image_id);
    cr.get("image_layers", cs.image_layers);
    if (auto* limits = cr.child("rlimits")) {
      if (!limits->is_array()) cr.fail_with("container.rlimits", "must be an array");
      else
        for (std::size_t i = 0; i < limits->size(); ++i) {
          Rlimit l;
          SpecReader lr((*limits)[i], fmt::format("container.rlimits[{}]", i));
          lr.get("type", l.type);
          lr.get("soft", l.soft);
          lr.get("hard", l.hard);
          cr.adopt(lr.finish());
          cs.rlimits.push_back(l);
        }
    }
    for (auto [key, out] : {std::pair{"uid_map", &cs.uid_map}, std::pair{"gid_map", &cs.gid_map}}) {
      auto* maps = cr.child(key);
      if (!maps) continue;
      if (!maps->is_array()) {
        cr.fail_with(fmt::format("container.{}", key), "must be an array");
        continue;
      }
      for (std::size_t i = 0; i < maps->size(); ++i) {
        IdMapping m;
        SpecReader mr((*maps)[i], fmt::format("container.{}[{}]", key, i));
        mr.get("container_id", m.container_id);
        mr.get("host_id", m.host_id);
        mr.get("size", m.size);
        cr.adopt(mr.finish());
        out->push_back(m);
      }
    }
    r.adopt(cr.finish());
  }
  if (auto e = r.finish()) return std::unexpected(*e);
  return s;
}

json to_json(const WorkloadStatus& s) {
  json health = json::array();
  for (auto& h : s.health)
    health.push_back({{"time", format_rfc3339_nano(h.time)},
                      {"exit_code", h.exit_code},
                      {"output", h.output}});
  return {{"id", s.id},
          {"name", s.name},
          {"kind", to_string(s.kind)},
          {"state", to_string(s.state)},
          {"pid", opt(s.pid)},
          {"exit_code", opt(s.exit_code)},
          {"exit_signal", opt(s.exit_signal)},
          {"oom_killed", s.oom_killed},
          {"reason", s.reason},
          {"created_at", format_rfc3339_nano(s.created_at)},
          {"started_at", time_or_null(s.started_at)},
          {"finished_at", time_or_null(s.finished_at)},
          {"restart_count", s.restart_count},
          {"health", health}};
}

json to_json(const WorkloadInfo& info) {
  json j = to_json(info.status);
  j["spec"] = to_json(info.spec);
  return j;
}

json to_json(const ResourceStats& s) {
  return {{"timestamp", format_rfc3339_nano(s.timestamp)},
          {"cpu_usage_ns", s.cpu_usage_ns},
          {"cpu_percent", s.cpu_percent},
          {"memory_bytes", s.memory_bytes},
          {"memory_limit_bytes", opt(s.memory_limit_bytes)},
          {"pids", s.pids},
          {"pids_limit", opt(s.pids_limit)},
          {"net_rx_bytes", opt(s.net_rx_bytes)},
          {"net_tx_bytes", opt(s.net_tx_bytes)},
          {"io_read_bytes", s.io_read_bytes},
          {"io_write_bytes", s.io_write_bytes}};
}

json to_json(const TeardownReport& r) {
  return {{"id", r.id},         {"name", r.name},   {"killed_pids", r.killed_pids},
          {"cgroups", r.cgroups}, {"mounts", r.mounts}, {"namespaces", r.namespaces},
          {"network", r.network},
          {"files", r.files}};
}

json to_json(const ExitInfo& e) {
  return {{"state", to_string(e.state)},
          {"exit_code", opt(e.exit_code)},
          {"exit_signal", opt(e.exit_signal)},
          {"oom_killed", e.oom_killed},
          {"reason", e.reason}};
}

json to_json(const ExecResult& r) {
  return {{"exit_code", r.exit_code}, {"stdout", r.stdout_data}, {"stderr", r.stderr_data}};
}

json to_json(const Event& e) {
  return {{"seq", e.seq},
          {"time", format_rfc3339_nano(e.time)},
          {"id", e.workload_id},
          {"name", e.workload_name},
          {"type", e.type},
          {"attributes", e.attributes}};
}

json to_json(const LogChunk& c) {
  // Bytes that are not UTF-8 can't be a JSON string as they are: dump with
  // json::error_handler_t::replace (see dump_json) to print them.
  return {{"stream", to_string(c.stream)},
          {"time", format_rfc3339_nano(c.time)},
          {"log", c.bytes},
          {"partial", c.partial}};
}

std::string dump_json(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace berth
