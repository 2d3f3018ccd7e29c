#include "interp_support.hpp"

#include <chrono>

namespace berth::wasm {
namespace {

using namespace std::chrono_literals;
using test::instantiate;
using test::load_wat;

// Sums 1..n with a loop: the instruction count is affine in n.
constexpr std::string_view kLoop = R"(
(module
  (func (export "sum") (param $n i32) (result i32) (local $acc i32)
    (block $done
      (loop $again
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (local.get $n)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $again)))
    (local.get $acc))
  (func (export "spin") (loop $l (br $l)))
)
)";

std::uint64_t steps_for(CompiledModule& module, std::uint32_t n) {
  auto instance = instantiate(module);
  Value args[] = {Value::i32(n)};
  auto r = instance->call("sum", args);
  EXPECT_TRUE(r);
  EXPECT_EQ((*r)[0].as_i32(), n * (n + 1) / 2);
  return instance->fuel_used().value_or(0);
}

TEST(InterpLimits, FuelIsExact) {
  auto module = load_wat(kLoop);
  ASSERT_TRUE(module);
  const std::uint64_t base = steps_for(*module, 0);
  const std::uint64_t per_iteration = steps_for(*module, 1) - base;
  ASSERT_GT(per_iteration, 0u);
  // The loop of known shape: every iteration costs the same.
  const std::uint64_t needed = steps_for(*module, 1000);
  EXPECT_EQ(needed, base + 1000 * per_iteration);

  Value args[] = {Value::i32(1000)};
  InstanceLimits exact;
  exact.fuel = needed;
  auto enough = instantiate(*module, {}, exact);
  auto r = enough->call("sum", args);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].as_i32(), 500500u);
  EXPECT_EQ(enough->fuel_used(), needed);
  // The budget is per call: the next call gets all of it again.
  ASSERT_TRUE(enough->call("sum", args));

  InstanceLimits short_by_one;
  short_by_one.fuel = needed - 1;
  auto starved = instantiate(*module, {}, short_by_one);
  r = starved->call("sum", args);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, TrapKind::fuel_exhausted);
  EXPECT_EQ(starved->fuel_used(), needed - 1);
  EXPECT_TRUE(starved->poisoned());
  EXPECT_FALSE(starved->call("sum", args));
}

TEST(InterpLimits, FuelStopsAnInfiniteLoopAndTheStartFunction) {
  auto module = load_wat(kLoop);
  ASSERT_TRUE(module);
  InstanceLimits limits;
  limits.fuel = 1'000'000;
  auto instance = instantiate(*module, {}, limits);
  auto r = instance->call("spin", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, TrapKind::fuel_exhausted);
  EXPECT_EQ(instance->fuel_used(), 1'000'000u);

  auto spinning_start = load_wat(R"((module (func $s (loop $l (br $l))) (start $s)))");
  ASSERT_TRUE(spinning_start);
  auto failed = spinning_start->instantiate({}, limits);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ErrorCode::limit_exceeded);
  EXPECT_NE(failed.error().message.find("fuel"), std::string::npos) << failed.error().message;
}

TEST(InterpLimits, DeadlineStopsAnInfiniteLoop) {
  auto module = load_wat(kLoop);
  ASSERT_TRUE(module);
  InstanceLimits limits;
  limits.deadline = 50ms;
  auto instance = instantiate(*module, {}, limits);
  const auto start = std::chrono::steady_clock::now();
  auto r = instance->call("spin", {});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, TrapKind::deadline_exceeded);
  EXPECT_GE(elapsed, 50ms);
  EXPECT_LT(elapsed, 2s);  // generous: the machine is shared
  EXPECT_GT(*instance->fuel_used(), 0u);
  EXPECT_TRUE(instance->poisoned());

  // A call well within its deadline is unaffected.
  auto quick = instantiate(*module, {}, limits);
  Value args[] = {Value::i32(10)};
  EXPECT_TRUE(quick->call("sum", args));
}

constexpr std::string_view kGrow = R"(
(module
  (memory (export "memory") 2)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))
)
)";

TEST(InterpLimits, MemoryGrowPastTheLimitReturnsMinusOne) {
  auto module = load_wat(kGrow);
  ASSERT_TRUE(module);
  InstanceLimits limits;
  limits.memory_bytes = 4 * 65536;
  auto instance = instantiate(*module, {}, limits);
  ASSERT_TRUE(instance);

  Value three[] = {Value::i32(3)};
  auto r = instance->call("grow", three);  // 2 + 3 > 4
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].as_i32(), 0xffffffffu);
  Value two[] = {Value::i32(2)};
  r = instance->call("grow", two);  // 2 + 2 == 4
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].as_i32(), 2u);
  EXPECT_EQ(instance->memory()->size(), 4u * 65536);
  Value one[] = {Value::i32(1)};
  r = instance->call("grow", one);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].as_i32(), 0xffffffffu);
  EXPECT_FALSE(instance->poisoned());

  // The module's own maximum still applies below the limit.
  auto capped = load_wat(R"((module (memory 1 2) (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))))");
  ASSERT_TRUE(capped);
  auto small = instantiate(*capped, {}, limits);
  r = small->call("grow", two);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].as_i32(), 0xffffffffu);
}

TEST(InterpLimits, InstantiationNeedingMoreThanTheLimitFails) {
  auto module = load_wat(kGrow);
  ASSERT_TRUE(module);
  InstanceLimits limits;
  limits.memory_bytes = 65536;  // the module needs two pages
  auto instance = module->instantiate({}, limits);
  ASSERT_FALSE(instance);
  EXPECT_EQ(instance.error().code, ErrorCode::limit_exceeded);
  EXPECT_NE(instance.error().message.find("limit"), std::string::npos) << instance.error().message;
}

}  // namespace
}  // namespace berth::wasm
