#include <gtest/gtest.h>

#include "runtime/health_target.hpp"
#include "supervisor/health_state.hpp"
#include "supervisor/restart_policy.hpp"

namespace berth::supervisor {
namespace {

using namespace std::chrono_literals;

WorkloadStatus ended(std::optional<int> code, bool by_user = false, int restarts = 0) {
  WorkloadStatus s;
  s.state = WorkloadState::exited;
  s.exit_code = code;
  if (!code) s.exit_signal = 9;
  s.stopped_by_user = by_user;
  s.restart_count = restarts;
  return s;
}

TEST(RestartPolicy, FollowsDockersRules) {
  RestartPolicy no{"no", 0}, always{"always", 0}, unless{"unless-stopped", 0};
  RestartPolicy on_failure{"on-failure", 0}, on_failure_2{"on-failure", 2};
  EXPECT_FALSE(should_restart(no, ended(1), RestartCause::exited));
  EXPECT_TRUE(should_restart(always, ended(0), RestartCause::exited));
  EXPECT_FALSE(should_restart(always, ended(0, true), RestartCause::exited));
  EXPECT_TRUE(should_restart(always, ended(0, true), RestartCause::reconcile));
  EXPECT_TRUE(should_restart(unless, ended(0), RestartCause::exited));
  EXPECT_FALSE(should_restart(unless, ended(0, true), RestartCause::reconcile));
  EXPECT_FALSE(should_restart(on_failure, ended(0), RestartCause::exited));
  EXPECT_TRUE(should_restart(on_failure, ended(3), RestartCause::exited));
  EXPECT_TRUE(should_restart(on_failure, ended(std::nullopt), RestartCause::exited));  // a signal
  EXPECT_TRUE(should_restart(on_failure, ended(0), RestartCause::unhealthy));
  EXPECT_TRUE(should_restart(on_failure_2, ended(1, false, 1), RestartCause::exited));
  EXPECT_FALSE(should_restart(on_failure_2, ended(1, false, 2), RestartCause::exited));
  EXPECT_FALSE(should_restart(on_failure, ended(1, true), RestartCause::exited));
}

TEST(RestartPolicy, BackoffDoublesToItsCap) {
  BackoffPolicy b{100ms, 1000ms, 10000ms};
  EXPECT_EQ(restart_delay(0, b), 100ms);
  EXPECT_EQ(restart_delay(1, b), 200ms);
  EXPECT_EQ(restart_delay(3, b), 800ms);
  EXPECT_EQ(restart_delay(4, b), 1000ms);
  EXPECT_EQ(restart_delay(60, b), 1000ms);  // no overflow
}

TEST(HealthState, CountsRetriesOutsideTheStartPeriod) {
  HealthCheck check;
  check.retries = 2;
  HealthState h(check);
  EXPECT_EQ(h.record(false, true), std::nullopt);  // start period: not counted
  EXPECT_EQ(h.record(false, true), std::nullopt);
  EXPECT_EQ(h.record(false, false), std::nullopt);  // 1 of 2
  EXPECT_EQ(h.record(false, false), WorkloadState::unhealthy);
  EXPECT_EQ(h.record(false, false), std::nullopt);  // no repeat transition
  EXPECT_EQ(h.record(true, false), WorkloadState::healthy);
  EXPECT_EQ(h.record(true, false), std::nullopt);
  EXPECT_EQ(h.consecutive_failures(), 0);
  HealthState early(check);
  EXPECT_EQ(early.record(true, true), WorkloadState::healthy);  // success counts at once
}

TEST(ProbeTarget, ParsesTheForms) {
  auto a = parse_probe_target("8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  EXPECT_EQ(a->path, "/");
  auto b = parse_probe_target("http://localhost:81/healthz?x=1");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->port, 81);
  EXPECT_EQ(b->path, "/healthz?x=1");
  auto c = parse_probe_target(":9000/ready");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->port, 9000);
  EXPECT_EQ(c->path, "/ready");
  auto d = parse_probe_target("10.1.2.3:53");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->host, "10.1.2.3");
  for (auto bad : {"", "http://x/", "70000", "web:abc"}) {
    auto r = parse_probe_target(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().message.find("health target"), std::string::npos);
  }
}

}  // namespace
}  // namespace berth::supervisor
