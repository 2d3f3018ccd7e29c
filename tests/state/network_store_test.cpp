// Networks and address allocation in the state store: unique names and subnets, lowest free
// address, never handed out twice (also by concurrent processes' connections), released with
// the workload, a network in use cannot go.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "state/network_store.hpp"

namespace berth::state {
namespace {

class NetworkStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-netstore-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    auto s = Store::open(root_);
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(root_);
  }
  NetworkRecord net(std::string name, std::string subnet) {
    return NetworkRecord{name, "id-" + name, subnet, "gw", "brt-" + name, Clock::now(), {{"k", "v"}}};
  }
  static Result<void> accept(const std::vector<NetworkRecord>&) { return {}; }

  std::string root_;
  std::unique_ptr<Store> store_;
};

TEST_F(NetworkStoreTest, NetworksAreUniqueAndListed) {
  ASSERT_TRUE(insert_network(*store_, net("front", "10.90.1.0/24"), accept));
  auto dup = insert_network(*store_, net("front", "10.90.2.0/24"), accept);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, ErrorCode::conflict);
  auto refused = insert_network(*store_, net("back", "10.90.2.0/24"), [](const std::vector<NetworkRecord>& existing) -> Result<void> {
    return existing.size() == 1 ? fail(ErrorCode::conflict, "overlaps front") : Result<void>();
  });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "overlaps front");
  auto all = list_networks(*store_);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().labels.at("k"), "v");
  EXPECT_EQ(find_network(*store_, "id-front")->name, "front");
  EXPECT_EQ(find_network(*store_, "nope").error().code, ErrorCode::not_found);
}

TEST_F(NetworkStoreTest, AddressesAreLowestFreeNeverTwiceAndReleased) {
  ASSERT_TRUE(insert_network(*store_, net("n", "10.0.0.0/29"), accept));
  // Hosts .1-.6, the gateway .1 reserved: .2 .3 .4 .5 .6, then full.
  std::vector<std::uint32_t> got;
  for (int i = 0; i < 5; ++i) {
    auto a = allocate_address(*store_, "n", "w" + std::to_string(i), 1, 6, 1);
    ASSERT_TRUE(a) << a.error().message;
    got.push_back(*a);
  }
  EXPECT_EQ(got, (std::vector<std::uint32_t>{2, 3, 4, 5, 6}));
  auto full = allocate_address(*store_, "n", "w9", 1, 6, 1);
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ErrorCode::limit_exceeded);
  auto in_use = erase_network(*store_, "n");
  ASSERT_FALSE(in_use);
  EXPECT_EQ(in_use.error().code, ErrorCode::conflict);
  auto released = release_addresses(*store_, "w1");
  ASSERT_TRUE(released);
  ASSERT_EQ(released->size(), 1u);
  EXPECT_EQ(released->front().address, 3u);
  EXPECT_EQ(*allocate_address(*store_, "n", "w10", 1, 6, 1), 3u);  // reused after release
  for (auto w : {"w0", "w2", "w3", "w4", "w10"}) ASSERT_TRUE(release_addresses(*store_, w));
  EXPECT_TRUE(erase_network(*store_, "n"));
}

TEST_F(NetworkStoreTest, ConcurrentConnectionsNeverShareAnAddress) {
  ASSERT_TRUE(insert_network(*store_, net("busy", "10.1.0.0/24"), accept));
  std::mutex mutex;
  std::set<std::uint32_t> seen;
  int duplicates = 0;
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < 4; ++t)
      workers.emplace_back([&, t] {
        auto own = Store::open(root_);  // a connection of its own, as another process has
        ASSERT_TRUE(own);
        for (int i = 0; i < 25; ++i) {
          auto a = allocate_address(**own, "busy", fmt::format("t{}-{}", t, i), 1, 254, 1);
          ASSERT_TRUE(a) << a.error().message;
          std::lock_guard lock(mutex);
          if (!seen.insert(*a).second) ++duplicates;
        }
      });
  }
  EXPECT_EQ(duplicates, 0);
  EXPECT_EQ(seen.size(), 100u);
  EXPECT_EQ(addresses_on_network(*store_, "busy")->size(), 100u);
}

}  // namespace
}  // namespace berth::state
