// The spec's JSON form: what the state store keeps and what create takes over the REST API.
#include "runtime/json.hpp"

#include "runtime/json_reader.hpp"

namespace berth {

using namespace json_detail;

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
  if (!s.additional_networks.empty()) j["additional_networks"] = s.additional_networks;
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
  j["log"] = {{"max_size_bytes", s.log.max_size_bytes}, {"max_file", s.log.max_file}};
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
    if (!w.http_listen.empty()) wj["http_listen"] = w.http_listen;
    if (!w.http_route.empty()) wj["http_route"] = w.http_route;
    j["wasm"] = wj;
  }
  return j;
}

void json_detail::read_spec(Reader& r, WorkloadSpec& s) {
  r.get("name", s.name);
  r.get_enum("kind", s.kind, parse_workload_kind, "process, container or wasm");
  r.get("image", s.image);
  r.get("rootfs", s.rootfs);
  r.get("module", s.module);
  r.get("args", s.args);
  r.get("env", s.env);
  r.get("working_dir", s.working_dir);
  r.get("user", s.user);
  r.get("labels", s.labels);
  r.get("annotations", s.annotations);
  r.get_object("resources", [&](Reader& rr) {
    rr.get_opt("memory_bytes", s.resources.memory_bytes);
    rr.get_opt("memory_swap_bytes", s.resources.memory_swap_bytes);
    rr.get_opt("cpus", s.resources.cpus);
    rr.get_opt("cpu_shares", s.resources.cpu_shares);
    rr.get_opt("pids_limit", s.resources.pids_limit);
    rr.get("cpuset_cpus", s.resources.cpuset_cpus);
    rr.get("cpuset_mems", s.resources.cpuset_mems);
  });
  r.get_object("namespaces", [&](Reader& nr) {
    nr.get("pid", s.namespaces.pid);
    nr.get("ipc", s.namespaces.ipc);
    nr.get("uts", s.namespaces.uts);
    nr.get("mount", s.namespaces.mount);
    nr.get("net", s.namespaces.net);
  });
  r.get_objects("ports", s.ports, [](Reader& pr, PortMapping& p) {
    pr.get("host_ip", p.host_ip);
    pr.get_opt("host_port", p.host_port);
    pr.get("container_port", p.container_port);
    pr.get("protocol", p.protocol);
  });
  r.get_objects("mounts", s.mounts, [](Reader& mr, Mount& m) {
    mr.get("type", m.type);
    mr.get("source", m.source);
    mr.get("target", m.target);
    mr.get("read_only", m.read_only);
    mr.get("options", m.options);
  });
  r.get("network", s.network);
  r.get("additional_networks", s.additional_networks);
  r.get("aliases", s.aliases);
  HealthCheck h;
  if (r.get_object("health_check", [&](Reader& hr) {
        hr.get("type", h.type);
        hr.get("command", h.command);
        hr.get("target", h.target);
        hr.get_ms("interval_ms", h.interval);
        hr.get_ms("timeout_ms", h.timeout);
        hr.get("retries", h.retries);
        hr.get_ms("start_period_ms", h.start_period);
      }))
    s.health_check = h;
  r.get_object("restart_policy", [&](Reader& pr) {
    pr.get("name", s.restart_policy.name);
    pr.get("max_retries", s.restart_policy.max_retries);
  });
  r.get("stop_signal", s.stop_signal);
  r.get_ms("stop_grace_ms", s.stop_grace);
  r.get_ms_opt("time_to_live_ms", s.time_to_live);
  r.get("auto_remove", s.auto_remove);
  r.get_object("log", [&](Reader& lr) {
    lr.get("max_size_bytes", s.log.max_size_bytes);
    lr.get("max_file", s.log.max_file);
  });
  r.get_object("wasm", [&](Reader& wr) {
    auto& w = s.wasm;
    wr.get("engine", w.engine);
    wr.get_opt("memory_limit_bytes", w.memory_limit_bytes);
    wr.get_ms_opt("execution_time_limit_ms", w.execution_time_limit);
    wr.get_opt("fuel", w.fuel);
    wr.get("preopened_dirs", w.preopened_dirs);
    wr.get("allowed_peers", w.allowed_peers);
    wr.get_opt("kv_max_entries", w.kv_max_entries);
    wr.get_opt("kv_max_value_bytes", w.kv_max_value_bytes);
    wr.get_opt("pool_size", w.pool_size);
    wr.get("http_listen", w.http_listen);
    wr.get("http_route", w.http_route);
  });
  r.get_object("container", [&](Reader& cr) {
    auto& c = s.container;
    cr.get_opt("entrypoint", c.entrypoint);
    cr.get("hostname", c.hostname);
    cr.get("read_only_rootfs", c.read_only_rootfs);
    cr.get("cap_add", c.cap_add);
    cr.get("cap_drop", c.cap_drop);
    cr.get("seccomp", c.seccomp);
    cr.get("no_new_privileges", c.no_new_privileges);
    cr.get_objects("rlimits", c.rlimits, [](Reader& lr, Rlimit& l) {
      lr.get("type", l.type);
      lr.get("soft", l.soft);
      lr.get("hard", l.hard);
    });
    cr.get("group_add", c.group_add);
    auto read_map = [](Reader& mr, IdMapping& m) {
      mr.get("container_id", m.container_id);
      mr.get("host_id", m.host_id);
      mr.get("size", m.size);
    };
    cr.get_objects("uid_map", c.uid_map, read_map);
    cr.get_objects("gid_map", c.gid_map, read_map);
    cr.get("tty", c.tty);
    cr.get("stdin_open", c.stdin_open);
    cr.get("image_id", c.image_id);
    cr.get("image_layers", c.image_layers);
  });
}

Result<WorkloadSpec> spec_from_json(const json& j) {
  return guarded("spec", [&]() -> Result<WorkloadSpec> {
    WorkloadSpec s;
    Reader r(j, "", "spec");
    read_spec(r, s);
    return r.result(std::move(s));
  });
}

}  // namespace berth
