// Fault injection for containers: the shim of a running container is SIGKILLed. The container
// runs on in its cgroup: running (unsupervised) with its init's pid, exec still enters it,
// stop ends it and leaves its cgroup empty, remove -f releases everything.
#include <gmock/gmock.h>
#include <signal.h>

#include "container/container_fixture.hpp"
#include "support/unsupervised.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

class UnsupervisedContainer : public ContainerTest {
 protected:
  WorkloadStatus orphan(const std::string& name) {
    auto spec = container_spec({"sleep", "300"}, name);
    spec.stop_grace = 300ms;  // busybox sleep as pid 1 ignores SIGTERM: killed after this
    auto h = run(spec);
    auto before = runtime_->status(name);
    EXPECT_TRUE(before && before->pid);
    EXPECT_TRUE(kill_shim_of(h.id)) << "no shim of " << name;
    auto after = runtime_->status(name);
    EXPECT_TRUE(after) << after.error().message;
    if (after && before) {
      EXPECT_EQ(after->pid, before->pid);
    }
    return after ? *after : WorkloadStatus{};
  }
};

TEST_F(UnsupervisedContainer, RunsOnUnsupervisedAndExecStillEntersIt) {
  auto status = orphan("boat");
  EXPECT_EQ(status.state, WorkloadState::running);
  EXPECT_TRUE(runs_unsupervised(status)) << status.reason;
  ASSERT_TRUE(status.pid);
  EXPECT_FALSE(process_gone(*status.pid));
  auto out = runtime_->exec("boat", {"sh", "-c", "cat /proc/1/comm; hostname"});
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->exit_code, 0) << out->stderr_data;
  EXPECT_EQ(out->stdout_data, "sleep\nboat\n");
  // One process in its cgroup, the one it had: no second start beside it.
  EXPECT_FALSE(runtime_->start("boat"));
  EXPECT_EQ(live_pids_in_cgroup(status.id), std::vector<int>{*status.pid});
}

TEST_F(UnsupervisedContainer, StopEndsItAndEmptiesItsCgroup) {
  auto status = orphan("stopped");
  ASSERT_TRUE(status.pid);
  auto exit = runtime_->stop("stopped", std::nullopt);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->state, WorkloadState::exited);
  EXPECT_EQ(exit->exit_signal, SIGKILL);
  EXPECT_THAT(exit->reason, HasSubstr("unsupervised"));
  EXPECT_TRUE(process_gone(*status.pid));
  EXPECT_TRUE(live_pids_in_cgroup(status.id).empty());
  auto exec = runtime_->exec("stopped", {"true"});
  ASSERT_FALSE(exec);
  EXPECT_EQ(exec.error().code, ErrorCode::conflict);
  // And it runs again, supervised, as a stopped container does.
  ASSERT_TRUE(runtime_->start("stopped"));
  auto again = runtime_->status("stopped");
  ASSERT_TRUE(again);
  EXPECT_TRUE(is_active(again->state));
  EXPECT_FALSE(runs_unsupervised(*again)) << again->reason;
}

TEST_F(UnsupervisedContainer, RemoveForceReleasesEverything) {
  auto status = orphan("removed");
  ASSERT_TRUE(status.pid);
  auto report = runtime_->remove("removed", true);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_THAT(report->killed_pids, ::testing::Contains(*status.pid));
  EXPECT_TRUE(process_gone(*status.pid));
  for (auto& dir : cgroup_dirs_of(status.id)) EXPECT_FALSE(path_exists(dir)) << dir;
  EXPECT_THAT(read_file("/proc/self/mountinfo").value_or(""), Not(HasSubstr(status.id)));
  EXPECT_FALSE(path_exists(root_ + "/workloads/" + status.id));
}

}  // namespace
}  // namespace berth::testing
