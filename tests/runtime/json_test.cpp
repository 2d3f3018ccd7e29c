// Every JSON form reads back to exactly what was written (every field set, every optional
// unset), through JSON text too; and readers refuse what they don't know, naming the key.
#include <gtest/gtest.h>

#include <functional>
#include <limits>

#include "common/time.hpp"
#include "runtime/json.hpp"

namespace berth::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// A time with every nanosecond digit significant.
const TimePoint t1 = from_unix_nanos(1'732'290'026'123'456'789);
const TimePoint t2 = from_unix_nanos(1'732'290'027'000'000'001);
const TimePoint t3 = from_unix_nanos(-86'400'000'000'001);  // before the epoch

// from_json(to_json(x)) == x, both from the json value and from its dumped text.
template <typename T, typename From>
void expect_round_trip(const T& value, From from) {
  json j = to_json(value);
  auto back = from(j);
  ASSERT_TRUE(back) << back.error().message << "\n" << j.dump();
  EXPECT_TRUE(*back == value) << j.dump();
  auto text = dump_json(j, 2);
  auto reparsed = from(json::parse(text));
  ASSERT_TRUE(reparsed) << reparsed.error().message << "\n" << text;
  EXPECT_TRUE(*reparsed == value) << text;
  EXPECT_EQ(to_json(*reparsed), j);
}

// `from` refuses `j` with invalid_spec, and the message starts with `path: `.
template <typename From>
void expect_refused(From from, const json& j, const std::string& path) {
  auto r = from(j);
  ASSERT_FALSE(r) << "accepted " << j.dump();
  EXPECT_EQ(r.error().code, ErrorCode::invalid_spec) << r.error().message;
  EXPECT_EQ(r.error().message.rfind(path + ": ", 0), 0u)
      << "expected an error about " << path << ", got: " << r.error().message;
}

WorkloadSpec full_spec() {
  WorkloadSpec s;
  s.name = "web";
  s.kind = WorkloadKind::container;
  s.image = "busybox:latest";
  s.rootfs = "/srv/rootfs";
  s.module = "app.wasm";
  s.args = {"httpd", "-f", "-p", "8080"};
  s.env = {"A=1", "B=two words"};
  s.working_dir = "/www";
  s.user = "1000:1000";
  s.labels = {{"app", "web"}, {"tier", "front"}};
  s.annotations = {{"note", "ü and \"quotes\""}};
  s.resources = {.memory_bytes = 64 << 20,
                 .memory_swap_bytes = 128 << 20,
                 .cpus = 0.1,
                 .cpu_shares = 512,
                 .pids_limit = 100,
                 .cpuset_cpus = "0-1",
                 .cpuset_mems = "0"};
  s.namespaces = {.pid = true, .ipc = true, .uts = true, .mount = true, .net = true};
  s.ports = {{"127.0.0.1", 8080, 80, "tcp"}, {"", std::nullopt, 53, "udp"}};
  s.mounts = {{"bind", "/data", "/data", true, {"rbind", "nosuid"}},
              {"tmpfs", "", "/tmp", false, {}}};
  s.network = "host";
  s.aliases = {"www", "frontend"};
  s.health_check = HealthCheck{.type = "http",
                               .command = {"wget", "-q", "localhost"},
                               .target = "/healthz",
                               .interval = milliseconds(1500),
                               .timeout = milliseconds(250),
                               .retries = 7,
                               .start_period = milliseconds(3000)};
  s.restart_policy = {"on-failure", 5};
  s.stop_signal = 2;
  s.stop_grace = milliseconds(2500);
  s.time_to_live = milliseconds(60000);
  s.auto_remove = true;
  s.wasm = {.engine = "interp",
            .memory_limit_bytes = 1 << 24,
            .execution_time_limit = milliseconds(1000),
            .fuel = std::numeric_limits<std::uint64_t>::max(),
            .preopened_dirs = {"/data:/", "/tmp"},
            .allowed_peers = {"127.0.0.1:80"},
            .kv_max_entries = 10,
            .kv_max_value_bytes = 4096,
            .pool_size = 4};
  auto& c = s.container;
  c.entrypoint = std::vector<std::string>{"/bin/sh", "-c"};
  c.hostname = "box";
  c.read_only_rootfs = true;
  c.cap_add = {"NET_ADMIN"};
  c.cap_drop = {"ALL"};
  c.seccomp = "unconfined";
  c.no_new_privileges = false;
  c.rlimits = {{"nofile", 1024, std::numeric_limits<std::uint64_t>::max()}};
  c.group_add = {"wheel", "10"};
  c.uid_map = {{0, 100000, 65536}};
  c.gid_map = {{0, 200000, 65536}, {65536, 4294967295u, 1}};
  c.tty = true;
  c.stdin_open = true;
  c.image_id = "sha256:abc";
  c.image_layers = {"/l/1", "/l/2"};
  s.log = LogConfig{.max_size_bytes = 10 << 20, .max_file = 3};
  return s;
}

WorkloadStatus full_status() {
  WorkloadStatus s;
  s.id = "0123456789ab";
  s.name = "web";
  s.kind = WorkloadKind::wasm;
  s.state = WorkloadState::oom_killed;
  s.pid = 4242;
  s.exit_code = 137;
  s.exit_signal = 9;
  s.oom_killed = true;
  s.memory_peak_bytes = 33554432;
  s.reason = "out of memory";
  s.created_at = t1;
  s.started_at = t2;
  s.finished_at = t3;
  s.restart_count = 3;
  s.stopped_by_user = true;
  s.log_dropped_lines = 12;
  s.log_dropped_bytes = std::numeric_limits<std::uint64_t>::max();
  s.health = {{t1, 0, "ok\n"}, {t2, 1, "connection refused"}};
  return s;
}

TEST(JsonRoundTrip, Spec) {
  expect_round_trip(full_spec(), spec_from_json);
  expect_round_trip(WorkloadSpec{}, spec_from_json);
  WorkloadSpec empty_entrypoint;
  empty_entrypoint.container.entrypoint = std::vector<std::string>{};
  expect_round_trip(empty_entrypoint, spec_from_json);
}

TEST(JsonRoundTrip, Status) {
  expect_round_trip(full_status(), status_from_json);
  expect_round_trip(WorkloadStatus{}, status_from_json);
  for (auto state : {WorkloadState::created, WorkloadState::starting, WorkloadState::running,
                     WorkloadState::healthy, WorkloadState::unhealthy, WorkloadState::stopping,
                     WorkloadState::exited, WorkloadState::oom_killed, WorkloadState::failed}) {
    WorkloadStatus s;
    s.state = state;
    expect_round_trip(s, status_from_json);
  }
}

TEST(JsonRoundTrip, Info) {
  expect_round_trip(WorkloadInfo{full_status(), full_spec()}, info_from_json);
  expect_round_trip(WorkloadInfo{}, info_from_json);
}

TEST(JsonRoundTrip, Stats) {
  ResourceStats s{.timestamp = t1,
                  .cpu_usage_ns = std::numeric_limits<std::uint64_t>::max(),
                  .cpu_percent = 123.456789012345678,
                  .memory_bytes = 1u << 30,
                  .memory_limit_bytes = 2u << 30,
                  .pids = 12,
                  .pids_limit = 100,
                  .net_rx_bytes = 1000,
                  .net_tx_bytes = 2000,
                  .io_read_bytes = 3000,
                  .io_write_bytes = 4000};
  expect_round_trip(s, stats_from_json);
  expect_round_trip(ResourceStats{}, stats_from_json);
}

TEST(JsonRoundTrip, TeardownReport) {
  TeardownReport r{.id = "id1",
                   .name = "web",
                   .killed_pids = {12, 13},
                   .cgroups = {"/sys/fs/cgroup/berth/id1"},
                   .mounts = {"/run/berth/id1/rootfs"},
                   .namespaces = {"mnt:[4026532301]"},
                   .network = {"veth0"},
                   .files = {"/var/lib/berth/id1"}};
  expect_round_trip(r, report_from_json);
  expect_round_trip(TeardownReport{}, report_from_json);
}

TEST(JsonRoundTrip, Exit) {
  ExitInfo e{.exit_code = 1, .exit_signal = 15, .oom_killed = true,
             .state = WorkloadState::failed, .reason = "killed"};
  expect_round_trip(e, exit_from_json);
  expect_round_trip(ExitInfo{}, exit_from_json);
}

TEST(JsonRoundTrip, ExecOptionsAndResult) {
  ExecOptions o;
  o.env = {"X=1"};
  o.working_dir = "/tmp";
  o.user = "nobody";
  o.timeout = milliseconds(1234);
  o.tty = true;
  expect_round_trip(o, exec_options_from_json);
  expect_round_trip(ExecOptions{}, exec_options_from_json);
  ExecResult result{
      .exit_code = 130, .stdout_data = "out\n", .stderr_data = std::string("err\0x", 5)};
  expect_round_trip(result, exec_result_from_json);
  expect_round_trip(ExecResult{}, exec_result_from_json);
}

TEST(JsonRoundTrip, Event) {
  Event e{.seq = std::numeric_limits<std::uint64_t>::max(),
          .time = t1,
          .workload_id = "id1",
          .workload_name = "web",
          .type = "exit",
          .attributes = {{"exit_code", "0"}, {"signal", ""}}};
  expect_round_trip(e, event_from_json);
  expect_round_trip(Event{}, event_from_json);
}

TEST(JsonRoundTrip, LogChunkAndOptions) {
  expect_round_trip(LogChunk{LogStream::stderr_stream, t1, "partial line \t\"x\"", true},
                    log_chunk_from_json);
  expect_round_trip(LogChunk{}, log_chunk_from_json);
  LogOptions o{.follow = true, .tail = 10, .since = t3, .until = t2,
               .include_stdout = false, .include_stderr = false};
  expect_round_trip(o, log_options_from_json);
  expect_round_trip(LogOptions{}, log_options_from_json);
}

TEST(JsonRoundTrip, Error) {
  for (auto code : {ErrorCode::not_found, ErrorCode::invalid_spec, ErrorCode::conflict,
                    ErrorCode::unavailable, ErrorCode::timeout, ErrorCode::limit_exceeded,
                    ErrorCode::permission_denied, ErrorCode::internal})
    expect_round_trip(Error{code, "workload \"web\": gone"}, error_from_json);
  EXPECT_EQ(to_json(Error{ErrorCode::not_found, "x"}),
            json({{"code", "not_found"}, {"message", "x"}}));
}

TEST(JsonRoundTrip, AbsentAndNullKeysAreDefaults) {
  auto s = status_from_json(json::object());
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_TRUE(*s == WorkloadStatus{});
  auto o = log_options_from_json({{"tail", nullptr}, {"follow", true}});
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_FALSE(o->tail);
  EXPECT_TRUE(o->follow);
}

TEST(JsonStrict, UnknownKeysAreNamed) {
  auto with = [](json j, const std::string& key) {
    j[key] = 1;
    return j;
  };
  expect_refused(status_from_json, with(to_json(full_status()), "pidd"), "pidd");
  expect_refused(info_from_json, with(to_json(WorkloadInfo{}), "extra"), "extra");
  expect_refused(stats_from_json, with(to_json(ResourceStats{}), "gpu"), "gpu");
  expect_refused(report_from_json, with(to_json(TeardownReport{}), "volumes"), "volumes");
  expect_refused(exit_from_json, with(to_json(ExitInfo{}), "core"), "core");
  expect_refused(exec_options_from_json, with(to_json(ExecOptions{}), "stdio"), "stdio");
  expect_refused(exec_result_from_json, with(to_json(ExecResult{}), "stdin"), "stdin");
  expect_refused(event_from_json, with(to_json(Event{}), "workload"), "workload");
  expect_refused(log_chunk_from_json, with(to_json(LogChunk{}), "bytes"), "bytes");
  expect_refused(log_options_from_json, with(to_json(LogOptions{}), "head"), "head");
  expect_refused(error_from_json, with(to_json(Error{}), "details"), "details");

  auto status = to_json(full_status());
  status["health"][1]["duration"] = 5;
  expect_refused(status_from_json, status, "health[1].duration");
  auto info = to_json(WorkloadInfo{full_status(), full_spec()});
  info["spec"]["resources"]["memroy_bytes"] = 5;
  expect_refused(info_from_json, info, "spec.resources.memroy_bytes");
  auto spec = to_json(full_spec());
  spec["container"]["gid_map"][1]["count"] = 1;
  expect_refused(spec_from_json, spec, "container.gid_map[1].count");
}

TEST(JsonStrict, WrongTypesAreNamed) {
  auto with = [](json j, const std::string& key, json value) {
    j[key] = std::move(value);
    return j;
  };
  auto status = to_json(full_status());
  expect_refused(status_from_json, with(status, "pid", "4242"), "pid");
  expect_refused(status_from_json, with(status, "pid", 1.5), "pid");
  expect_refused(status_from_json, with(status, "restart_count", true), "restart_count");
  expect_refused(status_from_json, with(status, "oom_killed", 1), "oom_killed");
  expect_refused(status_from_json, with(status, "exit_code", 4294967296), "exit_code");
  expect_refused(status_from_json, with(status, "health", json::object()), "health");
  expect_refused(status_from_json, with(status, "started_at", "yesterday"), "started_at");
  expect_refused(status_from_json, with(status, "created_at", 1732290026), "created_at");
  status["health"][0]["exit_code"] = "0";
  expect_refused(status_from_json, status, "health[0].exit_code");
  status = to_json(full_status());
  status["health"][1] = "ok";
  expect_refused(status_from_json, status, "health[1]");

  auto stats = to_json(ResourceStats{});
  expect_refused(stats_from_json, with(stats, "memory_bytes", -1), "memory_bytes");
  expect_refused(stats_from_json, with(stats, "cpu_percent", "high"), "cpu_percent");
  expect_refused(report_from_json, with(to_json(TeardownReport{}), "killed_pids", json{1, "2"}),
                 "killed_pids[1]");
  expect_refused(report_from_json, with(to_json(TeardownReport{}), "files", "/x"), "files");
  expect_refused(exit_from_json, with(to_json(ExitInfo{}), "exit_signal", false), "exit_signal");
  auto exec = to_json(ExecOptions{});
  expect_refused(exec_options_from_json, with(exec, "timeout_ms", 1.5), "timeout_ms");
  expect_refused(exec_options_from_json, with(exec, "env", "A=1"), "env");
  expect_refused(exec_result_from_json, with(to_json(ExecResult{}), "stdout", json::array()),
                 "stdout");
  expect_refused(event_from_json, with(to_json(Event{}), "seq", -1), "seq");
  expect_refused(event_from_json, with(to_json(Event{}), "attributes", json{{"k", 1}}),
                 "attributes.k");
  expect_refused(log_chunk_from_json, with(to_json(LogChunk{}), "partial", "no"), "partial");
  expect_refused(log_options_from_json, with(to_json(LogOptions{}), "tail", -3), "tail");
  expect_refused(log_options_from_json, with(to_json(LogOptions{}), "since", "soon"),
                 "since");
  expect_refused(error_from_json, with(to_json(Error{}), "message", 5), "message");

  auto spec = to_json(full_spec());
  spec["ports"][0]["host_port"] = 70000;
  expect_refused(spec_from_json, spec, "ports[0].host_port");
  spec = to_json(full_spec());
  spec["container"]["uid_map"][0]["size"] = -1;
  expect_refused(spec_from_json, spec, "container.uid_map[0].size");
  spec = to_json(full_spec());
  spec["labels"]["app"] = false;
  expect_refused(spec_from_json, spec, "labels.app");
  auto info = to_json(WorkloadInfo{});
  info["spec"] = "web";
  expect_refused(info_from_json, info, "spec");
}

TEST(JsonStrict, UnknownEnumNamesAreNamed) {
  expect_refused(status_from_json, json{{"state", "sleeping"}}, "state");
  expect_refused(status_from_json, json{{"state", "oom_killed"}}, "state");  // it is oom-killed
  expect_refused(status_from_json, json{{"kind", "vm"}}, "kind");
  expect_refused(exit_from_json, json{{"state", 3}}, "state");
  expect_refused(log_chunk_from_json, json{{"stream", "stdin"}}, "stream");
  expect_refused(error_from_json, json{{"code", "oops"}, {"message", ""}}, "code");
  expect_refused(error_from_json, json{{"code", "NOT_FOUND"}}, "code");
  auto info = to_json(WorkloadInfo{});
  info["spec"]["kind"] = "vm";
  expect_refused(info_from_json, info, "spec.kind");
}

TEST(JsonStrict, DocumentsThatAreNotObjectsAreRefusedWithoutThrowing) {
  json broken = json::parse("{", nullptr, false);  // a discarded value
  for (const json& j : {json(nullptr), json(5), json("status"), json::array(), broken}) {
    expect_refused(spec_from_json, j, "spec");
    expect_refused(status_from_json, j, "status");
    expect_refused(info_from_json, j, "workload");
    expect_refused(stats_from_json, j, "stats");
    expect_refused(report_from_json, j, "teardown report");
    expect_refused(exit_from_json, j, "exit");
    expect_refused(exec_options_from_json, j, "exec options");
    expect_refused(exec_result_from_json, j, "exec result");
    expect_refused(event_from_json, j, "event");
    expect_refused(log_chunk_from_json, j, "log chunk");
    expect_refused(log_options_from_json, j, "log options");
    expect_refused(error_from_json, j, "error");
  }
}

}  // namespace
}  // namespace berth::testing
