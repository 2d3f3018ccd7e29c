// The berth CLI, run as a real binary: bad input, run in the foreground and detached,
// parallel runs, JSON output.
#include <nlohmann/json.hpp>

#include <set>

#include "support/cli.hpp"
#include "support/runtime_fixture.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class Cli : public RuntimeTest {
 protected:
  CliResult cli(const std::vector<std::string>& args) { return run_cli(root_, args); }

  // One line on stderr, prefixed "berth: ", naming `needle`; a non-zero exit.
  void expect_one_line_error(const CliResult& r, const std::string& needle) {
    EXPECT_NE(r.exit_code, 0);
    EXPECT_TRUE(r.err.starts_with("berth: ")) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }

  std::size_t workload_count() {
    auto all = runtime_->list({.all = true});
    return all ? all->size() : 999;
  }
};

TEST_F(Cli, Version) {
  auto r = cli({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find(std::string(version())), std::string::npos) << r.out;
}

TEST_F(Cli, BadInputIsOneClearLineAndLeavesNothing) {
  expect_one_line_error(cli({"run", "--bogus", "--", "true"}), "--bogus");
  expect_one_line_error(cli({"run", "--memory", "12XB", "--", "true"}), "12XB");
  expect_one_line_error(cli({"run", "--cpus", "lots", "--", "true"}), "lots");
  expect_one_line_error(cli({"run", "-d"}), "command");
  expect_one_line_error(cli({"frobnicate"}), "frobnicate");
  expect_one_line_error(cli({"start", "ghost"}), "ghost");
  expect_one_line_error(cli({"rm", "ghost"}), "ghost");
  expect_one_line_error(cli({"logs", "ghost"}), "ghost");
  EXPECT_EQ(workload_count(), 0u);
  EXPECT_TRUE(cli({"ps", "-a", "-q"}).out.empty());
  // A program that does not exist: run fails and removes what it created.
  expect_one_line_error(cli({"run", "--name", "nothing", "--", "no-such-program-berth"}),
                        "no-such-program-berth");
  EXPECT_EQ(workload_count(), 0u);
}

TEST_F(Cli, LogOptionsAreCheckedBeforeAnythingIsMade) {
  expect_one_line_error(cli({"run", "--log-opt", "max-size=abc", "--", "true"}), "max-size");
  expect_one_line_error(cli({"create", "--log-opt", "max-file=0", "--", "true"}), "max-file");
  expect_one_line_error(cli({"run", "--log-opt", "max-size=0", "--", "true"}), "max-size");
  expect_one_line_error(cli({"run", "--log-opt", "mode=non-blocking", "--", "true"}), "mode");
  expect_one_line_error(cli({"run", "--log-opt", "max-size", "--", "true"}), "KEY=VALUE");
  EXPECT_EQ(workload_count(), 0u);
  // Good ones land in the spec; unset ones keep Docker's local driver's defaults.
  auto r = cli({"create", "--name", "limited", "--log-opt", "max-size=10m", "--log-opt",
                "max-file=3", "--", "true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto info = runtime_->inspect("limited");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->spec.log, (LogConfig{.max_size_bytes = 10 << 20, .max_file = 3}));
  ASSERT_EQ(cli({"create", "--name", "plain", "--", "true"}).exit_code, 0);
  info = runtime_->inspect("plain");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->spec.log, (LogConfig{.max_size_bytes = 20 << 20, .max_file = 5}));
}

TEST_F(Cli, RunningWorkloadsRefuseStartAndPlainRm) {
  auto r = cli({"run", "-d", "--name", "svc", "--", "sleep", "30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_one_line_error(cli({"start", "svc"}), "svc");
  expect_one_line_error(cli({"rm", "svc"}), "svc");
  EXPECT_EQ(runtime_->status("svc")->state, WorkloadState::running);
  auto rm = cli({"rm", "-f", "svc"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(workload_count(), 0u);
}

TEST_F(Cli, RunStreamsOutputAndExitsWithTheWorkloadsCode) {
  auto r = cli({"run", "--rm", "--", "sh", "-c", "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(workload_count(), 0u);  // --rm
}

TEST_F(Cli, ADetachedWorkloadSurvivesItsCaller) {
  auto r = cli({"run", "-d", "--name", "survivor", "--", "sleep", "30"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string id = r.out.substr(0, r.out.find('\n'));
  EXPECT_EQ(id.size(), 64u) << r.out;
  std::this_thread::sleep_for(200ms);
  auto status = runtime_->status("survivor");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->state, WorkloadState::running);
  ASSERT_TRUE(status->pid);
  EXPECT_FALSE(process_gone(*status->pid));
  EXPECT_EQ(status->id, id);
}

TEST_F(Cli, TwentyParallelRunsAllSucceedWithConsistentState) {
  std::vector<std::unique_ptr<CliProcess>> procs;
  for (int i = 0; i < 20; ++i)
    procs.push_back(std::make_unique<CliProcess>(
        root_, std::vector<std::string>{"run", "-d", "--name", "p" + std::to_string(i), "--",
                                        "sleep", "30"}));
  std::set<std::string> ids;
  for (auto& p : procs) {
    auto r = p->finish();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    ids.insert(r.out.substr(0, r.out.find('\n')));
  }
  EXPECT_EQ(ids.size(), 20u);
  auto all = runtime_->list({.all = true});
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 20u);
  for (auto& w : *all) {
    EXPECT_EQ(w.status.state, WorkloadState::running) << w.status.name;
    EXPECT_TRUE(ids.contains(w.status.id));
  }
  auto ps = cli({"ps", "-q"});
  EXPECT_EQ(std::count(ps.out.begin(), ps.out.end(), '\n'), 20) << ps.out;
  // Every workload has exactly one create and one start event, in a gapless sequence.
  auto reader = runtime_->watch(0);
  ASSERT_TRUE(reader);
  std::map<std::string, int> creates, starts;
  std::uint64_t expected = 1;
  while (auto e = (*reader)->next(300ms)) {
    EXPECT_EQ((*e)->seq, expected++);
    if ((*e)->type == "created") ++creates[(*e)->workload_id];
    if ((*e)->type == "started") ++starts[(*e)->workload_id];
  }
  EXPECT_EQ(creates.size(), 20u);
  EXPECT_EQ(starts.size(), 20u);
  for (auto& [id, n] : creates) EXPECT_EQ(n, 1);
  for (auto& [id, n] : starts) EXPECT_EQ(n, 1);
}

TEST_F(Cli, JsonOutputParses) {
  ASSERT_EQ(cli({"run", "-d", "--name", "j", "--label", "team=core", "--", "sleep", "30"}).exit_code, 0);
  auto ps = cli({"ps", "--format", "json"});
  ASSERT_EQ(ps.exit_code, 0) << ps.err;
  auto list = nlohmann::json::parse(ps.out);
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "j");
  auto inspect = nlohmann::json::parse(cli({"inspect", "j"}).out);
  EXPECT_EQ(inspect[0]["spec"]["labels"]["team"], "core");
  auto stats = cli({"stats", "--no-stream", "--format", "json", "j"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  auto s = nlohmann::json::parse(stats.out);
  EXPECT_TRUE(s.is_array());
}

TEST_F(Cli, LogsFollowSeesNewLines) {
  ASSERT_EQ(cli({"run", "-d", "--name", "ticker", "--", "sh", "-c",
                 "for i in 1 2 3; do echo tick$i; sleep 0.2; done"}).exit_code, 0);
  auto r = cli({"logs", "-f", "ticker"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "tick1\ntick2\ntick3\n");
}

TEST_F(Cli, StopKillWaitExec) {
  ASSERT_EQ(cli({"run", "-d", "--name", "w", "--", "sleep", "30"}).exit_code, 0);
  auto e = cli({"exec", "w", "--", "sh", "-c", "echo hi; exit 5"});
  EXPECT_EQ(e.exit_code, 5);
  EXPECT_EQ(e.out, "hi\n");
  auto k = cli({"kill", "-s", "USR1", "w"});
  EXPECT_EQ(k.exit_code, 0) << k.err;
  auto w = cli({"wait", "w"});
  EXPECT_EQ(w.exit_code, 0) << w.err;
  EXPECT_EQ(w.out, "138\n");  // 128 + SIGUSR1
}

}  // namespace
}  // namespace berth::testing

namespace berth::testing {
namespace {

TEST_F(Cli, FormatJsonOnEveryCommandThatPrints) {
  auto run = cli({"run", "-d", "--format", "json", "--name", "fj", "--", "sleep", "30"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(nlohmann::json::parse(run.out)["name"], "fj");
  auto stop = cli({"stop", "-t", "0", "--format", "json", "fj"});
  ASSERT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_EQ(nlohmann::json::parse(stop.out)[0]["exit_signal"], 9);
  auto wait = cli({"wait", "--format", "json", "fj"});
  EXPECT_EQ(nlohmann::json::parse(wait.out)[0]["state"], "exited");
  auto rm = cli({"rm", "--format", "json", "fj"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  // An exited workload's cgroup went when it exited (the shim releases it): rm reports its files.
  EXPECT_FALSE(nlohmann::json::parse(rm.out)[0]["files"].empty()) << rm.out;
  expect_one_line_error(cli({"run", "--format", "yaml", "--", "true"}), "yaml");
  EXPECT_EQ(workload_count(), 0u);
}

}  // namespace
}  // namespace berth::testing
