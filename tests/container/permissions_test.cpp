// The state root holds every spec (environments with secrets), every log and the image layers:
// berth keeps it to its owner. Another local user gets nothing from it, through berth or around
// it, and a root left open by an older berth is tightened when berth next opens it.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>
#include <gmock/gmock.h>

#include "container/container_fixture.hpp"
#include "support/cli.hpp"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class StateRootPermissions : public ContainerTest {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "needs setpriv (util-linux)";
    ContainerTest::SetUp();
  }

  // The id of the one workload under the root.
  std::string only_workload_dir() {
    std::vector<std::string> dirs;
    for (auto& entry : std::filesystem::directory_iterator(root_ + "/workloads"))
      dirs.push_back(entry.path().string());
    EXPECT_EQ(dirs.size(), 1u);
    return dirs.empty() ? root_ : dirs.front();
  }
};

mode_t mode_of(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 07777;
}

struct Outcome {
  std::string output;  // both streams
  int code = -1;
};

// `command` (a shell command line without single quotes) as uid and gid 65534, a user that owns
// nothing here, with no supplementary groups.
Outcome as_another_user(const std::string& command) {
  std::string out = shell("setpriv --reuid 65534 --regid 65534 --clear-groups -- sh -c '" + command +
                          "' 2>&1; echo \"exit=$?\"");
  auto at = out.rfind("exit=");
  if (at == std::string::npos) return {out, -1};
  return {out.substr(0, at), std::atoi(out.c_str() + at + 5)};
}

TEST_F(StateRootPermissions, AnotherUserGetsNothingFromTheRoot) {
  // As an older berth (or a packaging script) left it: the root and the database open to all.
  ASSERT_EQ(::chmod(root_.c_str(), 0755), 0);
  for (auto suffix : {"", "-wal", "-shm"})
    if (path_exists(root_ + "/state.db" + suffix)) {
      ASSERT_EQ(::chmod((root_ + "/state.db" + suffix).c_str(), 0644), 0);
    }

  auto run = run_cli(root_, {"run", "--name", "db", "--image", "busybox", "-e", "DB_PASSWORD=secret", "--", "sh",
                             "-c", "echo password=$DB_PASSWORD"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("password=secret"));
  EXPECT_THAT(run.err, HasSubstr(root_ + " had mode 0755, open to other users: tightened to 0700"));
  EXPECT_THAT(run.err, HasSubstr("state.db had mode 0644, open to other users: tightened to 0600"));
  EXPECT_EQ(mode_of(root_), 0700);
  for (auto suffix : {"", "-wal", "-shm"}) EXPECT_EQ(mode_of(root_ + "/state.db" + suffix), 0600) << suffix;
  // The secret is there to be found (as root), in the store, the spec and the log.
  EXPECT_NE(shell("grep -rl secret " + root_), "");

  // berth run as that user: one line saying why, non-zero, nothing of the workload.
  for (std::string command : {"inspect db", "ps -a", "logs db"}) {
    auto r = as_another_user(std::string(BERTH_CLI_PATH) + " --root " + root_ + " " + command);
    EXPECT_NE(r.code, 0) << command << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("permission denied")) << command;
    EXPECT_THAT(r.output, Not(HasSubstr("secret"))) << command;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << command << ":\n" << r.output;
  }

  // Around berth: the files are there, and refused.
  std::string dir = only_workload_dir();
  for (std::string file : {root_ + "/state.db", root_ + "/state.db-wal", dir + "/spec.json", dir + "/log.jsonl"}) {
    ASSERT_TRUE(path_exists(file)) << file;
    auto r = as_another_user("cat " + file);
    EXPECT_NE(r.code, 0) << file;
    EXPECT_THAT(r.output, HasSubstr("Permission denied")) << file;
  }
  auto grep = as_another_user("grep -r secret " + root_ + " 2>/dev/null");
  EXPECT_EQ(grep.output, "");
  EXPECT_NE(grep.code, 0);
}

TEST_F(StateRootPermissions, EverythingBerthWritesIsOwnerOnly) {
  auto one = run_cli(root_, {"run", "--name", "one", "--image", "busybox", "-e", "DB_PASSWORD=secret", "-v",
                             "data:/data", "--", "sh", "-c", "echo kept > /data/f; echo $DB_PASSWORD"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto two = run_cli(root_, {"create", "--name", "two", "--image", "busybox", "--", "true"});
  ASSERT_EQ(two.exit_code, 0) << two.err;
  auto logs = run_cli(root_, {"logs", "one"});
  ASSERT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_THAT(logs.out, HasSubstr("secret"));

  // What a container sees as its own files keeps the modes it needs there: an image layer, a
  // container's root and upper layer, berth's /etc files bind-mounted into it, a volume's data.
  // Each sits in an owner-only directory, which the walk checks.
  namespace fs = std::filesystem;
  auto seen_by_containers = [&](const fs::path& path) {
    auto rel = path.lexically_relative(root_);
    std::vector<std::string> parts(rel.begin(), rel.end());
    if (parts.size() == 3 && parts[0] == "workloads")
      return parts[2] == "rootfs" || parts[2] == "upper" || parts[2] == "etc";
    if (parts.size() == 3 && parts[0] == "volumes") return parts[2] == "_data";
    if (parts.size() == 3 && parts[0] == "images" && parts[1] == "layers") return fs::is_directory(path);
    return false;
  };
  EXPECT_EQ(mode_of(root_), 0700);
  int checked = 0, kept = 0;
  for (auto it = fs::recursive_directory_iterator(root_); it != fs::recursive_directory_iterator(); ++it) {
    const auto& path = it->path();
    if (seen_by_containers(path)) {
      it.disable_recursion_pending();
      ++kept;
      continue;
    }
    if (it->is_symlink()) continue;
    ++checked;
    EXPECT_EQ(mode_of(path.string()) & 077, 0u)
        << path << " has mode " << fmt::format("{:04o}", mode_of(path.string()));
  }
  EXPECT_GT(checked, 10);
  EXPECT_GE(kept, 4) << "one layer, two roots and their /etc, the volume's data";
  for (auto path : {root_ + "/state.db", root_ + "/state.db-wal", root_ + "/images", root_ + "/volumes",
                    root_ + "/workloads"})
    EXPECT_TRUE(path_exists(path)) << path;
}

}  // namespace
}  // namespace berth::testing
