// containerd (Debian's) with its runc shim calling berth-oci through `ctr run --runc-binary`:
// the path Kubernetes takes through CRI. The suite starts its own containerd on a private
// socket, root and state dir, imports the busybox OCI image (scripts/make-busybox-image.sh) and
// stops containerd at the end, leaving no mount, cgroup or shim behind.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/fs.hpp"
#include "oci/oci_fixture.hpp"
#include "support/shell.hpp"

namespace berth::testing {
namespace {

// ctest runs each test in its own process, side by side: each has its own containerd and its own
// namespace, so one test's teardown never removes another's runtime state or cgroups.
const std::string kNamespace = "berth-clients-test-" + std::to_string(::getpid());

class Containerd : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    if (shell("command -v containerd ctr").empty()) GTEST_SKIP() << "containerd is not installed (scripts/setup.sh)";
    char tmpl[] = "/tmp/berth-containerd-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    socket_ = dir_ + "/containerd.sock";
    ASSERT_TRUE(write_file(dir_ + "/config.toml", "version = 2\nroot = \"" + dir_ + "/root\"\nstate = \"" + dir_ +
                                                      "/state\"\n"
                                                      "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
                                                      "[grpc]\n  address = \"" + socket_ + "\"\n"
                                                      "[ttrpc]\n  address = \"" + socket_ + ".ttrpc\"\n"));
    daemon_ = new Program({"/usr/bin/containerd", "--config", dir_ + "/config.toml"});
    for (int i = 0; i < 100 && ctr({"version"}).code != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(ctr({"version"}).code, 0) << "containerd did not come up";
    auto made = shell(std::string(BERTH_SOURCE_DIR) + "/scripts/make-busybox-image.sh " + dir_ + "/image bb >/dev/null && "
                      "tar -C " + dir_ + "/image -cf " + dir_ + "/image.tar . && echo ok 2>&1");
    ASSERT_EQ(made, "ok\n");
    auto imported = ctr({"image", "import", "--index-name", image_, dir_ + "/image.tar"});
    ASSERT_EQ(imported.code, 0) << imported.err;
  }

  static void TearDownTestSuite() {
    if (dir_.empty()) return;
    for (auto& line : split_lines(ctr({"task", "ls", "--quiet"}).out)) ctr({"task", "delete", "--force", line});
    for (auto& line : split_lines(ctr({"container", "ls", "--quiet"}).out)) ctr({"container", "delete", line});
    if (daemon_) {
      ::kill(daemon_->pid(), SIGTERM);
      daemon_->finish();
      delete daemon_;
      daemon_ = nullptr;
    }
    shell("grep -o ' " + dir_ + "[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null");
    (void)remove_tree(dir_);
    // The runc shim keeps its runtime's state under /run/containerd/runc/<namespace>.
    shell("rm -rf /run/containerd/runc/" + kNamespace);
    // berth-oci delete removes a container's cgroup and then its parent once that is empty.
    for (auto base : {"/sys/fs/cgroup/memory/", "/sys/fs/cgroup/pids/"})
      EXPECT_FALSE(path_exists(std::string(base) + kNamespace)) << "the namespace's parent cgroup is left";
  }

  static Ran ctr(const std::vector<std::string>& args) {
    std::vector<std::string> full{"/usr/bin/ctr", "--address", socket_, "--namespace", kNamespace};
    full.insert(full.end(), args.begin(), args.end());
    return run_program(full);
  }

  static std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
      if (end > start) lines.push_back(text.substr(start, end - start));
    return lines;
  }

 protected:
  void TearDown() override {
    for (auto& id : ids_) {
      ctr({"task", "delete", "--force", id});
      ctr({"container", "delete", id});
      for (auto base : {"/sys/fs/cgroup/memory/", "/sys/fs/cgroup/pids/", "/sys/fs/cgroup/"})
        EXPECT_FALSE(path_exists(std::string(base) + kNamespace + "/" + id)) << id << "'s cgroup is left";
      EXPECT_FALSE(path_exists("/run/containerd/runc/" + kNamespace + "/" + id))
          << id << "'s berth-oci state is left";
    }
  }

  Ran run(const std::string& id, std::vector<std::string> flags, const std::vector<std::string>& args) {
    ids_.push_back(id);
    std::vector<std::string> full{"run", "--runc-binary", BERTH_OCI_PATH};
    full.insert(full.end(), flags.begin(), flags.end());
    full.push_back(image_);
    full.push_back(id);
    full.insert(full.end(), args.begin(), args.end());
    return ctr(full);
  }

  std::string task_status(const std::string& id) {
    for (auto& line : split_lines(ctr({"task", "ls"}).out))
      if (line.starts_with(id + " ")) return line.substr(line.find_last_of(' ') + 1);
    return "";
  }

  static inline std::string dir_, socket_;
  static inline Program* daemon_ = nullptr;
  static inline std::string image_ = "localhost/berth-busybox:test";
  std::vector<std::string> ids_;
};

TEST_F(Containerd, RunPassesOutputAndExitCode) {
  auto r = run("once", {"--rm"}, {"sh", "-c", "echo hello through containerd; exit 4"});
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_EQ(r.out, "hello through containerd\n");
  // The shim ran berth-oci: its state (not runc's) held the container while it ran.
}

TEST_F(Containerd, ExecKillAndDeleteARunningTask) {
  auto started = run("sleeper", {"--detach"}, {"sleep", "1000"});
  ASSERT_EQ(started.code, 0) << started.err;
  EXPECT_EQ(task_status("sleeper"), "RUNNING");
  // berth-oci's state.json is there, not runc's state file.
  EXPECT_TRUE(path_exists("/run/containerd/runc/" + kNamespace + "/sleeper/state.json"));

  auto in = ctr({"task", "exec", "--exec-id", "e1", "sleeper", "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; exit 3"});
  EXPECT_EQ(in.code, 3) << in.err;
  EXPECT_EQ(in.out, "sleep 1000 ");
  // -t needs a console on ctr's side: script(1) gives it one.
  auto tty = shell("script -qec '/usr/bin/ctr --address " + socket_ + " --namespace " + kNamespace +
                   " task exec -t --exec-id e2 sleeper tty' /dev/null");
  EXPECT_NE(tty.find("/dev/pts/"), std::string::npos) << tty;

  EXPECT_EQ(ctr({"task", "pause", "sleeper"}).code, 0);
  EXPECT_EQ(task_status("sleeper"), "PAUSED");
  EXPECT_EQ(ctr({"task", "resume", "sleeper"}).code, 0);
  EXPECT_EQ(task_status("sleeper"), "RUNNING");

  EXPECT_EQ(ctr({"task", "kill", "--signal", "SIGKILL", "sleeper"}).code, 0);
  for (int i = 0; i < 100 && task_status("sleeper") != "STOPPED"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(task_status("sleeper"), "STOPPED");
  auto deleted = ctr({"task", "delete", "sleeper"});
  EXPECT_EQ(deleted.code, 0) << deleted.err;
  EXPECT_NE(deleted.err.find("exit code 137"), std::string::npos) << deleted.err;
  EXPECT_EQ(ctr({"container", "delete", "sleeper"}).code, 0);
}

}  // namespace
}  // namespace berth::testing
