// Bad specs are refused at create with one error naming the field, and leave nothing behind.
#include "runtime/json.hpp"
#include "support/runtime_fixture.hpp"

namespace berth::testing {
namespace {

class Specs : public RuntimeTest {
 protected:
  void expect_refused(const WorkloadSpec& spec, ErrorCode code, const std::string& field) {
    auto h = runtime_->create(spec);
    ASSERT_FALSE(h) << "accepted a spec with a bad " << field;
    EXPECT_EQ(h.error().code, code) << h.error().message;
    EXPECT_NE(h.error().message.find(field), std::string::npos) << h.error().message;
    auto all = runtime_->list({.all = true});
    ASSERT_TRUE(all);
    EXPECT_TRUE(all->empty());
  }
};

TEST_F(Specs, InvalidFieldsAreNamed) {
  auto base = process_spec({"true"});
  auto s = base;
  s.args.clear();
  expect_refused(s, ErrorCode::invalid_spec, "args");
  s = base;
  s.name = "bad name!";
  expect_refused(s, ErrorCode::invalid_spec, "name");
  s = base;
  s.env = {"NOEQUALS"};
  expect_refused(s, ErrorCode::invalid_spec, "env[0]");
  s = base;
  s.resources.memory_bytes = 12;
  expect_refused(s, ErrorCode::invalid_spec, "resources.memory");
  s = base;
  s.resources.cpus = -1;
  expect_refused(s, ErrorCode::invalid_spec, "resources.cpus");
  s = base;
  s.resources.pids_limit = 0;
  expect_refused(s, ErrorCode::invalid_spec, "resources.pids_limit");
  s = base;
  s.working_dir = "relative";
  expect_refused(s, ErrorCode::invalid_spec, "working_dir");
  s = base;
  s.log.max_size_bytes = 0;
  expect_refused(s, ErrorCode::invalid_spec, "log.max_size_bytes");
  s = base;
  s.log.max_file = 0;
  expect_refused(s, ErrorCode::invalid_spec, "log.max_file");
}

TEST_F(Specs, FieldsAProcessCannotHonourAreRefused) {
  auto base = process_spec({"true"});
  auto s = base;
  s.image = "busybox";
  expect_refused(s, ErrorCode::invalid_spec, "image");
  s = base;
  s.module = "x.wasm";
  expect_refused(s, ErrorCode::invalid_spec, "module");
  s = base;
  s.wasm.fuel = 10;
  expect_refused(s, ErrorCode::invalid_spec, "wasm");
  s = base;
  s.mounts.push_back({});
  expect_refused(s, ErrorCode::invalid_spec, "mounts");
  s = base;
  s.ports.push_back({});
  expect_refused(s, ErrorCode::invalid_spec, "ports");
  s = base;
  s.network = "bad name!";
  expect_refused(s, ErrorCode::invalid_spec, "network");
  s = base;
  s.additional_networks = {"other"};  // further networks only after a first
  expect_refused(s, ErrorCode::invalid_spec, "additional_networks");
}

TEST_F(Specs, BadHealthChecksAndRestartPoliciesAreNamed) {
  auto base = process_spec({"true"});
  auto s = base;
  s.health_check = HealthCheck{};
  expect_refused(s, ErrorCode::invalid_spec, "health_check.type");
  s.health_check->type = "exec";
  expect_refused(s, ErrorCode::invalid_spec, "health_check.command");
  s.health_check->type = "http";
  s.health_check->target = "/healthz";
  expect_refused(s, ErrorCode::invalid_spec, "health target");
  s.health_check->target = "8080/healthz";
  s.health_check->retries = 0;
  expect_refused(s, ErrorCode::invalid_spec, "health_check.retries");
  s.health_check->retries = 3;
  s.health_check->interval = std::chrono::milliseconds(0);
  expect_refused(s, ErrorCode::invalid_spec, "health_check.interval");
  s = base;
  s.restart_policy.name = "sometimes";
  expect_refused(s, ErrorCode::invalid_spec, "restart_policy");
  s.restart_policy = {"always", 3};
  expect_refused(s, ErrorCode::invalid_spec, "restart_policy");
}

// The wasm kind runs (tests/runtime/wasm_workload_test.cpp); the parts of it not built yet are
// refused, and a module path must be absolute.
TEST_F(Specs, WasmFieldsAreCheckedAtCreate) {
  auto s = process_spec({});
  s.kind = WorkloadKind::wasm;
  s.module = "x.wasm";
  expect_refused(s, ErrorCode::invalid_spec, "module");
  auto peers = s;
  peers.wasm.allowed_peers = {"10.0.0.0/8:443", "10.0.0.0/33"};
  expect_refused(peers, ErrorCode::invalid_spec, "allowed_peers: \"10.0.0.0/33\"");
  auto kv = s;
  kv.wasm.kv_max_entries = 0;
  expect_refused(kv, ErrorCode::invalid_spec, "wasm.kv_max_entries: must be positive");
  kv.wasm.kv_max_entries = 10;
  kv.wasm.kv_max_value_bytes = -1;
  expect_refused(kv, ErrorCode::invalid_spec, "wasm.kv_max_value_bytes: must be positive");
  // A pool of instances serves an HTTP trigger; without one there is nothing to pool.
  auto pool = s;
  pool.wasm.pool_size = 4;
  expect_refused(pool, ErrorCode::invalid_spec, "wasm.pool_size: only an HTTP trigger");
}

TEST_F(Specs, ContainerFieldsAreRefusedOnAProcess) {
  auto s = process_spec({"true"});
  s.container.cap_add = {"NET_ADMIN"};
  expect_refused(s, ErrorCode::invalid_spec, "container");
  auto t = process_spec({"true"});
  t.resources.cpuset_cpus = "0";
  expect_refused(t, ErrorCode::invalid_spec, "cpuset");
}

TEST_F(Specs, ContainerSpecRoundTripsThroughJson) {
  WorkloadSpec s;
  s.kind = WorkloadKind::container;
  s.image = "busybox";
  s.container.entrypoint = std::vector<std::string>{};
  s.container.cap_drop = {"ALL"};
  s.container.rlimits = {{"nofile", 10, 20}};
  s.container.uid_map = {{0, 1000, 1}};
  s.container.seccomp = "unconfined";
  s.resources.cpuset_cpus = "0-1";
  auto back = spec_from_json(to_json(s));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(to_json(*back), to_json(s));
  EXPECT_TRUE(back->container.entrypoint && back->container.entrypoint->empty());
  auto bad = to_json(s);
  bad["container"]["rlimitz"] = 1;
  auto refused = spec_from_json(bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("container.rlimitz"), std::string::npos);
}

TEST_F(Specs, DuplicateNamesConflict) {
  ASSERT_TRUE(runtime_->create(process_spec({"true"}, "same")));
  auto again = runtime_->create(process_spec({"true"}, "same"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::conflict);
  EXPECT_NE(again.error().message.find("same"), std::string::npos);
  auto all = runtime_->list({.all = true});
  EXPECT_EQ(all->size(), 1u);
}

TEST(SpecJson, RoundTripsAndRejectsUnknownFields) {
  WorkloadSpec s;
  s.name = "web";
  s.args = {"a", "b"};
  s.env = {"A=1"};
  s.labels = {{"k", "v"}};
  s.resources.memory_bytes = 1 << 20;
  s.resources.cpus = 1.5;
  s.namespaces.pid = true;
  s.time_to_live = std::chrono::milliseconds(1500);
  auto back = spec_from_json(to_json(s));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(to_json(*back), to_json(s));
  auto j = to_json(s);
  j["resources"]["memroy_bytes"] = 5;
  auto bad = spec_from_json(j);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("resources.memroy_bytes"), std::string::npos);
  j = to_json(s);
  j["args"] = 5;
  bad = spec_from_json(j);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("args"), std::string::npos);
}

}  // namespace
}  // namespace berth::testing
