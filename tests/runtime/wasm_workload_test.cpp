// Wasm workloads through the Runtime interface: the shim runs berth-wasm with the module, so
// create, start, wait, logs, status and stats work as for processes; traps are named in status.
#include <gtest/gtest.h>

#include <chrono>

#include "common/fs.hpp"
#include "support/runtime_fixture.hpp"
#include "support/unsupervised.hpp"
#include "support/wasi_guests.hpp"
#include "wasm/runner/command.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class WasmWorkload : public RuntimeTest {
 protected:
  void SetUp() override {
    RuntimeTest::SetUp();
    sandbox_ = root_ + "/sandbox";  // removed with the root
    ASSERT_TRUE(make_dirs(sandbox_));
  }
  WorkloadSpec wasm_spec(const std::string& guest, std::vector<std::string> args, std::string name = {}) {
    WorkloadSpec spec;
    spec.kind = WorkloadKind::wasm;
    spec.name = std::move(name);
    spec.module = wasi_guest(guest);
    spec.args = std::move(args);
    spec.wasm.preopened_dirs = {sandbox_ + "::/sandbox"};
    return spec;
  }
  std::string stream_output(const std::string& ref, LogStream stream) {
    auto logs = runtime_->logs(ref, {});
    std::string out;
    if (!logs) return out;
    while (auto c = (*logs)->next(1s)) {
      if (!*c) break;
      if ((**c).stream == stream) out += (**c).bytes;
    }
    return out;
  }
  std::string sandbox_;
};

TEST_F(WasmWorkload, RunsToItsExitCodeWithArgsEnvAndBothStreamsInTheLogs) {
  BERTH_REQUIRE_GUEST("wasi_process");
  auto spec = wasm_spec("wasi_process", {"exit", "3"}, "w1");
  spec.env = {"GREETING=hello"};
  auto h = run(spec);
  auto exit = runtime_->wait(h.id, 30s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_code, 3);
  auto out = stream_output(h.id, LogStream::stdout_stream);
  EXPECT_NE(out.find("argv0=wasi_process.wasm\narg1=exit\narg2=3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("env GREETING=hello\nenvc=1\n"), std::string::npos) << out;  // exactly the spec's
  EXPECT_EQ(stream_output(h.id, LogStream::stderr_stream), "to stderr\n");
  auto status = runtime_->status(h.id);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->kind, WorkloadKind::wasm);
  EXPECT_EQ(status->state, WorkloadState::exited);
}

TEST_F(WasmWorkload, FilesInItsPreopenedDirectoryAndNoEscape) {
  BERTH_REQUIRE_GUEST("wasi_files");
  BERTH_REQUIRE_GUEST("wasi_escape");
  auto files = run(wasm_spec("wasi_files", {"/sandbox"}));
  auto escape = run(wasm_spec("wasi_escape", {"/sandbox"}));
  auto a = runtime_->wait(files.id, 30s);
  auto b = runtime_->wait(escape.id, 30s);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->exit_code, 0) << all_output(files.id);
  EXPECT_EQ(b->exit_code, 0) << all_output(escape.id);
  EXPECT_NE(all_output(escape.id).find("escaped=0"), std::string::npos);
}

TEST_F(WasmWorkload, ATimeoutIsATrapNamedInStatusAndTheNextRunIsFine) {
  BERTH_REQUIRE_GUEST("adversary");
  auto spec = wasm_spec("adversary", {"loop"}, "looper");
  spec.wasm.execution_time_limit = 300ms;
  auto h = run(spec);
  auto exit = runtime_->wait(h.id, 30s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_code, wasm::trap_exit_code);
  auto status = runtime_->status(h.id);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->reason, "wasm trap: deadline exceeded");
  EXPECT_NE(stream_output(h.id, LogStream::stderr_stream).find("berth: wasm trap: deadline exceeded\n"),
            std::string::npos);
  auto fine = run(wasm_spec("adversary", {"ok"}));
  auto fine_exit = runtime_->wait(fine.id, 30s);
  ASSERT_TRUE(fine_exit);
  EXPECT_EQ(fine_exit->exit_code, 0);
  auto fine_status = runtime_->status(fine.id);
  ASSERT_TRUE(fine_status);
  EXPECT_EQ(fine_status->reason, "exited with code 0");  // no trap left over from the last run
}

TEST_F(WasmWorkload, StatsShowItsLinearMemoryExecIsRefusedAndStopEndsIt) {
  BERTH_REQUIRE_GUEST("adversary");
  auto h = run(wasm_spec("adversary", {"loop"}));
  ASSERT_TRUE(eventually([&] {
    auto s = runtime_->stats(h.id);
    return s && s->wasm_memory_bytes && *s->wasm_memory_bytes >= 65536 && s->memory_bytes > 0;
  })) << "no linear memory size in stats";
  auto exec = runtime_->exec(h.id, {"/bin/true"}, {});
  ASSERT_FALSE(exec);
  EXPECT_NE(exec.error().message.find("wasm module"), std::string::npos) << exec.error().message;
  ASSERT_TRUE(runtime_->stop(h.id, 2s));
  auto status = runtime_->status(h.id);
  ASSERT_TRUE(status);
  EXPECT_FALSE(is_active(status->state));
}

// Its runner (berth-wasm) outlives a SIGKILLed shim like any process: running, unsupervised,
// until a stop ends it and empties its cgroup.
TEST_F(WasmWorkload, AKilledShimLeavesItRunningUnsupervisedUntilStopped) {
  BERTH_REQUIRE_GUEST("adversary");
  auto spec = wasm_spec("adversary", {"loop"}, "orphaned-module");
  spec.stop_grace = 300ms;
  auto h = run(spec);
  auto before = runtime_->status(h.id);
  ASSERT_TRUE(before && before->pid);
  ASSERT_TRUE(kill_shim_of(h.id));
  auto status = runtime_->status(h.id);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state, WorkloadState::running);
  EXPECT_TRUE(runs_unsupervised(*status)) << status->reason;
  EXPECT_EQ(status->pid, before->pid);
  auto exit = runtime_->stop(h.id, std::nullopt);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->state, WorkloadState::exited);
  EXPECT_TRUE(exit->exit_signal);
  EXPECT_TRUE(process_gone(*before->pid));
  EXPECT_TRUE(live_pids_in_cgroup(h.id).empty());
}

TEST_F(WasmWorkload, CreateRefusesWhatCannotRun) {
  BERTH_REQUIRE_GUEST("wasi_process");
  auto missing = wasm_spec("wasi_process", {});
  missing.module = root_ + "/nope.wasm";
  auto r = runtime_->create(missing);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::not_found);
  EXPECT_NE(r.error().message.find(root_ + "/nope.wasm"), std::string::npos) << r.error().message;

  ASSERT_TRUE(write_file(root_ + "/reactor.wat", "(module (func (export \"_initialize\")))"));
  auto reactor = wasm_spec("wasi_process", {});
  reactor.module = root_ + "/reactor.wat";
  r = runtime_->create(reactor);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::invalid_spec);
  EXPECT_NE(r.error().message.find("_start"), std::string::npos) << r.error().message;

  auto fuel_on_aot = wasm_spec("wasi_process", {});
  fuel_on_aot.wasm.engine = "aot";
  fuel_on_aot.wasm.fuel = 1000;
  r = runtime_->create(fuel_on_aot);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::invalid_spec);
  EXPECT_NE(r.error().message.find("wasm.fuel"), std::string::npos) << r.error().message;

  auto unknown_engine = wasm_spec("wasi_process", {});
  unknown_engine.wasm.engine = "v8";
  r = runtime_->create(unknown_engine);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("v8"), std::string::npos) << r.error().message;

  auto bad_dir = wasm_spec("wasi_process", {});
  bad_dir.wasm.preopened_dirs = {root_ + "/absent::/data"};
  r = runtime_->create(bad_dir);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(root_ + "/absent"), std::string::npos) << r.error().message;

  auto route_alone = wasm_spec("wasi_process", {});
  route_alone.wasm.http_route = "/api";
  r = runtime_->create(route_alone);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("wasm.http_route: needs wasm.http_listen"), std::string::npos) << r.error().message;
  auto bad_listen = wasm_spec("wasi_process", {});
  bad_listen.wasm.http_listen = "127.0.0.1";
  r = runtime_->create(bad_listen);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("is not HOST:PORT"), std::string::npos) << r.error().message;

  auto zero_fuel = wasm_spec("wasi_process", {});
  zero_fuel.wasm.fuel = 0;
  EXPECT_FALSE(runtime_->create(zero_fuel));
  auto negative_memory = wasm_spec("wasi_process", {});
  negative_memory.wasm.memory_limit_bytes = -1;
  EXPECT_FALSE(runtime_->create(negative_memory));
  auto with_image = wasm_spec("wasi_process", {});
  with_image.image = "busybox";
  EXPECT_FALSE(runtime_->create(with_image));
  auto list = runtime_->list({.all = true});
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
}

}  // namespace
}  // namespace berth::testing
