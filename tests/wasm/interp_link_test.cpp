#include "interp_support.hpp"

namespace berth::wasm {
namespace {

using test::instantiate;
using test::load_wat;

constexpr std::string_view kProvider = R"(
(module
  (memory (export "memory") 1)
  (table (export "table") 2 funcref)
  (global (export "base") (mut i32) (i32.const 100))
  (elem (i32.const 0) $seven)
  (func $seven (result i32) (i32.const 7))
  (func (export "add_base") (param i32) (result i32) (i32.add (local.get 0) (global.get 0)))
  (func (export "read") (param i32) (result i32) (i32.load (local.get 0)))
)
)";

constexpr std::string_view kUser = R"(
(module
  (import "lib" "add_base" (func $add_base (param i32) (result i32)))
  (import "lib" "memory" (memory 1))
  (import "lib" "table" (table 2 funcref))
  (import "lib" "base" (global $base (mut i32)))
  (type $r (func (result i32)))
  (func (export "run") (result i32)
    (i32.store (i32.const 8) (i32.const 1234))
    (global.set $base (i32.const 1000))
    (i32.add (call $add_base (i32.const 5)) (call_indirect (type $r) (i32.const 0))))
)
)";

Imports link_to(Instance& provider) {
  Imports imports;
  for (const char* name : {"add_base", "memory", "table", "base"}) {
    imports.exports.push_back({"lib", name, &provider, name});
  }
  return imports;
}

TEST(InterpLink, InstancesShareFunctionsMemoryTablesAndGlobals) {
  auto provider_module = load_wat(kProvider);
  auto user_module = load_wat(kUser);
  ASSERT_TRUE(provider_module && user_module);
  auto provider = instantiate(*provider_module);
  ASSERT_TRUE(provider);
  auto user = instantiate(*user_module, link_to(*provider));
  ASSERT_TRUE(user);

  auto r = user->call("run", {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ((*r)[0].as_i32(), 5u + 1000 + 7);  // the global written by the user, the table's function
  EXPECT_EQ(provider->global("base"), Value::i32(1000));
  Value at8[] = {Value::i32(8)};
  r = provider->call("read", at8);  // the user's store landed in the provider's memory
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)[0].as_i32(), 1234u);
}

TEST(InterpLink, LinkGroupsAndStoreMismatches) {
  auto provider_module = load_wat(kProvider);
  auto user_module = load_wat(kUser);
  ASSERT_TRUE(provider_module && user_module);

  // Two providers in separate stores cannot both be linked into one instance.
  auto a = instantiate(*provider_module);
  auto b = instantiate(*provider_module);
  Imports mixed = link_to(*a);
  mixed.exports[1].instance = b.get();
  auto refused = user_module->instantiate(mixed, {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::conflict);

  // In one LinkGroup they can.
  interp::LinkGroup group;
  auto ga = provider_module->instantiate_in(group, {}, {});
  auto gb = provider_module->instantiate_in(group, {}, {});
  ASSERT_TRUE(ga && gb);
  Imports grouped = link_to(**ga);
  grouped.exports[1].instance = gb->get();
  auto user = user_module->instantiate_in(group, grouped, {});
  ASSERT_TRUE(user) << user.error().message;
  ASSERT_TRUE((*user)->call("run", {}));

  // A linked export must exist and have the kind the import expects.
  Imports wrong_kind = link_to(*a);
  wrong_kind.exports[0].export_name = "memory";
  auto kind = user_module->instantiate(wrong_kind, {});
  ASSERT_FALSE(kind);
  EXPECT_NE(kind.error().message.find("lib.add_base"), std::string::npos) << kind.error().message;
  Imports missing = link_to(*a);
  missing.exports[0].export_name = "nope";
  EXPECT_FALSE(user_module->instantiate(missing, {}));
}

TEST(InterpLink, ATrapInALinkedFunctionPoisonsTheCaller) {
  auto provider_module = load_wat(R"((module (func (export "boom") unreachable)))");
  auto user_module = load_wat(R"((module (import "lib" "boom" (func $b)) (func (export "run") (call $b))))");
  ASSERT_TRUE(provider_module && user_module);
  auto provider = instantiate(*provider_module);
  Imports imports;
  imports.exports.push_back({"lib", "boom", provider.get(), "boom"});
  auto user = instantiate(*user_module, imports);
  ASSERT_TRUE(user);
  auto r = user->call("run", {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, TrapKind::unreachable);
  EXPECT_TRUE(user->poisoned());
  EXPECT_FALSE(provider->poisoned());
  // The user goes first; the provider (and the shared store) after.
  user.reset();
  EXPECT_FALSE(provider->call("boom", {}));
}

}  // namespace
}  // namespace berth::wasm
