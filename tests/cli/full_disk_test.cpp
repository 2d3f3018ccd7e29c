// ENOSPC on the state root, for real: the root is a 2 MiB tmpfs of the test's own and two
// workloads write to their logs without end. berth must still read (ps, inspect, logs,
// events), show what the log dropped, and stop and remove the workloads, freeing the space.
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "support/cli.hpp"
#include "support/runtime_fixture.hpp"
#include "support/tmpfs.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class FullDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    root_ = make_temp_root();
    tmpfs_.emplace(root_, "2m");
    ASSERT_TRUE(tmpfs_->mounted()) << tmpfs_->error();
  }

  // Whatever the test left, through the runtime (it removes each workload's files first),
  // then the filesystem goes even when something still holds it.
  void TearDown() override {
    if (tmpfs_ && tmpfs_->mounted()) {
      if (auto rt = open_runtime(RuntimeOptions{root_, BERTH_SHIM_PATH})) {
        if (auto all = (*rt)->list({.all = true}))
          for (auto& w : *all) {
            auto r = (*rt)->remove(w.status.id, true);
            EXPECT_TRUE(r) << "teardown of " << w.status.name << ": " << r.error().message;
          }
      }
    }
    tmpfs_.reset();
    if (!root_.empty()) ::rmdir(root_.c_str());
  }

  CliResult cli(const std::vector<std::string>& args) { return run_cli(root_, args); }

  template <typename F>
  static bool eventually(F predicate, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) return true;
      std::this_thread::sleep_for(50ms);
    }
    return predicate();
  }

  std::uint64_t free_bytes() const { return tmpfs_->free_bytes(); }

  nlohmann::json inspect(const std::string& name) {
    auto r = cli({"inspect", name});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.is_array() || j.empty()) return nlohmann::json::object();
    return j[0];
  }

  std::string root_;
  std::optional<Tmpfs> tmpfs_;
};

TEST_F(FullDisk, ReadsWorkDropsAreShownAndStopAndRmFreeTheSpace) {
  // Lines of ~100 bytes as fast as the shell makes them; no rotation within the disk's size.
  const std::vector<std::string> chatty = {
      "--log-opt", "max-size=100m", "--", "sh", "-c",
      "while :; do echo 'chatty chatty chatty chatty chatty chatty chatty chatty chatty chatty "
      "chatty'; done"};
  for (std::string name : {"chatty-a", "chatty-b"}) {
    std::vector<std::string> args{"run", "-d", "--name", name};
    args.insert(args.end(), chatty.begin(), chatty.end());
    auto r = cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  auto a = inspect("chatty-a");
  auto b = inspect("chatty-b");
  ASSERT_TRUE(a.contains("id") && b.contains("id"));
  std::string id_a = a["id"], id_b = b["id"];
  int pid_a = a["pid"], pid_b = b["pid"];

  // The logs fill the disk up to the headroom they leave for berth's own state, and the
  // shims count what they could not write.
  auto dropped = [&](const std::string& name) {
    return inspect(name).value("log_dropped_lines", std::uint64_t{0});
  };
  ASSERT_TRUE(eventually([&] { return dropped("chatty-a") > 0 && dropped("chatty-b") > 0; }, 30s))
      << "free: " << free_bytes();
  EXPECT_GT(free_bytes(), 64u * 1024) << "the logs left room";
  // Then something else takes the rest: the disk is full.
  ASSERT_TRUE(tmpfs_->fill_up());
  EXPECT_LT(free_bytes(), 4096u);

  // Reads work on the full disk.
  auto ps = cli({"ps", "-a"});
  EXPECT_EQ(ps.exit_code, 0) << ps.err;
  EXPECT_NE(ps.out.find("chatty-a"), std::string::npos) << ps.out;
  EXPECT_NE(ps.out.find("chatty-b"), std::string::npos) << ps.out;
  auto info = inspect("chatty-a");
  EXPECT_EQ(info.value("state", ""), "running") << info.dump();
  EXPECT_GT(info.value("log_dropped_bytes", std::uint64_t{0}), 0u) << info.dump();
  auto logs = cli({"logs", "--tail", "3", "chatty-a"});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_EQ(std::count(logs.out.begin(), logs.out.end(), '\n'), 3) << logs.out;
  EXPECT_NE(logs.out.find("chatty chatty"), std::string::npos) << logs.out;
  EXPECT_NE(logs.err.find("log lines"), std::string::npos) << logs.err;
  EXPECT_NE(logs.err.find("could not be written"), std::string::npos) << logs.err;
  auto events = cli({"events", "--no-follow"});
  EXPECT_EQ(events.exit_code, 0) << events.err;
  EXPECT_NE(events.out.find("chatty-b"), std::string::npos) << events.out;

  // stop works on the full disk and says how the workload ended.
  auto stop = cli({"stop", "-t", "1", "chatty-a"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_TRUE(process_gone(pid_a));
  auto stopped = inspect("chatty-a");
  EXPECT_NE(stopped.value("state", ""), "running") << stopped.dump();
  // Its log is still there to read, with the notice.
  logs = cli({"logs", "--tail", "1", "chatty-a"});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_NE(logs.err.find("could not be written"), std::string::npos) << logs.err;

  // rm -f of the one still running, and rm of the stopped one, free the disk.
  auto rm = cli({"rm", "-f", "chatty-b"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_TRUE(process_gone(pid_b));
  rm = cli({"rm", "chatty-a"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  ps = cli({"ps", "-a", "-q"});
  EXPECT_EQ(ps.exit_code, 0) << ps.err;
  EXPECT_TRUE(ps.out.empty()) << ps.out;
  EXPECT_GT(free_bytes(), 1024u * 1024) << "the logs' space is free again";
  // Nothing of either is left.
  for (auto& id : {id_a, id_b}) {
    EXPECT_FALSE(path_exists(root_ + "/workloads/" + id)) << id;
    for (auto& dir : cgroup_dirs_of(id)) EXPECT_FALSE(path_exists(dir)) << dir;
  }
  // And berth goes on: a new workload runs and logs.
  auto again = cli({"run", "--rm", "--", "echo", "room again"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "room again\n");
}

}  // namespace
}  // namespace berth::testing
