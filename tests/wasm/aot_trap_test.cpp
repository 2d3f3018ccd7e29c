// Every trap kind unwinds to the caller as a value, poisons the instance, and leaves the
// host and other instances intact.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "wasm/aot_support.hpp"

namespace berth::wasm::aot {
namespace {

using testing::compile_wat;
using testing::instantiate;

constexpr std::string_view kTraps = R"((module
  (memory (export "memory") 1 1)
  (func (export "unreachable") unreachable)
  (func (export "store_oob") (param i32) local.get 0 i32.const 7 i32.store)
  (func (export "load_far") (result i32) i32.const -1 i32.load offset=0xfffffff0)
  (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
  (func $recurse (export "recurse") (param i32) (result i32)
    local.get 0 i32.const 1 i32.add call $recurse)
  (func (export "spin") (loop br 0))
  (func (export "ok") (result i32) i32.const 1)
))";

void expect_trap(std::string_view export_name, std::vector<Value> args, TrapKind kind,
                 InstanceLimits limits = {}) {
  auto module = compile_wat(kTraps);
  ASSERT_TRUE(module);
  auto instance = instantiate(*module, {}, limits);
  ASSERT_TRUE(instance);
  auto result = instance->call(export_name, args);
  ASSERT_FALSE(result) << export_name << " returned";
  EXPECT_EQ(result.error().kind, kind) << export_name << ": " << result.error().message;
  EXPECT_TRUE(instance->poisoned());
  EXPECT_FALSE(instance->call("ok", {}));  // poisoned for good
  // A fresh instance of the same module is fine.
  auto next = instantiate(*module);
  ASSERT_TRUE(next);
  auto ok = next->call("ok", {});
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)[0], Value::i32(1));
}

TEST(AotTrap, Unreachable) { expect_trap("unreachable", {}, TrapKind::unreachable); }
TEST(AotTrap, OutOfBoundsStore) { expect_trap("store_oob", {Value::i32(65536)}, TrapKind::memory_out_of_bounds); }
TEST(AotTrap, OutOfBoundsFarLoad) { expect_trap("load_far", {}, TrapKind::memory_out_of_bounds); }
TEST(AotTrap, DivideByZero) {
  expect_trap("div", {Value::i32(1), Value::i32(0)}, TrapKind::integer_divide_by_zero);
}
TEST(AotTrap, DivideOverflow) {
  expect_trap("div", {Value::i32(0x80000000u), Value::i32(0xffffffffu)}, TrapKind::integer_overflow);
}
TEST(AotTrap, CallStackExhaustion) { expect_trap("recurse", {Value::i32(0)}, TrapKind::call_stack_exhausted); }

TEST(AotTrap, CallStackExhaustionOnASmallThreadStack) {
  // 256 KiB of stack runs out before the depth counter does: the guard page catches it.
  auto module = compile_wat(kTraps, "-O0");
  ASSERT_TRUE(module);
  std::optional<TrapKind> kind;
  pthread_attr_t attr;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, 256 << 10), 0);
  struct Job {
    CompiledModule* module;
    std::optional<TrapKind>* kind;
  } job{module.get(), &kind};
  pthread_t thread;
  ASSERT_EQ(pthread_create(&thread, &attr, [](void* p) -> void* {
              auto* job = static_cast<Job*>(p);
              auto instance = job->module->instantiate({}, {});
              if (!instance) return nullptr;
              auto result = (*instance)->call("recurse", std::vector{Value::i32(0)});
              if (!result) *job->kind = result.error().kind;
              return nullptr;
            }, &job), 0);
  ASSERT_EQ(pthread_join(thread, nullptr), 0);
  pthread_attr_destroy(&attr);
  EXPECT_EQ(kind, TrapKind::call_stack_exhausted);
}

TEST(AotTrap, InfiniteLoopMeetsTheDeadline) {
  InstanceLimits limits;
  limits.deadline = std::chrono::milliseconds(50);
  auto started = std::chrono::steady_clock::now();
  expect_trap("spin", {}, TrapKind::deadline_exceeded, limits);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

// Deadlines come from one watchdog thread for the process (no timer per call): several threads
// spinning at once all stop; the watchdog going idle after a quiet spell still wakes for the next
// deadline; and thousands of short calls under a tight deadline never see a stray one.
TEST(AotTrap, DeadlinesOnManyThreadsAndAfterTheWatchdogIdles) {
  auto module = compile_wat(kTraps);
  ASSERT_TRUE(module);
  InstanceLimits limits;
  limits.deadline = std::chrono::milliseconds(30);
  auto spin_until_trap = [&] {
    auto instance = instantiate(*module, {}, limits);
    if (!instance) return false;
    auto result = instance->call("spin", {});
    return !result && result.error().kind == TrapKind::deadline_exceeded;
  };
  std::atomic<int> trapped{0}, short_ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      if (spin_until_trap()) ++trapped;
      InstanceLimits tight;
      tight.deadline = std::chrono::milliseconds(5);
      auto instance = instantiate(*module, {}, tight);
      if (!instance) return;
      for (int i = 0; i < 5000; ++i)
        if (auto r = instance->call("ok", {}); r && (*r)[0] == Value::i32(1)) ++short_ok;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(trapped.load(), 4);
  EXPECT_EQ(short_ok.load(), 4 * 5000);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // the watchdog goes idle
  auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(spin_until_trap());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
}

TEST(AotTrap, DeadlineWaitsForHostFunctionToReturn) {
  auto module = compile_wat(R"((module
    (import "host" "sleep" (func $sleep))
    (func (export "run") call $sleep (loop br 0))))");
  ASSERT_TRUE(module);
  bool host_finished = false;
  Imports imports;
  imports.functions.push_back(HostFunction{"host", "sleep", FunctionType{},
                                           [&](HostCall&, std::span<const Value>, std::span<Value>) -> CallResult<void> {
                                             std::this_thread::sleep_for(std::chrono::milliseconds(100));
                                             host_finished = true;
                                             return {};
                                           }});
  InstanceLimits limits;
  limits.deadline = std::chrono::milliseconds(20);
  auto instance = instantiate(*module, imports, limits);
  ASSERT_TRUE(instance);
  auto result = instance->call("run", {});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, TrapKind::deadline_exceeded);
  EXPECT_TRUE(host_finished);
}

TEST(AotTrap, HostFunctionErrorUnwindsTheGuest) {
  auto module = compile_wat(R"((module
    (import "host" "fail" (func $fail))
    (func (export "run") (result i32) call $fail i32.const 1)))");
  ASSERT_TRUE(module);
  Imports imports;
  imports.functions.push_back(HostFunction{"host", "fail", FunctionType{},
                                           [](HostCall&, std::span<const Value>, std::span<Value>) -> CallResult<void> {
                                             return std::unexpected(Trap{TrapKind::exit, "exit", 3});
                                           }});
  auto instance = instantiate(*module, imports);
  ASSERT_TRUE(instance);
  auto result = instance->call("run", {});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().kind, TrapKind::exit);
  EXPECT_EQ(result.error().exit_code, 3);
}

TEST(AotTrap, HostFaultOutsideGuestMemoryIsNotSwallowed) {
  // The handler only claims faults of guest code: a host null dereference still kills.
  EXPECT_DEATH(
      {
        auto module = compile_wat(kTraps);
        auto instance = instantiate(*module);
        volatile int* null = nullptr;
        *null = 1;
      },
      "");
}

}  // namespace
}  // namespace berth::wasm::aot
