// The stack commands from the CLI: up -d hands the stack to berthd (and says how to start it
// when it is not there), stack ps/ls, down; validate reports every problem with file:line.
#include "daemon_fixture.hpp"
#include "support/cli.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class CliStackTest : public DaemonTest {
 protected:
  CliResult cli(std::vector<std::string> args, bool via_daemon = true) {
    if (via_daemon) args.insert(args.begin(), {"--host", "unix://" + socket_});
    return run_cli(root_, args);
  }
  std::string write_stack(const std::string& text) {
    std::string path = root_ + "/berth.toml";
    EXPECT_TRUE(write_file(path, text));
    return path;
  }
};

TEST_F(CliStackTest, UpDetachedLeavesTheStackToBerthd) {
  auto file = write_stack(R"(
[stack]
name = "cli"
[workloads.api]
command = ["/bin/sleep", "100"]
restart = "always"
health = { type = "exec", command = "true", interval = "100ms" }
[workloads.worker]
command = ["/bin/sh", "-c", "echo working; exec sleep 100"]
depends_on = ["api"]
)");
  auto up = cli({"up", "-d", "-f", file});
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_NE(up.out.find("stack cli is up"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("2 created"), std::string::npos) << up.out;
  EXPECT_EQ(runtime_->status("cli-api")->state, WorkloadState::healthy);
  auto ps = cli({"stack", "ps", "cli"});
  ASSERT_EQ(ps.exit_code, 0) << ps.err;
  EXPECT_LT(ps.out.find("cli-api"), ps.out.find("cli-worker")) << ps.out;
  auto ls = cli({"stack", "ls"});
  EXPECT_NE(ls.out.find("cli"), std::string::npos) << ls.out;
  // berthd supervises it: killed, it comes back.
  auto pid = *runtime_->status("cli-api")->pid;
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] {
    auto s = runtime_->status("cli-api");
    return s->restart_count == 1 && is_active(s->state) && s->pid != pid;
  }));
  auto down = cli({"down", "-f", file, "-t", "1"});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(down.out, "cli-worker\ncli-api\n");
  EXPECT_TRUE(runtime_->list()->empty());
}

TEST_F(CliStackTest, UpDetachedWithoutBerthdSaysHowToStartIt) {
  auto file = write_stack("[workloads.a]\ncommand = [\"/bin/true\"]\n");
  auto up = cli({"--host", "unix://" + root_ + "/nobody-here.sock", "up", "-d", "-f", file}, false);
  EXPECT_EQ(up.exit_code, 125);
  EXPECT_NE(up.err.find("berth up -d needs berthd"), std::string::npos) << up.err;
  EXPECT_NE(up.err.find("start it with `berthd`"), std::string::npos) << up.err;
  EXPECT_TRUE(runtime_->list()->empty());
}

TEST_F(CliStackTest, ValidateReportsEveryProblemWithItsLine) {
  auto file = write_stack(R"([workloads.a]
command = ["/bin/true"]
depends_on = ["b"]
[workloads.b]
command = ["/bin/true"]
depends_on = ["a"]
restart = "sometimes"
)");
  auto r = cli({"stack", "validate", "-f", file}, false);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(file + ":7:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cycle: a -> b -> a"), std::string::npos) << r.err;
  auto json = cli({"stack", "validate", "-f", file, "--format", "json"}, false);
  EXPECT_NE(json.out.find("\"valid\": false"), std::string::npos) << json.out;
}

}  // namespace
}  // namespace berth::testing
