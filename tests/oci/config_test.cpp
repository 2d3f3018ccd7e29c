// config.json fields observed from inside the container, and fields berth-oci cannot honour
// refused by name.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci_fixture.hpp"

namespace berth::testing {
namespace {

using OciConfig = OciTest;

TEST_F(OciConfig, ProcessRootHostnameMountsAndPathsAreObservedInside) {
  std::string host_dir = dir_ + "/shared";
  ASSERT_TRUE(make_dirs(host_dir));
  ASSERT_TRUE(write_file(host_dir + "/greeting", "hello from the host\n", 0644));  // read by uid 1000
  config_["hostname"] = "ocibox";
  config_["process"]["env"] = {"PATH=/bin:/sbin", "FOO=bar"};
  config_["process"]["cwd"] = "/work";
  config_["process"]["user"] = {{"uid", 1000}, {"gid", 1000}, {"additionalGids", {10}}, {"umask", 027}};
  config_["mounts"].push_back({{"destination", "/data"}, {"type", "bind"}, {"source", host_dir},
                               {"options", {"rbind", "ro"}}});
  config_["mounts"].push_back({{"destination", "/work"}, {"type", "tmpfs"}, {"source", "tmpfs"},
                               {"options", {"nosuid", "noexec", "mode=777"}}});
  config_["linux"]["maskedPaths"].push_back("/etc/group");
  set_args({"sh", "-c",
            "echo host=$(hostname); echo foo=$FOO; echo cwd=$(pwd); echo id=$(id -u):$(id -g):$(id -G); "
            "cat /data/greeting; touch /data/x 2>/dev/null && echo data-writable || echo data-ro; "
            "touch /rootfile 2>/dev/null && echo root-writable || echo root-ro; "
            "touch /work/f && echo umask=$(stat -c %a /work/f); "
            "echo group=$(wc -c < /etc/group); "
            "echo sys > /proc/sys/kernel/hostname 2>/dev/null && echo procsys-writable || echo procsys-ro; "
            "grep ' /work ' /proc/mounts | grep -q noexec && echo work-noexec"});
  auto r = run("inside");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("host=ocibox\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("foo=bar\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cwd=/work\n"), std::string::npos) << r.out;
  // additionalGids only: a numeric user with a group gets no memberships from /etc/group.
  EXPECT_NE(r.out.find("id=1000:1000:1000 10\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hello from the host\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("data-ro\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("root-ro\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("umask=640\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("group=0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("procsys-ro\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("work-noexec\n"), std::string::npos) << r.out;
  EXPECT_FALSE(path_exists(host_dir + "/x"));
}

TEST_F(OciConfig, CapabilitiesRlimitsAndNoNewPrivileges) {
  config_["process"]["capabilities"] = {{"bounding", {"CAP_KILL", "CAP_CHOWN"}}, {"effective", {"CAP_KILL"}},
                                        {"permitted", {"CAP_KILL"}}};
  config_["process"]["rlimits"] = {{{"type", "RLIMIT_NOFILE"}, {"soft", 123}, {"hard", 456}}};
  config_["process"]["noNewPrivileges"] = true;
  set_args({"sh", "-c", "grep -E '^(CapBnd|CapEff|CapPrm|NoNewPrivs)' /proc/self/status; ulimit -n; ulimit -Hn"});
  auto r = run("caps");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("CapPrm:\t0000000000000020"), std::string::npos) << r.out;  // CAP_KILL = 5
  EXPECT_NE(r.out.find("CapBnd:\t0000000000000021"), std::string::npos) << r.out;  // + CAP_CHOWN = 0
  EXPECT_NE(r.out.find("NoNewPrivs:\t1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("123\n456\n"), std::string::npos) << r.out;
}

TEST_F(OciConfig, ResourcesLandInTheContainersCgroup) {
  config_["linux"]["resources"]["memory"] = {{"limit", 64 * 1024 * 1024}};
  config_["linux"]["resources"]["pids"] = {{"limit", 42}};
  config_["linux"]["cgroupsPath"] = "/berth-oci/limited";
  set_args({"sleep", "1000"});
  auto r = create("limited");
  ASSERT_EQ(r.code, 0) << r.err;
  bool v2 = path_exists("/sys/fs/cgroup/cgroup.controllers");
  if (v2) {
    EXPECT_EQ(read_file("/sys/fs/cgroup/berth-oci/limited/memory.max").value_or(""), "67108864\n");
    EXPECT_EQ(read_file("/sys/fs/cgroup/berth-oci/limited/pids.max").value_or(""), "42\n");
  } else {
    EXPECT_EQ(read_file("/sys/fs/cgroup/memory/berth-oci/limited/memory.limit_in_bytes").value_or(""), "67108864\n");
    EXPECT_EQ(read_file("/sys/fs/cgroup/pids/berth-oci/limited/pids.max").value_or(""), "42\n");
  }
  int pid = state("limited")["pid"];
  auto cgroups = read_file("/proc/" + std::to_string(pid) + "/cgroup").value_or("");
  EXPECT_NE(cgroups.find("/berth-oci/limited"), std::string::npos) << cgroups;
}

TEST_F(OciConfig, SeccompFromTheConfig) {
  config_["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"architectures", {"SCMP_ARCH_X86_64"}},
      {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}}}};
  config_["mounts"].push_back({{"destination", "/scratch"}, {"type", "tmpfs"}, {"source", "tmpfs"}});
  set_args({"sh", "-c", "mkdir /scratch/d 2>&1; echo rc=$?"});
  auto r = run("filtered");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Operation not permitted"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rc=1"), std::string::npos) << r.out;
}

// Podman's configs carry a seccomp profile and no noNewPrivileges: the kernel then only lets a
// process with CAP_SYS_ADMIN load the filter, so it must go on before capabilities are dropped.
TEST_F(OciConfig, SeccompWithoutNoNewPrivilegesUnderDroppedCapabilities) {
  config_["process"]["noNewPrivileges"] = false;
  config_["process"]["capabilities"] = {{"bounding", {"CAP_KILL"}}, {"effective", {"CAP_KILL"}},
                                        {"permitted", {"CAP_KILL"}}};
  config_["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}}}};
  set_args({"sh", "-c", "mkdir /tmp/d 2>&1; echo rc=$?"});
  auto r = run("filtered-nnp-off");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("rc=1"), std::string::npos) << r.out;
}

// A failure after start (here the filter refuses the workload's execve) is the workload's own:
// create has returned, so it is reported on the process's stderr with exec's exit code.
TEST_F(OciConfig, AFailedExecAfterStartIsReportedOnTheProcessStderr) {
  config_["process"]["noNewPrivileges"] = false;
  config_["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"syscalls", {{{"names", {"execve", "execveat"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 13}}}}};
  set_args({"true"});
  auto r = run("exec-refused");
  EXPECT_EQ(r.code, 126) << r.err;
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
}

// A new network namespace has its loopback up, as runc does: 127.0.0.1 answers inside.
TEST_F(OciConfig, ANewNetworkNamespaceHasLoopbackUp) {
  set_args({"sh", "-c", "cat /sys/class/net/lo/flags; nc -l -p 7000 -e echo pong & sleep 0.2; echo ping | nc 127.0.0.1 7000"});
  auto r = run("loopback");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "0x9\npong\n");  // IFF_UP | IFF_LOOPBACK
}

TEST_F(OciConfig, JoinsANamespaceByPath) {
  set_args({"sleep", "1000"});
  ASSERT_EQ(create("holder").code, 0);
  int holder = state("holder")["pid"];
  char link[64] = {};
  ASSERT_GT(::readlink(("/proc/" + std::to_string(holder) + "/ns/net").c_str(), link, sizeof link - 1), 0);
  for (auto& ns : config_["linux"]["namespaces"])
    if (ns["type"] == "network") ns["path"] = "/proc/" + std::to_string(holder) + "/ns/net";
  set_args({"readlink", "/proc/self/ns/net"});
  auto r = run("joiner");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, std::string(link) + "\n");
}

// As runc and crun: the container's root is set up inside the joined mount namespace, so a
// mount that exists only there is what its bind mount sees, and the host's table is untouched.
TEST_F(OciConfig, JoinsAMountNamespaceByPathAndSetsTheRootUpInIt) {
  std::string only_there = dir_ + "/only-in-ns";
  ASSERT_EQ(::mkdir(only_there.c_str(), 0755), 0);
  Program holder({"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                  "mount -t tmpfs none " + only_there + " && echo secret > " + only_there + "/file && touch " + dir_ +
                      "/ready && exec sleep 1000"});
  struct Stop {
    Program& p;
    ~Stop() {
      ::kill(p.pid(), SIGKILL);
      p.finish();
    }
  } stop{holder};
  for (int i = 0; i < 200 && !path_exists(dir_ + "/ready"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(path_exists(dir_ + "/ready"));
  std::string ns_path = "/proc/" + std::to_string(holder.pid()) + "/ns/mnt";
  for (auto& ns : config_["linux"]["namespaces"])
    if (ns["type"] == "mount") ns["path"] = ns_path;
  config_["mounts"].push_back({{"destination", "/seen"}, {"type", "bind"}, {"source", only_there}, {"options", {"rbind"}}});
  set_args({"cat", "/seen/file"});
  auto r = run("mntjoin");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "secret\n");
  EXPECT_FALSE(path_exists(only_there + "/file")) << "the host sees no tmpfs there";
  EXPECT_EQ(read_file("/proc/self/mountinfo").value_or("").find(rootfs_parent_), std::string::npos)
      << "nothing was mounted in the host's namespace";
}

// runc's --no-pivot (for a root on the initramfs, where pivot_root fails): the rootfs is moved
// onto "/" and chroot'ed into, after every host mount is detached from the namespace.
TEST_F(OciConfig, NoPivotRunsTheContainerInItsMovedRoot) {
  std::string host_only = dir_ + "/host-only";
  ASSERT_EQ(::mkdir(host_only.c_str(), 0755), 0);
  ASSERT_EQ(::mount("tmpfs", host_only.c_str(), "tmpfs", 0, "size=1m"), 0);
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{host_only};
  set_args({"sh", "-c", "ls /bin/busybox && cat /etc/passwd | head -1 && echo ran"});
  auto created = create("nopivot", {"--no-pivot"});
  ASSERT_EQ(created.code, 0) << created.err;
  int pid = state("nopivot")["pid"];
  // The namespace's own mount table, whatever the process's root: nsenter takes the
  // namespace's root, which the moved rootfs now covers.
  auto ns = "/proc/" + std::to_string(pid) + "/ns/";
  auto table = shell("nsenter --mount=" + ns + "mnt --pid=" + ns + "pid /bin/cat /proc/self/mountinfo 2>&1");
  // (mountinfo lists only mounts reachable from the reader's root, so this shows the rootfs on
  // "/" and no host mount above it; that the host's are detached, not merely out of reach, is
  // not visible from here.)
  EXPECT_NE(table.find("/rootfs / "), std::string::npos) << "the rootfs is the namespace's root: " << table;
  EXPECT_EQ(table.find("host-only"), std::string::npos) << table;
  ASSERT_EQ(oci({"start", "nopivot"}).code, 0);
  EXPECT_EQ(oci({"delete", "--force", "nopivot"}).code, 0);

  auto r = [&] {
    write_config();
    ids_.push_back("nopivot-run");
    return oci({"run", "--no-pivot", "--bundle", bundle_, "nopivot-run"});
  }();
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "/bin/busybox\nroot:x:0:0:root:/root:/bin/sh\nran\n");
}

TEST_F(OciConfig, AJoinedNamespaceMustBeOfItsTypeAndNotTheHostsMountNamespace) {
  auto original = config_;
  struct Case {
    std::string type, path, expected;
  } cases[] = {{"network", "/proc/self/ns/ipc", "is a namespace of another type"},
               {"network", "/etc/hostname", "is not a namespace"},
               {"mount", "/proc/" + std::to_string(::getpid()) + "/ns/mnt", "berth-oci's own mount namespace"}};
  int n = 0;
  for (auto& c : cases) {
    config_ = original;
    std::size_t index = 0;
    for (std::size_t i = 0; i < config_["linux"]["namespaces"].size(); ++i)
      if (config_["linux"]["namespaces"][i]["type"] == c.type) index = i;
    config_["linux"]["namespaces"][index]["path"] = c.path;
    std::string id = "badjoin" + std::to_string(n++);
    auto r = create(id);
    EXPECT_NE(r.code, 0) << c.path;
    EXPECT_NE(r.err.find("linux.namespaces[" + std::to_string(index) + "].path"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << r.err;
    EXPECT_FALSE(path_exists(root_ + "/" + id));
  }
}

TEST_F(OciConfig, SysctlIsWrittenInTheContainersNamespaces) {
  config_["linux"]["sysctl"] = {{"net.ipv4.ip_unprivileged_port_start", "80"}};
  set_args({"cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"});
  auto r = run("sysctl");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "80\n");
  EXPECT_NE(read_file("/proc/sys/net/ipv4/ip_unprivileged_port_start").value_or(""), "80\n")
      << "the host's value changed";
}

TEST_F(OciConfig, DevicesAreMadeAndAllowed) {
  config_["linux"]["devices"] = {{{"path", "/dev/mynull"}, {"type", "c"}, {"major", 1}, {"minor", 3},
                                  {"fileMode", 0600}, {"uid", 0}, {"gid", 0}}};
  set_args({"sh", "-c", "stat -c '%t:%T %a' /dev/mynull; echo x > /dev/mynull && echo wrote"});
  auto r = run("devices");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "1:3 600\nwrote\n");
}

TEST_F(OciConfig, FieldsThatCannotBeHonouredAreRefusedByName) {
  struct Case {
    std::string field;
    std::function<void(nlohmann::json&)> edit;
  };
  std::vector<Case> cases = {
      {"linux.intelRdt", [](auto& c) { c["linux"]["intelRdt"] = {{"closID", "x"}}; }},
      {"hooks.prestart[0].path", [](auto& c) { c["hooks"] = {{"prestart", {{{"path", "bin/true"}}}}}; }},
      {"linux.resources.rdma", [](auto& c) { c["linux"]["resources"]["rdma"] = {{"mlx5_1", {{"hcaHandles", 3}}}}; }},
      {"linux.personality.flags", [](auto& c) { c["linux"]["personality"] = {{"domain", "LINUX"}, {"flags", {"ADDR_NO_RANDOMIZE"}}}; }},
      {"process.commandLine", [](auto& c) { c["process"]["commandLine"] = "sleep 1000"; }},
      {"mounts[7].options[1]", [](auto& c) {
         c["mounts"].push_back({{"destination", "/x"}, {"type", "bind"}, {"source", "/tmp"}, {"options", {"rbind", "remount"}}});
       }},
      {"linux.unknownThing", [](auto& c) { c["linux"]["unknownThing"] = 1; }},
      {"linux.cgroupsPath", [](auto& c) { c["linux"]["cgroupsPath"] = "/"; }},
      {"linux.cgroupsPath", [](auto& c) { c["linux"]["cgroupsPath"] = "/berth-oci/../../x"; }},
  };
  auto original = config_;
  int n = 0;
  for (auto& c : cases) {
    config_ = original;
    c.edit(config_);
    std::string id = "refused" + std::to_string(n++);
    auto r = create(id);
    EXPECT_NE(r.code, 0) << c.field;
    EXPECT_NE(r.err.find(c.field), std::string::npos) << c.field << ": " << r.err;
    EXPECT_FALSE(path_exists(root_ + "/" + id)) << c.field;
  }
  // Empty hooks ask for nothing and are fine.
  config_ = original;
  config_["hooks"] = nlohmann::json::object({{"prestart", nlohmann::json::array()}});
  set_args({"true"});
  EXPECT_EQ(run("emptyhooks").code, 0);
}

TEST_F(OciConfig, SameStateFieldsAsRunc) {
  if (::access("/usr/sbin/runc", X_OK) != 0) GTEST_SKIP() << "runc is not installed";
  set_args({"sleep", "1000"});
  ASSERT_EQ(create("cmp").code, 0);
  std::string runc_root = dir_ + "/runc";
  auto rc = run_program({"/usr/sbin/runc", "--root", runc_root, "create", "--bundle", bundle_, "cmp"});
  ASSERT_EQ(rc.code, 0) << rc.err;
  auto theirs = run_program({"/usr/sbin/runc", "--root", runc_root, "state", "cmp"});
  run_program({"/usr/sbin/runc", "--root", runc_root, "delete", "--force", "cmp"});
  auto ours = state("cmp");
  auto reference = nlohmann::json::parse(theirs.out);
  for (auto& [key, value] : reference.items()) EXPECT_TRUE(ours.contains(key)) << key;
  for (auto& [key, value] : ours.items()) EXPECT_TRUE(reference.contains(key)) << key;
  EXPECT_EQ(ours["status"], reference["status"]);
  EXPECT_EQ(ours["bundle"], reference["bundle"]);
  EXPECT_EQ(ours["rootfs"], reference["rootfs"]);
}

}  // namespace
}  // namespace berth::testing
