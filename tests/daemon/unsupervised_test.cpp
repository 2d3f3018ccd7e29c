// berthd with --restart always, and the shim of a running workload SIGKILLed: the supervisor
// ends the orphaned processes and restarts the workload cleanly. Never two copies: the
// workload's cgroup never holds more than its one process, and no "started" comes before the
// end of the run before it.
#include <signal.h>

#include "daemon/daemon_fixture.hpp"
#include "support/unsupervised.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

TEST_F(DaemonTest, AKilledShimUnderRestartAlwaysNeverLeadsToTwoCopies) {
  auto spec = process_spec({"sleep", "300"}, "always");
  spec.restart_policy = {"always", 0};
  auto h = remote_->create(spec);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_TRUE(remote_->start("always"));
  auto before = remote_->status("always");
  ASSERT_TRUE(before && before->pid);
  ASSERT_TRUE(kill_shim_of(h->id));
  // Reading the status (as `berth ps` would) must not make a copy either.
  auto orphaned = remote_->status("always");
  ASSERT_TRUE(orphaned);
  EXPECT_TRUE(is_active(orphaned->state));
  EXPECT_EQ(most_live_pids_over(h->id, 3s), 1u);
  // By now the supervisor has ended the orphan and started the workload again, supervised.
  ASSERT_TRUE(eventually([&] {
    auto s = remote_->status("always");
    return s && s->state == WorkloadState::running && !runs_unsupervised(*s) && s->pid && *s->pid != *before->pid;
  })) << daemon_log();
  EXPECT_TRUE(process_gone(*before->pid));
  auto events = events_of(*remote_, h->id);
  EXPECT_TRUE(each_start_follows_an_end(events));
  EXPECT_EQ(std::count_if(events.begin(), events.end(), [](const Event& e) { return e.type == "started"; }), 2);
  auto after = remote_->status("always");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->restart_count, 1);
  EXPECT_EQ(live_pids_in_cgroup(h->id), std::vector<int>{*after->pid});
}

// Without a restart policy berthd leaves it running, unsupervised; stop still ends it.
TEST_F(DaemonTest, AKilledShimWithoutARestartPolicyLeavesItRunningUnsupervised) {
  auto spec = process_spec({"sleep", "300"}, "left");
  spec.stop_grace = 1s;
  auto h = remote_->create(spec);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_TRUE(remote_->start("left"));
  auto before = remote_->status("left");
  ASSERT_TRUE(before && before->pid);
  ASSERT_TRUE(kill_shim_of(h->id));
  EXPECT_EQ(most_live_pids_over(h->id, 1500ms), 1u);
  auto status = remote_->status("left");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state, WorkloadState::running);
  EXPECT_TRUE(runs_unsupervised(*status)) << status->reason;
  EXPECT_EQ(status->pid, before->pid);
  auto exit = remote_->stop("left", std::nullopt);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_signal, SIGTERM);
  EXPECT_TRUE(live_pids_in_cgroup(h->id).empty());
}

}  // namespace
}  // namespace berth::testing
