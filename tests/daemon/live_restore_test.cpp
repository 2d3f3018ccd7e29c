// berthd killed with SIGKILL under load loses nothing: workloads belong to their shims, exits
// are recorded by the shims, events and logs are in the store, and the next berthd re-adopts
// what runs and applies restart policies to what ended while it was away.
#include <algorithm>
#include <sstream>

#include "daemon_fixture.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(DaemonTest, SigkillOfBerthdWithFiftyWorkloadsLosesNothing) {
  auto since = runtime_->last_event_seq();
  ASSERT_TRUE(since);
  std::map<std::string, int> pids;
  for (int i = 0; i < 40; ++i) {
    auto spec = process_spec({"/bin/sh", "-c", "i=0; while :; do echo $i; i=$((i+1)); sleep 0.02; done"},
                             "writer" + std::to_string(i));
    spec.restart_policy = {"always", 0};
    spec.stop_grace = 0ms;
    ASSERT_TRUE(remote_->create(spec));
    ASSERT_TRUE(remote_->start(spec.name));
    pids[spec.name] = *remote_->status(spec.name)->pid;
  }
  for (int i = 0; i < 5; ++i) {
    auto spec = process_spec({"/bin/sh", "-c", "sleep 1.5; exit 7"}, "ender" + std::to_string(i));
    ASSERT_TRUE(remote_->create(spec));
    ASSERT_TRUE(remote_->start(spec.name));
    auto retried = process_spec({"/bin/sh", "-c", "sleep 1.5; exit 3"}, "retried" + std::to_string(i));
    retried.restart_policy = {"on-failure", 1};
    ASSERT_TRUE(remote_->create(retried));
    ASSERT_TRUE(remote_->start(retried.name));
  }
  // Under load: a client is mid-request when berthd dies.
  std::jthread load([&](std::stop_token stop) {
    while (!stop.stop_requested()) (void)remote_->list({.all = true});
  });
  std::this_thread::sleep_for(200ms);
  int status = stop_daemon(SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(status));
  load.request_stop();
  load.join();
  std::this_thread::sleep_for(2s);  // the enders and the retried exit while no berthd runs

  start_daemon();
  for (auto& [name, pid] : pids) {
    auto s = remote_->status(name);
    ASSERT_TRUE(s) << name << ": " << s.error().message;
    EXPECT_EQ(s->state, WorkloadState::running) << name;
    EXPECT_EQ(s->pid, pid) << name << " was not the same process";
  }
  for (int i = 0; i < 5; ++i) {
    auto ender = remote_->status("ender" + std::to_string(i));
    ASSERT_TRUE(ender);
    EXPECT_EQ(ender->state, WorkloadState::exited);
    EXPECT_EQ(ender->exit_code, 7);
    EXPECT_EQ(ender->restart_count, 0);
    std::string name = "retried" + std::to_string(i);
    EXPECT_TRUE(eventually([&] { return remote_->status(name)->restart_count == 1; })) << name;
  }
  // No log line lost: each writer's numbers run from 0 without a gap, past what it wrote before
  // berthd died (how many lines that is depends on the machine's load: wait for them).
  for (auto& [name, pid] : pids)
    EXPECT_TRUE(eventually([&] {
                  auto text = all_output(name);
                  return std::count(text.begin(), text.end(), '\n') > 50;
                }, std::chrono::seconds(30)))
        << name;
  for (auto& [name, pid] : pids) {
    std::istringstream lines(all_output(name));
    int expected = 0, n;
    while (lines >> n) {
      ASSERT_EQ(n, expected) << name << " lost a line";
      ++expected;
    }
    EXPECT_GT(expected, 50) << name;
  }
  // No event lost: one unbroken run of seqs, each workload created and started once by us.
  auto reader = runtime_->watch(*since);
  ASSERT_TRUE(reader);
  std::uint64_t last = *since;
  int created = 0;
  for (;;) {
    auto e = (*reader)->next(100ms);
    if (!e || !*e) break;
    EXPECT_EQ((*e)->seq, last + 1);
    last = (*e)->seq;
    if ((*e)->type == "created") ++created;
  }
  EXPECT_EQ(created, 50);
  // Every workload goes at teardown; SIGTERM leaves them running.
  EXPECT_EQ(WEXITSTATUS(stop_daemon(SIGTERM)), 0);
  EXPECT_EQ(runtime_->status("writer0")->pid, pids["writer0"]);
}

}  // namespace
}  // namespace berth::testing
