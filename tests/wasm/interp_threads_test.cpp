#include "interp_support.hpp"

#include <atomic>
#include <cstring>
#include <thread>

namespace berth::wasm {
namespace {

using test::load_wat;

// One compiled module, eight threads, each with its own instance (and so its own wabt Store).
TEST(InterpThreads, EightThreadsShareOneModule) {
  std::shared_ptr<CompiledModule> module = load_wat(R"(
    (module
      (import "env" "note" (func $note (param i32)))
      (memory (export "memory") 1)
      (global $calls (mut i32) (i32.const 0))
      (func (export "step") (param $x i32) (result i32)
        (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
        (i32.store (i32.const 0) (global.get $calls))
        (call $note (local.get $x))
        (i32.add (i32.mul (local.get $x) (i32.const 3)) (global.get $calls))))
  )");
  ASSERT_TRUE(module);
  constexpr int kThreads = 8;
  constexpr std::uint32_t kCalls = 3000;
  std::atomic<int> failures{0};
  std::atomic<std::uint64_t> notes{0};
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        Imports imports;
        imports.functions.push_back({"env", "note", {{ValueType::i32}, {}},
                                     [&](HostCall& call, std::span<const Value>, std::span<Value>) -> CallResult<void> {
                                       if (!call.memory || call.memory->size() != 65536) return std::unexpected(Trap{});
                                       notes.fetch_add(1, std::memory_order_relaxed);
                                       return {};
                                     }});
        InstanceLimits limits;
        limits.fuel = 10'000;
        auto instance = module->instantiate(imports, limits);
        if (!instance) {
          failures++;
          return;
        }
        for (std::uint32_t i = 1; i <= kCalls; ++i) {
          Value args[] = {Value::i32(i + static_cast<std::uint32_t>(t))};
          auto r = (*instance)->call("step", args);
          std::uint32_t stored = 0;
          std::memcpy(&stored, (*instance)->memory()->data(), 4);
          if (!r || (*r)[0].as_i32() != (i + t) * 3 + i || stored != i) failures++;
        }
      });
    }
  }
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(notes.load(), std::uint64_t{kThreads} * kCalls);
}

}  // namespace
}  // namespace berth::wasm
