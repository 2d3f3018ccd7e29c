// FunctionModule: typed calls, the pool (reuse, poisoning, bounds), limits and ceilings, bytes
// in and out, on both engines.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fmt/format.h>
#include <thread>

#include <berth/functions.hpp>

#include "support/aot_cache.hpp"
#include "common/fs.hpp"

namespace berth::functions {
namespace {

using namespace std::chrono_literals;

constexpr const char* kReactor = R"((module
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $count (i32.const 100)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "count") (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1))) (global.get $count))
  ;; Stores x, spins, reads it back: a caller sharing the instance would show up as a wrong answer.
  (func (export "echo") (param i64) (result i64) (local i32)
    (i64.store (i32.const 0) (local.get 0))
    (loop $l (local.set 1 (i32.add (local.get 1) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get 1) (i32.const 300))))
    (i64.load (i32.const 0)))
  (func (export "trap_if") (param i32) (result i32)
    (if (local.get 0) (then unreachable)) (global.get $count))
  (func (export "spin") (loop $l (br $l)))
  (func (export "fadd") (param f32 f64) (result f64) (f64.add (f64.promote_f32 (local.get 0)) (local.get 1)))
  (func (export "berth_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "upper") (param $p i32) (param $n i32) (result i64) (local $i i32) (local $c i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $c (i32.load8_u (i32.add (local.get $p) (local.get $i))))
      (if (i32.and (i32.ge_u (local.get $c) (i32.const 97)) (i32.le_u (local.get $c) (i32.const 122)))
        (then (i32.store8 (i32.add (local.get $p) (local.get $i)) (i32.sub (local.get $c) (i32.const 32)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32)) (i64.extend_i32_u (local.get $n))))
  (func (export "bad_out") (param i32 i32) (result i64) (i64.const 0x7fff000000000010)))
)";

constexpr const char* kCommand = R"((module
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (func (export "_start"))
  (func (export "count") (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1))) (global.get $count))
  (func (export "poke") (result i32)
    (i32.store8 (i32.const 100) (i32.const 0xab))
    (drop (memory.grow (i32.const 1)))
    (i32.store8 (i32.const 70000) (i32.const 0xcd))
    (memory.size))
  (func (export "peek") (result i32) (i32.load8_u (i32.const 100)))
  (func (export "peek_far") (result i32) (i32.load8_u (i32.const 70000))))
)";

class Functions : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/berth-functions-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    ASSERT_TRUE(write_file(dir_ + "/reactor.wat", kReactor));
    ASSERT_TRUE(write_file(dir_ + "/command.wat", kCommand));
  }
  void TearDown() override { (void)remove_tree(dir_); }

  LoadOptions options() {
    LoadOptions o;
    o.engine = GetParam();
    // Shared with the spec tests' cache, so the AOT compile happens once per machine.
    o.aot_cache_dir = berth::testing::shared_aot_cache_dir();
    return o;
  }
  std::shared_ptr<FunctionModule> load(const std::string& file, LoadOptions o) {
    auto module = FunctionModule::load(dir_ + "/" + file, o);
    EXPECT_TRUE(module) << module.error().message;
    return module ? *module : nullptr;
  }
  static std::int32_t i32_of(const Result<std::vector<Val>>& r) {
    EXPECT_TRUE(r) << r.error().message;
    return r && r->size() == 1 ? std::get<std::int32_t>((*r)[0]) : -1;
  }

  std::string dir_;
};

TEST_P(Functions, ExportsManifestAndTypedCallsCheckedAgainstTheSignature) {
  auto module = load("reactor.wat", options());
  ASSERT_TRUE(module);
  EXPECT_TRUE(module->is_reactor());
  bool add = false;
  for (const auto& e : module->exports()) add |= e.name == "add" && to_string(e.signature) == "(i32, i32) -> (i32)";
  EXPECT_TRUE(add);
  Val two_three[] = {std::int32_t{2}, std::int32_t{3}};
  EXPECT_EQ(i32_of(module->call("add", two_three)), 5);
  Val mixed[] = {1.5f, 2.25};
  auto sum = module->call("fadd", mixed);
  ASSERT_TRUE(sum) << sum.error().message;
  EXPECT_EQ(std::get<double>((*sum)[0]), 3.75);

  Val wrong[] = {std::int64_t{2}, std::int32_t{3}};
  auto mismatch = module->call("add", wrong);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, ErrorCode::invalid_spec);
  EXPECT_EQ(mismatch.error().message, "add: takes (i32, i32) -> (i32), given (i64, i32)");
  auto missing = module->call("nope", {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);
}

TEST_P(Functions, AReactorKeepsItsStateAcrossCallsAndATrappedInstanceIsNeverReused) {
  auto o = options();
  o.limits.pool_size = 1;
  auto module = load("reactor.wat", o);
  ASSERT_TRUE(module);
  // _initialize set the counter to 100; each call on the one instance goes on from there.
  EXPECT_EQ(i32_of(module->call("count", {})), 101);
  EXPECT_EQ(i32_of(module->call("count", {})), 102);
  // Every 4th call traps: the next call sees a fresh instance (re-initialised), never the one
  // that trapped.
  for (int round = 0; round < 5; ++round) {
    Val yes[] = {std::int32_t{1}};
    auto trapped = module->call("trap_if", yes);
    ASSERT_FALSE(trapped);
    EXPECT_NE(trapped.error().message.find("trap_if: wasm trap: unreachable"), std::string::npos)
        << trapped.error().message;
    for (int i = 1; i <= 3; ++i) EXPECT_EQ(i32_of(module->call("count", {})), 100 + i) << "round " << round;
  }
  auto stats = module->stats();
  EXPECT_EQ(stats.dropped, 5u);
  EXPECT_EQ(stats.created, 6u);
  EXPECT_EQ(stats.busy, 0u);
  EXPECT_EQ(stats.idle, 1u);
}

TEST_P(Functions, EightThreadsOfCallsSeeNoCrossTalk) {
  auto o = options();
  o.limits.pool_size = 4;
  auto module = load("reactor.wat", o);
  ASSERT_TRUE(module);
  std::atomic<int> wrong{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        std::int64_t mine = (std::int64_t{t} << 32) | i;
        Val arg[] = {mine};
        auto r = module->call("echo", arg);
        if (!r) ++failed;
        else if (std::get<std::int64_t>((*r)[0]) != mine) ++wrong;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  auto stats = module->stats();
  EXPECT_LE(stats.created, 4u);
  EXPECT_EQ(stats.busy, 0u);
}

TEST_P(Functions, ADeadlineTrapsTheCallAndTheNextCallIsFine) {
  auto o = options();
  o.limits.execution_time = 100ms;
  auto module = load("reactor.wat", o);
  ASSERT_TRUE(module);
  auto spun = module->call("spin", {});
  ASSERT_FALSE(spun);
  EXPECT_EQ(spun.error().code, ErrorCode::timeout) << spun.error().message;
  Val args[] = {std::int32_t{40}, std::int32_t{2}};
  EXPECT_EQ(i32_of(module->call("add", args)), 42);
  EXPECT_EQ(module->stats().dropped, 1u);
}

TEST_P(Functions, CallsWaitForABusyPoolAndGiveUpAfterTheCheckoutTimeout) {
  auto o = options();
  o.limits.pool_size = 1;
  o.limits.execution_time = 1000ms;
  o.checkout_timeout = 100ms;
  auto module = load("reactor.wat", o);
  ASSERT_TRUE(module);
  std::thread busy([&] { (void)module->call("spin", {}); });
  std::this_thread::sleep_for(300ms);
  Val args[] = {std::int32_t{1}, std::int32_t{1}};
  auto waited = module->call("add", args);
  busy.join();
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, ErrorCode::timeout);
  EXPECT_NE(waited.error().message.find("no instance free within 100 ms"), std::string::npos) << waited.error().message;
  EXPECT_EQ(i32_of(module->call("add", args)), 2);  // the spinning instance was dropped; a new one serves
}

TEST_P(Functions, LimitsAboveTheCeilingsOrNonsenseAreRefusedAtLoad) {
  auto o = options();
  o.limits.memory_bytes = 1ull << 30;
  auto high = FunctionModule::load(dir_ + "/reactor.wat", o);
  ASSERT_FALSE(high);
  EXPECT_EQ(high.error().code, ErrorCode::limit_exceeded);
  EXPECT_NE(high.error().message.find("limits.memory_bytes: 1073741824 is above the ceiling of 268435456"),
            std::string::npos)
      << high.error().message;
  o = options();
  o.limits.pool_size = 1000;
  EXPECT_FALSE(FunctionModule::load(dir_ + "/reactor.wat", o));
  o = options();
  o.limits.pool_size = 0;
  EXPECT_FALSE(FunctionModule::load(dir_ + "/reactor.wat", o));
  o = options();
  o.limits.memory_bytes = 1000;  // the module's memory starts at one 64 KiB page
  auto small = FunctionModule::load(dir_ + "/reactor.wat", o);
  ASSERT_FALSE(small);
  EXPECT_NE(small.error().message.find("above the memory limit"), std::string::npos) << small.error().message;
  o = options();
  o.limits.fuel = 1000;
  auto fuel = FunctionModule::load(dir_ + "/reactor.wat", o);
  if (GetParam() == "aot") {
    ASSERT_FALSE(fuel);
    EXPECT_NE(fuel.error().message.find("limits.fuel"), std::string::npos) << fuel.error().message;
  } else {
    ASSERT_TRUE(fuel) << fuel.error().message;
    auto spun = (*fuel)->call("spin", {});
    ASSERT_FALSE(spun);
    EXPECT_EQ(spun.error().code, ErrorCode::limit_exceeded) << spun.error().message;
  }
}

TEST_P(Functions, BytesInBytesOutThroughTheGuestsAllocator) {
  auto module = load("reactor.wat", options());
  ASSERT_TRUE(module);
  std::string hello = "hello, world";
  auto out = module->call_bytes("upper", std::span(reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size()));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(std::string(out->begin(), out->end()), "HELLO, WORLD");
  auto outside = module->call_bytes("bad_out", {});
  ASSERT_FALSE(outside);
  EXPECT_NE(outside.error().message.find("outside the guest's memory"), std::string::npos) << outside.error().message;
  auto not_bytes = module->call_bytes("add", {});
  ASSERT_FALSE(not_bytes);
  EXPECT_NE(not_bytes.error().message.find("the bytes convention needs (i32, i32) -> (i64)"), std::string::npos)
      << not_bytes.error().message;
}

TEST_P(Functions, ACommandModuleGetsAFreshInstanceEveryCall) {
  auto module = load("command.wat", options());
  ASSERT_TRUE(module);
  EXPECT_FALSE(module->is_reactor());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(i32_of(module->call("count", {})), 1);
  EXPECT_EQ(module->stats().idle, 0u);
  EXPECT_EQ(module->stats().dropped, 3u);
}

// Linear memory is recycled between instances (the AOT runtime keeps freed reservations): what
// one instance wrote and grew must be gone for the next, zeroed and out of bounds again.
TEST_P(Functions, ANewInstanceSeesNothingOfTheMemoryOfTheOneBefore) {
  auto module = load("command.wat", options());
  ASSERT_TRUE(module);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(i32_of(module->call("poke", {})), 2);
    EXPECT_EQ(i32_of(module->call("peek", {})), 0) << "round " << round;
    auto far = module->call("peek_far", {});
    ASSERT_FALSE(far) << "round " << round;
    EXPECT_NE(far.error().message.find("out of bounds"), std::string::npos) << far.error().message;
  }
}

TEST_P(Functions, PrewarmedInstancesAreReadyAtLoad) {
  auto o = options();
  o.prewarm = 3;
  auto module = load("reactor.wat", o);
  ASSERT_TRUE(module);
  EXPECT_EQ(module->stats().idle, 3u);
  EXPECT_EQ(module->stats().created, 3u);
  EXPECT_EQ(i32_of(module->call("count", {})), 101);
  EXPECT_EQ(module->stats().created, 3u);
}

INSTANTIATE_TEST_SUITE_P(Engines, Functions, ::testing::Values("aot", "interp"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace berth::functions
