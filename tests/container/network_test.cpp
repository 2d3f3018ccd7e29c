// Containers on bridge networks: they reach each other by name, networks are isolated from
// each other, addresses are reused after a remove, and nothing (veth, address) is left.
#include "container_fixture.hpp"
#include "linux/netlink.hpp"
#include "linux/nftables.hpp"
#include "runtime/network_attach.hpp"
#include "state/network_store.hpp"
#include "support/cli.hpp"
#include "support/shell.hpp"

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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
  ASSERT_FALSE(run(on("app", {"sh", "-c", "mkdir -p /tmp/w && echo hello-from-web > /tmp/w/index.html && exec httpd -f -p 8080 -h /tmp/w"}, "web")).id.empty());
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

TEST_F(ContainerNetworks, AnAliasIsAnotherNameOnTheNetwork) {
  network("aliased", "10.213.55.0/24");
  auto db = on("aliased", {"httpd", "-f", "-p", "5432"}, "postgres-main");
  db.aliases = {"db"};
  ASSERT_FALSE(run(db).id.empty());
  auto [out, code] = sh_on("aliased", "grep postgres-main /etc/hosts; printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 db 5432 | head -1",
                           "client");
  EXPECT_NE(out.find("10.213.55.2\tpostgres-main db"), std::string::npos) << out;
  EXPECT_NE(out.find("HTTP/1.1"), std::string::npos) << out;
  auto bad = container_spec({"true"}, "loner");
  bad.aliases = {"x"};
  auto refused = runtime_->create(bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("aliases[0]: only a workload on a network"), std::string::npos);
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
  ASSERT_FALSE(h.id.empty());
  std::string veth = veth_host_name(h.id);
  EXPECT_TRUE(linux::netlink::link_exists(veth));
  EXPECT_EQ(runtime_->resolve_address("first", 80).value_or(""), "10.213.53.2:80");
  auto report = runtime_->remove("first", true);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(linux::netlink::link_exists(veth));
  bool address_released = false;
  for (auto& line : report->network) address_released = address_released || line == "address 10.213.53.2 on reuse";
  EXPECT_TRUE(address_released) << "report.network lists what went";
  run(on("reuse", {"sleep", "100"}, "second"));
  EXPECT_EQ(runtime_->resolve_address("second", 80).value_or(""), "10.213.53.2:80");
  EXPECT_TRUE(runtime_->inspect_network("reuse")->attached.size() == 1);
}

TEST_F(ContainerNetworks, AContainerOnTwoNetworksReachesBothAndKeepsThemApart) {
  network("front", "10.213.70.0/24");
  network("back", "10.213.71.0/24");
  ASSERT_FALSE(run(on("front", {"httpd", "-f", "-p", "8080"}, "web")).id.empty());
  ASSERT_FALSE(run(on("back", {"httpd", "-f", "-p", "8080"}, "api")).id.empty());
  auto both = on("front", {"sh", "-c",
                           "ip -4 -o addr show | grep -o 'eth[01] *inet [0-9./]*'; ip route | grep default; "
                           "for peer in web api; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 $peer 8080 | head -1; done; "
                           "exec sleep 100"},
                 "bridge");
  both.additional_networks = {"back"};
  auto h = run(both);
  ASSERT_FALSE(h.id.empty());
  std::string out;
  eventually([&] {
    out = all_output("bridge");
    return std::count(out.begin(), out.end(), '\n') >= 5;
  });
  EXPECT_NE(out.find("eth0    inet 10.213.70.3/24"), std::string::npos) << out;
  EXPECT_NE(out.find("eth1    inet 10.213.71.3/24"), std::string::npos) << out;
  EXPECT_NE(out.find("default via 10.213.70.1"), std::string::npos) << "the first network has the route: " << out;
  auto answers = [&](const std::string& text) {
    std::size_t n = 0;
    for (std::size_t at = text.find("HTTP/1.1"); at != std::string::npos; at = text.find("HTTP/1.1", at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(answers(out), 2u) << "both peers answer by name: " << out;
  EXPECT_EQ(runtime_->resolve_address("bridge", 80, "back").value_or(""), "10.213.71.3:80");
  EXPECT_EQ(runtime_->resolve_address("bridge", 80).value_or(""), "10.213.70.3:80");
  // The two single-network peers still can't reach each other.
  auto [isolated, code] = sh_on("front", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 10.213.71.2 8080 2>&1; echo rc=$?", "outsider");
  EXPECT_EQ(isolated.find("HTTP/1.1"), std::string::npos) << isolated;
  auto report = runtime_->remove("bridge", true);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(linux::netlink::link_exists(veth_host_name(h.id, 0)));
  EXPECT_FALSE(linux::netlink::link_exists(veth_host_name(h.id, 1)));
  EXPECT_EQ(runtime_->inspect_network("back")->attached.size(), 1u);
}

TEST_F(ContainerNetworks, JoiningANetworkTwiceOrFromTheHostNetworkIsRefused) {
  network("once", "10.213.72.0/24");
  auto twice = on("once", {"true"}, "twice");
  twice.additional_networks = {"once"};
  auto refused = runtime_->create(twice);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("additional_networks[0]: network once is joined twice"), std::string::npos)
      << refused.error().message;
  auto host = on("host", {"true"}, "hosted");
  host.additional_networks = {"once"};
  refused = runtime_->create(host);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("joins no further networks"), std::string::npos) << refused.error().message;
  EXPECT_TRUE(runtime_->list({.all = true})->empty());
}

TEST_F(ContainerNetworks, AProcessWorkloadOnANetworkIsReachedByName) {
  network("mixed", "10.213.73.0/24");
  auto server = process_spec({"/bin/busybox", "httpd", "-f", "-p", "8080", "-h", root_}, "hostproc");
  server.network = "mixed";
  auto h = runtime_->create(server);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_TRUE(runtime_->start(h->id));
  EXPECT_EQ(runtime_->resolve_address("hostproc", 8080).value_or(""), "10.213.73.2:8080");
  EXPECT_TRUE(linux::netlink::link_exists(veth_host_name(h->id)));
  auto [out, code] = sh_on("mixed", "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 hostproc 8080 | head -1 | grep HTTP && exit 0; sleep 0.2; done; exit 1",
                           "visitor");
  EXPECT_EQ(code, 0) << out;
  auto report = runtime_->remove("hostproc", true);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(linux::netlink::link_exists(veth_host_name(h->id)));
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

TEST_F(ContainerNetworks, ANetworkTheHostLostIsMadeAgain) {
  auto made = network("survivor", "10.213.54.0/24");
  // As after a reboot: the bridge and the rules are gone, the record is not.
  ASSERT_TRUE(linux::netlink::delete_link(made.bridge));
  ASSERT_TRUE(linux::nftables::remove_network("net-" + made.id.substr(0, 10), made.bridge, made.subnet));
  auto [out, code] = sh_on("survivor", "ip -4 -o addr show eth0", "afterwards");
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("10.213.54.2/24"), std::string::npos) << out;
  EXPECT_TRUE(linux::netlink::link_exists(made.bridge));
}

std::uint16_t free_port(int type = SOCK_STREAM) {
  int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// GET over loopback; the response, or "" when nothing answered.
std::string http_get(std::uint16_t port, const std::string& path, int attempts = 50) {
  for (int attempt = 0; attempt < attempts; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string response;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      std::string request = "GET " + path + " HTTP/1.0\r\n\r\n";
      (void)!::write(fd, request.data(), request.size());
      char buffer[4096];
      for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) response.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (!response.empty()) return response;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // httpd still starting
  }
  return "";
}

const std::vector<std::string> web_server = {
    "sh", "-c", "mkdir -p /tmp/w && echo published-hello > /tmp/w/index.html && exec httpd -f -p 8080 -h /tmp/w"};

TEST_F(ContainerNetworks, APublishedPortAnswersFromTheHostAndGoesWithTheContainer) {
  auto port = free_port();
  auto spec = container_spec(web_server, "pub");
  spec.ports.push_back(PortMapping{"", port, 8080, "tcp"});
  ASSERT_FALSE(run(spec).id.empty());
  EXPECT_EQ(runtime_->inspect("pub")->spec.network, "berth") << "-p joins the default network";
  auto response = http_get(port, "/index.html");
  EXPECT_NE(response.find("published-hello"), std::string::npos) << response;
  EXPECT_EQ(runtime_->resolve_host_port("pub", 8080).value_or(0), port);
  auto rules = linux::nftables::list_table();
  EXPECT_NE(rules->find(std::to_string(port) + " : "), std::string::npos) << "DNAT for other hosts: " << *rules;
  auto report = runtime_->remove("pub", true);
  ASSERT_TRUE(report);
  rules = linux::nftables::list_table();
  EXPECT_EQ(rules->find(" " + std::to_string(port) + " : "), std::string::npos) << *rules;
  EXPECT_EQ(http_get(port, "/", 1).find("published-hello"), std::string::npos);
}

TEST_F(ContainerNetworks, AnEphemeralPortIsReportedAndATakenOneIsNamed) {
  auto spec = container_spec(web_server, "eph");
  spec.ports.push_back(PortMapping{"127.0.0.1", std::nullopt, 8080, "tcp"});
  ASSERT_FALSE(run(spec).id.empty());
  auto port = runtime_->resolve_host_port("eph", 8080);
  ASSERT_TRUE(port) << port.error().message;
  EXPECT_NE(*port, 0);
  EXPECT_NE(http_get(*port, "/index.html").find("published-hello"), std::string::npos);
  auto cli = run_cli(root_, {"port", "eph"});
  EXPECT_EQ(cli.out, fmt::format("8080/tcp -> 127.0.0.1:{}\n", *port)) << cli.err;

  // A port someone else holds: the error names it, nothing is left.
  int holder = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(holder, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(holder, reinterpret_cast<sockaddr*>(&a), &len);
  auto taken = ntohs(a.sin_port);
  auto clash = container_spec(web_server, "clash");
  clash.ports.push_back(PortMapping{"", taken, 8080, "tcp"});
  auto created = runtime_->create(clash);
  ::close(holder);
  ASSERT_FALSE(created);
  EXPECT_NE(created.error().message.find(fmt::format("port {}/tcp on 0.0.0.0: already in use", taken)), std::string::npos)
      << created.error().message;
  EXPECT_FALSE(runtime_->status("clash"));
  EXPECT_EQ(linux::nftables::list_table()->find(" " + std::to_string(taken) + " : "), std::string::npos);
}

// Another host, as far as the kernel can tell: a network namespace behind a veth, on a /30 the
// test owns, routing through this host. Traffic from it to this host's address takes the path
// packets from other machines take (prerouting DNAT), never the loopback proxy.
class RemoteHost {
 public:
  RemoteHost() {
    shell("ip netns add btremote && ip link add btremote0 type veth peer name eth0 netns btremote && "
          "ip addr add 10.213.61.1/30 dev btremote0 && ip link set btremote0 up && "
          "ip -n btremote addr add 10.213.61.2/30 dev eth0 && ip -n btremote link set eth0 up && "
          "ip -n btremote link set lo up && ip -n btremote route add default via 10.213.61.1");
  }
  ~RemoteHost() { shell("ip netns del btremote 2>/dev/null; ip link del btremote0 2>/dev/null"); }
  RemoteHost(const RemoteHost&) = delete;
  RemoteHost& operator=(const RemoteHost&) = delete;
  static constexpr const char* host_address = "10.213.61.1";  // this host, as the remote sees it
  std::string run(const std::string& command) const { return shell("ip netns exec btremote " + command + " 2>&1"); }
};

// A UDP echo as a host process (busybox's nc has no UDP): "pong:" and what it got.
constexpr const char* udp_echo =
    "import socket\n"
    "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
    "s.bind(('0.0.0.0', 5353))\n"
    "while True:\n"
    "    data, peer = s.recvfrom(2048)\n"
    "    s.sendto(b'pong:' + data, peer)\n";

std::string udp_exchange_command(const std::string& address, std::uint16_t port, int attempts = 5) {
  return fmt::format(
      "python3 -c \"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)\n"
      "for i in range({}):\n"
      "    s.sendto(b'ping', ('{}', {}))\n"
      "    try: print(s.recvfrom(100)[0].decode()); break\n"
      "    except socket.timeout: pass\n\"",
      attempts, address, port);
}

TEST_F(ContainerNetworks, PublishedTcpAndUdpPortsAnswerFromAnotherHostAndFromLoopback) {
  RemoteHost remote;
  auto tcp_port = free_port();
  auto web = container_spec(web_server, "far-web");
  web.ports.push_back(PortMapping{"", tcp_port, 8080, "tcp"});
  ASSERT_FALSE(run(web).id.empty());
  auto udp_port = free_port(SOCK_DGRAM);
  auto echo = process_spec({"/usr/bin/python3", "-c", udp_echo}, "far-echo");
  echo.network = "berth";
  echo.ports.push_back(PortMapping{"", udp_port, 5353, "udp"});
  ASSERT_FALSE(run(echo).id.empty());
  EXPECT_EQ(runtime_->resolve_host_port("far-echo", 5353).value_or(0), udp_port);

  EXPECT_NE(http_get(tcp_port, "/index.html").find("published-hello"), std::string::npos) << "loopback, TCP";
  EXPECT_NE(shell(udp_exchange_command("127.0.0.1", udp_port)).find("pong:ping"), std::string::npos) << "loopback, UDP";
  std::string far_tcp;
  eventually([&] {
    far_tcp = remote.run(fmt::format("sh -c \"printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 {} {}\"",
                                     RemoteHost::host_address, tcp_port));
    return far_tcp.find("published-hello") != std::string::npos;
  });
  EXPECT_NE(far_tcp.find("published-hello"), std::string::npos) << "another host, TCP (DNAT): " << far_tcp;
  auto far_udp = remote.run(udp_exchange_command(RemoteHost::host_address, udp_port));
  EXPECT_NE(far_udp.find("pong:ping"), std::string::npos) << "another host, UDP (DNAT): " << far_udp;

  ASSERT_TRUE(runtime_->remove("far-echo", true));
  ASSERT_TRUE(runtime_->remove("far-web", true));
  auto rules = linux::nftables::list_table();
  ASSERT_TRUE(rules);
  EXPECT_EQ(rules->find(fmt::format(" {} : ", tcp_port)), std::string::npos) << *rules;
  EXPECT_EQ(rules->find(fmt::format(" {} : ", udp_port)), std::string::npos) << *rules;
  EXPECT_EQ(remote.run(udp_exchange_command(RemoteHost::host_address, udp_port, 1)).find("pong"), std::string::npos);
}

// What a crash leaves behind, made by hand: links tagged with a state root, and their rules.
// Deleted at the end whatever happens, so a failing test leaves nothing on the host.
struct CrashLeftovers {
  explicit CrashLeftovers(const std::string& owner) {
    shell(fmt::format(
        "ip link add brt-0badc0ffee type bridge && ip link set brt-0badc0ffee alias '{0}' && "
        "ip addr add 10.213.75.1/24 dev brt-0badc0ffee && "
        "ip link add vb0badc0ffee00 type veth peer name vp0badc0ffee00 && ip link set vb0badc0ffee00 alias '{0}' && "
        "ip link add brt-0therr00t1 type bridge && ip link set brt-0therr00t1 alias 'berth:/another/root'",
        owner));
  }
  ~CrashLeftovers() {
    shell("for l in brt-0badc0ffee vb0badc0ffee00 brt-0therr00t1; do ip link del $l 2>/dev/null; done");
    (void)linux::nftables::remove_network("net-0badc0ffee", "brt-0badc0ffee", "10.213.75.0/24");
  }
};

TEST_F(ContainerNetworks, PruneSweepsWhatACrashLeftOfThisRootAndNothingElse) {
  network("kept", "10.213.74.0/24");
  auto port = free_port();
  auto live = on("kept", web_server, "live");
  live.ports.push_back(PortMapping{"", port, 8080, "tcp"});
  ASSERT_FALSE(run(live).id.empty());
  CrashLeftovers leftovers("berth:" + root_);
  ASSERT_TRUE(linux::nftables::add_network("net-0badc0ffee", "brt-0badc0ffee", "10.213.75.0/24"));
  auto stale_port = free_port();
  ASSERT_TRUE(linux::nftables::publish_ports({{"tcp", stale_port, "10.213.74.200", 80}}));
  {
    // An address still held by a workload whose row is gone.
    auto store = state::Store::open(root_);
    ASSERT_TRUE(store);
    ASSERT_TRUE(state::allocate_address(**store, "kept", std::string(64, 'f'), 0x0ad54a64, 0x0ad54afe, 0x0ad54a01));
  }

  auto pruned = runtime_->prune_networks();
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_TRUE(pruned->empty()) << "kept is in use";
  EXPECT_FALSE(linux::netlink::link_exists("brt-0badc0ffee"));
  EXPECT_FALSE(linux::netlink::link_exists("vb0badc0ffee00"));
  EXPECT_TRUE(linux::netlink::link_exists("brt-0therr00t1")) << "another root's link is not this root's to sweep";
  auto rules = linux::nftables::list_table();
  ASSERT_TRUE(rules);
  EXPECT_EQ(rules->find("net-0badc0ffee"), std::string::npos) << *rules;
  EXPECT_EQ(rules->find("10.213.75.0/24"), std::string::npos) << *rules;
  EXPECT_EQ(rules->find(fmt::format(" {} : ", stale_port)), std::string::npos) << *rules;
  EXPECT_NE(rules->find(fmt::format(" {} : ", port)), std::string::npos) << "the live container's port stays: " << *rules;
  auto info = runtime_->inspect_network("kept");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->attached.size(), 1u) << "the gone workload's address is released";
  EXPECT_NE(http_get(port, "/index.html").find("published-hello"), std::string::npos);
}

}  // namespace
}  // namespace berth::testing
