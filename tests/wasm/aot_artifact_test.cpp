// Artifacts: cache hits, rebuilds after corruption, portable .bwasm files, invalid modules,
// and many threads running instances of one module.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "common/fs.hpp"
#include "wasm/aot_support.hpp"

namespace berth::wasm::aot {
namespace {

using testing::compile_wat;
using testing::instantiate;

constexpr std::string_view kFib = R"((module
  (func $fib (export "fib") (param i32) (result i32)
    local.get 0 i32.const 2 i32.lt_u
    if (result i32) local.get 0
    else local.get 0 i32.const 1 i32.sub call $fib local.get 0 i32.const 2 i32.sub call $fib i32.add end)
  (global $calls (mut i32) (i32.const 0))
  (func (export "count") (result i32) global.get $calls i32.const 1 i32.add global.set $calls global.get $calls)
))";

std::filesystem::path fresh_dir(const std::string& name) {
  auto dir = testing::test_cache_dir() / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(AotArtifact, CacheHitAndRebuildAfterCorruption) {
  auto module = read_wat(kFib);
  ASSERT_TRUE(module);
  CompileOptions options = testing::test_options();
  options.cache_dir = fresh_dir("cache");
  auto key = cache_key(module->bytes, options);
  ASSERT_TRUE(key);
  auto path = options.cache_dir / (*key + ".bwasm");

  ASSERT_TRUE(compile(*module, options));
  ASSERT_TRUE(std::filesystem::exists(path));
  auto first_time = std::filesystem::last_write_time(path);
  ASSERT_TRUE(compile(*module, options));  // a hit: not rewritten
  EXPECT_EQ(std::filesystem::last_write_time(path), first_time);

  // Flip a byte in the shared object: the checksum catches it, and the artifact is rebuilt.
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-100, std::ios::end);
    file.put('\x5a');
  }
  auto corrupt = read_artifact_file(path);
  ASSERT_FALSE(corrupt);
  EXPECT_NE(corrupt.error().message.find("checksum"), std::string::npos) << corrupt.error().message;
  auto rebuilt = compile(*module, options);
  ASSERT_TRUE(rebuilt) << rebuilt.error().message;
  EXPECT_TRUE(read_artifact_file(path));
  auto instance = instantiate(**rebuilt);
  ASSERT_TRUE(instance);
  EXPECT_EQ((*instance->call("fib", std::vector{Value::i32(20)}))[0], Value::i32(6765));

  // A different flag is a different key.
  CompileOptions other = options;
  other.optimization = "-O0";
  EXPECT_NE(*cache_key(module->bytes, other), *key);
}

TEST(AotArtifact, ConcurrentCompilesOfOneModuleDoNotRace) {
  auto module = read_wat(kFib);
  ASSERT_TRUE(module);
  CompileOptions options = testing::test_options();
  options.cache_dir = fresh_dir("race");
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&] {
      if (auto compiled = compile(*module, options); compiled && instantiate(**compiled)) ++ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 3);
  int artifacts = 0;
  for (auto& entry : std::filesystem::directory_iterator(options.cache_dir)) {
    EXPECT_EQ(entry.path().filename().string().find("build-"), std::string::npos) << entry.path();
    artifacts += entry.path().extension() == ".bwasm";
  }
  EXPECT_EQ(artifacts, 1);
}

TEST(AotArtifact, BwasmRoundTrip) {
  auto dir = fresh_dir("bwasm");
  auto wat = dir / "fib.wat";
  ASSERT_TRUE(write_file(wat.string(), kFib));
  auto out = dir / "fib.bwasm";
  auto written = compile_file(wat, out, testing::test_options());
  ASSERT_TRUE(written) << written.error().message;
  auto loaded = load_file(out);
  ASSERT_TRUE(loaded) << loaded.error().message;
  ASSERT_EQ((*loaded)->info().exports.size(), 2u);
  EXPECT_EQ((*loaded)->info().exports[0].name, "fib");
  auto instance = instantiate(**loaded);
  ASSERT_TRUE(instance);
  EXPECT_EQ((*instance->call("fib", std::vector{Value::i32(10)}))[0], Value::i32(55));

  // A wrong ABI version in the header is refused.
  auto bytes = read_file(out.string());
  ASSERT_TRUE(bytes);
  std::string patched = *bytes;
  patched[12] = static_cast<char>(patched[12] + 1);  // abi_version follows magic and format version
  auto refused = decode_artifact(patched, "patched");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("ABI version"), std::string::npos) << refused.error().message;
  EXPECT_FALSE(decode_artifact("not an artifact at all, just text ........................", "text"));
}

TEST(AotArtifact, InvalidModuleNamesTheProblemAndOffset) {
  // (func (result i32) i64.const 0): a type mismatch.
  const std::vector<std::uint8_t> bytes{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01,
                                        0x60, 0x00, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x06, 0x01,
                                        0x04, 0x00, 0x42, 0x00, 0x0b};
  auto module = read_module_bytes(bytes, "bad.wasm");
  ASSERT_FALSE(module);
  EXPECT_EQ(module.error().code, ErrorCode::invalid_spec);
  EXPECT_NE(module.error().message.find("type mismatch"), std::string::npos) << module.error().message;
  EXPECT_NE(module.error().message.find("000001a"), std::string::npos) << module.error().message;

  auto truncated = read_module_bytes(std::span(bytes).first(10), "short.wasm");
  ASSERT_FALSE(truncated);
  EXPECT_NE(truncated.error().message.find("short.wasm"), std::string::npos);
}

TEST(AotArtifact, EightThreadsShareOneModule) {
  auto module = compile_wat(kFib, "-O2");
  ASSERT_TRUE(module);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      auto instance = module->instantiate({}, {});
      if (!instance) {
        ++failures;
        return;
      }
      for (int i = 0; i < 500; ++i) {
        auto fib = (*instance)->call("fib", std::vector{Value::i32(static_cast<std::uint32_t>(10 + (i + t) % 5))});
        auto count = (*instance)->call("count", {});
        if (!fib || !count || (*count)[0].as_i32() != static_cast<std::uint32_t>(i + 1)) ++failures;
      }
      // A trap on one thread leaves the others running.
      if (t == 0) {
        InstanceLimits limits;
        auto deep = module->instantiate({}, limits);
        if (deep && (*deep)->call("fib", std::vector{Value::i32(0xffffffffu)})) ++failures;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace berth::wasm::aot
