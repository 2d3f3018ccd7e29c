// A container's lifecycle through the Runtime API: create leaves it set up and waiting, start
// lets it exec, exec joins it, stats read it, limits hold, remove leaves nothing.
#include <gmock/gmock.h>

#include <atomic>
#include <thread>

#include "container/container_fixture.hpp"
#include "support/host_features.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(ContainerTest, CreateLeavesTheProcessWaitingUntilStart) {
  auto spec = container_spec({"sh", "-c", "echo started"}, "waiter");
  auto h = runtime_->create(spec);
  ASSERT_TRUE(h) << h.error().message;
  auto status = runtime_->status(h->id);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state, WorkloadState::created);
  ASSERT_TRUE(status->pid);
  // Set up (its own mount namespace) but not yet exec'd: still berth's code, not busybox.
  auto exe = shell("readlink /proc/" + std::to_string(*status->pid) + "/exe");
  EXPECT_THAT(exe, Not(HasSubstr("busybox")));
  EXPECT_NE(shell("readlink /proc/" + std::to_string(*status->pid) + "/ns/mnt"),
            shell("readlink /proc/self/ns/mnt"));
  EXPECT_EQ(all_output(h->id), "");
  ASSERT_TRUE(runtime_->start(h->id));
  auto exit = runtime_->wait(h->id, 10s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 0);
  EXPECT_EQ(all_output(h->id), "started\n");
}

TEST_F(ContainerTest, ACreatedContainerCanBeRemovedWithoutStarting) {
  auto h = runtime_->create(container_spec({"true"}));
  ASSERT_TRUE(h);
  auto pid = runtime_->status(h->id)->pid;
  ASSERT_TRUE(pid);
  auto report = runtime_->remove(h->id, false);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(eventually([&] { return process_gone(*pid); }));
  EXPECT_FALSE(path_exists(root_ + "/workloads/" + h->id));
}

TEST_F(ContainerTest, ExecJoinsEveryNamespaceWithTheSameRestrictions) {
  auto h = run(container_spec({"sleep", "30"}, "joined"));
  auto init = runtime_->exec(h.id, {"sh", "-c", "for n in mnt pid net ipc uts cgroup; do readlink /proc/1/ns/$n; done"});
  auto self = runtime_->exec(h.id, {"sh", "-c", "for n in mnt pid net ipc uts cgroup; do readlink /proc/self/ns/$n; done"});
  ASSERT_TRUE(init && self);
  EXPECT_EQ(init->stdout_data, self->stdout_data);
  EXPECT_NE(self->stdout_data, shell("for n in mnt pid net ipc uts cgroup; do readlink /proc/self/ns/$n; done"));
  auto status = runtime_->exec(h.id, {"sh", "-c", "grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; hostname; pwd"});
  ASSERT_TRUE(status);
  EXPECT_THAT(status->stdout_data, HasSubstr("CapEff:\t00000000a80405fb"));
  EXPECT_THAT(status->stdout_data, HasSubstr("Seccomp:\t2"));
  EXPECT_THAT(status->stdout_data, HasSubstr("NoNewPrivs:\t1"));
  EXPECT_THAT(status->stdout_data, HasSubstr("joined\n/\n"));
  ExecOptions as_user;
  as_user.user = "berth";
  auto id = runtime_->exec(h.id, {"id", "-u"}, as_user);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->stdout_data, "1000\n");
  auto missing = runtime_->exec(h.id, {"no-such-command"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);
}

TEST_F(ContainerTest, RemoveLeavesNoMountCgroupOrProcess) {
  auto h = run(container_spec({"sleep", "30"}));
  auto pid = runtime_->status(h.id)->pid;
  ASSERT_TRUE(pid);
  auto report = runtime_->remove(h.id, true);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_THAT(report->killed_pids, ::testing::Contains(*pid));
  EXPECT_THAT(report->mounts, ::testing::Contains("/proc"));
  EXPECT_FALSE(report->namespaces.empty());
  EXPECT_THAT(report->files, ::testing::Contains(root_ + "/workloads/" + h.id + "/upper"));
  EXPECT_FALSE(report->cgroups.empty());
  EXPECT_TRUE(process_gone(*pid));
  EXPECT_THAT(read_file("/proc/self/mountinfo").value_or(""), Not(HasSubstr(h.id)));
  for (auto& dir : cgroup_dirs_of(h.id)) EXPECT_FALSE(path_exists(dir)) << dir;
  EXPECT_FALSE(path_exists(root_ + "/workloads/" + h.id));
}

TEST_F(ContainerTest, MemoryLimitEndsInAReportedOomKill) {
  auto spec = container_spec({"sh", "-c", "tail /dev/zero"});
  spec.resources.memory_bytes = 16 << 20;
  // No escape into swap where the host accounts it (elsewhere asking for it is an error).
  if (!missing_swap_accounting()) spec.resources.memory_swap_bytes = 16 << 20;
  auto h = run(spec);
  auto exit = runtime_->wait(h.id, 30s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_TRUE(exit->oom_killed);
  EXPECT_EQ(exit->state, WorkloadState::oom_killed);
}

TEST_F(ContainerTest, PidsLimitHolds) {
  auto spec = container_spec({"sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 5 & done; wait"});
  spec.resources.pids_limit = 5;
  auto [out, code] = run_to_exit(spec);
  EXPECT_THAT(out, HasSubstr("can't fork"));
}

TEST_F(ContainerTest, StatsReadTheContainersCgroupAndNetwork) {
  auto h = run(container_spec({"sleep", "30"}));
  auto stats = runtime_->stats(h.id);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_GT(stats->memory_bytes, 0);
  EXPECT_EQ(stats->pids, 1u);
  EXPECT_TRUE(stats->net_rx_bytes);  // the container's own network counters
}

TEST_F(ContainerTest, StopWithGraceThenRestart) {
  auto h = run(container_spec({"sh", "-c", "trap 'echo bye; exit 3' TERM; echo up; while :; do sleep 0.1; done"}));
  EXPECT_TRUE(eventually([&] { return all_output(h.id).find("up") != std::string::npos; }));
  auto stopped = runtime_->stop(h.id, 5s);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->exit_code, 3);
  ASSERT_TRUE(runtime_->start(h.id)) << "restart";
  EXPECT_EQ(runtime_->status(h.id)->state, WorkloadState::running);
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

TEST_F(ContainerTest, RestartKeepsTheWritableLayerButNotAcrossAHostCrash) {
  auto spec = container_spec({"sh", "-c", "echo run >> /runs; cat /runs"});
  auto h = run(spec);
  ASSERT_TRUE(runtime_->wait(h.id, std::chrono::seconds(10)));
  ASSERT_TRUE(runtime_->start(h.id));
  ASSERT_TRUE(runtime_->wait(h.id, std::chrono::seconds(10)));
  EXPECT_THAT(all_output(h.id), ::testing::HasSubstr("run\nrun\n"));
  // As if the host had gone down while it ran: its unsynced layer must not be used silently.
  ASSERT_TRUE(write_file(root_ + "/workloads/" + h.id + "/overlay-boot-id", "another boot\n"));
  auto refused = runtime_->start(h.id);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, ::testing::HasSubstr("host went down"));
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

TEST_F(ContainerTest, ConcurrentStartsLeaveOneRunningContainer) {
  auto h = run(container_spec({"sleep", "30"}));
  ASSERT_TRUE(runtime_->stop(h.id, std::chrono::milliseconds(0)));
  for (int round = 0; round < 3; ++round) {
    std::vector<std::thread> starters;
    std::atomic<int> ok{0};
    for (int i = 0; i < 3; ++i)
      starters.emplace_back([&] {
        auto rt = open_runtime(RuntimeOptions{root_, BERTH_SHIM_PATH});
        if (rt && (*rt)->start(h.id)) ++ok;
      });
    for (auto& t : starters) t.join();
    EXPECT_GE(ok.load(), 1);
    // The winner's process runs on: a losing start must not have killed it.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto status = runtime_->status(h.id);
    ASSERT_TRUE(status);
    EXPECT_EQ(status->state, WorkloadState::running) << "round " << round;
    ASSERT_TRUE(status->pid);
    EXPECT_FALSE(process_gone(*status->pid));
    ASSERT_TRUE(runtime_->stop(h.id, std::chrono::milliseconds(0)));
  }
}

}  // namespace
}  // namespace berth::testing
