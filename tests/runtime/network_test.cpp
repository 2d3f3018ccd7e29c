// Bridge networks on the host: a bridge with the gateway address, the network's NAT and
// isolation rules in berth's nftables table, refusals that name what is wrong, and nothing
// left after remove.
#include "linux/netlink.hpp"
#include "linux/nftables.hpp"
#include "support/cli.hpp"
#include "support/runtime_fixture.hpp"

namespace berth::testing {
namespace {

class Networks : public RuntimeTest {};

std::string addresses_of(const std::string& link) {
  FILE* p = ::popen(("ip -4 -o addr show dev " + link + " 2>&1").c_str(), "r");
  std::string out;
  char buffer[512];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, p)) out.append(buffer, n);
  ::pclose(p);
  return out;
}

TEST_F(Networks, ANetworkIsABridgeWithItsRulesAndGoesWithoutTrace) {
  NetworkSpec spec;
  spec.name = "front";
  spec.subnet = "10.213.40.0/24";
  spec.labels = {{"team", "web"}};
  auto created = runtime_->create_network(spec);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->gateway, "10.213.40.1");
  EXPECT_TRUE(created->bridge.starts_with("brt-"));
  EXPECT_TRUE(linux::netlink::link_exists(created->bridge));
  EXPECT_NE(addresses_of(created->bridge).find("10.213.40.1/24"), std::string::npos) << addresses_of(created->bridge);
  auto rules = linux::nftables::list_table();
  ASSERT_TRUE(rules);
  EXPECT_NE(rules->find("10.213.40.0/24"), std::string::npos) << *rules;
  EXPECT_NE(rules->find(created->bridge), std::string::npos) << *rules;

  auto again = runtime_->create_network(spec);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::conflict);
  NetworkSpec overlapping{"back", "10.213.40.128/25", "", {}};
  auto overlap = runtime_->create_network(overlapping);
  ASSERT_FALSE(overlap);
  EXPECT_NE(overlap.error().message.find("overlaps network front"), std::string::npos) << overlap.error().message;

  auto automatic = runtime_->create_network(NetworkSpec{"auto", "", "", {}});
  ASSERT_TRUE(automatic) << automatic.error().message;
  EXPECT_TRUE(automatic->subnet.starts_with("10.89.")) << automatic->subnet;
  auto listed = runtime_->list_networks();
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->size(), 2u);
  EXPECT_EQ(runtime_->inspect_network("front")->labels.at("team"), "web");

  auto released = runtime_->remove_network("front");
  ASSERT_TRUE(released) << released.error().message;
  EXPECT_FALSE(linux::netlink::link_exists(created->bridge));
  rules = linux::nftables::list_table();
  EXPECT_EQ(rules->find("10.213.40.0/24"), std::string::npos) << *rules;
  auto pruned = runtime_->prune_networks();
  ASSERT_TRUE(pruned);
  EXPECT_EQ(*pruned, std::vector<std::string>{"auto"});
  EXPECT_FALSE(linux::netlink::link_exists(automatic->bridge));
  EXPECT_EQ(runtime_->inspect_network("front").error().code, ErrorCode::not_found);
}

TEST_F(Networks, BadNetworksAreRefusedNamingWhatIsWrong) {
  struct Case {
    NetworkSpec spec;
    std::string needle;
  } cases[] = {
      {{"bad name!", "", "", {}}, "network name"},
      {{"n1", "10.213.41.0", "", {}}, "not ADDRESS/PREFIX"},
      {{"n2", "10.213.41.5/24", "", {}}, "host bits are set (the network is 10.213.41.0/24)"},
      {{"n3", "10.213.41.0/31", "", {}}, "prefix length"},
      {{"n4", "10.213.41.0/24", "10.213.42.1", {}}, "is not a host address of 10.213.41.0/24"},
      {{"n5", "10.213.41.0/24", "10.213.41.255", {}}, "is not a host address"},
  };
  for (const auto& c : cases) {
    auto r = runtime_->create_network(c.spec);
    ASSERT_FALSE(r) << c.spec.name;
    EXPECT_EQ(r.error().code, ErrorCode::invalid_spec);
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
  }
  EXPECT_TRUE(runtime_->list_networks()->empty()) << "nothing half-made";
}

TEST_F(Networks, TheCliManagesNetworks) {
  auto created = run_cli(root_, {"network", "create", "--subnet", "10.213.43.0/24", "cli-net"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  auto ls = run_cli(root_, {"network", "ls"});
  EXPECT_NE(ls.out.find("cli-net"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("10.213.43.0/24"), std::string::npos) << ls.out;
  auto bad = run_cli(root_, {"network", "create", "--subnet", "nonsense", "x"});
  EXPECT_EQ(bad.exit_code, 125);
  EXPECT_NE(bad.err.find("subnet \"nonsense\""), std::string::npos) << bad.err;
  auto rm = run_cli(root_, {"network", "rm", "cli-net"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
}

}  // namespace
}  // namespace berth::testing
