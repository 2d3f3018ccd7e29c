// A stack's containers get a network of their own: each reaches the others by name, a
// reference to another's address resolves on it, and the network goes with the stack.
#include "container/container_fixture.hpp"
#include "linux/netlink.hpp"
#include "supervisor/stack_runner.hpp"
#include "supervised.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class StackNetworkTest : public Supervised<ContainerTest> {
};

TEST_F(StackNetworkTest, ContainersOfAStackReachEachOtherOnItsNetwork) {
  auto file = stack::parse_stack(R"(
[stack]
name = "netstack"
[workloads.web]
image = "busybox"
command = "mkdir -p /tmp/w && echo stack-web > /tmp/w/index.html && exec httpd -f -p 8080 -h /tmp/w"
health = { type = "tcp", target = "8080", interval = "100ms" }
[workloads.client]
image = "busybox"
command = "echo web is at ${workloads.web.address}; printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -w 2 netstack-web 8080; sleep 100"
)", root_ + "/berth.toml", {});
  ASSERT_TRUE(file) << file.error().message;
  auto up = stack::stack_up(*supervisor_, *file);
  ASSERT_TRUE(up) << up.error().message;
  auto network = runtime_->inspect_network("netstack");
  ASSERT_TRUE(network) << network.error().message;
  EXPECT_EQ(network->attached.size(), 2u);
  auto web_address = runtime_->resolve_address("netstack-web", 0);
  ASSERT_TRUE(web_address);
  std::string web_ip = web_address->substr(0, web_address->rfind(':'));
  ASSERT_TRUE(eventually([&] { return all_output("netstack-client").find("stack-web") != std::string::npos; }))
      << all_output("netstack-client");
  EXPECT_NE(all_output("netstack-client").find("web is at " + web_ip + "\n"), std::string::npos) << all_output("netstack-client");

  auto down = stack::stack_down(*runtime_, "netstack", 1s);
  ASSERT_TRUE(down) << down.error().message;
  EXPECT_FALSE(runtime_->inspect_network("netstack")) << "the stack's network goes with it";
  EXPECT_FALSE(linux::netlink::link_exists(network->bridge));
}

}  // namespace
}  // namespace berth::testing
