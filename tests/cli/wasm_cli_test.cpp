// `berth run --wasm`, `berth wasm inspect` and `berth wasm compile`, as a user runs them.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "support/cli.hpp"
#include "support/runtime_fixture.hpp"
#include "support/wasi_guests.hpp"

namespace berth::testing {
namespace {

class WasmCli : public RuntimeTest {
 protected:
  CliResult cli(const std::vector<std::string>& args) { return run_cli(root_, args); }
  std::size_t workload_count() {
    auto all = runtime_->list({.all = true});
    return all ? all->size() : 999;
  }
};

TEST_F(WasmCli, RunStreamsBothStreamsAndExitsWithTheModulesCode) {
  BERTH_REQUIRE_GUEST("wasi_process");
  auto r = cli({"run", "--rm", "--wasm", wasi_guest("wasi_process"), "-e", "GREETING=hi", "--", "exit", "5"});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.out.find("arg1=exit\narg2=5\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("env GREETING=hi\nenvc=1\n"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("to stderr"), std::string::npos) << r.err;
  EXPECT_EQ(workload_count(), 0u);
}

TEST_F(WasmCli, DirMemoryAndTimeoutFlags) {
  BERTH_REQUIRE_GUEST("wasi_files");
  BERTH_REQUIRE_GUEST("adversary");
  std::string sandbox = root_ + "/sandbox";
  ASSERT_TRUE(make_dirs(sandbox));
  auto files = cli({"run", "--rm", "--wasm", wasi_guest("wasi_files"), "--dir", sandbox + "::/data", "--", "/data"});
  EXPECT_EQ(files.exit_code, 0) << files.out << files.err;
  auto bomb = cli({"run", "--rm", "--wasm", wasi_guest("adversary"), "--memory", "16m", "--", "membomb"});
  EXPECT_EQ(bomb.exit_code, 0) << bomb.err;
  EXPECT_NE(bomb.out.find("malloc failed after"), std::string::npos) << bomb.out;
  auto loop = cli({"run", "--rm", "--wasm", wasi_guest("adversary"), "--timeout", "300ms", "--", "loop"});
  EXPECT_EQ(loop.exit_code, 134) << loop.err;
  EXPECT_NE(loop.err.find("berth: wasm trap: deadline exceeded\n"), std::string::npos) << loop.err;
  auto oob = cli({"run", "--rm", "--wasm", wasi_guest("adversary"), "--", "oob"});
  EXPECT_EQ(oob.exit_code, 134);
  EXPECT_NE(oob.err.find("berth: wasm trap: out of bounds memory access\n"), std::string::npos) << oob.err;
  EXPECT_EQ(workload_count(), 0u);
}

TEST_F(WasmCli, BadWasmFlagsAreOneClearErrorAndLeaveNothing) {
  BERTH_REQUIRE_GUEST("wasi_process");
  auto unknown = cli({"run", "--rm", "--wasm", wasi_guest("wasi_process"), "--engine", "v8"});
  EXPECT_EQ(unknown.exit_code, 125);
  EXPECT_NE(unknown.err.find("\"v8\" is not one of aot, interp"), std::string::npos) << unknown.err;
  auto fuel = cli({"run", "--rm", "--wasm", wasi_guest("wasi_process"), "--fuel", "1000"});
  EXPECT_EQ(fuel.exit_code, 125);
  EXPECT_NE(fuel.err.find("interp"), std::string::npos) << fuel.err;
  auto no_wasm = cli({"run", "--dir", "/tmp", "--", "true"});
  EXPECT_EQ(no_wasm.exit_code, 125);
  EXPECT_NE(no_wasm.err.find("--wasm"), std::string::npos) << no_wasm.err;
  auto missing = cli({"run", "--wasm", root_ + "/missing.wasm"});
  EXPECT_EQ(missing.exit_code, 125);
  EXPECT_NE(missing.err.find(root_ + "/missing.wasm"), std::string::npos) << missing.err;
  EXPECT_EQ(workload_count(), 0u);
}

// Some other file given as the module is one line naming it, not the WAT parser's every
// complaint; a broken .wat still gets the parser's errors, the first few of them.
TEST_F(WasmCli, AFileThatIsNoModuleIsOneLineNamingIt) {
  auto binary = cli({"run", "--rm", "--wasm", "/bin/true"});
  EXPECT_EQ(binary.exit_code, 125);
  EXPECT_EQ(std::count(binary.err.begin(), binary.err.end(), '\n'), 1) << binary.err;
  EXPECT_NE(binary.err.find("/bin/true: not a Wasm binary"), std::string::npos) << binary.err;

  std::string broken = root_ + "/broken.wat";
  std::string text = ";; a module with many mistakes\n(module\n";
  for (int i = 0; i < 20; ++i) text += "  (func $f" + std::to_string(i) + " (result i32) (i32.nosuchop))\n";
  ASSERT_TRUE(write_file(broken, text + ")\n"));
  auto wat = cli({"run", "--rm", "--wasm", broken});
  EXPECT_EQ(wat.exit_code, 125);
  EXPECT_NE(wat.err.find("broken.wat:3:"), std::string::npos) << wat.err;
  EXPECT_NE(wat.err.find("more errors"), std::string::npos) << wat.err;
  EXPECT_LT(std::count(wat.err.begin(), wat.err.end(), '\n'), 25) << wat.err;
  EXPECT_EQ(workload_count(), 0u);
}

TEST_F(WasmCli, InspectShowsImportsExportsAndMemory) {
  BERTH_REQUIRE_GUEST("wasi_process");
  auto text = cli({"wasm", "inspect", wasi_guest("wasi_process")});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("kind:    command"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("wasi_snapshot_preview1.fd_write  func (i32, i32, i32, i32) -> (i32)"), std::string::npos)
      << text.out;
  auto r = cli({"wasm", "inspect", "--format", "json", wasi_guest("wasi_process")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["kind"], "command");
  EXPECT_GT(j["size_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_GE(j["memory"]["initial_pages"].get<std::uint64_t>(), 1u);
  bool start = false, fd_write = false;
  for (auto& e : j["exports"])
    start |= e["name"] == "_start" && e["kind"] == "func" && e["params"].empty() && e["results"].empty();
  for (auto& i : j["imports"])
    fd_write |= i["module"] == "wasi_snapshot_preview1" && i["name"] == "fd_write" && i["params"].size() == 4;
  EXPECT_TRUE(start) << r.out;
  EXPECT_TRUE(fd_write) << r.out;
}

// compile makes an artifact that inspect reads and run runs (on AOT, without compiling again);
// a bad module or a missing -o is one clear error and no file.
TEST_F(WasmCli, CompileMakesAnArtifactThatRunsAndInspects) {
  BERTH_REQUIRE_GUEST("wasi_process");
  auto artifact = root_ + "/process.bwasm";
  auto compiled = cli({"wasm", "compile", wasi_guest("wasi_process"), "-o", artifact});
  ASSERT_EQ(compiled.exit_code, 0) << compiled.err;
  auto run = cli({"run", "--rm", "--wasm", artifact, "--", "exit", "3"});
  EXPECT_EQ(run.exit_code, 3) << run.err;
  auto inspect = cli({"wasm", "inspect", artifact});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_NE(inspect.out.find("kind:    command"), std::string::npos) << inspect.out;

  auto no_output = cli({"wasm", "compile", wasi_guest("wasi_process")});
  EXPECT_NE(no_output.exit_code, 0);
  EXPECT_NE(no_output.err.find("-o"), std::string::npos) << no_output.err;
  ASSERT_TRUE(write_file(root_ + "/bad.wasm", std::string("\0asm\x01\0\0\0\x01", 9)));
  auto bad = cli({"wasm", "compile", root_ + "/bad.wasm", "-o", root_ + "/bad.bwasm"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("bad.wasm"), std::string::npos) << bad.err;
  EXPECT_FALSE(path_exists(root_ + "/bad.bwasm"));
  EXPECT_EQ(workload_count(), 0u);
}

}  // namespace
}  // namespace berth::testing
