// rtnetlink against the real kernel: a bridge with a gateway address, a veth pair whose peer is
// made inside another network namespace, addresses and a default route there, and a TCP
// connection across the bridge. Only addresses of the network the test makes are used.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/fd.hpp"
#include "linux/netlink.hpp"

namespace berth::linux::netlink {
namespace {

class NetlinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bridge_ = fmt::format("bt{}", ::getpid() % 100000);
    host_ = fmt::format("bv{}", ::getpid() % 100000);
    int ready[2];
    ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
    child_ = ::fork();
    if (child_ == 0) {  // a process that only holds a new network namespace
      if (::unshare(CLONE_NEWNET) != 0) ::_exit(1);
      char byte = 1;
      (void)!::write(ready[1], &byte, 1);
      ::pause();
      ::_exit(0);
    }
    ::close(ready[1]);
    char byte;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1);
    ::close(ready[0]);
    netns_.reset(::open(fmt::format("/proc/{}/ns/net", child_).c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(netns_);
  }
  void TearDown() override {
    if (link_exists(host_)) (void)delete_link(host_);
    if (link_exists(bridge_)) (void)delete_link(bridge_);
    EXPECT_FALSE(link_exists(host_));
    EXPECT_FALSE(link_exists(bridge_));
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
  }

  std::string bridge_, host_;
  pid_t child_ = -1;
  UniqueFd netns_;
};

TEST_F(NetlinkTest, ABridgeAndAVethCarryTcpIntoAnotherNamespace) {
  auto gateway = parse_ipv4("10.213.77.1");
  auto inside = parse_ipv4("10.213.77.2");
  ASSERT_TRUE(gateway && inside);
  ASSERT_TRUE(create_bridge(bridge_));
  auto again = create_bridge(bridge_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::conflict);
  ASSERT_TRUE(add_address(bridge_, *gateway, 24));
  ASSERT_TRUE(set_up(bridge_));
  auto veth = create_veth(host_, "eth0", netns_.get());
  ASSERT_TRUE(veth) << veth.error().message;
  EXPECT_FALSE(link_exists("eth0") && !link_exists(host_));  // the peer is not made here
  ASSERT_TRUE(set_master(host_, bridge_));
  ASSERT_TRUE(set_up(host_));

  // Inside: loopback and eth0 up, an address, a default route via the gateway, a listener.
  UniqueFd listener;
  std::uint16_t port = 0;
  auto configured = in_namespace(netns_.get(), [&]() -> Result<void> {
    if (!link_exists("eth0")) return fail(ErrorCode::not_found, "eth0 is not inside");
    for (auto r : {set_up("lo"), set_up("eth0"), add_address("eth0", *inside, 24), add_default_route(*gateway)})
      if (!r) return r;
    listener.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(inside->value);
    if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener.get(), 1) != 0)
      return fail(ErrorCode::internal, "listen inside");
    socklen_t length = sizeof a;
    ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&a), &length);
    port = ntohs(a.sin_port);
    return {};
  });
  ASSERT_TRUE(configured) << configured.error().message;

  // From here, across the bridge.
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(inside->value);
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0) << std::strerror(errno);
  UniqueFd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(accepted);
  ASSERT_EQ(::write(client.get(), "hi", 2), 2);
  char buffer[2];
  ASSERT_EQ(::read(accepted.get(), buffer, 2), 2);

  // Deleting the host end takes the pair down.
  ASSERT_TRUE(delete_link(host_));
  auto gone = in_namespace(netns_.get(), [&]() -> Result<void> {
    return link_exists("eth0") ? fail(ErrorCode::conflict, "eth0 outlived its pair") : Result<void>();
  });
  EXPECT_TRUE(gone) << gone.error().message;
}

TEST_F(NetlinkTest, ErrorsNameTheLink) {
  auto missing = delete_link("nosuchlink0");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);
  EXPECT_NE(missing.error().message.find("nosuchlink0"), std::string::npos);
  auto long_name = create_bridge("a-name-far-too-long");
  ASSERT_FALSE(long_name);
  EXPECT_EQ(long_name.error().code, ErrorCode::invalid_spec);
  EXPECT_FALSE(parse_ipv4("10.0.0.256"));
  EXPECT_EQ(to_string(*parse_ipv4("192.168.3.4")), "192.168.3.4");
}

}  // namespace
}  // namespace berth::linux::netlink
