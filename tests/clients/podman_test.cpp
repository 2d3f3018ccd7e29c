// Podman (Debian's) driving berth-oci as its OCI runtime: the client people run, through conmon,
// on an image made with `podman import` from a busybox rootfs tarball (no registry). Podman's
// storage, run and tmp dirs are the suite's own; its ulimit defaults are lowered in a test
// containers.conf because this machine's hard limits are below them (client configuration, not
// weaker behaviour in berth). Containers use --network none: the bridge is CNI's, not ours.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/fs.hpp"
#include "oci/oci_fixture.hpp"
#include "support/shell.hpp"

namespace berth::testing {
namespace {

class Podman : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    if (shell("command -v podman").empty()) GTEST_SKIP() << "podman is not installed (scripts/setup.sh installs it)";
    char tmpl[] = "/tmp/berth-podman-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    ASSERT_TRUE(write_file(dir_ + "/containers.conf",
                           "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n"));
    ::setenv("CONTAINERS_CONF", (dir_ + "/containers.conf").c_str(), 1);
    auto out = shell("set -e; r=" + dir_ + "/rootfs; mkdir -p $r/bin $r/proc $r/sys $r/dev $r/etc $r/tmp; "
                     "cp /bin/busybox $r/bin/busybox; for a in $(/bin/busybox --list); do "
                     "[ $a = busybox ] || ln -s busybox $r/bin/$a; done; "
                     "tar -C $r -cf " + dir_ + "/rootfs.tar . && echo ok 2>&1");
    ASSERT_EQ(out, "ok\n");
    auto imported = podman({"import", "--change", "ENV=PATH=/bin", dir_ + "/rootfs.tar", image_});
    ASSERT_EQ(imported.code, 0) << imported.err;
  }

  static void TearDownTestSuite() {
    if (dir_.empty()) return;
    podman({"rm", "--all", "--force", "--time", "0"});
    podman({"system", "reset", "--force"});
    shell("grep -o ' " + dir_ + "[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null");
    (void)remove_tree(dir_);
    // conmon's cgroup is podman's own and stays behind with runc too; empty, it goes.
    for (auto controller : {"memory", "pids", "cpu", "cpuacct", "cpuset", "freezer", "devices", "blkio", "systemd", "unified"})
      shell(std::string("rmdir /sys/fs/cgroup/") + controller + "/libpod_parent/conmon /sys/fs/cgroup/" +
            controller + "/libpod_parent 2>/dev/null");
    ::unsetenv("CONTAINERS_CONF");
  }

  static Ran podman(const std::vector<std::string>& args) {
    std::vector<std::string> full{"/usr/bin/podman", "--root", dir_ + "/storage", "--runroot", dir_ + "/run",
                                  "--tmpdir", dir_ + "/tmp", "--cgroup-manager", "cgroupfs",
                                  "--events-backend", "file", "--runtime", BERTH_OCI_PATH};
    full.insert(full.end(), args.begin(), args.end());
    return run_program(full);
  }

 protected:
  void TearDown() override {
    for (auto& name : names_) podman({"rm", "--force", "--time", "0", name});
    for (auto& name : names_)
      EXPECT_TRUE(shell("ls /run/berth-oci 2>/dev/null").find(name) == std::string::npos);
  }

  // `podman run -d` of a container named `name` (removed at teardown) running `args`.
  void run_detached(const std::string& name, const std::vector<std::string>& args) {
    names_.push_back(name);
    std::vector<std::string> full{"run", "-d", "--name", name, "--network", "none", image_};
    full.insert(full.end(), args.begin(), args.end());
    auto r = podman(full);
    ASSERT_EQ(r.code, 0) << r.err;
    ASSERT_EQ(podman({"inspect", "--format", "{{.OCIRuntime}}", name}).out, std::string(BERTH_OCI_PATH) + "\n");
  }

  std::string status_of(const std::string& name) {
    auto r = podman({"inspect", "--format", "{{.State.Status}}", name});
    return r.out.empty() ? r.err : r.out.substr(0, r.out.size() - 1);
  }

  static inline std::string dir_;
  static inline std::string image_ = "localhost/berth-busybox:test";
  std::vector<std::string> names_;
};

TEST_F(Podman, RunRemovesTheContainerAndPassesOutputAndExitCode) {
  auto r = podman({"run", "--rm", "--network", "none", image_, "sh", "-c", "echo hello from berth-oci; exit 3"});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_EQ(r.out, "hello from berth-oci\n");
  EXPECT_EQ(podman({"ps", "--all", "--quiet"}).out, "");
}

TEST_F(Podman, DetachedContainerLogsExecStopAndRemove) {
  ASSERT_NO_FATAL_FAILURE(run_detached(
      "served", {"sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo ready; while :; do sleep 0.1; done"}));
  EXPECT_EQ(status_of("served"), "running");
  std::string logs;
  for (int i = 0; i < 50 && logs.find("ready") == std::string::npos; ++i) logs = podman({"logs", "served"}).out;
  EXPECT_EQ(logs, "ready\n");

  auto in = podman({"exec", "served", "sh", "-c", "echo in $(hostname); cat /proc/1/cmdline | tr '\\0' ' '"});
  EXPECT_EQ(in.code, 0) << in.err;
  EXPECT_NE(in.out.find("sh -c trap"), std::string::npos) << in.out;
  EXPECT_EQ(podman({"exec", "served", "sh", "-c", "exit 7"}).code, 7);
  auto tty = podman({"exec", "-t", "served", "sh", "-c", "tty"});
  EXPECT_EQ(tty.code, 0) << tty.err;
  EXPECT_TRUE(tty.out.starts_with("/dev/pts/")) << tty.out;

  auto stopped = podman({"stop", "--time", "10", "served"});
  EXPECT_EQ(stopped.code, 0) << stopped.err;
  EXPECT_EQ(status_of("served"), "exited");
  EXPECT_EQ(podman({"inspect", "--format", "{{.State.ExitCode}}", "served"}).out, "0\n");
  EXPECT_NE(podman({"logs", "served"}).out.find("got TERM"), std::string::npos);
  auto removed = podman({"rm", "served"});
  EXPECT_EQ(removed.code, 0) << removed.err;
  EXPECT_NE(podman({"inspect", "served"}).code, 0);
}

TEST_F(Podman, PauseUnpauseStatsAndKill) {
  ASSERT_NO_FATAL_FAILURE(run_detached("sleeper", {"sleep", "1000"}));
  auto paused = podman({"pause", "sleeper"});
  ASSERT_EQ(paused.code, 0) << paused.err;
  EXPECT_EQ(status_of("sleeper"), "paused");
  EXPECT_NE(podman({"exec", "sleeper", "true"}).code, 0) << "exec into a paused container";
  auto unpaused = podman({"unpause", "sleeper"});
  ASSERT_EQ(unpaused.code, 0) << unpaused.err;
  EXPECT_EQ(status_of("sleeper"), "running");

  auto stats = podman({"stats", "--no-stream", "--format", "json", "sleeper"});
  ASSERT_EQ(stats.code, 0) << stats.err;
  auto parsed = nlohmann::json::parse(stats.out, nullptr, false);
  ASSERT_TRUE(parsed.is_array() && parsed.size() == 1) << stats.out;
  EXPECT_GE(std::stoi(parsed[0]["pids"].get<std::string>()), 1) << stats.out;
  EXPECT_NE(parsed[0]["mem_usage"].get<std::string>().substr(0, 2), "0B") << stats.out;

  auto killed = podman({"kill", "--signal", "KILL", "sleeper"});
  EXPECT_EQ(killed.code, 0) << killed.err;
  auto waited = podman({"wait", "sleeper"});
  EXPECT_EQ(waited.out, "137\n") << waited.err;
  EXPECT_EQ(status_of("sleeper"), "exited");
}

TEST_F(Podman, ABadCommandIsOneClearErrorAndNothingIsLeft) {
  auto r = podman({"run", "--rm", "--network", "none", image_, "/no/such/program"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("/no/such/program"), std::string::npos) << r.err;
  EXPECT_EQ(podman({"ps", "--all", "--quiet"}).out, "");
}

// The Wasm handler through podman: an image holding only a .wasm, the annotation podman passes
// on to the runtime, and the module's output and exit code back through conmon.
TEST_F(Podman, AWasmModuleRunsWithTheHandlerAnnotation) {
  std::string layer = dir_ + "/wasm-layer";
  ASSERT_TRUE(make_dirs(layer));
  ASSERT_EQ(shell("cp " + std::string(BERTH_WASI_GUEST_DIR) + "/oci_guest.wasm " + layer + "/guest.wasm && echo in-image > " +
                  layer + "/input.txt && tar -C " + layer + " -cf " + dir_ + "/wasm.tar . && echo ok"),
            "ok\n");
  auto imported = podman({"import", dir_ + "/wasm.tar", "localhost/berth-wasm-guest:test"});
  ASSERT_EQ(imported.code, 0) << imported.err;
  auto r = podman({"run", "--rm", "--network", "none", "--annotation", "run.oci.handler=wasm", "-e", "GREETING=hi",
                   "localhost/berth-wasm-guest:test", "/guest.wasm", "full", "5"});
  EXPECT_EQ(r.code, 5) << r.err;
  EXPECT_NE(r.out.find("argv[0]=/guest.wasm\nargv[1]=full"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GREETING=hi"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("read: in-image"), std::string::npos) << r.out;
  // Without the annotation it is an ordinary container, whose "program" is not one.
  EXPECT_NE(podman({"run", "--rm", "--network", "none", "localhost/berth-wasm-guest:test", "/guest.wasm"}).code, 0);
}

// A pod (what Kubernetes runs through CRI): its infra container (catatonit) holds the network,
// uts and ipc namespaces, and every container of the pod joins them by path through berth-oci.
TEST_F(Podman, ContainersInAPodShareItsNamespaces) {
  if (shell("command -v catatonit").empty()) GTEST_SKIP() << "catatonit is not installed (scripts/setup.sh)";
  auto pod = podman({"pod", "create", "--name", "berth-pod", "--network", "none"});
  ASSERT_EQ(pod.code, 0) << pod.err;
  struct RemovePod {
    ~RemovePod() { podman({"pod", "rm", "--force", "--time", "0", "berth-pod"}); }
  } remove_pod;
  names_.push_back("pod-web");
  auto web = podman({"run", "-d", "--pod", "berth-pod", "--name", "pod-web", image_, "httpd", "-f", "-p", "8080"});
  ASSERT_EQ(web.code, 0) << web.err;
  // Another container of the pod reaches it on the pod's loopback, and has the pod's hostname.
  auto client = podman({"run", "--rm", "--pod", "berth-pod", image_, "sh", "-c",
                        "for i in 1 2 3 4 5 6 7 8 9 10; do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 8080 "
                        "| head -1 | grep HTTP && break; sleep 0.2; done; hostname"});
  EXPECT_EQ(client.code, 0) << client.err;
  EXPECT_NE(client.out.find("HTTP/1.1 404"), std::string::npos) << client.out;
  EXPECT_NE(client.out.find("berth-pod"), std::string::npos) << client.out;
  auto runtimes = podman({"pod", "inspect", "--format", "{{.InfraContainerID}}", "berth-pod"});
  ASSERT_EQ(runtimes.code, 0) << runtimes.err;
  auto infra = runtimes.out.substr(0, runtimes.out.find('\n'));
  EXPECT_EQ(podman({"inspect", "--format", "{{.OCIRuntime}}", infra}).out, std::string(BERTH_OCI_PATH) + "\n")
      << "the infra container runs on berth-oci too";
}

}  // namespace
}  // namespace berth::testing
