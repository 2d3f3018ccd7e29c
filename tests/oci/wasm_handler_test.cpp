// berth-oci's Wasm handler (src/oci/wasm_handler.hpp): a bundle whose rootfs holds nothing but
// a WASI command module (tests/oci/guests/oci_guest.c, compiled at build time) and whose
// annotations ask for the handler runs the module on berth's engine inside the container.
#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "linux/unix_socket.hpp"
#include "oci/oci_fixture.hpp"
#include "support/aot_cache.hpp"
#include "support/wasi_guests.hpp"

namespace berth::testing {
namespace {

class OciWasm : public OciTest {
 public:
  // Each test has its own --root; but for the one that checks caching, they share the Wasm
  // tests' AOT cache (kept between runs, keyed by content hash): the guest is compiled once.
  static void SetUpTestSuite() {
    OciTest::SetUpTestSuite();
    shared_cache_ = shared_aot_cache_dir().string();
  }

 protected:
  void SetUp() override {
    OciTest::SetUp();
    BERTH_REQUIRE_GUEST("oci_guest");
    // A rootfs with the module and one input file, nothing else: no shell, no libc, no loader.
    wasm_root_ = dir_ + "/wasmroot";
    ASSERT_TRUE(make_dirs(wasm_root_));
    auto module = read_file(wasi_guest("oci_guest"));
    ASSERT_TRUE(module);
    ASSERT_TRUE(write_file(wasm_root_ + "/oci_guest.wasm", *module, 0644));
    ASSERT_TRUE(write_file(wasm_root_ + "/input.txt", "from the host\n", 0644));  // read by a mapped uid
    config_["root"]["path"] = wasm_root_;
    config_["root"]["readonly"] = false;
    config_["annotations"]["run.oci.handler"] = "wasm";
  }

  void share_cache() {
    ASSERT_TRUE(make_dirs(shared_cache_));
    ASSERT_TRUE(make_dirs(root_ + "/.cache"));
    ASSERT_EQ(::symlink(shared_cache_.c_str(), (root_ + "/.cache/wasm").c_str()), 0);
  }

  std::vector<std::string> artifacts() {
    std::vector<std::string> out;
    if (DIR* d = ::opendir((root_ + "/.cache/wasm").c_str())) {
      while (auto* e = ::readdir(d))
        if (std::string(e->d_name).ends_with(".bwasm")) out.push_back(root_ + "/.cache/wasm/" + e->d_name);
      ::closedir(d);
    }
    return out;
  }

  // Nothing of container `id` is left: no state directory, no cgroup.
  void expect_nothing_left(const std::string& id) {
    EXPECT_FALSE(path_exists(root_ + "/" + id)) << id << "'s state directory is left";
    for (auto base : {"/sys/fs/cgroup/memory/berth-oci/", "/sys/fs/cgroup/pids/berth-oci/", "/sys/fs/cgroup/berth-oci/"})
      EXPECT_FALSE(path_exists(base + id)) << id << "'s cgroup is left under " << base;
  }

  static inline std::string shared_cache_;
  std::string wasm_root_;
};

TEST_F(OciWasm, RunsTheModuleWithArgvEnvAndTheRootPreopenedAndReturnsItsExitCode) {
  share_cache();
  set_args({"/oci_guest.wasm", "full", "7"});
  config_["process"]["env"] = {"GREETING=hi there", "PATH=/bin"};
  auto r = run("wasm");
  EXPECT_EQ(r.code, 7) << r.err;
  EXPECT_NE(r.out.find("argv[0]=/oci_guest.wasm\nargv[1]=full\nargv[2]=7\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GREETING=hi there\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("read: from the host\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
  // Written through the "/" preopen: in the rootfs, seen from the host.
  EXPECT_EQ(read_file(wasm_root_ + "/output.txt").value_or("(missing)"), "written by wasm\n");
  expect_nothing_left("wasm");
}

TEST_F(OciWasm, ATrapIsNonZeroWithOneLineOnStderr) {
  share_cache();
  set_args({"/oci_guest.wasm", "trap"});
  auto r = run("trap");
  EXPECT_EQ(r.code, 134) << r.err;
  EXPECT_EQ(r.err, "berth: wasm trap: unreachable\n");
}

TEST_F(OciWasm, TheEngineRunsUnderTheContainersSeccompFilterAndUser) {
  share_cache();
  // berth's default profile (Docker's) and an unprivileged user, as Podman would configure it.
  auto profile = read_file(std::string(BERTH_SOURCE_DIR) + "/src/linux/seccomp_default_profile.json");
  ASSERT_TRUE(profile);
  config_["linux"]["seccomp"] = nlohmann::json::parse(*profile);
  config_["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
  ASSERT_EQ(::chmod(wasm_root_.c_str(), 0777), 0);
  set_args({"/oci_guest.wasm", "full", "3"});
  auto r = run("confined");
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.out.find("read: from the host\n"), std::string::npos) << r.out;
  struct stat st {};
  ASSERT_EQ(::stat((wasm_root_ + "/output.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u);
}

TEST_F(OciWasm, AModuleGetsThePtyOfAConsoleSocket) {
  share_cache();
  std::string path = dir_ + "/console.sock";
  UniqueFd listener = listen_console_socket(path);
  ASSERT_TRUE(listener);
  config_["process"]["terminal"] = true;
  set_args({"/oci_guest.wasm", "hello"});
  auto created = create("tty", {"--console-socket", path});
  ASSERT_EQ(created.code, 0) << created.err;
  auto received = accept_pty(listener.get());
  ASSERT_TRUE(received) << received.error().message;
  UniqueFd pty = std::move(*received);
  ASSERT_EQ(oci({"start", "tty"}).code, 0);
  std::string out = read_pty_line(pty.get());
  EXPECT_NE(out.find("hello from wasm"), std::string::npos) << out;
}

TEST_F(OciWasm, AModuleRunsInAUserNamespaceAsAMappedHostUid) {
  share_cache();
  config_["linux"]["namespaces"].push_back({{"type", "user"}});
  config_["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  config_["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  ASSERT_EQ(::chmod(wasm_root_.c_str(), 0777), 0);
  set_args({"/oci_guest.wasm", "full", "4"});
  auto r = run("userns");
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_NE(r.out.find("read: from the host\n"), std::string::npos) << r.out;
  struct stat st {};
  ASSERT_EQ(::stat((wasm_root_ + "/output.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 200000u);
}

TEST_F(OciWasm, WasmSmartRunsAModuleAndLeavesOtherProgramsNative) {
  share_cache();
  config_["annotations"]["run.oci.handler"] = "wasm-smart";
  set_args({"/oci_guest.wasm", "hello"});
  auto wasm = run("smart-wasm");
  EXPECT_EQ(wasm.code, 0) << wasm.err;
  EXPECT_EQ(wasm.out, "hello from wasm\n");

  // WebAssembly text works too.
  ASSERT_TRUE(write_file(wasm_root_ + "/exit5.wat",
                         "(module (import \"wasi_snapshot_preview1\" \"proc_exit\" (func $exit (param i32)))\n"
                         "  (memory (export \"memory\") 1)\n"
                         "  (func (export \"_start\") (call $exit (i32.const 5))))\n"));
  set_args({"/exit5.wat"});
  auto wat = run("smart-wat");
  EXPECT_EQ(wat.code, 5) << wat.err;

  // args[0] is no module: an ordinary container (the busybox rootfs).
  config_["root"]["path"] = rootfs_parent_ + "/rootfs";
  config_["root"]["readonly"] = true;
  set_args({"sh", "-c", "echo native $0"});
  auto native = run("smart-native");
  EXPECT_EQ(native.code, 0) << native.err;
  EXPECT_EQ(native.out, "native sh\n");
}

TEST_F(OciWasm, TheWasmImageVariantAnnotationWorksToo) {
  share_cache();
  config_["annotations"].erase("run.oci.handler");
  config_["annotations"]["module.wasm.image/variant"] = "compat";
  set_args({"/oci_guest.wasm", "hello"});
  auto r = run("compat");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "hello from wasm\n");

  config_["annotations"]["module.wasm.image/variant"] = "compat-smart";
  auto smart = run("compat-smart");
  EXPECT_EQ(smart.code, 0) << smart.err;
  EXPECT_EQ(smart.out, "hello from wasm\n");

  config_["annotations"]["run.oci.handler"] = "krun";
  auto other = create("other-handler");
  EXPECT_NE(other.code, 0);
  EXPECT_NE(other.err.find("run.oci.handler: \"krun\""), std::string::npos) << other.err;
  expect_nothing_left("other-handler");
}

TEST_F(OciWasm, TheModuleRunsInTheContainersCgroupAndPidNamespace) {
  share_cache();
  set_args({"/oci_guest.wasm", "sleep", "60"});
  auto created = create("long");
  ASSERT_EQ(created.code, 0) << created.err;
  auto started = oci({"start", "long"});
  ASSERT_EQ(started.code, 0) << started.err;
  auto s = state("long");
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["status"], "running");
  std::string pid = std::to_string(s["pid"].get<int>());

  auto cgroups = read_file("/proc/" + pid + "/cgroup").value_or("");
  EXPECT_NE(cgroups.find("/berth-oci/long\n"), std::string::npos) << cgroups;
  // Pid 1 of its own pid namespace.
  auto status_text = read_file("/proc/" + pid + "/status").value_or("");
  auto nspid = status_text.find("NSpid:");
  ASSERT_NE(nspid, std::string::npos);
  std::string line = status_text.substr(nspid, status_text.find('\n', nspid) - nspid);
  EXPECT_TRUE(line.ends_with("\t1")) << line;
  char ours[64] = {0}, theirs[64] = {0};
  ASSERT_GT(::readlink("/proc/self/ns/pid", ours, sizeof ours - 1), 0);
  ASSERT_GT(::readlink(("/proc/" + pid + "/ns/pid").c_str(), theirs, sizeof theirs - 1), 0);
  EXPECT_STRNE(ours, theirs);

  auto killed = oci({"kill", "long", "KILL"});
  ASSERT_EQ(killed.code, 0) << killed.err;
  for (int i = 0; i < 500 && status("long") != "stopped"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(status("long"), "stopped");
  auto deleted = oci({"delete", "long"});
  EXPECT_EQ(deleted.code, 0) << deleted.err;
  expect_nothing_left("long");
}

TEST_F(OciWasm, TheArtifactIsCompiledOnceAndReusedByTheNextContainer) {
  // This test's own cache, cold.
  set_args({"/oci_guest.wasm", "hello"});
  auto t0 = std::chrono::steady_clock::now();
  auto first = create("first");
  auto cold = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(first.code, 0) << first.err;
  auto made = artifacts();
  ASSERT_EQ(made.size(), 1u);
  struct stat before {};
  ASSERT_EQ(::stat(made[0].c_str(), &before), 0);
  EXPECT_EQ(oci({"delete", "first"}).code, 0);

  t0 = std::chrono::steady_clock::now();
  auto second = create("second");
  auto warm = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(second.code, 0) << second.err;
  auto again = artifacts();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0], made[0]);
  struct stat after {};
  ASSERT_EQ(::stat(again[0].c_str(), &after), 0);
  // Not written again: the same file (inode) with the same modification time.
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_LT(warm, cold);
  auto started = oci({"start", "second"});
  EXPECT_EQ(started.code, 0) << started.err;
}

TEST_F(OciWasm, AMissingModuleOrANonWasmFileIsOneErrorAtCreateAndLeavesNothing) {
  set_args({"/missing.wasm"});
  auto missing = create("missing");
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("process.args[0] \"/missing.wasm\""), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("No such file"), std::string::npos) << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  expect_nothing_left("missing");

  ASSERT_TRUE(write_file(wasm_root_ + "/fake.wasm", "#!/bin/sh\necho not wasm\n"));
  set_args({"/fake.wasm"});
  auto fake = create("fake");
  EXPECT_NE(fake.code, 0);
  EXPECT_NE(fake.err.find("process.args[0] \"/fake.wasm\": not a Wasm module"), std::string::npos) << fake.err;
  EXPECT_EQ(std::count(fake.err.begin(), fake.err.end(), '\n'), 1) << fake.err;
  expect_nothing_left("fake");
  // A module sees no inherited fds: --preserve-fds is refused rather than ignored.
  set_args({"/oci_guest.wasm", "hello"});
  auto fds = create("fds", {"--preserve-fds", "1"});
  EXPECT_NE(fds.code, 0);
  EXPECT_NE(fds.err.find("--preserve-fds"), std::string::npos) << fds.err;
  expect_nothing_left("fds");
  // Nothing was compiled for any of them, and no mount point was made in the rootfs.
  EXPECT_TRUE(artifacts().empty());
  EXPECT_FALSE(path_exists(wasm_root_ + "/proc"));
}

}  // namespace
}  // namespace berth::testing
