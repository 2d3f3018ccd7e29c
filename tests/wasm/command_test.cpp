// WASI commands run to their end through run_command, the function berth-wasm (and so every wasm
// workload) uses: real guests compiled from C, files in a temporary preopened directory, and
// misbehaving guests that must end in a clean trap with the host intact.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>

#include <fmt/format.h>

#include "support/aot_cache.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "support/wasi_guests.hpp"
#include "wasm/aot/aot_engine.hpp"
#include "wasm/engines.hpp"
#include "wasm/runner/command.hpp"

namespace berth::wasm {
namespace {

using berth::testing::wasi_guest;
using namespace std::chrono_literals;

// A temporary directory to preopen, and files that catch the guest's stdout and stderr. Every
// test runs on both engines (the parameter): one WASI implementation serves both.
class Command : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/berth-wasm-cmd-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    ASSERT_TRUE(make_dirs(dir_ + "/sandbox"));
    out_.reset(::open((dir_ + "/stdout").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    err_.reset(::open((dir_ + "/stderr").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_TRUE(out_ && err_);
  }
  void TearDown() override { (void)remove_tree(dir_); }

  CommandOptions options(const std::string& guest, std::vector<std::string> args) {
    CommandOptions o = bare();
    o.module_path = wasi_guest(guest);
    o.args = {guest + ".wasm"};
    o.args.insert(o.args.end(), args.begin(), args.end());
    o.dirs = {{dir_ + "/sandbox", "/sandbox"}};
    o.stdin_fd = -1;
    o.stdout_fd = out_.get();
    o.stderr_fd = err_.get();
    return o;
  }
  // The engine under test, its AOT artifacts cached across test runs as the spec tests' are.
  CommandOptions bare() {
    CommandOptions o;
    o.engine = GetParam();
    o.aot_cache_dir = berth::testing::shared_aot_cache_dir().string();
    return o;
  }
  CommandOutcome run(const CommandOptions& o) {
    auto outcome = run_command(o);
    EXPECT_TRUE(outcome) << outcome.error().message;
    return outcome.value_or(CommandOutcome{-1, {}});
  }
  std::string out() { return read_file(dir_ + "/stdout").value_or(""); }
  std::string err() { return read_file(dir_ + "/stderr").value_or(""); }

  std::string dir_;
  UniqueFd out_, err_;
};

TEST(DirMapping, HostAloneOrHostAndGuest) {
  auto plain = parse_dir_mapping("/srv/data");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->host, "/srv/data");
  EXPECT_EQ(plain->guest, "/srv/data");
  auto mapped = parse_dir_mapping("/srv/data::/data");
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->host, "/srv/data");
  EXPECT_EQ(mapped->guest, "/data");
  auto single = parse_dir_mapping("/srv/data:/data");  // as stack files store it
  ASSERT_TRUE(single);
  EXPECT_EQ(single->host, "/srv/data");
  EXPECT_EQ(single->guest, "/data");
  auto colons = parse_dir_mapping("/srv/a:b::/data");
  ASSERT_TRUE(colons);
  EXPECT_EQ(colons->host, "/srv/a:b");
  EXPECT_EQ(colons->guest, "/data");
  EXPECT_FALSE(parse_dir_mapping("::/data"));
  EXPECT_FALSE(parse_dir_mapping("/srv::"));
}

TEST(Engines, AotIsTheDefaultAndUnknownNamesAreRefused) {
  EXPECT_EQ(default_engine(), "aot");
  EXPECT_TRUE(check_engine(""));
  EXPECT_TRUE(check_engine("interp"));
  EXPECT_TRUE(check_engine("aot"));
  auto other = check_engine("v8");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::invalid_spec);
  EXPECT_NE(other.error().message.find("aot, interp"), std::string::npos) << other.error().message;
}

TEST_P(Command, FilesDirectoriesReaddirRenameSymlinks) {
  BERTH_REQUIRE_GUEST("wasi_files");
  auto outcome = run(options("wasi_files", {"/sandbox"}));
  EXPECT_EQ(outcome.exit_code, 0) << out();
  EXPECT_FALSE(outcome.trap);
  EXPECT_NE(out().find("ok read through symlink"), std::string::npos) << out();
  EXPECT_EQ(out().find("FAIL"), std::string::npos) << out();
  EXPECT_FALSE(path_exists(dir_ + "/sandbox/sub"));  // it cleaned up after itself
}

TEST_P(Command, SandboxEscapesAllFail) {
  BERTH_REQUIRE_GUEST("wasi_escape");
  auto outcome = run(options("wasi_escape", {"/sandbox"}));
  EXPECT_EQ(outcome.exit_code, 0) << out();
  for (auto how : {"dotdot", "absolute", "proc-self", "symlink-to-root", "symlink-up"})
    EXPECT_NE(out().find(std::string("denied ") + how), std::string::npos) << how << "\n" << out();
  EXPECT_NE(out().find("escaped=0"), std::string::npos) << out();
}

TEST_P(Command, ArgsEnvClocksRandomPollAndStdio) {
  BERTH_REQUIRE_GUEST("wasi_process");
  auto o = options("wasi_process", {"one", "two words"});
  o.env = {"GREETING=hello", "EMPTY="};
  auto outcome = run(o);
  EXPECT_EQ(outcome.exit_code, 0);
  auto text = out();
  for (auto line : {"argv0=wasi_process.wasm\n", "arg1=one\n", "arg2=two words\n", "env GREETING=hello\n",
                    "env EMPTY=\n", "envc=2\n", "clocks=ok\n", "poll_slept=ok\n", "random=ok\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  EXPECT_EQ(err(), "to stderr\n");
}

TEST_P(Command, ExitCodeIsProcExitsCode) {
  BERTH_REQUIRE_GUEST("wasi_process");
  EXPECT_EQ(run(options("wasi_process", {"exit", "7"})).exit_code, 7);
  EXPECT_EQ(run(options("wasi_process", {"exit", "0"})).exit_code, 0);
}

// Each adversary ends in a clean trap (or, for memory, a failed malloc the guest reports), and
// the next run of a well-behaved guest is fine.
TEST_P(Command, AdversariesTrapCleanlyAndTheNextRunIsFine) {
  BERTH_REQUIRE_GUEST("adversary");
  struct Case {
    const char* mode;
    TrapKind kind;
  };
  for (auto [mode, kind] : {Case{"loop", TrapKind::deadline_exceeded}, Case{"deep", TrapKind::call_stack_exhausted},
                            // A C guest's own stack is in linear memory: overflowing it runs off
                            // the bottom of memory.
                            Case{"recursion", TrapKind::memory_out_of_bounds},
                            Case{"oob", TrapKind::memory_out_of_bounds}, Case{"unreachable", TrapKind::unreachable}}) {
    auto o = options("adversary", {mode});
    o.timeout = 300ms;
    auto started = std::chrono::steady_clock::now();
    auto outcome = run(o);
    EXPECT_EQ(outcome.exit_code, trap_exit_code) << mode;
    ASSERT_TRUE(outcome.trap) << mode;
    EXPECT_EQ(outcome.trap->kind, kind) << mode << ": " << outcome.trap->message;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s) << mode;
    EXPECT_EQ(run(options("adversary", {"ok"})).exit_code, 0) << "after " << mode;
  }
  EXPECT_EQ(describe_trap(Trap{TrapKind::memory_out_of_bounds}), "wasm trap: out of bounds memory access");
}

// The interpreter counts instructions; native code can't, so AOT refuses a fuel limit rather
// than ignoring it.
TEST_P(Command, FuelRunsOutOnTheInterpreterAndIsRefusedByAot) {
  BERTH_REQUIRE_GUEST("adversary");
  auto o = options("adversary", {"loop"});
  o.fuel = 1'000'000;
  if (GetParam() == "aot") {
    auto refused = run_command(o);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("fuel"), std::string::npos) << refused.error().message;
    return;
  }
  auto outcome = run(o);
  ASSERT_TRUE(outcome.trap);
  EXPECT_EQ(outcome.trap->kind, TrapKind::fuel_exhausted);
}

TEST_P(Command, MemoryBombHitsTheLimitAndMallocFails) {
  BERTH_REQUIRE_GUEST("adversary");
  auto o = options("adversary", {"membomb"});
  o.memory_limit_bytes = 16 << 20;
  std::uint64_t largest = 0;
  o.on_memory_size = [&](std::uint64_t bytes) { largest = std::max(largest, bytes); };
  auto outcome = run(o);
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_FALSE(outcome.trap);
  EXPECT_NE(out().find("malloc failed after"), std::string::npos) << out();
  EXPECT_GT(largest, 0u);
  EXPECT_LE(largest, 16u << 20);
}

TEST_P(Command, AModuleWithoutStartIsRefused) {
  ASSERT_TRUE(write_file(dir_ + "/reactor.wat", "(module (func (export \"_initialize\")) (memory (export \"memory\") 1))"));
  CommandOptions o = bare();
  o.module_path = dir_ + "/reactor.wat";
  o.args = {"reactor"};
  auto outcome = run_command(o);
  ASSERT_FALSE(outcome);
  EXPECT_NE(outcome.error().message.find("_start"), std::string::npos) << outcome.error().message;
}

TEST_P(Command, WatTextRunsAndAMissingModuleIsNamed) {
  ASSERT_TRUE(write_file(dir_ + "/exit.wat", R"((module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start") (call $exit (i32.const 42)))))"));
  CommandOptions o = bare();
  o.module_path = dir_ + "/exit.wat";
  o.args = {"exit"};
  auto outcome = run_command(o);
  ASSERT_TRUE(outcome) << outcome.error().message;
  EXPECT_EQ(outcome->exit_code, 42);
  o.module_path = dir_ + "/missing.wasm";
  auto missing = run_command(o);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find(dir_ + "/missing.wasm"), std::string::npos) << missing.error().message;
}

// `berth wasm compile`'s artifact: the AOT engine loads it with no C compiler on the PATH; the
// interpreter runs the module bytes it carries.
TEST_P(Command, ACompiledArtifactRunsWithoutACompiler) {
  BERTH_REQUIRE_GUEST("wasi_process");
  auto artifact = dir_ + "/process.bwasm";
  auto compiled = aot::compile_file(wasi_guest("wasi_process"), artifact);
  ASSERT_TRUE(compiled) << compiled.error().message;
  auto o = options("wasi_process", {"exit", "9"});
  o.module_path = artifact;
  std::string path = ::getenv("PATH");
  ::setenv("PATH", (dir_ + "/no-compiler-here").c_str(), 1);
  auto outcome = run_command(o);
  ::setenv("PATH", path.c_str(), 1);
  ASSERT_TRUE(outcome) << outcome.error().message;
  EXPECT_EQ(outcome->exit_code, 9);

  ASSERT_TRUE(write_file(dir_ + "/corrupt.bwasm", std::string(aot::artifact_magic()) + "garbage"));
  o.module_path = dir_ + "/corrupt.bwasm";
  auto corrupt = run_command(o);
  ASSERT_FALSE(corrupt);
  EXPECT_NE(corrupt.error().message.find("corrupt.bwasm"), std::string::npos) << corrupt.error().message;
}

INSTANTIATE_TEST_SUITE_P(Engines, Command, ::testing::Values("aot", "interp"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace berth::wasm
