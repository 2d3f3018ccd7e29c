// Limits through the workload's cgroup: memory (OOM kill reported), pids, cpu; and stats.
#include <signal.h>

#include "linux/cgroup.hpp"
#include "support/runtime_fixture.hpp"
#include "support/host_features.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class Limits : public RuntimeTest {};

TEST_F(Limits, AMemoryHogIsOomKilledAndReportedAsSuch) {
  auto spec = process_spec({"tail", "/dev/zero"}, "hog");  // tail buffers an endless line
  spec.resources.memory_bytes = 32 << 20;
  // No escape into swap where the host accounts it (elsewhere asking for it is an error).
  if (!missing_swap_accounting()) spec.resources.memory_swap_bytes = 32 << 20;
  run(spec);
  auto exit = runtime_->wait("hog", 30s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->state, WorkloadState::oom_killed);
  EXPECT_TRUE(exit->oom_killed);
  EXPECT_EQ(exit->exit_signal, SIGKILL);
  auto status = runtime_->status("hog");
  EXPECT_EQ(status->state, WorkloadState::oom_killed);
  // The cgroup went with the exit; the OOM kill and the peak stay on record.
  for (auto& dir : cgroup_dirs_of(status->id)) EXPECT_FALSE(path_exists(dir)) << dir << " outlived the exit";
  auto info = runtime_->inspect("hog");
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_TRUE(info->status.oom_killed);
  if (info->status.memory_peak_bytes) {
    EXPECT_GE(*info->status.memory_peak_bytes, 16u << 20);
  }
}

TEST_F(Limits, AnExitedWorkloadReleasesItsCgroupAndKeepsItsFigures) {
  // Its first run touches 24 MiB and exits 3; a second start stays up, so its cgroup can be seen.
  std::string marker = root_ + "/started-before";
  auto spec = process_spec(
      {"sh", "-c",
       "test -e " + marker + " && exec sleep 30; touch " + marker +
           "; python3 -c 'x = b\"x\" * (24 << 20)'; exit 3"},
      "job");
  auto h = run(spec);
  auto exit = runtime_->wait("job", 30s);
  ASSERT_TRUE(exit) << exit.error().message;
  EXPECT_EQ(exit->exit_code, 3);
  for (auto& dir : cgroup_dirs_of(h.id)) EXPECT_FALSE(path_exists(dir)) << dir << " outlived the exit";

  auto info = runtime_->inspect("job");
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->status.exit_code, 3);
  EXPECT_FALSE(info->status.oom_killed);
  auto host = linux::detect_cgroup_host();
  ASSERT_TRUE(host);
  bool counts_peak = host->version == linux::CgroupVersion::v1 ||
                     path_exists("/sys/fs/cgroup/memory.peak") || path_exists("/sys/fs/cgroup/init.scope/memory.peak");
  if (counts_peak) {
    ASSERT_TRUE(info->status.memory_peak_bytes);
    EXPECT_GE(*info->status.memory_peak_bytes, 24u << 20);
  }
  auto stats = runtime_->stats("job");
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_GT(stats->cpu_usage_ns, 0u);  // python ran: its cpu time is on record
  EXPECT_EQ(stats->pids, 0u);

  // A start makes the cgroup anew.
  ASSERT_TRUE(runtime_->start("job"));
  auto memory_dir = host->version == linux::CgroupVersion::v1 ? "/sys/fs/cgroup/memory/berth/" + h.id
                                                              : "/sys/fs/cgroup/berth/" + h.id;
  EXPECT_TRUE(path_exists(memory_dir));
  auto running = runtime_->stats("job");
  ASSERT_TRUE(running) << running.error().message;
  EXPECT_EQ(running->pids, 1u);
  auto report = runtime_->remove("job", true);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_FALSE(path_exists(memory_dir));
}

TEST_F(Limits, RemoveOfAnExitedWorkloadWhoseCgroupIsGoneSucceeds) {
  auto h = run(process_spec({"true"}, "quick"));
  ASSERT_TRUE(runtime_->wait("quick", 30s));
  auto report = runtime_->remove("quick");
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->cgroups.empty());  // released at the exit already
  EXPECT_FALSE(path_exists(root_ + "/workloads/" + h.id));
}

TEST_F(Limits, AForkBombStopsAtThePidsLimit) {
  // Tries to fork 200 sleepers; forks past the limit fail with EAGAIN.
  auto spec = process_spec(
      {"python3", "-c",
       "import os, time\n"
       "n = 0\n"
       "for i in range(200):\n"
       "    try:\n"
       "        if os.fork() == 0:\n"
       "            time.sleep(30)\n"
       "            os._exit(0)\n"
       "        n += 1\n"
       "    except OSError:\n"
       "        pass\n"
       "print('forked', n, flush=True)\n"
       "time.sleep(30)\n"},
      "bomb");
  spec.resources.pids_limit = 20;
  run(spec);
  std::string out;
  ASSERT_TRUE(eventually([&] { return (out = all_output("bomb")).find("forked") != std::string::npos; }, 20s));
  EXPECT_EQ(out, "forked 19\n");  // the limit counts python itself
  auto stats = runtime_->stats("bomb");
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->pids, 20u);
  EXPECT_EQ(stats->pids_limit, 20u);
}

TEST_F(Limits, StatsReportCpuAndMemory) {
  auto spec = process_spec({"sh", "-c", "while :; do :; done"}, "spin");
  spec.resources.cpus = 0.5;
  spec.resources.memory_bytes = 64 << 20;
  run(spec);
  std::this_thread::sleep_for(300ms);
  auto stats = runtime_->stats("spin");
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_GT(stats->cpu_usage_ns, 0u);
  // Half a core: the quota caps it near 50%.
  EXPECT_GT(stats->cpu_percent, 20.0);
  EXPECT_LT(stats->cpu_percent, 75.0);
  EXPECT_GT(stats->memory_bytes, 0u);
  EXPECT_EQ(stats->memory_limit_bytes, 64u << 20);
  EXPECT_GE(stats->pids, 1u);
  EXPECT_FALSE(stats->net_rx_bytes);  // host network: no counters of its own
}

TEST_F(Limits, NetworkCountersOfAPrivateNetns) {
  auto spec = process_spec({"sh", "-c",
       "python3 -c \"import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
       "[s.sendto(b'x' * 100, ('127.0.0.1', 9)) for _ in range(10)]\"; sleep 30"},
                           "net");
  spec.network = "none";
  run(spec);
  std::this_thread::sleep_for(1s);
  auto stats = runtime_->stats("net");
  ASSERT_TRUE(stats) << stats.error().message;
  ASSERT_TRUE(stats->net_rx_bytes);
  ASSERT_TRUE(stats->net_tx_bytes);
  EXPECT_GE(*stats->net_tx_bytes, 1000u);  // ten datagrams of 100 bytes over loopback
  EXPECT_GE(*stats->net_rx_bytes, 1000u);
}

TEST_F(Limits, ExecRunsInTheWorkloadsNamespacesAndCgroup) {
  auto spec = process_spec({"sleep", "30"}, "host");
  spec.namespaces = {.pid = true, .uts = true, .mount = true};
  spec.env.push_back("GREETING=hello");
  run(spec);
  auto result = runtime_->exec("host", {"sh", "-c", "echo $GREETING $EXTRA; hostname; "
                                                     "cat /proc/self/cgroup | grep -c berth; "
                                                     "echo oops >&2; exit 4"},
                               {.env = {"EXTRA=world"}});
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->exit_code, 4);
  EXPECT_EQ(result->stdout_data.substr(0, result->stdout_data.find('\n')), "hello world");
  EXPECT_NE(result->stdout_data.find("\nhost\n"), std::string::npos) << result->stdout_data;
  EXPECT_EQ(result->stderr_data, "oops\n");
  // In the workload's pid namespace, sleep is pid 1.
  auto ps = runtime_->exec("host", {"cat", "/proc/1/cmdline"});
  ASSERT_TRUE(ps) << ps.error().message;
  EXPECT_EQ(ps->stdout_data.substr(0, 5), std::string("sleep"));
}

TEST_F(Limits, ExecTimesOut) {
  run(process_spec({"sleep", "30"}, "slow"));
  auto t0 = std::chrono::steady_clock::now();
  auto result = runtime_->exec("slow", {"sleep", "10"}, {.timeout = 300ms});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST_F(Limits, ExecOfAMissingProgramIsNotFound) {
  run(process_spec({"sleep", "30"}, "target"));
  auto result = runtime_->exec("target", {"no-such-program-berth"});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, ErrorCode::not_found);
  auto stopped = runtime_->exec("nope", {"true"});
  ASSERT_FALSE(stopped);
  EXPECT_EQ(stopped.error().code, ErrorCode::not_found);
}

}  // namespace
}  // namespace berth::testing
