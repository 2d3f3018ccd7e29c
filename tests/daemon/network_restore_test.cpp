// Networks through berthd and across its SIGKILL: a container on a network with a published
// port keeps serving while berthd is dead, the new berthd sweeps what a crash left (and only
// that), and after it removes the container nothing is left: no veth, no nftables entry, no
// address.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_fixture.hpp"
#include "linux/netlink.hpp"
#include "linux/nftables.hpp"
#include "runtime/network_attach.hpp"
#include "support/shell.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class DaemonNetworkTest : public DaemonTest {
 public:
  static void SetUpTestSuite() {
    image_dir_ = make_temp_root() + "/busybox";
    auto out = shell(std::string(BERTH_SOURCE_DIR) + "/scripts/make-busybox-image.sh " + image_dir_ + " latest 2>&1");
    ASSERT_TRUE(path_exists(image_dir_ + "/index.json")) << out;
  }
  static void TearDownTestSuite() { (void)remove_tree(image_dir_.substr(0, image_dir_.rfind('/'))); }

 protected:
  static inline std::string image_dir_;
};

bool answers(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    std::string request = "GET / HTTP/1.0\r\n\r\n";
    (void)!::write(fd, request.data(), request.size());
    char buffer[64];
    ok = ::read(fd, buffer, sizeof buffer) > 0;
  }
  ::close(fd);
  return ok;
}

TEST_F(DaemonNetworkTest, ANetworkedContainerOutlivesBerthdAndLeavesNothingWhenRemoved) {
  ImageImportOptions options;
  options.reference = "busybox:latest";
  ASSERT_TRUE(remote_->import_image(image_dir_, options));
  auto net = remote_->create_network(NetworkSpec{"survive", "10.213.56.0/24", "", {}});
  ASSERT_TRUE(net) << net.error().message;
  WorkloadSpec spec;
  spec.kind = WorkloadKind::container;
  spec.image = "busybox";
  spec.name = "kept";
  spec.network = "survive";
  spec.args = {"httpd", "-f", "-p", "8080"};
  spec.ports.push_back(PortMapping{"127.0.0.1", std::nullopt, 8080, "tcp"});
  auto h = remote_->create(spec);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_TRUE(remote_->start("kept"));
  auto port = remote_->resolve_host_port("kept", 8080);
  ASSERT_TRUE(port) << port.error().message;
  ASSERT_TRUE(eventually([&] { return answers(*port); }));

  stop_daemon(SIGKILL);
  EXPECT_TRUE(answers(*port)) << "the shim holds the port and the container, not berthd";
  // What a crash could leave besides: a veth of this root's that no workload owns. The next
  // berthd sweeps it at start, and keeps the live container's.
  shell("ip link add vb0rphan0000001 type veth peer name vp0rphan000001 && ip link set vb0rphan0000001 alias 'berth:" + root_ + "'");
  EXPECT_TRUE(linux::netlink::link_exists("vb0rphan0000001"));
  start_daemon();
  bool swept = !linux::netlink::link_exists("vb0rphan0000001");
  shell("ip link del vb0rphan0000001 2>/dev/null");
  EXPECT_TRUE(swept) << daemon_log();
  EXPECT_TRUE(linux::netlink::link_exists(veth_host_name(h->id)));
  EXPECT_EQ(remote_->resolve_address("kept", 8080, "survive").value_or(""), "10.213.56.2:8080");
  auto report = remote_->remove("kept", true);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(linux::netlink::link_exists(veth_host_name(h->id)));
  EXPECT_TRUE(remote_->inspect_network("survive")->attached.empty()) << "the address is released";
  EXPECT_FALSE(answers(*port));
  ASSERT_TRUE(remote_->remove_network("survive"));
  auto rules = linux::nftables::list_table();
  ASSERT_TRUE(rules);
  EXPECT_EQ(rules->find("10.213.56."), std::string::npos) << *rules;
}

}  // namespace
}  // namespace berth::testing
