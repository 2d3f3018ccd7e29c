// The container commands of the real `berth` binary: image import/ls/inspect/rm, run with the
// container flags, exec -t with a pty.
#include <stdlib.h>
#include <sys/stat.h>

#include <gmock/gmock.h>
#include <nlohmann/json.hpp>

#include "container/container_fixture.hpp"
#include "support/cli.hpp"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ContainerCli : public ContainerTest {};

TEST_F(ContainerCli, ImageCommands) {
  auto ls = run_cli(root_, {"image", "ls"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_THAT(ls.out, HasSubstr("busybox"));
  EXPECT_THAT(ls.out, HasSubstr("latest"));
  auto again = run_cli(root_, {"image", "import", image_dir_, "other:1.0"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  auto inspect = run_cli(root_, {"image", "inspect", "other:1.0"});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
  auto json = nlohmann::json::parse(inspect.out, nullptr, false);
  ASSERT_TRUE(json.is_array()) << inspect.out;
  EXPECT_EQ(json[0]["config"]["cmd"][0], "sh");
  EXPECT_EQ(json[0]["config"]["exposed_ports"][0], "8080/tcp");
  auto missing = run_cli(root_, {"image", "inspect", "nope"});
  EXPECT_EQ(missing.exit_code, 125);
  EXPECT_THAT(missing.err, HasSubstr("nope"));
  auto bad = run_cli(root_, {"image", "import", root_ + "/nothing-here"});
  EXPECT_EQ(bad.exit_code, 125);
  EXPECT_THAT(bad.err, HasSubstr("nothing-here"));
}

TEST_F(ContainerCli, ImageImportSizeCaps) {
  // The layers must be new to the store for the caps to matter: the fixture's image goes first.
  auto rm = run_cli(root_, {"image", "rm", "busybox"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  auto capped = run_cli(root_, {"image", "import", "--max-layer-size", "64k", image_dir_, "capped:1"});
  EXPECT_EQ(capped.exit_code, 125);
  EXPECT_THAT(capped.err, HasSubstr("over the layer size limit of 64KiB (raise it with --max-layer-size"));
  auto entry = run_cli(root_, {"image", "import", "--max-entry-size", "64k", image_dir_, "capped:1"});
  EXPECT_EQ(entry.exit_code, 125);
  EXPECT_THAT(entry.err, HasSubstr("entry \"./bin/busybox\""));
  auto nonsense = run_cli(root_, {"image", "import", "--max-layer-size", "lots", image_dir_, "capped:1"});
  EXPECT_EQ(nonsense.exit_code, 125);
  EXPECT_THAT(nonsense.err, HasSubstr("--max-layer-size"));
  ASSERT_EQ(::setenv("BERTH_MAX_LAYER_SIZE", "64k", 1), 0);
  auto from_env = run_cli(root_, {"image", "import", image_dir_, "capped:1"});
  ::unsetenv("BERTH_MAX_LAYER_SIZE");
  EXPECT_EQ(from_env.exit_code, 125);
  EXPECT_THAT(from_env.err, HasSubstr("BERTH_MAX_LAYER_SIZE"));
  auto ls = run_cli(root_, {"image", "ls", "-q"});
  EXPECT_EQ(ls.out, "");
  auto uncapped = run_cli(root_, {"image", "import", image_dir_, "busybox"});
  EXPECT_EQ(uncapped.exit_code, 0) << uncapped.err;
}

TEST_F(ContainerCli, RunWithContainerFlags) {
  std::string host = root_ + "/vol";
  ASSERT_TRUE(make_dirs(host, 0755));
  ::chmod(host.c_str(), 0777);  // the container's user (1000) writes there
  auto r = run_cli(root_, {"run", "--rm", "--image", "busybox", "--hostname", "h1", "-u", "berth",
                           "-v", host + ":/data", "--tmpfs", "/scratch:size=1m", "--read-only",
                           "--cap-drop", "ALL", "--ulimit", "nofile=64", "--",
                           "sh", "-c", "hostname; id -u; ulimit -n; touch /data/ok; touch /x 2>/dev/null || echo ro; exit 7"});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "h1\n1000\n64\nro\n");
  EXPECT_TRUE(path_exists(host + "/ok"));
  auto rejected = run_cli(root_, {"run", "--cap-add", "NET_ADMIN", "--", "true"});
  EXPECT_EQ(rejected.exit_code, 125);
  EXPECT_THAT(rejected.err, HasSubstr("--cap-add is for containers"));
  auto bad_volume = run_cli(root_, {"run", "--image", "busybox", "-v", "nocolon", "--", "true"});
  EXPECT_EQ(bad_volume.exit_code, 125);
  EXPECT_THAT(bad_volume.err, HasSubstr("nocolon"));
}

TEST_F(ContainerCli, ImageRmIsRefusedWhileInUse) {
  auto created = run_cli(root_, {"create", "--name", "user1", "--image", "busybox", "--", "true"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  auto refused = run_cli(root_, {"image", "rm", "busybox"});
  EXPECT_EQ(refused.exit_code, 125);
  EXPECT_THAT(refused.err, HasSubstr("user1"));
  ASSERT_EQ(run_cli(root_, {"rm", "user1"}).exit_code, 0);
  auto removed = run_cli(root_, {"image", "rm", "busybox"});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
}

TEST_F(ContainerCli, ExecWithATerminal) {
  ASSERT_EQ(run_cli(root_, {"run", "-d", "--name", "tty1", "--image", "busybox", "--", "sleep", "30"}).exit_code, 0);
  auto r = run_cli(root_, {"exec", "-t", "tty1", "--", "sh", "-c", "tty; test -t 0 && echo is-a-tty"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("/dev/pts/"));
  EXPECT_THAT(r.out, HasSubstr("is-a-tty"));
  auto plain = run_cli(root_, {"exec", "tty1", "--", "sh", "-c", "test -t 0 || echo no-tty"});
  EXPECT_THAT(plain.out, HasSubstr("no-tty"));
}

TEST_F(ContainerCli, RunInteractiveAndWithATerminal) {
  std::string berth = std::string(BERTH_CLI_PATH) + " --root " + root_;
  // -i: our stdin reaches the process, its end is the process's end of input.
  auto piped = shell("printf 'one\\ntwo\\n' | " + berth + " run --rm -i --image busybox -- sh -c 'wc -l; exit 4' 2>&1; echo rc=$?");
  EXPECT_EQ(piped, "2\nrc=4\n");
  // -t: a terminal of the container's own devpts, its controlling terminal.
  // It is also /dev/console, as Docker's is.
  auto tty = shell(berth + " run --rm -t --image busybox -- sh -c 'tty; test -t 0 && echo is-tty; "
                           "test $(stat -c %t:%T /dev/console) = $(stat -c %t:%T $(tty)) && echo is-console; exit 3' </dev/null; echo rc=$?");
  EXPECT_THAT(tty, HasSubstr("/dev/pts/0"));
  EXPECT_THAT(tty, HasSubstr("is-tty"));
  EXPECT_THAT(tty, HasSubstr("is-console"));
  EXPECT_THAT(tty, HasSubstr("rc=3"));
  // -it: a shell reading commands from us through the terminal.
  auto shell_session = shell("printf 'echo $((6*7))\\nexit 5\\n' | " + berth + " run --rm -it --image busybox -- sh; echo rc=$?");
  EXPECT_THAT(shell_session, HasSubstr("42"));
  EXPECT_THAT(shell_session, HasSubstr("rc=5"));
  // A workload without a terminal or open stdin has nothing to attach to.
  ASSERT_EQ(run_cli(root_, {"create", "--name", "plain", "--image", "busybox", "--", "true"}).exit_code, 0);
  auto attach = runtime_->attach("plain");
  ASSERT_FALSE(attach);
  EXPECT_THAT(attach.error().message, HasSubstr("nothing to attach"));
}

}  // namespace
}  // namespace berth::testing
