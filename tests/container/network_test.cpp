// Containers on bridge networks: they reach each other by name, networks are isolated from
// each other, addresses are reused after a remove, and nothing (veth, address) is left.
#include "container_fixture.hpp"
#include "linux/netlink.hpp"
#include "runtime/network_attach.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class ContainerNetworks : public ContainerTest {
 protected:
  NetworkInfo network(std::string name, std::string subnet) {
    auto n = runtime_->create_network(NetworkSpec{std::move(name), std::move(subnet), "", {}});
    EXPECT_TRUE(n) << n.error().message;
    return n ? *n : NetworkInfo{};
  }
  WorkloadSpec on(std::string network, std::vector<std::string> args, std::string name) {
    auto spec = container_spec(std::move(args), std::move(name));
    spec.network = std::move(network);
    return spec;
  }
  std::pair<std::string, int> sh_on(const std::string& network, const std::string& script, const std::string& name) {
    return run_to_exit(on(network, {"sh", "-c", script}, name));
  }
};

TEST_F(ContainerNetworks, ContainersOnOneNetworkTalkByName) {
  network("app", "10.213.50.0/24");
  run(on("app", {"sh", "-c", "mkdir -p /tmp/w && echo hello-from-web > /tmp/w/index.html && exec httpd -f -p 8080 -h /tmp/w"}, "web"));
  auto address = runtime_->resolve_address("web", 8080, "app");
  ASSERT_TRUE(address) << address.error().message;
  EXPECT_EQ(*address, "10.213.50.2:8080");
  auto [out, code] = sh_on("app", "ip -4 -o addr show eth0 | grep -o 'inet [0-9./]*'; ip route | grep default; "
                                  "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 2 web 8080 && exit 0; sleep 0.2; done; exit 1",
                           "client");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("inet 10.213.50.3/24"), std::string::npos) << out;
  EXPECT_NE(out.find("default via 10.213.50.1"), std::string::npos) << out;
  EXPECT_NE(out.find("hello-from-web"), std::string::npos) << out;
  auto info = runtime_->inspect_network("app");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->attached.size(), 2u);
  auto refused = runtime_->remove_network("app");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::conflict);
}

TEST_F(ContainerNetworks, TwoNetworksAreIsolated) {
  network("left", "10.213.51.0/24");
  network("right", "10.213.52.0/24");
  run(on("left", {"httpd", "-f", "-p", "8080"}, "server"));
  // (busybox's nc: its static wget crashes without NSS libraries in the image)
  auto probe = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 10.213.51.2 8080 2>&1; echo rc=$?";
  auto [out, code] = sh_on("right", probe, "prober");
  EXPECT_EQ(out.find("HTTP/1.1"), std::string::npos) << out;
  EXPECT_NE(out.find("rc=1"), std::string::npos) << out;
  auto [same, same_code] = sh_on("left", probe, "neighbour");
  EXPECT_NE(same.find("HTTP/1.1 404"), std::string::npos) << "on the same network it answers: " << same;
}

TEST_F(ContainerNetworks, RemoveReleasesTheVethAndTheAddressWhichIsReused) {
  network("reuse", "10.213.53.0/24");
  auto h = run(on("reuse", {"sleep", "100"}, "first"));
  std::string veth = veth_host_name(h.id);
  EXPECT_TRUE(linux::netlink::link_exists(veth));
  EXPECT_EQ(*runtime_->resolve_address("first", 80), "10.213.53.2:80");
  auto report = runtime_->remove("first", true);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(linux::netlink::link_exists(veth));
  bool address_released = false;
  for (auto& line : report->network) address_released = address_released || line == "address 10.213.53.2 on reuse";
  EXPECT_TRUE(address_released) << "report.network lists what went";
  run(on("reuse", {"sleep", "100"}, "second"));
  EXPECT_EQ(*runtime_->resolve_address("second", 80), "10.213.53.2:80");
  EXPECT_TRUE(runtime_->inspect_network("reuse")->attached.size() == 1);
}

TEST_F(ContainerNetworks, AMissingNetworkIsNamedAndTheDefaultIsMadeOnFirstUse) {
  auto missing = runtime_->create(on("nosuchnet", {"true"}, "lost"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);
  EXPECT_NE(missing.error().message.find("berth network create nosuchnet"), std::string::npos) << missing.error().message;
  EXPECT_TRUE(runtime_->list({.all = true})->empty());
  auto [out, code] = sh_on("berth", "ip -4 -o addr show eth0", "defaulted");
  EXPECT_EQ(code, 0) << out;
  auto made = runtime_->inspect_network("berth");
  ASSERT_TRUE(made) << made.error().message;
  EXPECT_NE(out.find(made->subnet.substr(0, made->subnet.rfind('.'))), std::string::npos) << out << " vs " << made->subnet;
}

}  // namespace
}  // namespace berth::testing
