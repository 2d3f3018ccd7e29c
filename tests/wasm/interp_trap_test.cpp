#include "interp_support.hpp"

namespace berth::wasm {
namespace {

using test::instantiate;
using test::load_wat;

constexpr std::string_view kTraps = R"(
(module
  (type $v (func))
  (type $i (func (result i32)))
  (memory (export "memory") 1)
  (table 3 funcref)
  (elem (i32.const 0) $ok)
  (func $ok)
  (func (export "unreachable") unreachable)
  (func (export "load_oob") (drop (i32.load (i32.const 65535))))
  (func (export "store_oob") (i64.store (i32.const 65532) (i64.const 1)))
  (func (export "fill_oob") (memory.fill (i32.const 65000) (i32.const 0) (i32.const 1000)))
  (func (export "table_oob") (call_indirect (type $v) (i32.const 7)))
  (func (export "table_get_oob") (drop (table.get 0 (i32.const 3))))
  (func (export "uninitialized") (call_indirect (type $v) (i32.const 1)))
  (func (export "type_mismatch") (drop (call_indirect (type $i) (i32.const 0))))
  (func (export "div_zero") (drop (i32.div_u (i32.const 1) (i32.const 0))))
  (func (export "rem_zero") (drop (i64.rem_s (i64.const 1) (i64.const 0))))
  (func (export "overflow") (drop (i32.div_s (i32.const 0x80000000) (i32.const -1))))
  (func (export "trunc_overflow") (drop (i32.trunc_f64_s (f64.const 1e10))))
  (func (export "trunc_nan") (drop (i64.trunc_f32_u (f32.const nan))))
  (func $recurse (export "recurse") (call $recurse))
  (func $recurse_indirect (export "recurse_indirect") (call_indirect (type $v) (i32.const 2)))
  (elem (i32.const 2) $recurse_indirect)
  (func (export "fine") (result i32) (i32.const 1))
)
)";

struct TrapCase {
  const char* export_name;
  TrapKind kind;
};

TEST(InterpTrap, EveryWabtTrapMapsToItsKind) {
  auto module = load_wat(kTraps);
  ASSERT_TRUE(module);
  const TrapCase cases[] = {
      {"unreachable", TrapKind::unreachable},
      {"load_oob", TrapKind::memory_out_of_bounds},
      {"store_oob", TrapKind::memory_out_of_bounds},
      {"fill_oob", TrapKind::memory_out_of_bounds},
      {"table_oob", TrapKind::table_out_of_bounds},
      {"table_get_oob", TrapKind::table_out_of_bounds},
      {"uninitialized", TrapKind::uninitialized_element},
      {"type_mismatch", TrapKind::indirect_call_type_mismatch},
      {"div_zero", TrapKind::integer_divide_by_zero},
      {"rem_zero", TrapKind::integer_divide_by_zero},
      {"overflow", TrapKind::integer_overflow},
      {"trunc_overflow", TrapKind::integer_overflow},
      {"trunc_nan", TrapKind::invalid_conversion},
      {"recurse", TrapKind::call_stack_exhausted},
      {"recurse_indirect", TrapKind::call_stack_exhausted},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.export_name);
    auto instance = instantiate(*module);  // a trap poisons: one instance per case
    ASSERT_TRUE(instance);
    auto r = instance->call(c.export_name, {});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, c.kind) << r.error().message;
    EXPECT_TRUE(instance->poisoned());
  }
}

TEST(InterpTrap, PoisonedInstanceRefusesFurtherCalls) {
  auto module = load_wat(kTraps);
  ASSERT_TRUE(module);
  auto instance = instantiate(*module);
  ASSERT_TRUE(instance);
  ASSERT_TRUE(instance->call("fine", {}));
  EXPECT_FALSE(instance->poisoned());

  auto trapped = instance->call("div_zero", {});
  ASSERT_FALSE(trapped);
  EXPECT_TRUE(instance->poisoned());

  auto refused = instance->call("fine", {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, TrapKind::integer_divide_by_zero);
  EXPECT_NE(refused.error().message.find("poisoned"), std::string::npos) << refused.error().message;

  // Other instances of the same module are untouched.
  auto fresh = instantiate(*module);
  ASSERT_TRUE(fresh);
  auto r = fresh->call("fine", {});
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0], Value::i32(1));
}

TEST(InterpTrap, HostTrapsPassThroughUnchanged) {
  auto module = load_wat(R"(
    (module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (func (export "_start") (call $exit (i32.const 3)) unreachable))
  )");
  ASSERT_TRUE(module);
  Imports imports;
  imports.functions.push_back({"wasi_snapshot_preview1", "proc_exit", {{ValueType::i32}, {}},
                               [](HostCall&, std::span<const Value> args, std::span<Value>) -> CallResult<void> {
                                 return std::unexpected(Trap{TrapKind::exit, "exit", static_cast<int>(args[0].as_i32())});
                               }});
  auto instance = instantiate(*module, imports);
  ASSERT_TRUE(instance);
  auto r = instance->call("_start", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, TrapKind::exit);
  EXPECT_EQ(r.error().exit_code, 3);
  EXPECT_TRUE(instance->poisoned());
}

TEST(InterpTrap, HostExceptionsBecomeHostErrors) {
  auto module = load_wat(R"((module (import "env" "f" (func $f)) (func (export "run") (call $f))))");
  ASSERT_TRUE(module);
  Imports imports;
  imports.functions.push_back({"env", "f", {}, [](HostCall&, std::span<const Value>, std::span<Value>) -> CallResult<void> {
                                 throw std::runtime_error("boom");
                               }});
  auto instance = instantiate(*module, imports);
  ASSERT_TRUE(instance);
  auto r = instance->call("run", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, TrapKind::host_error);
  EXPECT_NE(r.error().message.find("boom"), std::string::npos);
}

TEST(InterpTrap, StartFunctionTrapFailsInstantiation) {
  auto module = load_wat(R"((module (func $s unreachable) (start $s)))");
  ASSERT_TRUE(module);
  auto instance = module->instantiate({}, {});
  ASSERT_FALSE(instance);
  EXPECT_NE(instance.error().message.find("unreachable"), std::string::npos) << instance.error().message;

  auto segment = load_wat(R"((module (memory 1) (data (i32.const 65535) "ab")))");
  ASSERT_TRUE(segment);
  auto oob = segment->instantiate({}, {});
  ASSERT_FALSE(oob);
  EXPECT_NE(oob.error().message.find("out of bounds"), std::string::npos) << oob.error().message;
}

}  // namespace
}  // namespace berth::wasm

namespace berth::wasm {
namespace {

TEST(InterpTrap, DeepRecursionWithLargeFramesExhaustsTheStack) {
  // 1000 locals per frame: the value stack fills before the call stack does.
  std::string locals;
  for (int i = 0; i < 1000; ++i) locals += " i64";
  auto module = test::load_wat("(module (func $f (export \"f\") (local" + locals + ") (call $f)))");
  ASSERT_TRUE(module);
  auto instance = test::instantiate(*module);
  auto r = instance->call("f", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, TrapKind::call_stack_exhausted) << r.error().message;
}

TEST(InterpTrap, ModulesWithTooManyLocalsAreRefused) {
  // wat2wasm writes the 100000 locals as one declaration: a few bytes of binary, 1.6 MB per call.
  std::string locals;
  for (int i = 0; i < 100000; ++i) locals += " i32";
  auto module = interp::load_module(test::wat("(module (func (local" + locals + ")))"));
  ASSERT_FALSE(module);
  EXPECT_NE(module.error().message.find("100000 locals"), std::string::npos) << module.error().message;
}

}  // namespace
}  // namespace berth::wasm
