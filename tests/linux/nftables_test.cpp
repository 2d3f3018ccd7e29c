// berth's nftables table: a network's NAT and isolation rules go in and come out as a unit,
// idempotently, without touching other networks' rules.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <thread>

#include "linux/nftables.hpp"

namespace berth::linux::nftables {
namespace {

TEST(Nftables, ANetworksRulesGoInAndComeOut) {
  std::string tag = std::to_string(::getpid() % 100000);
  std::string chain = "net-t" + tag, bridge = "brt-t" + tag, subnet = "10.213.99.0/24";
  std::string other_chain = "net-u" + tag, other_bridge = "brt-u" + tag, other_subnet = "10.213.98.0/24";
  ASSERT_TRUE(add_network(other_chain, other_bridge, other_subnet));
  auto added = add_network(chain, bridge, subnet);
  ASSERT_TRUE(added) << added.error().message;
  ASSERT_TRUE(add_network(chain, bridge, subnet)) << "adding again is harmless";
  auto listed = list_table();
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_NE(listed->find(subnet), std::string::npos) << *listed;
  EXPECT_NE(listed->find(fmt::format("\"{}\" : jump {}", bridge, chain)), std::string::npos) << *listed;
  EXPECT_NE(listed->find("masquerade"), std::string::npos) << *listed;
  EXPECT_NE(listed->find(fmt::format("oifname != \"{}\" drop", bridge)), std::string::npos) << *listed;

  ASSERT_TRUE(remove_network(chain, bridge, subnet));
  ASSERT_TRUE(remove_network(chain, bridge, subnet)) << "removing again is harmless";
  listed = list_table();
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->find(subnet), std::string::npos) << *listed;
  EXPECT_EQ(listed->find(chain + " "), std::string::npos) << *listed;
  EXPECT_NE(listed->find(other_subnet), std::string::npos) << "the other network's rules stay";
  ASSERT_TRUE(remove_network(other_chain, other_bridge, other_subnet));
  listed = list_table();
  EXPECT_EQ(listed->find(other_subnet), std::string::npos) << *listed;
  ASSERT_TRUE(delete_table_if_unused());  // nothing of the test's left on the host
  EXPECT_EQ(list_table().value_or("?").find(chain), std::string::npos);
}

// Every berth process on the host shares the table. One removing the last network (list, then
// delete the table) while another adds one must never take the new network's rules with it.
TEST(Nftables, ConcurrentChangesNeverLoseAnotherNetworksRules) {
  std::string tag = std::to_string(::getpid() % 100000);
  std::atomic<int> lost{0};
  auto churn = [&](const std::string& name, const std::string& subnet) {
    std::string chain = "net-" + name + tag, bridge = "brt-" + name + tag;
    for (int i = 0; i < 40; ++i) {
      if (!add_network(chain, bridge, subnet)) break;
      auto listed = list_table();
      if (!listed || listed->find(fmt::format("\"{}\" : jump {}", bridge, chain)) == std::string::npos) ++lost;
      (void)remove_network(chain, bridge, subnet);
      (void)delete_table_if_unused();
    }
  };
  std::thread a(churn, "a", "10.213.96.0/24"), b(churn, "b", "10.213.97.0/24");
  a.join();
  b.join();
  EXPECT_EQ(lost, 0) << "a network's rules vanished right after it was added";
  auto listed = list_table();
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->find("10.213.96.0/24"), std::string::npos);
  EXPECT_EQ(listed->find("10.213.97.0/24"), std::string::npos);
}

TEST(Nftables, NftsOwnErrorComesBack) {
  auto r = run_nft("add rule ip berth no-such-chain counter\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("nft:"), std::string::npos);
}

}  // namespace
}  // namespace berth::linux::nftables
