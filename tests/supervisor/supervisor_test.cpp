// The supervisor against real workloads: restart policies with backoff, health checks of each
// kind (including from inside a private network namespace), readiness, user restarts.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include "support/runtime_fixture.hpp"
#include "supervisor/supervisor.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;
using supervisor::Supervisor;
using supervisor::SupervisorOptions;

// A TCP port nothing listens on right now.
std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class SupervisorTest : public RuntimeTest {
 protected:
  void TearDown() override {
    supervisor_.reset();  // before the fixture removes the workloads
    RuntimeTest::TearDown();
  }

  void supervise() {
    SupervisorOptions options;
    options.backoff = {50ms, 400ms, 10000ms};
    options.log = [](std::string_view) {};
    auto s = Supervisor::start(*runtime_, options);
    ASSERT_TRUE(s) << s.error().message;
    supervisor_ = std::move(*s);
  }

  std::vector<Event> events_of(const std::string& name) {
    std::vector<Event> out;
    auto reader = runtime_->watch(0);
    if (!reader) return out;
    for (;;) {
      auto e = (*reader)->next(50ms);
      if (!e || !*e) break;
      if ((*e)->workload_name == name) out.push_back(**e);
    }
    return out;
  }

  static HealthCheck health(std::string type, std::vector<std::string> command, std::string target = {}) {
    HealthCheck h;
    h.type = std::move(type);
    h.command = std::move(command);
    h.target = std::move(target);
    h.interval = 100ms;
    h.timeout = 2s;
    h.retries = 2;
    return h;
  }

  std::unique_ptr<Supervisor> supervisor_;
};

TEST_F(SupervisorTest, OnFailureRestartsUpToItsLimitWithGrowingBackoff) {
  supervise();
  auto spec = process_spec({"/bin/sh", "-c", "exit 3"}, "flaky");
  spec.restart_policy = {"on-failure", 3};
  run(spec);
  ASSERT_TRUE(eventually([&] {
    auto s = runtime_->status("flaky");
    return s && s->restart_count == 3 && !is_active(s->state);
  }));
  std::this_thread::sleep_for(600ms);  // past the largest backoff: no fourth restart
  auto s = runtime_->status("flaky");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->restart_count, 3);
  EXPECT_EQ(s->exit_code, 3);
  std::vector<TimePoint> exits, restarts;
  for (auto& e : events_of("flaky")) {
    if (e.type == "exited") exits.push_back(e.time);
    if (e.type == "restarting") restarts.push_back(e.time);
  }
  ASSERT_EQ(restarts.size(), 3u);
  ASSERT_EQ(exits.size(), 4u);
  // Backoff 50, 100, 200 ms between an exit and the restart it leads to.
  for (std::size_t i = 0; i < 3; ++i)
    EXPECT_GE(restarts[i] - exits[i], std::chrono::milliseconds(50 << i) - 5ms) << "restart " << i;
}

TEST_F(SupervisorTest, AlwaysRestartsACleanExitButNotAUsersStop) {
  supervise();
  auto spec = process_spec({"/bin/sh", "-c", "sleep 0.2"}, "loop");
  spec.restart_policy = {"always", 0};
  run(spec);
  ASSERT_TRUE(eventually([&] { return runtime_->status("loop")->restart_count >= 2; }));
  ASSERT_TRUE(eventually([&] { return is_active(runtime_->status("loop")->state); }));
  ASSERT_TRUE(runtime_->stop("loop", 1s));
  auto count = runtime_->status("loop")->restart_count;
  std::this_thread::sleep_for(800ms);
  auto s = runtime_->status("loop");
  EXPECT_FALSE(is_active(s->state));
  EXPECT_TRUE(s->stopped_by_user);
  EXPECT_EQ(s->restart_count, count);
}

TEST_F(SupervisorTest, NoPolicyLeavesItDown) {
  supervise();
  run(process_spec({"/bin/sh", "-c", "exit 1"}, "once"));
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(runtime_->status("once")->restart_count, 0);
  EXPECT_EQ(supervisor_->watched(), 0u);
}

TEST_F(SupervisorTest, ANewSupervisorRestartsAlwaysButNotAStoppedUnlessStopped) {
  for (auto [name, policy] : {std::pair{"a", "always"}, std::pair{"u", "unless-stopped"}}) {
    auto spec = process_spec({"/bin/sleep", "100"}, name);
    spec.restart_policy = {policy, 0};
    spec.stop_grace = 0ms;
    run(spec);
    ASSERT_TRUE(runtime_->stop(name));
  }
  // A third that died (not stopped by a user) while no supervisor ran.
  auto spec = process_spec({"/bin/sh", "-c", "exit 2"}, "died");
  spec.restart_policy = {"unless-stopped", 0};
  run(spec);
  ASSERT_TRUE(runtime_->wait("died", 5s));
  supervise();
  ASSERT_TRUE(eventually([&] { return is_active(runtime_->status("a")->state); }));
  ASSERT_TRUE(eventually([&] { return runtime_->status("died")->restart_count >= 1; }));
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(is_active(runtime_->status("u")->state));
}

TEST_F(SupervisorTest, ExecHealthCheckGoesHealthyThenUnhealthy) {
  supervise();
  std::string flag = root_ + "/ready";
  auto spec = process_spec({"/bin/sh", "-c", "sleep 0.3; touch " + flag + "; sleep 100"}, "svc");
  spec.health_check = health("exec", {"/bin/test", "-f", flag});
  spec.health_check->start_period = 2s;  // failures while it starts do not count
  run(spec);
  auto ready = supervisor_->wait_ready("svc", 10s);
  ASSERT_TRUE(ready) << ready.error().message;
  auto s = runtime_->status("svc");
  EXPECT_EQ(s->state, WorkloadState::healthy);
  ASSERT_FALSE(s->health.empty());
  EXPECT_EQ(s->health.back().exit_code, 0);
  ASSERT_EQ(::unlink(flag.c_str()), 0);
  ASSERT_TRUE(eventually([&] { return runtime_->status("svc")->state == WorkloadState::unhealthy; }));
  s = runtime_->status("svc");
  EXPECT_LE(s->health.size(), 5u);
  EXPECT_NE(s->health.back().exit_code, 0);
  std::vector<std::string> transitions;
  for (auto& e : events_of("svc"))
    if (e.type == "healthy" || e.type == "unhealthy") transitions.push_back(e.type);
  EXPECT_EQ(transitions, (std::vector<std::string>{"healthy", "unhealthy"}));
  auto not_ready = supervisor_->wait_ready("svc", 1s);
  ASSERT_FALSE(not_ready);
  EXPECT_NE(not_ready.error().message.find("svc is unhealthy"), std::string::npos) << not_ready.error().message;
}

TEST_F(SupervisorTest, HttpAndTcpProbes) {
  supervise();
  auto port = free_port();
  auto web = process_spec({"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", std::to_string(port)}, "web");
  web.health_check = health("http", {}, std::to_string(port) + "/");
  // Python's http.server may take longer to listen than two probes 100 ms apart on a loaded
  // machine: failures while it starts do not count.
  web.health_check->start_period = 10s;
  run(web);
  auto ready = supervisor_->wait_ready("web", 15s);
  ASSERT_TRUE(ready) << ready.error().message;
  EXPECT_NE(runtime_->status("web")->health.back().output.find("200"), std::string::npos);

  auto closed = process_spec({"/bin/sleep", "100"}, "deaf");
  closed.health_check = health("tcp", {}, std::to_string(free_port()));
  run(closed);
  auto r = supervisor_->wait_ready("deaf", 10s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("unhealthy"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("Connection refused"), std::string::npos) << r.error().message;
}

TEST_F(SupervisorTest, ProbesReachIntoAPrivateNetworkNamespace) {
  supervise();
  auto port = free_port();
  // Its own network namespace: its loopback is not the host's.
  auto web = process_spec({"/usr/bin/python3", "-m", "http.server", "--bind", "127.0.0.1", std::to_string(port)}, "inner");
  web.network = "none";
  web.health_check = health("http", {}, std::to_string(port) + "/");
  // Python's http.server may take longer to listen than two probes 100 ms apart on a loaded
  // machine: failures while it starts do not count.
  web.health_check->start_period = 10s;
  run(web);
  auto ready = supervisor_->wait_ready("inner", 15s);
  ASSERT_TRUE(ready) << ready.error().message;
  // And from the host, nothing answers on that port.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::close(fd);
}

TEST_F(SupervisorTest, AnUnhealthyWorkloadIsRestartedWhenItsPolicySays) {
  supervise();
  auto spec = process_spec({"/bin/sleep", "100"}, "sick");
  spec.health_check = health("exec", {"/bin/false"});
  spec.restart_policy = {"on-failure", 1};
  spec.stop_grace = 200ms;
  run(spec);
  ASSERT_TRUE(eventually([&] { return runtime_->status("sick")->restart_count == 1; }));
  ASSERT_TRUE(eventually([&] { return runtime_->status("sick")->state == WorkloadState::unhealthy; }));
  std::this_thread::sleep_for(1s);  // its one restart is spent: it stays up, unhealthy
  EXPECT_EQ(runtime_->status("sick")->restart_count, 1);
}

TEST_F(SupervisorTest, OneUserRestartAtATime) {
  // Ignores SIGTERM, so the restart's stop takes its whole grace period.
  auto spec = process_spec({"/bin/sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"}, "slow");
  spec.stop_grace = 1500ms;
  run(spec);
  // Only once the trap is set does SIGTERM leave it running (before, it would end at once).
  ASSERT_TRUE(eventually([&] { return all_output("slow") == "ready\n"; }));
  auto pid = runtime_->status("slow")->pid;
  auto first = std::async(std::launch::async, [&] { return runtime_->restart("slow"); });
  ASSERT_TRUE(eventually([&] { return runtime_->status("slow")->state == WorkloadState::stopping; }))
      << (first.wait_for(0s) != std::future_status::ready ? "still restarting"
          : [&] { auto r = first.get(); return r ? std::string("restarted without a visible stop") : r.error().message; }());
  auto second = runtime_->restart("slow");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::conflict);
  EXPECT_NE(second.error().message.find("already being restarted"), std::string::npos);
  auto done = first.get();
  ASSERT_TRUE(done) << done.error().message;
  auto s = runtime_->status("slow");
  EXPECT_TRUE(is_active(s->state));
  EXPECT_NE(s->pid, pid);
  EXPECT_FALSE(s->stopped_by_user);
}

}  // namespace
}  // namespace berth::testing
