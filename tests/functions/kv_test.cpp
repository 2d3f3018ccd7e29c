// The `berth` import module through a C guest built against the SDK header: the module's
// key-value store (limits, concurrency, persistence, surviving a dropped instance) and logging.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fmt/format.h>
#include <mutex>
#include <thread>

#include <berth/functions.hpp>

#include "support/aot_cache.hpp"
#include "common/fs.hpp"

namespace berth::functions {
namespace {

const std::string kGuest = BERTH_FUNCTION_GUEST_DIR "/kv_guest.wasm";

class Kv : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/berth-kv-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { (void)remove_tree(dir_); }
  LoadOptions options() {
    LoadOptions o;
    o.engine = GetParam();
    o.aot_cache_dir = berth::testing::shared_aot_cache_dir();
    return o;
  }
  std::shared_ptr<FunctionModule> load(const LoadOptions& o) {
    auto module = FunctionModule::load(kGuest, o);
    EXPECT_TRUE(module) << module.error().message;
    return module ? *module : nullptr;
  }
  static std::int32_t i32(FunctionModule& m, std::string_view f, std::vector<Val> args = {}) {
    auto r = m.call(f, args);
    EXPECT_TRUE(r) << f << ": " << r.error().message;
    return r && !r->empty() ? std::get<std::int32_t>((*r)[0]) : -1000;
  }
  std::string dir_;
};

TEST_P(Kv, GetSetDeleteExistsKeysAndCountFromAGuest) {
  auto m = load(options());
  ASSERT_TRUE(m);
  EXPECT_EQ(i32(*m, "hit"), 1);
  EXPECT_EQ(i32(*m, "hit"), 2);
  EXPECT_EQ(i32(*m, "put", {1, 5}), 0);
  EXPECT_EQ(i32(*m, "put", {2, 0}), 0);
  EXPECT_EQ(i32(*m, "put", {10, 3}), 0);
  EXPECT_EQ(i32(*m, "count"), 4);
  EXPECT_EQ(i32(*m, "exists", {2}), 1);
  EXPECT_EQ(i32(*m, "del", {2}), 0);
  EXPECT_EQ(i32(*m, "exists", {2}), 0);
  EXPECT_EQ(i32(*m, "del", {2}), -1);  // BERTH_KV_NOT_FOUND
  std::string prefix = "k1";
  auto keys = m->call_bytes("keys", std::span(reinterpret_cast<const std::uint8_t*>(prefix.data()), prefix.size()));
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_EQ(std::string(keys->begin(), keys->end()), std::string("k1\0k10\0", 7));
}

TEST_P(Kv, LimitsAreErrorsTheGuestSees) {
  auto o = options();
  o.limits.kv_max_entries = 3;
  o.limits.kv_max_value_bytes = 100;
  auto m = load(o);
  ASSERT_TRUE(m);
  EXPECT_EQ(i32(*m, "put", {1, 100}), 0);
  EXPECT_EQ(i32(*m, "put", {2, 101}), -3);  // BERTH_KV_VALUE_TOO_LARGE
  EXPECT_EQ(i32(*m, "put", {2, 1}), 0);
  EXPECT_EQ(i32(*m, "put", {3, 1}), 0);
  EXPECT_EQ(i32(*m, "put", {4, 1}), -4);  // BERTH_KV_TOO_MANY_ENTRIES
  EXPECT_EQ(i32(*m, "put", {3, 2}), 0);   // replacing an entry is not a new one
  EXPECT_EQ(i32(*m, "long_key"), -2);     // BERTH_KV_KEY_TOO_LONG: over 1 KiB
  EXPECT_EQ(i32(*m, "bad_pointer"), -5);  // BERTH_KV_BAD_POINTER
  EXPECT_EQ(i32(*m, "count"), 3);

  auto above = options();
  above.limits.kv_max_entries = 1'000'000;
  auto refused = FunctionModule::load(kGuest, above);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("limits.kv_max_entries: 1000000 is above the ceiling of 10000"),
            std::string::npos)
      << refused.error().message;
}

TEST_P(Kv, EightThreadsWriteDistinctKeysAndNoneIsLost) {
  auto o = options();
  o.limits.pool_size = 4;
  auto m = load(o);
  ASSERT_TRUE(m);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        Val args[] = {std::int32_t{t * 1000 + i}, std::int32_t{16}};
        auto r = m->call("put", args);
        if (!r || std::get<std::int32_t>((*r)[0]) != 0) ++failures;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(i32(*m, "count"), 800);
  for (int t = 0; t < 8; ++t) EXPECT_EQ(i32(*m, "exists", {t * 1000 + 99}), 1);
}

TEST_P(Kv, TheStoreOutlivesADroppedInstanceAndPersistsAcrossLoads) {
  auto o = options();
  o.limits.pool_size = 1;
  o.kv_persist_path = dir_ + "/store.json";
  {
    auto m = load(o);
    ASSERT_TRUE(m);
    EXPECT_EQ(i32(*m, "hit"), 1);
    EXPECT_FALSE(m->call("boom", {}));  // the instance is dropped; the module's store is not
    EXPECT_EQ(i32(*m, "hit"), 2);
    EXPECT_EQ(m->stats().dropped, 1u);
  }
  auto again = load(o);
  ASSERT_TRUE(again);
  EXPECT_EQ(i32(*again, "hit"), 3);

  ASSERT_TRUE(write_file(dir_ + "/store.json", "{not json"));
  auto corrupt = FunctionModule::load(kGuest, o);
  ASSERT_FALSE(corrupt);
  EXPECT_NE(corrupt.error().message.find(dir_ + "/store.json"), std::string::npos) << corrupt.error().message;
}

TEST_P(Kv, LogLinesReachTheEmbeddersSink) {
  auto o = options();
  std::mutex mutex;
  std::vector<std::pair<int, std::string>> lines;
  o.log = [&](int level, std::string_view message) {
    std::lock_guard lock(mutex);
    lines.emplace_back(level, std::string(message));
  };
  auto m = load(o);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->call("say", {}));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].first, 1);
  EXPECT_EQ(lines[0].second, "hello from the guest");
}

INSTANTIATE_TEST_SUITE_P(Engines, Kv, ::testing::Values("aot", "interp"), [](const auto& info) { return info.param; });

}  // namespace
}  // namespace berth::functions
