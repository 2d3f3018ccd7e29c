// Networking: throughput and round-trip latency to a TCP server in a container (busybox nc)
// through a published port on the host's loopback (berth's proxy) and from another host (a
// network namespace routed through this one: the kernel's DNAT path), against the same server
// reached directly on its container address and against a container in the host's network, in
// one run; and container create+start+wait+remove with a network against without.
//   bench_network [MEGABYTES] [ROUND_TRIPS] [STARTS]
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spawn.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <thread>

#include "lifecycle_bench.hpp"

extern char** environ;

using namespace berth;
using namespace berth::bench;
using namespace std::chrono_literals;

namespace {

int connect_to(const std::string& ip, std::uint16_t port) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    ::close(fd);
    std::this_thread::sleep_for(20ms);  // the server is still starting
  }
  die(fmt::format("nothing answers at {}:{}", ip, port));
}

// MiB/s of `megabytes` sent to a sink that reads everything, best of three.
double throughput(const std::string& ip, std::uint16_t port, int megabytes) {
  std::vector<char> block(1 << 20, 'x');
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    int fd = connect_to(ip, port);
    auto t0 = bench::Clock::now();
    for (int i = 0; i < megabytes; ++i) {
      std::size_t done = 0;
      while (done < block.size()) {
        ssize_t n = ::send(fd, block.data() + done, block.size() - done, MSG_NOSIGNAL);
        if (n <= 0) die("send");
        done += static_cast<std::size_t>(n);
      }
    }
    ::shutdown(fd, SHUT_WR);
    char byte;
    while (::read(fd, &byte, 1) > 0) {
    }
    double seconds = std::chrono::duration<double>(bench::Clock::now() - t0).count();
    ::close(fd);
    best = std::max(best, megabytes / seconds);
  }
  return best;
}

// One byte out and back through an echo server, `count` times on one connection.
Summary round_trips(const std::string& ip, std::uint16_t port, int count) {
  int fd = connect_to(ip, port);
  auto s = measure(count, [&] {
    char byte = 'x';
    if (::write(fd, &byte, 1) != 1 || ::read(fd, &byte, 1) != 1) die("echo");
  });
  ::close(fd);
  return s;
}


// Another host, as far as the kernel can tell: a network namespace behind a veth, on a /30 of
// its own, routing through this host.
struct RemoteHost {
  static constexpr const char* host_address = "10.213.62.1";  // this host, as seen from there
  RemoteHost() {
    if (run_quietly({"sh", "-c",
                     "ip netns add btbench && ip link add btbench0 type veth peer name eth0 netns btbench && "
                     "ip addr add 10.213.62.1/30 dev btbench0 && ip link set btbench0 up && "
                     "ip -n btbench addr add 10.213.62.2/30 dev eth0 && ip -n btbench link set eth0 up && "
                     "ip -n btbench route add default via 10.213.62.1"}) != 0)
      die("could not make the remote host's namespace");
  }
  ~RemoteHost() { (void)run_quietly({"sh", "-c", "ip netns del btbench; ip link del btbench0 2>/dev/null; true"}); }
  // Runs `work` on a thread inside the remote namespace (setns moves only the calling thread).
  template <typename F>
  auto from_there(F work) {
    decltype(work()) result{};
    std::thread([&] {
      int fd = ::open("/var/run/netns/btbench", O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) die("setns into the remote host");
      ::close(fd);
      result = work();
    }).join();
    return result;
  }
};

WorkloadSpec server(std::string name, std::string network, std::vector<PortMapping> ports = {}) {
  WorkloadSpec spec;
  spec.kind = WorkloadKind::container;
  spec.image = "busybox";
  spec.name = std::move(name);
  spec.network = std::move(network);
  spec.ports = std::move(ports);
  // A sink on 9001 and an echo on 9002, each serving connection after connection.
  spec.args = {"sh", "-c", "nc -ll -p 9001 -e sh -c 'cat >/dev/null' & exec nc -ll -p 9002 -e cat"};
  return spec;
}

}  // namespace

int main(int argc, char** argv) {
  int megabytes = argc > 1 ? std::atoi(argv[1]) : 512;
  int trips = argc > 2 ? std::atoi(argv[2]) : 2000;
  int starts = argc > 3 ? std::atoi(argv[3]) : 50;
  char tmpl[] = "/tmp/berth-bench-net-XXXXXX";
  if (!::mkdtemp(tmpl)) die("mkdtemp");
  std::string work = tmpl, root = work + "/root", image = work + "/image";
  if (run_quietly({BERTH_SOURCE_DIR "/scripts/make-busybox-image.sh", image}) != 0) die("could not build the image");
  auto runtime = open_runtime(RuntimeOptions{root, BERTH_SHIM_PATH});
  if (!runtime) die(runtime.error().message);
  Runtime& rt = **runtime;
  if (!rt.import_image(image, {ImageFormat::automatic, "busybox:latest"})) die("import");
  if (!rt.create_network(NetworkSpec{"bench", "10.213.60.0/24", "", {}})) die("network");

  auto start = [&](const WorkloadSpec& spec) {
    auto h = rt.create(spec);
    if (!h || !rt.start(h->id)) die("start " + spec.name);
  };
  // Published on every address: loopback reaches it through the proxy, other hosts by DNAT.
  start(server("published", "bench", {PortMapping{"", std::nullopt, 9001, "tcp"}, PortMapping{"", std::nullopt, 9002, "tcp"}}));
  start(server("hostnet", "host"));
  auto sink_port = *rt.resolve_host_port("published", 9001);
  auto echo_port = *rt.resolve_host_port("published", 9002);
  auto direct = *rt.resolve_address("published", 0);
  std::string ip = direct.substr(0, direct.rfind(':'));

  double through_port = throughput("127.0.0.1", sink_port, megabytes);
  double through_direct = throughput(ip, 9001, megabytes);
  double through_host = 0;
  // The host-network server listens on the host's own 9001/9002.
  through_host = throughput("127.0.0.1", 9001, megabytes);
  RemoteHost remote;
  double through_dnat = remote.from_there([&] { return throughput(RemoteHost::host_address, sink_port, megabytes); });
  // The same hops without DNAT: the other host routed straight to the container's address.
  double through_routed = remote.from_there([&] { return throughput(ip, 9001, megabytes); });
  auto rtt_port = round_trips("127.0.0.1", echo_port, trips);
  auto rtt_dnat = remote.from_there([&] { return round_trips(RemoteHost::host_address, echo_port, trips); });
  auto rtt_routed = remote.from_there([&] { return round_trips(ip, 9002, trips); });
  auto rtt_direct = round_trips(ip, 9002, trips);
  auto rtt_host = round_trips("127.0.0.1", 9002, trips);
  (void)rt.remove("published", true);
  (void)rt.remove("hostnet", true);

  fmt::print("TCP to a busybox nc in a container ({} MiB sent, best of 3; {} one-byte round trips)\n", megabytes, trips);
  fmt::print("  {:<40} {:>9} {:>12} {:>12}\n", "path", "MiB/s", "rtt p50 ms", "rtt p99 ms");
  fmt::print("  {:<40} {:>9.0f} {:>12.4f} {:>12.4f}\n", "published port, host loopback (proxy)", through_port, rtt_port.p50_ms, rtt_port.p99_ms);
  fmt::print("  {:<40} {:>9.0f} {:>12.4f} {:>12.4f}\n", "published port, from another host (DNAT)", through_dnat, rtt_dnat.p50_ms, rtt_dnat.p99_ms);
  fmt::print("  {:<40} {:>9.0f} {:>12.4f} {:>12.4f}\n", "container address, from another host", through_routed, rtt_routed.p50_ms, rtt_routed.p99_ms);
  fmt::print("  {:<40} {:>9.0f} {:>12.4f} {:>12.4f}\n", "container address over the bridge", through_direct, rtt_direct.p50_ms, rtt_direct.p99_ms);
  fmt::print("  {:<40} {:>9.0f} {:>12.4f} {:>12.4f}\n", "container in the host network", through_host, rtt_host.p50_ms, rtt_host.p99_ms);
  fmt::print("  published / direct throughput: from loopback {:.2f}x; from another host {:.2f}x of its direct path\n"
             "  (aim: within 10%, 0.90x or better)\n",
             through_port / through_direct, through_dnat / through_routed);

  WorkloadSpec quick;
  quick.kind = WorkloadKind::container;
  quick.image = "busybox";
  quick.args = {"/bin/true"};
  auto plain = measure_lifecycle(rt, quick, starts, true);
  quick.network = "bench";
  auto networked = measure_lifecycle(rt, quick, starts, true);
  fmt::print("\ncontainer create+start+wait+remove of /bin/true, {} runs\n", starts);
  fmt::print("  private loopback only   p50 {:7.2f} ms  p99 {:7.2f} ms\n", plain.total.p50_ms, plain.total.p99_ms);
  fmt::print("  on a bridge network     p50 {:7.2f} ms  p99 {:7.2f} ms\n", networked.total.p50_ms, networked.total.p99_ms);
  double setup = (networked.create_p50 + networked.start_p50) - (plain.create_p50 + plain.start_p50);
  fmt::print("  by phase p50 (create / start / wait / remove):\n");
  fmt::print("    private  {:6.2f} / {:6.2f} / {:6.2f} / {:6.2f} ms\n", plain.create_p50, plain.start_p50, plain.wait_p50, plain.remove_p50);
  fmt::print("    network  {:6.2f} / {:6.2f} / {:6.2f} / {:6.2f} ms\n", networked.create_p50, networked.start_p50,
             networked.wait_p50, networked.remove_p50);
  fmt::print("  network setup adds {:.2f} ms to create+start (aim: under 5 ms); remove takes {:.2f} ms longer\n", setup,
             networked.remove_p50 - plain.remove_p50);

  (void)rt.remove_network("bench");
  runtime->reset();
  (void)remove_tree(work);
  return 0;
}
