// Fault injection: the shim of a running workload is SIGKILLed. Its processes live on in the
// cgroup, and the cgroup is the truth: the workload is running (unsupervised) with its pid,
// stop and kill end every process of it and record the exit, remove -f releases it, and no
// start makes a second copy beside it.
#include <signal.h>

#include <future>

#include "support/cli.hpp"
#include "support/runtime_fixture.hpp"
#include "support/unsupervised.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class Unsupervised : public RuntimeTest {
 protected:
  // Runs `args`, kills its shim, and returns its status (running, unsupervised).
  WorkloadStatus orphan(std::vector<std::string> args, const std::string& name,
                        std::chrono::milliseconds grace = 10s) {
    auto spec = process_spec(std::move(args), name);
    spec.stop_grace = grace;
    auto h = run(spec);
    auto before = runtime_->status(name);
    EXPECT_TRUE(before && before->pid && !runs_unsupervised(*before));
    EXPECT_TRUE(kill_shim_of(h.id)) << "no shim of " << name;
    auto after = runtime_->status(name);
    EXPECT_TRUE(after) << after.error().message;
    return after ? *after : WorkloadStatus{};
  }
};

TEST_F(Unsupervised, AKilledShimLeavesTheWorkloadRunningUnsupervisedWithItsPid) {
  auto h = run(process_spec({"sleep", "300"}, "orphan"));
  auto before = runtime_->status("orphan");
  ASSERT_TRUE(before && before->pid);
  ASSERT_TRUE(kill_shim_of(h.id));
  auto status = runtime_->status("orphan");
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(status->state, WorkloadState::running);
  EXPECT_TRUE(runs_unsupervised(*status)) << status->reason;
  EXPECT_EQ(status->pid, before->pid);
  EXPECT_FALSE(process_gone(*before->pid));
  // Listed among the running ones, and never started a second time beside itself.
  auto running = runtime_->list({});
  ASSERT_TRUE(running);
  ASSERT_EQ(running->size(), 1u);
  EXPECT_TRUE(runs_unsupervised(running->front().status));
  auto ps = run_cli(root_, {"ps"});
  EXPECT_NE(ps.out.find("running (unsupervised)"), std::string::npos) << ps.out << ps.err;
  EXPECT_NE(ps.out.find(std::to_string(*before->pid)), std::string::npos) << ps.out;
  auto again = runtime_->start("orphan");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::conflict);
  EXPECT_EQ(live_pids_in_cgroup(h.id), std::vector<int>{*before->pid});
}

TEST_F(Unsupervised, StopSignalsTheCgroupAndRecordsTheExit) {
  auto status = orphan({"sleep", "300"}, "stopme");
  ASSERT_TRUE(status.pid);
  auto exit = runtime_->stop("stopme", 5s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->state, WorkloadState::exited);
  EXPECT_EQ(exit->exit_signal, SIGTERM);  // sleep dies of the stop signal, well within the grace
  EXPECT_NE(exit->reason.find("unsupervised"), std::string::npos) << exit->reason;
  EXPECT_TRUE(process_gone(*status.pid));
  EXPECT_TRUE(live_pids_in_cgroup(status.id).empty());
  auto after = runtime_->status("stopme");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->state, WorkloadState::exited);
  EXPECT_FALSE(runs_unsupervised(*after)) << after->reason;
  EXPECT_FALSE(after->pid);
  // It starts again, supervised.
  ASSERT_TRUE(runtime_->start("stopme"));
  after = runtime_->status("stopme");
  ASSERT_TRUE(after);
  EXPECT_TRUE(is_active(after->state));
  EXPECT_FALSE(runs_unsupervised(*after)) << after->reason;
}

TEST_F(Unsupervised, StopKillsEveryProcessThatOutlivesTheGrace) {
  // A main process and a child, both deaf to SIGTERM.
  auto status = orphan({"sh", "-c", "trap '' TERM; sh -c \"trap '' TERM; while :; do sleep 0.1; done\" & wait"},
                       "deaf", 300ms);
  ASSERT_TRUE(status.pid);
  ASSERT_TRUE(eventually([&] { return live_pids_in_cgroup(status.id).size() >= 2; }));
  auto started = std::chrono::steady_clock::now();
  auto exit = runtime_->stop("deaf", std::nullopt);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
  EXPECT_EQ(exit->exit_signal, SIGKILL);
  EXPECT_TRUE(live_pids_in_cgroup(status.id).empty());
  EXPECT_TRUE(process_gone(*status.pid));
}

TEST_F(Unsupervised, KillSigkillEndsTheWholeCgroup) {
  auto status = orphan({"sh", "-c", "sleep 300 & wait"}, "killme");
  ASSERT_TRUE(eventually([&] { return live_pids_in_cgroup(status.id).size() >= 2; }));
  ASSERT_TRUE(runtime_->kill("killme", SIGKILL));
  auto exit = runtime_->wait("killme", 10s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_signal, SIGKILL);
  EXPECT_NE(exit->reason.find("unsupervised"), std::string::npos) << exit->reason;
  EXPECT_TRUE(live_pids_in_cgroup(status.id).empty());
}

TEST_F(Unsupervised, KillSendsOtherSignalsToTheMainProcess) {
  auto status = orphan({"sleep", "300"}, "hup");
  ASSERT_TRUE(status.pid);
  ASSERT_TRUE(runtime_->kill("hup", SIGHUP));
  EXPECT_TRUE(eventually([&] { return process_gone(*status.pid); }));
  // Nobody saw how it ended: the status says the shim is why it is not known.
  ASSERT_TRUE(eventually([&] {
    auto s = runtime_->status("hup");
    return s && s->state == WorkloadState::failed;
  }));
  EXPECT_NE(runtime_->status("hup")->reason.find("shim"), std::string::npos);
}

TEST_F(Unsupervised, RemoveForceKillsAndReleasesTheCgroup) {
  auto status = orphan({"sh", "-c", "sleep 300 & wait"}, "gone");
  ASSERT_TRUE(status.pid);
  ASSERT_TRUE(eventually([&] { return live_pids_in_cgroup(status.id).size() >= 2; }));
  auto pids = live_pids_in_cgroup(status.id);
  auto refused = runtime_->remove("gone", false);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::conflict);
  auto report = runtime_->remove("gone", true);
  ASSERT_TRUE(report) << report.error().message;
  for (int pid : pids) EXPECT_TRUE(process_gone(pid)) << pid;
  for (auto& dir : cgroup_dirs_of(status.id)) EXPECT_FALSE(path_exists(dir)) << dir;
}

TEST_F(Unsupervised, AShimKilledDuringStopStillLetsTheStopComplete) {
  auto spec = process_spec({"sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"}, "midstop");
  auto h = run(spec);
  auto status = runtime_->status("midstop");
  ASSERT_TRUE(status && status->pid);
  auto stopping = std::async(std::launch::async, [&] { return runtime_->stop("midstop", 2s); });
  ASSERT_TRUE(eventually([&] {
    auto s = runtime_->status("midstop");
    return s && s->state == WorkloadState::stopping;
  }));
  ASSERT_TRUE(kill_shim_of(h.id));
  auto exit = stopping.get();
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_signal, SIGKILL);  // deaf to SIGTERM: killed after the grace
  EXPECT_TRUE(process_gone(*status->pid));
  EXPECT_TRUE(live_pids_in_cgroup(h.id).empty());
  auto after = runtime_->status("midstop");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->state, WorkloadState::exited);
}

// The shim dies after the workload ended, before it recorded anything (held stopped, then
// killed): nothing runs, so the workload is failed, saying its shim is why the end is unknown.
TEST_F(Unsupervised, AShimKilledBeforeRecordingTheExitLeavesItFailed) {
  auto h = run(process_spec({"sleep", "300"}, "late"));
  auto status = runtime_->status("late");
  ASSERT_TRUE(status && status->pid);
  int shim = shim_pid_of(h.id);
  ASSERT_GT(shim, 0);
  ASSERT_EQ(::kill(shim, SIGSTOP), 0);
  ASSERT_EQ(::kill(*status->pid, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] { return live_pids_in_cgroup(h.id).empty(); }));
  ASSERT_EQ(::kill(shim, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] {
    auto s = runtime_->status("late");
    return s && s->state == WorkloadState::failed;
  }));
  auto s = runtime_->status("late");
  EXPECT_NE(s->reason.find("shim"), std::string::npos) << s->reason;
  EXPECT_FALSE(runs_unsupervised(*s));
  EXPECT_FALSE(s->pid);
}

}  // namespace
}  // namespace berth::testing
