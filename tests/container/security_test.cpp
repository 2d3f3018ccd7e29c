// The security defaults, asserted from inside: Docker's capabilities less NET_RAW (ping through
// ICMP datagram sockets instead), seccomp mode 2, no_new_privs, masked and read-only paths, only
// stdio open, no host binary reachable.
#include <fcntl.h>
#include <sys/stat.h>

#include <gmock/gmock.h>

#include "container/container_fixture.hpp"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Docker's set (00000000a80425fb) less CAP_NET_RAW (bit 13).
constexpr const char* default_caps = "00000000a80405fb";

std::string status_field(const std::string& status, const std::string& field) {
  auto at = status.find(field + ":\t");
  if (at == std::string::npos) return "?";
  auto start = at + field.size() + 2;
  return status.substr(start, status.find('\n', start) - start);
}

TEST_F(ContainerTest, HasDockersCapabilitiesSeccompAndNoNewPrivs) {
  auto status = sh("cat /proc/self/status");
  EXPECT_EQ(status_field(status, "CapEff"), default_caps);
  EXPECT_EQ(status_field(status, "CapPrm"), default_caps);
  EXPECT_EQ(status_field(status, "CapBnd"), default_caps);
  EXPECT_EQ(status_field(status, "CapInh"), "0000000000000000");
  EXPECT_EQ(status_field(status, "CapAmb"), "0000000000000000");
  EXPECT_EQ(status_field(status, "Seccomp"), "2");
  EXPECT_EQ(status_field(status, "NoNewPrivs"), "1");
}

// The static probe (tests/container/probes) at /probe: it opens a raw ICMP socket and pings
// 127.0.0.1 through an ICMP datagram socket.
WorkloadSpec with_icmp_probe(WorkloadSpec spec) {
  spec.mounts.push_back(Mount{"bind", BERTH_ICMP_PROBE_PATH, "/probe", true, {}});
  return spec;
}

TEST_F(ContainerTest, NoRawSocketsByDefaultYetPingWorks) {
  auto out = sh("grep CapEff /proc/self/status; cat /proc/sys/net/ipv4/ping_group_range; /probe",
                with_icmp_probe(container_spec({})));
  auto effective = std::stoull(status_field(out, "CapEff"), nullptr, 16);
  EXPECT_EQ(effective & (1ULL << 13), 0u) << "CAP_NET_RAW is not in the default set";
  EXPECT_THAT(out, HasSubstr("0\t2147483647\n"));
  EXPECT_THAT(out, HasSubstr("raw socket: Operation not permitted"));
  EXPECT_THAT(out, HasSubstr("ping 127.0.0.1: reply"));
}

TEST_F(ContainerTest, CapAddNetRawGivesRawSocketsBack) {
  auto spec = with_icmp_probe(container_spec({}));
  spec.container.cap_add = {"NET_RAW"};
  auto out = sh("cat /proc/self/status; /probe; ping -c1 -W5 127.0.0.1", spec);
  EXPECT_EQ(status_field(out, "CapEff"), "00000000a80425fb");
  EXPECT_THAT(out, HasSubstr("raw socket: opened"));
  EXPECT_THAT(out, HasSubstr("1 packets received"));  // busybox's ping, on a raw socket
}

TEST_F(ContainerTest, HostNetworkLeavesTheHostsPingGroupRangeAlone) {
  std::string path = "/proc/sys/net/ipv4/ping_group_range";
  auto before = read_file(path);
  ASSERT_TRUE(before) << before.error().message;
  auto spec = container_spec({});
  spec.network = "host";
  sh("cat " + path, spec);
  auto after = read_file(path);
  if (after && *after != *before) (void)write_file(path, *before);  // the host's own, back
  EXPECT_EQ(after.value_or(""), *before);
}

TEST_F(ContainerTest, CapDropAllAndUnconfinedSeccompAreHonoured) {
  auto spec = container_spec({});
  spec.container.cap_drop = {"ALL"};
  spec.container.cap_add = {"NET_BIND_SERVICE"};
  spec.container.seccomp = "unconfined";
  auto status = sh("cat /proc/self/status", spec);
  EXPECT_EQ(status_field(status, "CapEff"), "0000000000000400");
  EXPECT_EQ(status_field(status, "Seccomp"), "0");
}

TEST_F(ContainerTest, DefaultSeccompProfileRefusesMountAndUnshare) {
  // Even with CAP_SYS_ADMIN's absence aside, the filter itself refuses: mount needs it.
  auto out = sh("mount -t tmpfs none /mnt 2>&1; echo mount=$?; unshare -n true 2>&1; echo unshare=$?");
  EXPECT_THAT(out, HasSubstr("mount=1"));
  EXPECT_THAT(out, Not(HasSubstr("unshare=0")));
}

TEST_F(ContainerTest, CustomSeccompProfileFromAFile) {
  std::string profile = root_ + "/profile.json";
  ASSERT_TRUE(write_file(profile, R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]})"));
  auto spec = container_spec({});
  spec.container.seccomp = profile;
  auto out = sh("mkdir /tmp/x 2>&1; echo rc=$?", spec);
  EXPECT_THAT(out, HasSubstr("not implemented"));  // ENOSYS (38)
}

// berth's own containers have no seccomp agent to hand a listener to: such a profile is
// refused by name rather than run with notified calls failing.
TEST_F(ContainerTest, ANotifyingSeccompProfileIsRefused) {
  std::string profile = root_ + "/notify.json";
  ASSERT_TRUE(write_file(profile, R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_NOTIFY"}]})"));
  auto spec = container_spec({"true"});
  spec.container.seccomp = profile;
  auto refused = runtime_->create(spec);
  ASSERT_FALSE(refused);
  EXPECT_THAT(refused.error().message, HasSubstr("SCMP_ACT_NOTIFY"));
  EXPECT_THAT(refused.error().message, HasSubstr("notify.json"));
  EXPECT_EQ(shell("ls " + root_ + "/workloads | wc -l"), "0\n");
}

TEST_F(ContainerTest, MaskedAndReadOnlyPaths) {
  // (This kernel has no /proc/kcore or /proc/sysrq-trigger; the paths it has are checked.)
  auto out = sh(
      "cat /proc/keys | wc -c; cat /proc/timer_list | wc -c; ls /sys/firmware | wc -l; "
      "echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || echo sys-ro; "
      "echo 1 > /proc/irq/default_smp_affinity 2>/dev/null || echo irq-ro; "
      "touch /sys/kernel/x 2>/dev/null || echo sysfs-ro");
  EXPECT_THAT(out, HasSubstr("0\n0\n0\n"));
  EXPECT_THAT(out, HasSubstr("sys-ro"));
  EXPECT_THAT(out, HasSubstr("irq-ro"));
  EXPECT_THAT(out, HasSubstr("sysfs-ro"));
}

TEST_F(ContainerTest, OnlyStdioIsOpenInTheWorkload) {
  // A host fd the runtime holds (this one, not close-on-exec) must not reach the container:
  // the CVE-2024-21626 class.
  int leaked = ::open("/", O_RDONLY | O_DIRECTORY);  // deliberately inheritable
  ASSERT_GE(leaked, 0);
  auto spec = container_spec({"sleep", "30"});
  auto h = run(spec);
  ::close(leaked);
  auto status = runtime_->status(h.id);
  ASSERT_TRUE(status && status->pid);
  auto fds = shell("ls /proc/" + std::to_string(*status->pid) + "/fd | sort | tr '\\n' ' '");
  EXPECT_EQ(fds, "0 1 2 ");
  auto cwd = shell("readlink /proc/" + std::to_string(*status->pid) + "/cwd");
  EXPECT_EQ(cwd, "/\n");
}

TEST_F(ContainerTest, NoRuntimeBinaryIsReachableFromInside) {
  // Every process a container can see runs a binary of the image, and no berth binary is
  // open or mapped in any of them (CVE-2019-5736: /proc/PID/exe of the runtime).
  auto spec = container_spec({"sleep", "30"});
  auto h = run(spec);
  auto exec = runtime_->exec(h.id, {"sh", "-c",
                                    "for p in /proc/[0-9]*; do readlink $p/exe; done | sort -u; "
                                    "cat /proc/[0-9]*/maps 2>/dev/null | grep -c berth"});
  ASSERT_TRUE(exec) << exec.error().message;
  EXPECT_THAT(exec->stdout_data, HasSubstr("/bin/busybox"));
  EXPECT_THAT(exec->stdout_data, Not(HasSubstr("berth-shim")));
  EXPECT_THAT(exec->stdout_data, Not(HasSubstr("/berth\n")));
  EXPECT_THAT(exec->stdout_data, HasSubstr("\n0\n"));
}

TEST_F(ContainerTest, UserByNameFromTheImage) {
  auto spec = container_spec({});
  spec.user = "berth";
  auto out = sh("id; echo home=$HOME", spec);
  EXPECT_THAT(out, HasSubstr("uid=1000(berth) gid=1000(berth)"));
  EXPECT_THAT(out, HasSubstr("10(wheel)"));
  EXPECT_THAT(out, HasSubstr("home=/home/berth"));
  // As with Docker: exec as a non-root user clears the effective and permitted sets (no file
  // capabilities, no ambient ones); the bounding set stays Docker's.
  auto status = sh("cat /proc/self/status", spec);
  EXPECT_EQ(status_field(status, "CapEff"), "0000000000000000");
  EXPECT_EQ(status_field(status, "CapBnd"), default_caps);
}

TEST_F(ContainerTest, UnknownUserIsAClearCreateError) {
  auto spec = container_spec({"true"});
  spec.user = "nosuchuser";
  auto h = runtime_->create(spec);
  ASSERT_FALSE(h);
  EXPECT_THAT(h.error().message, HasSubstr("nosuchuser"));
  auto all = runtime_->list({});
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
}

TEST_F(ContainerTest, DevicesOutsideTheAllowListCannotBeOpened) {
  // CAP_MKNOD makes the node (runc allows mknod of any device), the device rules refuse opening it.
  auto out = sh("mknod /tmp/loop b 7 0 && echo made; (cat /tmp/loop > /dev/null) 2>&1; "
                "echo x > /dev/null && echo null-ok");
  EXPECT_THAT(out, HasSubstr("made"));
  EXPECT_THAT(out, HasSubstr("Operation not permitted"));
  EXPECT_THAT(out, HasSubstr("null-ok"));
}

TEST_F(ContainerTest, CpusetPinsTheContainer) {
  auto spec = container_spec({});
  spec.resources.cpuset_cpus = "0";
  EXPECT_EQ(sh("grep Cpus_allowed_list /proc/self/status | cut -f2", spec), "0\n");
}

TEST_F(ContainerTest, ResourceLimitsFromUlimit) {
  auto spec = container_spec({});
  spec.container.rlimits = {{"nofile", 100, 200}};
  auto out = sh("ulimit -n; ulimit -Hn", spec);
  EXPECT_EQ(out, "100\n200\n");
}

TEST_F(ContainerTest, UserNamespaceMapsRootToAnUnprivilegedHostUser) {
  auto spec = container_spec({});
  spec.container.uid_map = {{0, 100000, 65536}};
  auto out = sh("cat /proc/self/uid_map | tr -s ' '; id -u; echo ok > /tmp/w && cat /tmp/w", spec);
  EXPECT_THAT(out, HasSubstr(" 0 100000 65536"));
  EXPECT_THAT(out, HasSubstr("\n0\nok\n"));
  // On the host it is uid 100000, and exec lands in the same user namespace.
  spec.args = {"sleep", "30"};
  auto h = run(spec);
  auto pid = runtime_->status(h.id)->pid;
  ASSERT_TRUE(pid);
  EXPECT_THAT(read_file("/proc/" + std::to_string(*pid) + "/status").value_or(""), HasSubstr("Uid:\t100000"));
  auto exec = runtime_->exec(h.id, {"sh", "-c", "id -u; readlink /proc/self/ns/user"});
  ASSERT_TRUE(exec) << exec.error().message;
  EXPECT_EQ(exec->stdout_data, "0\n" + shell("readlink /proc/" + std::to_string(*pid) + "/ns/user"));
}

}  // namespace
}  // namespace berth::testing
