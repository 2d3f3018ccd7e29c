#include "interp_support.hpp"

#include <bit>
#include <cmath>
#include <cstring>

namespace berth::wasm {
namespace {

using test::instantiate;
using test::load_wat;
using test::wat;

constexpr std::string_view kArith = R"(
(module
  (func (export "add_i32") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "mul_i64") (param i64 i64) (result i64) (i64.mul (local.get 0) (local.get 1)))
  (func (export "div_f32") (param f32 f32) (result f32) (f32.div (local.get 0) (local.get 1)))
  (func (export "sqrt_f64") (param f64) (result f64) (f64.sqrt (local.get 0)))
  (func (export "id_f32") (param f32) (result f32) (local.get 0))
  (func (export "swap") (param i32 i64) (result i64 i32) (local.get 1) (local.get 0))
  (func (export "nothing"))
  (func (export "ext8") (param i32) (result i32) (i32.extend8_s (local.get 0)))
  (func (export "sat") (param f64) (result i32) (i32.trunc_sat_f64_s (local.get 0)))
  (func (export "v128_add") (param v128 v128) (result v128) (i32x4.add (local.get 0) (local.get 1)))
  (global (export "counter") (mut i64) (i64.const 41))
  (func (export "bump") (global.set 0 (i64.add (global.get 0) (i64.const 1))))
)
)";

TEST(InterpCall, IntegerAndFloatCalls) {
  auto module = load_wat(kArith);
  ASSERT_TRUE(module);
  auto instance = instantiate(*module);
  ASSERT_TRUE(instance);

  Value args_i32[] = {Value::i32(40), Value::i32(2)};
  auto r = instance->call("add_i32", args_i32);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0], Value::i32(42));

  Value args_i32_wrap[] = {Value::i32(0xffffffffu), Value::i32(2)};
  r = instance->call("add_i32", args_i32_wrap);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].as_i32(), 1u);

  Value args_i64[] = {Value::i64(1ull << 40), Value::i64(3)};
  r = instance->call("mul_i64", args_i64);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0], Value::i64(3ull << 40));

  Value args_f32[] = {Value::f32_bits(std::bit_cast<std::uint32_t>(7.5f)),
                      Value::f32_bits(std::bit_cast<std::uint32_t>(2.5f))};
  r = instance->call("div_f32", args_f32);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::bit_cast<float>((*r)[0].as_i32()), 3.0f);
  EXPECT_EQ((*r)[0].type, ValueType::f32);

  Value args_f64[] = {Value::f64_bits(std::bit_cast<std::uint64_t>(2.0))};
  r = instance->call("sqrt_f64", args_f64);
  ASSERT_TRUE(r);
  EXPECT_EQ(std::bit_cast<double>((*r)[0].as_i64()), std::sqrt(2.0));

  // A NaN's payload survives the trip in and out.
  Value nan[] = {Value::f32_bits(0x7fa00001u)};
  r = instance->call("id_f32", nan);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].as_i32(), 0x7fa00001u);
}

TEST(InterpCall, MultiValueSignExtSaturatingSimdAndGlobals) {
  auto module = load_wat(kArith);
  ASSERT_TRUE(module);
  auto instance = instantiate(*module);
  ASSERT_TRUE(instance);

  Value swap_args[] = {Value::i32(7), Value::i64(9)};
  auto r = instance->call("swap", swap_args);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0], Value::i64(9));
  EXPECT_EQ((*r)[1], Value::i32(7));

  r = instance->call("nothing", {});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->empty());

  Value ext[] = {Value::i32(0x80)};
  r = instance->call("ext8", ext);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].as_i32(), 0xffffff80u);

  Value big[] = {Value::f64_bits(std::bit_cast<std::uint64_t>(1e12))};
  r = instance->call("sat", big);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].as_i32(), 0x7fffffffu);

  Value a{ValueType::v128, 0x0000000200000001ull, 0x0000000400000003ull};
  Value b{ValueType::v128, 0x0000001000000010ull, 0x0000001000000010ull};
  Value vargs[] = {a, b};
  r = instance->call("v128_add", vargs);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].type, ValueType::v128);
  EXPECT_EQ((*r)[0].bits, 0x0000001200000011ull);
  EXPECT_EQ((*r)[0].high_bits, 0x0000001400000013ull);

  EXPECT_EQ(instance->global("counter"), Value::i64(41));
  ASSERT_TRUE(instance->call("bump", {}));
  EXPECT_EQ(instance->global("counter"), Value::i64(42));
  EXPECT_FALSE(instance->global("nope"));
  EXPECT_FALSE(instance->poisoned());
  EXPECT_EQ(instance->memory(), nullptr);
}

TEST(InterpCall, ArgumentMismatchIsAnErrorNamingTheExport) {
  auto module = load_wat(kArith);
  ASSERT_TRUE(module);
  auto instance = instantiate(*module);
  ASSERT_TRUE(instance);

  Value wrong_type[] = {Value::i32(1), Value::i64(2)};
  auto r = instance->call("add_i32", wrong_type);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("add_i32"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("(i32 i32)"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("(i32 i64)"), std::string::npos) << r.error().message;

  Value too_few[] = {Value::i32(1)};
  EXPECT_FALSE(instance->call("add_i32", too_few));
  EXPECT_FALSE(instance->call("missing", {}));
  EXPECT_FALSE(instance->call("counter", {}));  // a global, not a function
  // Caller mistakes are not traps: the instance still works.
  EXPECT_FALSE(instance->poisoned());
  Value ok[] = {Value::i32(1), Value::i32(2)};
  EXPECT_TRUE(instance->call("add_i32", ok));
}

TEST(InterpCall, ModuleInfo) {
  auto module = load_wat(R"(
    (module
      (import "env" "log" (func (param i32 i32)))
      (import "env" "table" (table 1 funcref))
      (memory (export "memory") 2 10)
      (func (export "_start"))
      (func (export "f") (param i64) (result f32 f64) (f32.const 0) (f64.const 0))
      (global (export "g") i32 (i32.const 0)))
  )");
  ASSERT_TRUE(module);
  const ModuleInfo& info = module->info();
  ASSERT_EQ(info.imports.size(), 2u);
  EXPECT_EQ(info.imports[0].module, "env");
  EXPECT_EQ(info.imports[0].name, "log");
  EXPECT_EQ(info.imports[0].kind, ImportInfo::Kind::function);
  EXPECT_EQ(info.imports[0].function_type, (FunctionType{{ValueType::i32, ValueType::i32}, {}}));
  EXPECT_EQ(info.imports[1].kind, ImportInfo::Kind::table);
  ASSERT_EQ(info.exports.size(), 4u);
  EXPECT_EQ(info.exports[0].name, "memory");
  EXPECT_EQ(info.exports[0].kind, ImportInfo::Kind::memory);
  EXPECT_EQ(info.exports[2].function_type,
            (FunctionType{{ValueType::i64}, {ValueType::f32, ValueType::f64}}));
  EXPECT_EQ(info.exports[3].kind, ImportInfo::Kind::global);
  ASSERT_TRUE(info.memory);
  EXPECT_EQ(info.memory->initial_pages, 2u);
  EXPECT_EQ(info.memory->maximum_pages, 10u);
  EXPECT_TRUE(info.has_start_export());
  EXPECT_FALSE(info.has_initialize_export());
  EXPECT_EQ(info.size_bytes, wat(R"(
    (module
      (import "env" "log" (func (param i32 i32)))
      (import "env" "table" (table 1 funcref))
      (memory (export "memory") 2 10)
      (func (export "_start"))
      (func (export "f") (param i64) (result f32 f64) (f32.const 0) (f64.const 0))
      (global (export "g") i32 (i32.const 0)))
  )").size());
}

TEST(InterpCall, InvalidModulesNameTheByteOffset) {
  std::vector<std::uint8_t> garbage = {0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00};
  auto bad_version = interp::load_module(garbage);
  ASSERT_FALSE(bad_version);
  EXPECT_EQ(bad_version.error().code, ErrorCode::invalid_spec);
  EXPECT_NE(bad_version.error().message.find("byte offset"), std::string::npos) << bad_version.error().message;

  // Well-formed but invalid: the function returns i64 where it declares i32.
  auto ill_typed = interp::load_module(wat(R"((module (func (result i32) (i64.const 1))))"));
  ASSERT_FALSE(ill_typed);
  EXPECT_NE(ill_typed.error().message.find("type mismatch"), std::string::npos) << ill_typed.error().message;
  EXPECT_NE(ill_typed.error().message.find("byte offset"), std::string::npos) << ill_typed.error().message;

  EXPECT_FALSE(interp::load_module(std::vector<std::uint8_t>{}));
}

TEST(InterpCall, HostFunctionsReadGuestMemoryAndSeeTheHostContext) {
  auto module = load_wat(R"(
    (module
      (import "env" "print" (func $print (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "hello, berth")
      (func (export "run") (result i32) (call $print (i32.const 16) (i32.const 12))))
  )");
  ASSERT_TRUE(module);
  std::string seen;
  void* seen_context = nullptr;
  HostFunction print{"env", "print", {{ValueType::i32, ValueType::i32}, {ValueType::i32}},
                     [&](HostCall& call, std::span<const Value> args, std::span<Value> results) -> CallResult<void> {
                       seen_context = call.context;
                       if (!call.memory) return std::unexpected(Trap{TrapKind::host_error, "no memory"});
                       auto bytes = call.memory->view(args[0].as_i32(), args[1].as_i32());
                       if (!bytes) return std::unexpected(Trap{TrapKind::memory_out_of_bounds, "bad span"});
                       seen.assign(bytes->begin(), bytes->end());
                       results[0] = Value::i32(static_cast<std::uint32_t>(seen.size()));
                       return {};
                     }};
  Imports imports;
  imports.functions.push_back(print);
  auto instance = instantiate(*module, imports);
  ASSERT_TRUE(instance);
  int marker = 0;
  instance->set_host_context(&marker);
  auto r = instance->call("run", {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0], Value::i32(12));
  EXPECT_EQ(seen, "hello, berth");
  EXPECT_EQ(seen_context, &marker);

  ASSERT_NE(instance->memory(), nullptr);
  EXPECT_EQ(instance->memory()->size(), 65536u);
  EXPECT_EQ(std::memcmp(instance->memory()->data() + 16, "hello", 5), 0);
}

TEST(InterpCall, ImportsMustBeSatisfiedWithTheirTypes) {
  auto module = load_wat(R"((module (import "env" "f" (func (param i32))) (import "env" "g" (func))))");
  ASSERT_TRUE(module);
  auto noop = [](HostCall&, std::span<const Value>, std::span<Value>) -> CallResult<void> { return {}; };

  Imports none;
  auto missing = module->instantiate(none, {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);
  EXPECT_NE(missing.error().message.find("env.f"), std::string::npos) << missing.error().message;

  Imports wrong;
  wrong.functions.push_back({"env", "f", {{ValueType::i64}, {}}, noop});
  wrong.functions.push_back({"env", "g", {}, noop});
  auto mismatch = module->instantiate(wrong, {});
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().code, ErrorCode::invalid_spec);
  EXPECT_NE(mismatch.error().message.find("(i32) -> ()"), std::string::npos) << mismatch.error().message;

  Imports right;
  right.functions.push_back({"env", "f", {{ValueType::i32}, {}}, noop});
  right.functions.push_back({"env", "g", {}, noop});
  EXPECT_TRUE(module->instantiate(right, {}));
}

}  // namespace
}  // namespace berth::wasm

namespace berth::wasm {
namespace {

TEST(InterpCall, ReferencesRoundTrip) {
  auto module = test::load_wat(R"(
    (module
      (type $r (func (result i32)))
      (table 1 funcref)
      (func $nine (result i32) (i32.const 9))
      (elem declare func $nine)
      (func (export "get") (result funcref) (ref.func $nine))
      (func (export "null") (result externref) (ref.null extern))
      (func (export "is_null") (param externref) (result i32) (ref.is_null (local.get 0)))
      (func (export "call") (param funcref) (result i32)
        (table.set 0 (i32.const 0) (local.get 0))
        (call_indirect (type $r) (i32.const 0))))
  )");
  ASSERT_TRUE(module);
  auto instance = test::instantiate(*module);
  ASSERT_TRUE(instance);
  auto ref = instance->call("get", {});
  ASSERT_TRUE(ref) << ref.error().message;
  EXPECT_EQ((*ref)[0].type, ValueType::funcref);
  EXPECT_FALSE((*ref)[0].is_null);
  Value pass[] = {(*ref)[0]};
  auto r = instance->call("call", pass);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0], Value::i32(9));

  auto null = instance->call("null", {});
  ASSERT_TRUE(null);
  EXPECT_TRUE((*null)[0].is_null);
  Value null_arg[] = {(*null)[0]};
  r = instance->call("is_null", null_arg);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0], Value::i32(1));

  // A reference the store never made is refused, not dereferenced.
  Value forged[] = {Value{ValueType::funcref, 123456, 0, false}};
  r = instance->call("call", forged);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, TrapKind::host_error);
  EXPECT_FALSE(instance->poisoned());
}

TEST(InterpCall, HostFunctionsMayCallOtherInstancesButNotReenterTheirOwn) {
  auto callee_module = test::load_wat(R"((module (func (export "twice") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))))");
  auto caller_module = test::load_wat(R"(
    (module
      (import "env" "helper" (func $helper (param i32) (result i32)))
      (func (export "run") (param i32) (result i32) (call $helper (local.get 0))))
  )");
  ASSERT_TRUE(callee_module && caller_module);
  interp::LinkGroup group;
  auto callee = callee_module->instantiate_in(group, {}, {});
  ASSERT_TRUE(callee);
  Instance* self = nullptr;
  bool reentry_refused = false;
  Imports imports;
  imports.functions.push_back({"env", "helper", {{ValueType::i32}, {ValueType::i32}},
                               [&](HostCall&, std::span<const Value> args, std::span<Value> results) -> CallResult<void> {
                                 Value again[] = {args[0]};
                                 reentry_refused = !self->call("run", again).has_value();
                                 auto r = (*callee)->call("twice", args);
                                 if (!r) return std::unexpected(r.error());
                                 results[0] = (*r)[0];
                                 return {};
                               }});
  auto caller = caller_module->instantiate_in(group, imports, {});
  ASSERT_TRUE(caller) << caller.error().message;
  self = caller->get();
  Value args[] = {Value::i32(21)};
  auto r = (*caller)->call("run", args);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0], Value::i32(42));
  EXPECT_TRUE(reentry_refused);
  EXPECT_FALSE((*caller)->poisoned());
}

}  // namespace
}  // namespace berth::wasm
