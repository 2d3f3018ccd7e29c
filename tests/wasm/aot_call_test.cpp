// The AOT engine runs exports of every value type and calls host functions.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "wasm/aot_support.hpp"

namespace berth::wasm::aot {
namespace {

using testing::compile_wat;
using testing::instantiate;

constexpr std::string_view kArithmetic = R"((module
  (func (export "add_i32") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
  (func (export "mul_i64") (param i64 i64) (result i64) local.get 0 local.get 1 i64.mul)
  (func (export "half_f32") (param f32) (result f32) local.get 0 f32.const 0.5 f32.mul)
  (func (export "sqrt_f64") (param f64) (result f64) local.get 0 f64.sqrt)
  (func (export "swap") (param i32 i64) (result i64 i32) local.get 1 local.get 0)
  (global (export "counter") (mut i32) (i32.const 41))
  (func (export "bump") (result i32)
    global.get 0 i32.const 1 i32.add global.set 0 global.get 0)
  (memory (export "memory") 1 4)
  (data (i32.const 16) "hello")
))";

TEST(AotCall, ExportsOfEveryNumericType) {
  auto module = compile_wat(kArithmetic);
  ASSERT_TRUE(module);
  auto instance = instantiate(*module);
  ASSERT_TRUE(instance);

  auto sum = instance->call("add_i32", std::vector{Value::i32(40), Value::i32(2)});
  ASSERT_TRUE(sum) << sum.error().message;
  EXPECT_EQ((*sum)[0].as_i32(), 42u);

  auto product = instance->call("mul_i64", std::vector{Value::i64(1ull << 33), Value::i64(3)});
  ASSERT_TRUE(product);
  EXPECT_EQ((*product)[0].as_i64(), 3ull << 33);

  auto half = instance->call("half_f32", std::vector{Value::f32_bits(std::bit_cast<std::uint32_t>(3.0f))});
  ASSERT_TRUE(half);
  EXPECT_EQ(std::bit_cast<float>((*half)[0].as_i32()), 1.5f);

  auto root = instance->call("sqrt_f64", std::vector{Value::f64_bits(std::bit_cast<std::uint64_t>(2.0))});
  ASSERT_TRUE(root);
  EXPECT_DOUBLE_EQ(std::bit_cast<double>((*root)[0].bits), std::sqrt(2.0));

  auto swapped = instance->call("swap", std::vector{Value::i32(7), Value::i64(9)});
  ASSERT_TRUE(swapped);
  ASSERT_EQ(swapped->size(), 2u);
  EXPECT_EQ((*swapped)[0], Value::i64(9));
  EXPECT_EQ((*swapped)[1], Value::i32(7));

  EXPECT_EQ(instance->global("counter"), Value::i32(41));
  ASSERT_TRUE(instance->call("bump", {}));
  EXPECT_EQ(instance->global("counter"), Value::i32(42));

  ASSERT_NE(instance->memory(), nullptr);
  EXPECT_EQ(instance->memory()->size(), 65536u);
  auto view = instance->memory()->view(16, 5);
  ASSERT_TRUE(view);
  EXPECT_EQ(std::string(view->begin(), view->end()), "hello");
}

TEST(AotCall, ArgumentsAreCheckedAgainstTheExportType) {
  auto module = compile_wat(kArithmetic);
  ASSERT_TRUE(module);
  auto instance = instantiate(*module);
  ASSERT_TRUE(instance);
  auto wrong = instance->call("add_i32", std::vector{Value::i64(1), Value::i32(2)});
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("add_i32"), std::string::npos);
  EXPECT_FALSE(instance->poisoned());
  EXPECT_FALSE(instance->call("missing", {}));
}

TEST(AotCall, HostFunctionsSeeArgumentsMemoryAndContext) {
  auto module = compile_wat(R"((module
    (import "host" "add3" (func $add3 (param i32 i64 f64) (result i64)))
    (import "host" "peek" (func $peek (param i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 100) "\2a")
    (func (export "run") (result i64)
      i32.const 1 i64.const 2 f64.const 3 call $add3
      i32.const 100 call $peek i64.extend_i32_u i64.add)))");
  ASSERT_TRUE(module);
  int context = 0;
  Imports imports;
  imports.functions.push_back(HostFunction{
      "host", "add3", FunctionType{{ValueType::i32, ValueType::i64, ValueType::f64}, {ValueType::i64}},
      [](HostCall&, std::span<const Value> args, std::span<Value> results) -> CallResult<void> {
        results[0] = Value::i64(args[0].as_i32() + args[1].as_i64() +
                                static_cast<std::uint64_t>(std::bit_cast<double>(args[2].bits)));
        return {};
      }});
  imports.functions.push_back(HostFunction{
      "host", "peek", FunctionType{{ValueType::i32}, {ValueType::i32}},
      [&context](HostCall& call, std::span<const Value> args, std::span<Value> results) -> CallResult<void> {
        EXPECT_EQ(call.context, &context);
        auto byte = call.memory->view(args[0].as_i32(), 1);
        if (!byte) return std::unexpected(Trap{TrapKind::host_error, "peek out of bounds"});
        results[0] = Value::i32((*byte)[0]);
        return {};
      }});
  auto instance = instantiate(*module, imports);
  ASSERT_TRUE(instance);
  instance->set_host_context(&context);
  auto result = instance->call("run", {});
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ((*result)[0], Value::i64(6 + 42));
}

TEST(AotCall, MissingImportIsNamed) {
  auto module = compile_wat(R"((module (import "env" "absent" (func))))");
  ASSERT_TRUE(module);
  auto instance = module->instantiate({}, {});
  ASSERT_FALSE(instance);
  EXPECT_NE(instance.error().message.find("\"env\" \"absent\""), std::string::npos) << instance.error().message;
}

}  // namespace
}  // namespace berth::wasm::aot
