// JSON forms of the types of berth/status.hpp: what `--format json` prints and the REST API
// sends, and their strict readers for the REST client.
#include "runtime/json.hpp"

#include "runtime/json_reader.hpp"

namespace berth {

using namespace json_detail;

namespace {

constexpr std::string_view state_names =
    "created, starting, running, healthy, unhealthy, stopping, exited, oom-killed or failed";

void read_health(Reader& r, HealthResult& h) {
  r.get_time("time", h.time);
  r.get("exit_code", h.exit_code);
  r.get("output", h.output);
}

void read_status(Reader& r, WorkloadStatus& s) {
  r.get("id", s.id);
  r.get("name", s.name);
  r.get_enum("kind", s.kind, parse_workload_kind, "process, container or wasm");
  r.get_enum("state", s.state, parse_workload_state, state_names);
  r.get_opt("pid", s.pid);
  r.get_opt("exit_code", s.exit_code);
  r.get_opt("exit_signal", s.exit_signal);
  r.get("oom_killed", s.oom_killed);
  r.get_opt("memory_peak_bytes", s.memory_peak_bytes);
  r.get("reason", s.reason);
  r.get_time("created_at", s.created_at);
  r.get_time_opt("started_at", s.started_at);
  r.get_time_opt("finished_at", s.finished_at);
  r.get("restart_count", s.restart_count);
  r.get("stopped_by_user", s.stopped_by_user);
  r.get("log_dropped_lines", s.log_dropped_lines);
  r.get("log_dropped_bytes", s.log_dropped_bytes);
  r.get_objects("health", s.health, read_health);
}

}  // namespace

json to_json(const std::vector<HealthResult>& results) {
  json list = json::array();
  for (const auto& h : results)
    list.push_back({{"time", format_rfc3339_nano(h.time)}, {"exit_code", h.exit_code}, {"output", h.output}});
  return list;
}

Result<std::vector<HealthResult>> health_results_from_json(const json& j) {
  return guarded("health", [&]() -> Result<std::vector<HealthResult>> {
    std::vector<HealthResult> results;
    json holder = {{"health", j}};
    Reader r(holder, "", "health");
    r.get_objects("health", results, read_health);
    return r.result(std::move(results));
  });
}

json to_json(const WorkloadStatus& s) {
  json health = to_json(s.health);
  return {{"id", s.id},
          {"name", s.name},
          {"kind", to_string(s.kind)},
          {"state", to_string(s.state)},
          {"pid", opt(s.pid)},
          {"exit_code", opt(s.exit_code)},
          {"exit_signal", opt(s.exit_signal)},
          {"oom_killed", s.oom_killed},
          {"memory_peak_bytes", opt(s.memory_peak_bytes)},
          {"reason", s.reason},
          {"created_at", format_rfc3339_nano(s.created_at)},
          {"started_at", time_or_null(s.started_at)},
          {"finished_at", time_or_null(s.finished_at)},
          {"restart_count", s.restart_count},
          {"stopped_by_user", s.stopped_by_user},
          {"log_dropped_lines", s.log_dropped_lines},
          {"log_dropped_bytes", s.log_dropped_bytes},
          {"health", health}};
}

Result<WorkloadStatus> status_from_json(const json& j) {
  return guarded("status", [&]() -> Result<WorkloadStatus> {
    WorkloadStatus s;
    Reader r(j, "", "status");
    read_status(r, s);
    return r.result(std::move(s));
  });
}

json to_json(const WorkloadInfo& info) {
  json j = to_json(info.status);
  j["spec"] = to_json(info.spec);
  return j;
}

Result<WorkloadInfo> info_from_json(const json& j) {
  return guarded("workload", [&]() -> Result<WorkloadInfo> {
    WorkloadInfo info;
    Reader r(j, "", "workload");
    read_status(r, info.status);
    r.get_object("spec", [&](Reader& sr) { read_spec(sr, info.spec); });
    return r.result(std::move(info));
  });
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
          {"io_write_bytes", s.io_write_bytes},
          {"wasm_memory_bytes", opt(s.wasm_memory_bytes)}};
}

Result<ResourceStats> stats_from_json(const json& j) {
  return guarded("stats", [&]() -> Result<ResourceStats> {
    ResourceStats s;
    Reader r(j, "", "stats");
    r.get_time("timestamp", s.timestamp);
    r.get("cpu_usage_ns", s.cpu_usage_ns);
    r.get("cpu_percent", s.cpu_percent);
    r.get("memory_bytes", s.memory_bytes);
    r.get_opt("memory_limit_bytes", s.memory_limit_bytes);
    r.get("pids", s.pids);
    r.get_opt("pids_limit", s.pids_limit);
    r.get_opt("net_rx_bytes", s.net_rx_bytes);
    r.get_opt("net_tx_bytes", s.net_tx_bytes);
    r.get("io_read_bytes", s.io_read_bytes);
    r.get("io_write_bytes", s.io_write_bytes);
    r.get_opt("wasm_memory_bytes", s.wasm_memory_bytes);
    return r.result(std::move(s));
  });
}

json to_json(const TeardownReport& r) {
  return {{"id", r.id},         {"name", r.name},   {"killed_pids", r.killed_pids},
          {"cgroups", r.cgroups}, {"mounts", r.mounts}, {"namespaces", r.namespaces},
          {"network", r.network},
          {"files", r.files}};
}

Result<TeardownReport> report_from_json(const json& j) {
  return guarded("teardown report", [&]() -> Result<TeardownReport> {
    TeardownReport t;
    Reader r(j, "", "teardown report");
    r.get("id", t.id);
    r.get("name", t.name);
    r.get("killed_pids", t.killed_pids);
    r.get("cgroups", t.cgroups);
    r.get("mounts", t.mounts);
    r.get("namespaces", t.namespaces);
    r.get("network", t.network);
    r.get("files", t.files);
    return r.result(std::move(t));
  });
}

json to_json(const ExitInfo& e) {
  return {{"state", to_string(e.state)},
          {"exit_code", opt(e.exit_code)},
          {"exit_signal", opt(e.exit_signal)},
          {"oom_killed", e.oom_killed},
          {"reason", e.reason}};
}

Result<ExitInfo> exit_from_json(const json& j) {
  return guarded("exit", [&]() -> Result<ExitInfo> {
    ExitInfo e;
    Reader r(j, "", "exit");
    r.get_enum("state", e.state, parse_workload_state, state_names);
    r.get_opt("exit_code", e.exit_code);
    r.get_opt("exit_signal", e.exit_signal);
    r.get("oom_killed", e.oom_killed);
    r.get("reason", e.reason);
    return r.result(std::move(e));
  });
}

json to_json(const ExecOptions& o) {
  return {{"env", o.env},
          {"working_dir", o.working_dir},
          {"user", o.user},
          {"timeout_ms", o.timeout.count()},
          {"tty", o.tty}};
}

Result<ExecOptions> exec_options_from_json(const json& j) {
  return guarded("exec options", [&]() -> Result<ExecOptions> {
    ExecOptions o;
    Reader r(j, "", "exec options");
    r.get("env", o.env);
    r.get("working_dir", o.working_dir);
    r.get("user", o.user);
    r.get_ms("timeout_ms", o.timeout);
    r.get("tty", o.tty);
    return r.result(std::move(o));
  });
}

json to_json(const ExecResult& r) {
  return {{"exit_code", r.exit_code}, {"stdout", r.stdout_data}, {"stderr", r.stderr_data}};
}

Result<ExecResult> exec_result_from_json(const json& j) {
  return guarded("exec result", [&]() -> Result<ExecResult> {
    ExecResult x;
    Reader r(j, "", "exec result");
    r.get("exit_code", x.exit_code);
    r.get("stdout", x.stdout_data);
    r.get("stderr", x.stderr_data);
    return r.result(std::move(x));
  });
}

}  // namespace berth
