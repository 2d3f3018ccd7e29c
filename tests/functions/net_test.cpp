// berth.tcp_connect and the module's allow-list, through a C guest built against the SDK
// header, on both engines: an allowed peer talks, others are refused before anything connects,
// names come only from the list, bad entries fail the load, and no descriptor leaks.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <filesystem>
#include <fmt/format.h>
#include <thread>

#include <berth/functions.hpp>

#include "common/fd.hpp"
#include "support/aot_cache.hpp"
#include "support/shell.hpp"

namespace berth::functions {
namespace {

using namespace std::chrono_literals;

const std::string kGuest = BERTH_FUNCTION_GUEST_DIR "/net_guest.wasm";

// A loopback TCP peer: answers each connection's first read with "pong:" and what it read,
// then closes it. Counts the connections it accepted. Stops and closes everything when
// destroyed (also when a test fails).
class Peer {
 public:
  Peer() {
    listener_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (!listener_ || ::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener_.get(), 128) != 0 ||
        ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0)
      throw std::runtime_error("cannot listen on loopback");
    port_ = ntohs(address.sin_port);
    thread_ = std::jthread([this](std::stop_token stop) { serve(stop); });
  }
  ~Peer() {
    thread_.request_stop();
    thread_.join();
  }
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  // Every accepted connection answered and closed on this side.
  bool idle() const { return closed_.load() == accepted_.load(); }
  std::string address() const { return fmt::format("127.0.0.1:{}", port_); }

 private:
  void serve(std::stop_token stop) {
    while (!stop.stop_requested()) {
      pollfd p{listener_.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      UniqueFd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!connection) continue;
      ++accepted_;
      struct Done {
        std::atomic<int>& closed;
        UniqueFd& connection;
        ~Done() {
          connection.reset();
          ++closed;
        }
      } done{closed_, connection};
      pollfd c{connection.get(), POLLIN, 0};
      if (::poll(&c, 1, 2000) <= 0) continue;
      char buffer[64];
      ssize_t n = ::read(connection.get(), buffer, sizeof buffer);
      if (n <= 0) continue;
      std::string reply = "pong:" + std::string(buffer, static_cast<std::size_t>(n));
      (void)::send(connection.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
    }
  }

  UniqueFd listener_;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<int> closed_{0};
  std::jthread thread_;
};

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

class Net : public ::testing::TestWithParam<std::string> {
 protected:
  LoadOptions options(std::vector<std::string> peers) {
    LoadOptions o;
    o.engine = GetParam();
    o.aot_cache_dir = berth::testing::shared_aot_cache_dir();
    o.allowed_peers = std::move(peers);
    o.limits.execution_time = 5s;
    return o;
  }
  std::shared_ptr<FunctionModule> load(const LoadOptions& o) {
    auto module = FunctionModule::load(kGuest, o);
    EXPECT_TRUE(module) << module.error().message;
    return module ? *module : nullptr;
  }
  static std::string call(FunctionModule& m, std::string_view function, std::string_view address) {
    auto out = m.call_bytes(function, std::span(reinterpret_cast<const std::uint8_t*>(address.data()), address.size()));
    if (!out) return "CALL FAILED: " + out.error().message;
    return std::string(out->begin(), out->end());
  }
};

TEST_P(Net, AnAllowedPeerTalks) {
  Peer peer;
  auto m = load(options({peer.address()}));
  ASSERT_TRUE(m);
  EXPECT_EQ(call(*m, "roundtrip", peer.address()), "pong:ping");
  EXPECT_EQ(call(*m, "roundtrip", peer.address()), "pong:ping");
  EXPECT_EQ(call(*m, "socket_calls", peer.address()), "pong:ping");  // read to the peer's close
  EXPECT_EQ(peer.accepted(), 3);
}

TEST_P(Net, APeerNotOnTheListIsRefusedAndNothingConnects) {
  Peer allowed, other;
  auto m = load(options({allowed.address()}));
  ASSERT_TRUE(m);
  EXPECT_EQ(call(*m, "roundtrip", other.address()), "ERR -1");  // BERTH_NET_NOT_ALLOWED
  EXPECT_EQ(call(*m, "roundtrip", fmt::format("[::1]:{}", allowed.port())), "ERR -1");
  EXPECT_EQ(call(*m, "roundtrip", allowed.address()), "pong:ping");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(other.accepted(), 0);
  EXPECT_EQ(allowed.accepted(), 1);
}

TEST_P(Net, AnEmptyListRefusesEverything) {
  Peer peer;
  auto m = load(options({}));
  ASSERT_TRUE(m);
  EXPECT_EQ(call(*m, "roundtrip", peer.address()), "ERR -1");
  EXPECT_EQ(call(*m, "roundtrip", fmt::format("localhost:{}", peer.port())), "ERR -1");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(peer.accepted(), 0);
}

TEST_P(Net, ACidrBlockAllowsItsAddressesOnAnyPortOrOne) {
  Peer a, b;
  auto any_port = load(options({"127.0.0.0/8"}));
  ASSERT_TRUE(any_port);
  EXPECT_EQ(call(*any_port, "roundtrip", a.address()), "pong:ping");
  EXPECT_EQ(call(*any_port, "roundtrip", b.address()), "pong:ping");
  auto one_port = load(options({"10.0.0.0/8", fmt::format("127.0.0.0/8:{}", a.port())}));
  ASSERT_TRUE(one_port);
  EXPECT_EQ(call(*one_port, "roundtrip", a.address()), "pong:ping");
  EXPECT_EQ(call(*one_port, "roundtrip", b.address()), "ERR -1");
  auto bare_ip = load(options({"127.0.0.1"}));
  ASSERT_TRUE(bare_ip);
  EXPECT_EQ(call(*bare_ip, "roundtrip", b.address()), "pong:ping");
  EXPECT_EQ(call(*bare_ip, "roundtrip", fmt::format("127.0.0.2:{}", b.port())), "ERR -1");
  EXPECT_EQ(a.accepted(), 2);
  EXPECT_EQ(b.accepted(), 2);
}

TEST_P(Net, AHostEntryIsResolvedAtLoadAndOnlyItsNameIsAllowed) {
  Peer peer, other;
  auto m = load(options({fmt::format("localhost:{}", peer.port())}));
  ASSERT_TRUE(m);
  EXPECT_EQ(call(*m, "roundtrip", fmt::format("localhost:{}", peer.port())), "pong:ping");
  EXPECT_EQ(call(*m, "roundtrip", fmt::format("LocalHost:{}", peer.port())), "pong:ping");
  EXPECT_EQ(call(*m, "roundtrip", fmt::format("localhost:{}", other.port())), "ERR -1");     // another port
  EXPECT_EQ(call(*m, "roundtrip", fmt::format("example.com:{}", peer.port())), "ERR -1");   // not on the list
  EXPECT_EQ(call(*m, "roundtrip", fmt::format("localhost.:{}", peer.port())), "ERR -1");    // not exactly it
  EXPECT_EQ(call(*m, "roundtrip", "localhost"), "ERR -4");                                  // no port
  EXPECT_EQ(call(*m, "roundtrip", "no spaces:80"), "ERR -4");
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(peer.accepted(), 2);
  EXPECT_EQ(other.accepted(), 0);
}

TEST_P(Net, BadEntriesFailTheLoadNamingThem) {
  for (std::string bad : {"10.0.0.0/33", "127.0.0.1:0", "127.0.0.1:70000", "bad host!", "[::1", "::1/129",
                          "10.0.0.0/8:x", "", "no-such-host.invalid"}) {
    auto m = FunctionModule::load(kGuest, options({"127.0.0.1", bad}));
    ASSERT_FALSE(m) << bad;
    EXPECT_NE(m.error().message.find(fmt::format("\"{}\"", bad)), std::string::npos) << m.error().message;
    EXPECT_NE(m.error().message.find("allowed_peers"), std::string::npos) << m.error().message;
  }
}

TEST_P(Net, ACallBlockedOnASilentPeerEndsAtItsDeadline) {
  // A peer that never answers (the kernel completes the connect; nobody accepts or reads): the
  // guest's read blocks, and the call still ends at its execution time.
  UniqueFd silent(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in bound{};
  bound.sin_family = AF_INET;
  bound.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof bound;
  ASSERT_EQ(::bind(silent.get(), reinterpret_cast<sockaddr*>(&bound), length), 0);
  ASSERT_EQ(::listen(silent.get(), 16), 0);
  ASSERT_EQ(::getsockname(silent.get(), reinterpret_cast<sockaddr*>(&bound), &length), 0);
  std::string address = fmt::format("127.0.0.1:{}", ntohs(bound.sin_port));
  auto o = options({address});
  o.limits.execution_time = 300ms;
  auto m = load(o);
  ASSERT_TRUE(m);
  auto started = std::chrono::steady_clock::now();
  auto out = m->call_bytes("roundtrip", std::span(reinterpret_cast<const std::uint8_t*>(address.data()), address.size()));
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, 2s);
  EXPECT_GE(took, 250ms);
  // The deadline ends the call; if the read's bound came first, the guest read nothing.
  if (out) EXPECT_EQ(std::string(out->begin(), out->end()), "");
  else EXPECT_EQ(out.error().code, ErrorCode::timeout) << out.error().message;
}

TEST_P(Net, NoDescriptorLeaksAcrossAThousandPooledCalls) {
  Peer peer;
  auto before_load = open_fds();
  {
    auto o = options({peer.address()});
    o.limits.pool_size = 1;
    auto m = load(o);
    ASSERT_TRUE(m);
    EXPECT_EQ(call(*m, "roundtrip", peer.address()), "pong:ping");  // the pool's one instance exists now
    for (int i = 0; i < 500 && !peer.idle(); ++i) std::this_thread::sleep_for(10ms);
    auto before = open_fds();
    for (int i = 0; i < 1000; ++i) {
      // open_only leaves its connection open: releasing the instance closes it.
      auto out = call(*m, i % 2 ? "open_only" : "roundtrip", peer.address());
      ASSERT_TRUE(out == "pong:ping" || out.starts_with("fd ")) << out;
    }
    EXPECT_EQ(m->stats().created, 1u);
    // The peer accepts and closes the last connections a little later; let it catch up.
    for (int i = 0; i < 500 && (peer.accepted() != 1001 || !peer.idle()); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(open_fds(), before);
    EXPECT_EQ(peer.accepted(), 1001);
  }
  EXPECT_EQ(open_fds(), before_load);
}

// A command module run as a workload runs (berth-wasm) gets tcp_connect too, with --allow.
TEST_P(Net, ACommandRunByBerthWasmConnectsToItsAllowedPeersOnly) {
  Peer peer, other;
  auto run = [&](const std::string& flags, const std::string& address) {
    return berth::testing::shell(fmt::format("{} --engine {} --cache-dir {} {} {} -- {} 2>&1", BERTH_WASM_RUNNER_PATH,
                                             GetParam(), berth::testing::shared_aot_cache_dir().string(), flags,
                                             BERTH_FUNCTION_GUEST_DIR "/cmd_connect.wasm", address));
  };
  EXPECT_EQ(run(fmt::format("--allow {}", peer.address()), peer.address()), "pong:ping\n");
  EXPECT_EQ(run(fmt::format("--allow {}", peer.address()), other.address()), "ERR -1\n");
  EXPECT_EQ(run("", peer.address()), "ERR -1\n");  // no --allow: no network
  EXPECT_EQ(run(fmt::format("--allow localhost:{}", peer.port()), fmt::format("localhost:{}", peer.port())),
            "pong:ping\n");
  auto bad = run("--allow 10.0.0.0/33", peer.address());
  EXPECT_NE(bad.find("allowed_peers: \"10.0.0.0/33\""), std::string::npos) << bad;
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(peer.accepted(), 2);
  EXPECT_EQ(other.accepted(), 0);
}

INSTANTIATE_TEST_SUITE_P(Engines, Net, ::testing::Values("interp", "aot"));

}  // namespace
}  // namespace berth::functions
