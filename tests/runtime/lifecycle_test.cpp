// The process runtime's lifecycle with real processes: create, start, wait, stop, kill, remove.
#include <filesystem>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>

#include "support/runtime_fixture.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class Lifecycle : public RuntimeTest {};

TEST_F(Lifecycle, RunsToExitAndReportsTheExitCode) {
  auto h = run(process_spec({"sh", "-c", "exit 3"}, "three"));
  auto exit = runtime_->wait(h.id, 10s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->state, WorkloadState::exited);
  EXPECT_EQ(exit->exit_code, 3);
  EXPECT_EQ(exit->shell_code(), 3);
  auto status = runtime_->status("three");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state, WorkloadState::exited);
  EXPECT_TRUE(status->started_at && status->finished_at);
  EXPECT_FALSE(status->pid);
}

TEST_F(Lifecycle, CreateDoesNotStart) {
  auto h = runtime_->create(process_spec({"sleep", "30"}, "idle"));
  ASSERT_TRUE(h);
  auto status = runtime_->status("idle");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state, WorkloadState::created);
  EXPECT_FALSE(status->pid);
  auto waited = runtime_->wait("idle", 100ms);
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, ErrorCode::timeout);
}

TEST_F(Lifecycle, StartOfARunningWorkloadIsAConflict) {
  auto h = run(process_spec({"sleep", "30"}, "sleeper"));
  auto again = runtime_->start("sleeper");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::conflict);
  EXPECT_NE(again.error().message.find("sleeper"), std::string::npos);
}

TEST_F(Lifecycle, RemoveRefusesARunningWorkloadUnlessForced) {
  auto h = run(process_spec({"sleep", "30"}, "busy"));
  auto refused = runtime_->remove("busy");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::conflict);
  auto pid = runtime_->status("busy")->pid;
  ASSERT_TRUE(pid);
  auto report = runtime_->remove("busy", true);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(report->cgroups.empty());
  EXPECT_EQ(report->files.size(), 1u);
  EXPECT_TRUE(process_gone(*pid)) << "process " << *pid << " outlived remove";
  for (auto& dir : cgroup_dirs_of(h.id)) EXPECT_FALSE(path_exists(dir)) << dir;
  EXPECT_FALSE(path_exists(root_ + "/workloads/" + h.id));
  auto gone = runtime_->status("busy");
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::not_found);
  auto again = runtime_->remove("busy", true);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::not_found);
}

TEST_F(Lifecycle, StopSendsTheStopSignalFirst) {
  auto h = run(process_spec({"sleep", "30"}, "polite"));
  auto t0 = std::chrono::steady_clock::now();
  auto exit = runtime_->stop("polite", 5s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(exit->exit_signal, SIGTERM);
  auto again = runtime_->stop("polite", 5s);  // idempotent
  ASSERT_TRUE(again);
  EXPECT_EQ(again->exit_signal, SIGTERM);
}

TEST_F(Lifecycle, AProcessIgnoringSigtermIsKilledAfterTheGracePeriod) {
  auto h = run(process_spec({"sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"},
                            "stubborn"));
  ASSERT_TRUE(eventually([&] {
    auto logs = runtime_->logs("stubborn", {});
    auto c = logs ? (*logs)->next(100ms) : Result<std::optional<LogChunk>>(std::nullopt);
    return c && *c;
  }));
  auto t0 = std::chrono::steady_clock::now();
  auto exit = runtime_->stop("stubborn", 700ms);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_GE(took, 700ms);
  EXPECT_LT(took, 5s);
  EXPECT_EQ(exit->exit_signal, SIGKILL);
  EXPECT_EQ(exit->state, WorkloadState::exited);
  auto all = runtime_->list({.all = true});
  ASSERT_TRUE(all);
}

TEST_F(Lifecycle, KillDeliversTheSignal) {
  auto h = run(process_spec({"sleep", "30"}, "target"));
  ASSERT_TRUE(runtime_->kill("target", SIGUSR1));
  auto exit = runtime_->wait("target", 5s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_signal, SIGUSR1);
  auto not_running = runtime_->kill("target", SIGTERM);
  ASSERT_FALSE(not_running);
  EXPECT_EQ(not_running.error().code, ErrorCode::conflict);
}

TEST_F(Lifecycle, AnExitedWorkloadCanStartAgain) {
  auto h = run(process_spec({"true"}, "again"));
  ASSERT_TRUE(runtime_->wait("again", 5s));
  ASSERT_TRUE(runtime_->start("again"));
  auto exit = runtime_->wait("again", 5s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 0);
}

TEST_F(Lifecycle, MissingWorkloadsAreNotFound) {
  for (auto r : {runtime_->start("nope").error(), runtime_->status("nope").error(),
                 runtime_->remove("nope").error(), runtime_->kill("nope", 9).error()}) {
    EXPECT_EQ(r.code, ErrorCode::not_found);
    EXPECT_NE(r.message.find("nope"), std::string::npos) << r.message;
  }
}

TEST_F(Lifecycle, AMissingProgramFailsTheStartAndLeavesTheWorkloadCreated) {
  auto h = runtime_->create(process_spec({"no-such-program-berth"}, "missing"));
  ASSERT_TRUE(h);
  auto started = runtime_->start("missing");
  ASSERT_FALSE(started);
  EXPECT_NE(started.error().message.find("no-such-program-berth"), std::string::npos)
      << started.error().message;
  EXPECT_EQ(runtime_->status("missing")->state, WorkloadState::created);
  for (auto& dir : cgroup_dirs_of(h->id)) EXPECT_FALSE(path_exists(dir)) << dir;
}

TEST_F(Lifecycle, EnvironmentIsExactlyTheSpecs) {
  ::setenv("BERTH_TEST_LEAK", "leaked", 1);
  auto spec = process_spec({"/usr/bin/env"}, "env");
  spec.env = {"ONLY=this"};
  run(spec);
  ASSERT_TRUE(runtime_->wait("env", 5s));
  std::string out = all_output("env");
  EXPECT_EQ(out, "ONLY=this\n");
}

TEST_F(Lifecycle, OnlyStdioFdsReachTheWorkload) {
  run(process_spec({"sh", "-c", "ls /proc/self/fd"}, "fds"));
  ASSERT_TRUE(runtime_->wait("fds", 5s));
  std::string out = all_output("fds");
  // 0, 1, 2 and the fd ls opened to list the directory.
  EXPECT_EQ(out, "0\n1\n2\n3\n");
}

TEST_F(Lifecycle, WorkingDirAndUser) {
  auto spec = process_spec({"sh", "-c", "pwd; id -u; id -g"}, "who");
  spec.working_dir = "/tmp";
  spec.user = "65534:65533";
  run(spec);
  auto exit = runtime_->wait("who", 5s);
  ASSERT_TRUE(exit);
  std::string out = all_output("who");
  EXPECT_EQ(out, "/tmp\n65534\n65533\n");
}

TEST_F(Lifecycle, TimeToLiveStopsTheWorkload) {
  auto spec = process_spec({"sleep", "30"}, "brief");
  spec.time_to_live = 300ms;
  run(spec);
  auto exit = runtime_->wait("brief", 5s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_signal, SIGTERM);
  EXPECT_EQ(exit->reason, "time to live expired");
}

TEST_F(Lifecycle, AutoRemoveRemovesOnExit) {
  auto spec = process_spec({"true"}, "ephemeral");
  spec.auto_remove = true;
  auto h = run(spec);
  EXPECT_TRUE(eventually([&] { return !runtime_->status("ephemeral"); }));
  EXPECT_FALSE(path_exists(root_ + "/workloads/" + h.id));
  for (auto& dir : cgroup_dirs_of(h.id)) EXPECT_FALSE(path_exists(dir)) << dir;
}

TEST_F(Lifecycle, NamespacesIsolateTheProcess) {
  auto spec = process_spec({"sh", "-c", "echo $$; hostname; cat /proc/net/dev | wc -l"}, "cell");
  spec.namespaces = {.pid = true, .ipc = true, .uts = true, .mount = true, .net = true};
  run(spec);
  auto exit = runtime_->wait("cell", 5s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->exit_code, 0) << exit->reason;
  std::string out = all_output("cell");
  // pid 1 in its pid namespace, its own hostname, and a netns with only loopback (2 header
  // lines + lo).
  EXPECT_EQ(out, "1\ncell\n3\n");
}

// A shim killed under a running workload: tests/runtime/unsupervised_test.cpp.

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

// The shim stays small: it is one process per workload.
TEST_F(Lifecycle, TheShimsMemoryStaysSmall) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "AddressSanitizer's shadow memory makes RSS meaningless";
#endif
  auto h = run(process_spec({"sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; sleep 30"},
                            "chatty"));
  auto status = runtime_->status("chatty");
  ASSERT_TRUE(status && status->pid);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int shim = parent_pid_of(*status->pid);
  std::ifstream proc_status("/proc/" + std::to_string(shim) + "/status");
  std::string line;
  long rss_kib = -1;
  while (std::getline(proc_status, line))
    if (line.starts_with("VmRSS:")) rss_kib = std::stol(line.substr(6));
  ASSERT_GT(rss_kib, 0);
  std::cout << "berth-shim RSS: " << rss_kib << " KiB\n";
  EXPECT_LT(rss_kib, 8 * 1024);
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

// A remove racing a start (two callers, or berthd and a CLI) never leaves a workload running
// with no row: the remove waits for the start under way, then takes down what it started.
TEST_F(Lifecycle, ARemoveRacingAStartLeavesNothingRunning) {
  std::vector<std::string> ids;
  for (int i = 0; i < 15; ++i) {
    auto spec = process_spec({"/bin/sleep", "100"}, "race" + std::to_string(i));
    auto h = runtime_->create(spec);
    ASSERT_TRUE(h) << h.error().message;
    ids.push_back(h->id);
    std::jthread starter([&] { (void)runtime_->start(h->id); });
    // Spread over the start's few milliseconds, so some removes land inside its launch.
    std::this_thread::sleep_for(std::chrono::microseconds(250 * i));
    auto removed = runtime_->remove(h->id, true);
    starter.join();
    if (!removed) continue;  // (it may also have been removed after the start: then all is gone too)
    for (int pid : removed->killed_pids) EXPECT_TRUE(eventually([&] { return process_gone(pid); }));
    auto again = runtime_->status(h->id);
    EXPECT_FALSE(again) << "the row came back";
    for (auto& dir : cgroup_dirs_of(h->id)) EXPECT_FALSE(path_exists(dir)) << dir;
  }
  // No shim of theirs is left: none has its id on its command line.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    auto cmdline = read_file(entry.path().string() + "/cmdline");
    if (!cmdline) continue;
    for (const auto& id : ids) EXPECT_EQ(cmdline->find(id), std::string::npos) << "a shim of " << id << " runs on";
  }
}

}  // namespace
}  // namespace berth::testing
