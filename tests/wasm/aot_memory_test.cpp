// Linear memory grows up to the instance's limit; past it memory.grow returns -1.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "wasm/aot_support.hpp"

namespace berth::wasm::aot {
namespace {

using testing::compile_wat;
using testing::instantiate;

constexpr std::string_view kGrow = R"((module
  (memory (export "memory") 1)
  (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
  (func (export "size") (result i32) memory.size)
  (func (export "poke") (param i32) local.get 0 i32.const 99 i32.store8)
))";

TEST(AotMemory, GrowPastTheLimitReturnsMinusOne) {
  auto module = compile_wat(kGrow);
  ASSERT_TRUE(module);
  InstanceLimits limits;
  limits.memory_bytes = 4 * 65536;
  auto instance = instantiate(*module, {}, limits);
  ASSERT_TRUE(instance);
  EXPECT_EQ((*instance->call("grow", std::vector{Value::i32(2)}))[0], Value::i32(1));
  EXPECT_EQ((*instance->call("grow", std::vector{Value::i32(2)}))[0], Value::i32(0xffffffffu));
  EXPECT_EQ((*instance->call("grow", std::vector{Value::i32(1)}))[0], Value::i32(3));
  EXPECT_EQ((*instance->call("size", {}))[0], Value::i32(4));
  EXPECT_TRUE(instance->call("poke", std::vector{Value::i32(4 * 65536 - 1)}));
  EXPECT_EQ(instance->memory()->size(), 4u * 65536);
  EXPECT_FALSE(instance->poisoned());
  // The next page is a guard page.
  auto past = instance->call("poke", std::vector{Value::i32(4 * 65536)});
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().kind, TrapKind::memory_out_of_bounds);

  auto next = instantiate(*module, {}, limits);
  ASSERT_TRUE(next);
  EXPECT_EQ((*next->call("size", {}))[0], Value::i32(1));
}

TEST(AotMemory, InitialMemoryBeyondTheLimitFailsInstantiation) {
  auto module = compile_wat(R"((module (memory 8)))");
  ASSERT_TRUE(module);
  InstanceLimits limits;
  limits.memory_bytes = 4 * 65536;
  auto instance = module->instantiate({}, limits);
  ASSERT_FALSE(instance);
  EXPECT_EQ(instance.error().code, ErrorCode::limit_exceeded);
}

TEST(AotMemory, ManyInstancesReserveAndReleaseAddressSpace) {
  auto module = compile_wat(kGrow);
  ASSERT_TRUE(module);
  for (int i = 0; i < 200; ++i) {
    auto instance = instantiate(*module);
    ASSERT_TRUE(instance);
    ASSERT_TRUE(instance->call("poke", std::vector{Value::i32(100)}));
  }
}

TEST(AotMemory, LimitsOfConcurrentInstancesStayTheirOwn) {
  // Each thread's instances have their own limit while other threads allocate memories.
  auto module = compile_wat(kGrow);
  ASSERT_TRUE(module);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      InstanceLimits limits;
      limits.memory_bytes = (2 + t) * 65536ull;
      for (int i = 0; i < 50; ++i) {
        auto instance = module->instantiate({}, limits);
        if (!instance) {
          ++failures;
          continue;
        }
        auto grown = (*instance)->call("grow", std::vector{Value::i32(1 + t)});
        auto refused = (*instance)->call("grow", std::vector{Value::i32(1)});
        if (!grown || (*grown)[0] != Value::i32(1) || !refused || (*refused)[0] != Value::i32(0xffffffffu)) ++failures;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace berth::wasm::aot
