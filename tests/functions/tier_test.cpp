// Tier-up: with its AOT artifact not cached yet, a module (engine "" or "tiered") serves calls
// from the interpreter while the C compiler runs in the background, then from AOT instances.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <fmt/format.h>
#include <mutex>
#include <thread>

#include <berth/functions.hpp>

#include "common/fs.hpp"

namespace berth::functions {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kReactor = R"((module
  (memory (export "memory") 1)
  (global $calls (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $calls (i32.const 0)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "fib") (param $n i32) (result i64) (local $a i64) (local $b i64) (local $t i64)
    (local.set $b (i64.const 1))
    (block $done (loop $l
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $t (i64.add (local.get $a) (local.get $b)))
      (local.set $a (local.get $b))
      (local.set $b (local.get $t))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $a)))
)";

class Tiers : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/berth-tiers-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    ASSERT_TRUE(write_file(dir_ + "/reactor.wat", kReactor));
  }
  void TearDown() override { (void)remove_tree(dir_); }

  // Default options with a cache of its own, empty: nothing of this module is compiled yet.
  LoadOptions options(const std::string& cache) {
    LoadOptions o;
    o.aot_cache_dir = dir_ + "/" + cache;
    o.limits.pool_size = 8;
    return o;
  }
  std::shared_ptr<FunctionModule> load(const LoadOptions& o) {
    auto m = FunctionModule::load(dir_ + "/reactor.wat", o);
    EXPECT_TRUE(m) << m.error().message;
    return m ? *m : nullptr;
  }
  static std::int32_t add(FunctionModule& m, std::int32_t a, std::int32_t b) {
    Val args[] = {a, b};
    auto r = m.call("add", args);
    EXPECT_TRUE(r) << r.error().message;
    return r ? std::get<std::int32_t>((*r)[0]) : -1;
  }
  static std::int64_t fib(FunctionModule& m, std::int32_t n) {
    Val args[] = {n};
    auto r = m.call("fib", args);
    EXPECT_TRUE(r) << r.error().message;
    return r ? std::get<std::int64_t>((*r)[0]) : -1;
  }
  static bool wait_for_tier(FunctionModule& m, std::string_view tier, std::chrono::seconds timeout = 120s) {
    auto until = Clock::now() + timeout;
    while (Clock::now() < until) {
      if (m.stats().tier == tier && !m.stats().compiling) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
  std::string dir_;
};

TEST_F(Tiers, TheFirstCallRunsOnTheInterpreterWhileTheCompilerRuns) {
  // The compiler's time, as loading with wait_for_aot spends it.
  auto waiting = options("cache-wait");
  waiting.wait_for_aot = true;
  auto started = Clock::now();
  auto compiled = load(waiting);
  ASSERT_TRUE(compiled);
  auto compile_time = Clock::now() - started;
  EXPECT_EQ(compiled->stats().tier, "aot");
  EXPECT_EQ(add(*compiled, 2, 3), 5);
  auto aot_fib = fib(*compiled, 80);

  started = Clock::now();
  auto m = load(options("cache-tiered"));
  ASSERT_TRUE(m);
  EXPECT_EQ(add(*m, 2, 3), 5);
  auto first_call = Clock::now() - started;
  auto stats = m->stats();
  EXPECT_EQ(stats.interp_calls, 1u);
  EXPECT_EQ(stats.aot_calls, 0u);
  EXPECT_LT(first_call, compile_time / 2) << "first call "
                                          << std::chrono::duration_cast<std::chrono::milliseconds>(first_call).count()
                                          << " ms, compile "
                                          << std::chrono::duration_cast<std::chrono::milliseconds>(compile_time).count()
                                          << " ms";
  EXPECT_EQ(fib(*m, 80), aot_fib);
  ::testing::Test::RecordProperty(
      "first_call_us", static_cast<int>(std::chrono::duration_cast<std::chrono::microseconds>(first_call).count()));
  ::testing::Test::RecordProperty(
      "wait_for_aot_load_ms",
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(compile_time).count()));

  ASSERT_TRUE(wait_for_tier(*m, "aot"));
  auto before = m->stats();
  EXPECT_EQ(add(*m, 40, 2), 42);
  EXPECT_EQ(fib(*m, 80), aot_fib);
  auto after = m->stats();
  EXPECT_EQ(after.aot_calls, before.aot_calls + 2);
  EXPECT_EQ(after.interp_calls, before.interp_calls);
  EXPECT_EQ(after.idle, 1u);  // one AOT instance, reused; the interpreter's were dropped
}

TEST_F(Tiers, ConcurrentCallsDuringTheSwitchAllSucceed) {
  auto m = load(options("cache"));
  ASSERT_TRUE(m);
  std::atomic<int> failures{0}, calls{0};
  std::atomic<bool> switched{false};
  std::vector<std::jthread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      int after_switch = 0;
      auto until = Clock::now() + 120s;
      for (int i = 0; after_switch < 50 && Clock::now() < until; ++i) {
        if (switched) ++after_switch;
        Val args[] = {std::int32_t{i}, std::int32_t{t}};
        auto r = m->call("add", args);
        if (!r || std::get<std::int32_t>((*r)[0]) != i + t) ++failures;
        ++calls;
      }
    });
  EXPECT_TRUE(wait_for_tier(*m, "aot"));
  switched = true;
  threads.clear();
  EXPECT_EQ(failures.load(), 0);
  auto stats = m->stats();
  EXPECT_GT(stats.interp_calls, 0u);
  EXPECT_GE(stats.aot_calls, 4u * 50);
  EXPECT_EQ(stats.interp_calls + stats.aot_calls, static_cast<std::uint64_t>(calls.load()));
  EXPECT_EQ(stats.busy, 0u);
}

TEST_F(Tiers, ACachedArtifactOrWaitForAotStartsOnAot) {
  auto waiting = options("cache");
  waiting.wait_for_aot = true;
  auto first = load(waiting);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->stats().tier, "aot");
  EXPECT_FALSE(first->stats().compiling);
  auto second = load(options("cache"));  // cached now: no interpreter phase
  ASSERT_TRUE(second);
  EXPECT_EQ(second->stats().tier, "aot");
  EXPECT_FALSE(second->stats().compiling);
  EXPECT_EQ(add(*second, 1, 1), 2);
  EXPECT_EQ(second->stats().aot_calls, 1u);
  auto interp = options("cache");
  interp.engine = "interp";
  auto third = load(interp);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->stats().tier, "interp");
  EXPECT_FALSE(third->stats().compiling);
}

TEST_F(Tiers, ACompileFailureLeavesTheModuleOnTheInterpreter) {
  ASSERT_TRUE(write_file(dir_ + "/not-a-dir", "x"));
  auto o = options("not-a-dir/cache");  // the cache cannot be made: the compile fails
  std::mutex mutex;
  std::vector<std::string> warnings;
  o.log = [&](int level, std::string_view message) {
    std::lock_guard lock(mutex);
    if (level == 2) warnings.emplace_back(message);
  };
  auto m = load(o);
  ASSERT_TRUE(m);
  EXPECT_EQ(add(*m, 2, 3), 5);
  auto until = Clock::now() + 60s;
  while (m->stats().compiling && Clock::now() < until) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(m->stats().compiling);
  EXPECT_EQ(m->stats().tier, "interp");
  EXPECT_EQ(add(*m, 4, 5), 9);
  std::lock_guard lock(mutex);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("AOT compile failed"), std::string::npos) << warnings[0];
}

TEST_F(Tiers, ReleasingTheModuleDuringTheCompileWaitsForIt) {
  auto m = load(options("cache"));
  ASSERT_TRUE(m);
  EXPECT_EQ(add(*m, 1, 2), 3);
  m.reset();  // joins the compiler thread; nothing left running against a freed module
  SUCCEED();
}

TEST_F(Tiers, FuelIsRefusedWhenTieringUp) {
  auto o = options("cache");
  o.limits.fuel = 1000;
  auto m = FunctionModule::load(dir_ + "/reactor.wat", o);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("fuel"), std::string::npos) << m.error().message;
}

}  // namespace
}  // namespace berth::functions
