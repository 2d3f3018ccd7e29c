// What a process sees from inside a container: its own pid 1, hostname, network, mounts and
// nothing of the host's processes.
#include <gmock/gmock.h>

#include "container/container_fixture.hpp"

namespace berth::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(ContainerTest, RunsTheImageCommandAsPidOneWithItsOwnHostname) {
  auto out = sh("echo pid=$$; hostname; cat /etc/hostname; cat /etc/berth-image",
                container_spec({}, "box1"));
  EXPECT_THAT(out, HasSubstr("pid=1\n"));
  EXPECT_THAT(out, HasSubstr("box1\nbox1\n"));
  EXPECT_THAT(out, HasSubstr("busybox test image"));
}

TEST_F(ContainerTest, SeesNoHostProcess) {
  // Only the shell, ls and grep: the shim, the test and everything else on the host is hidden.
  // (grep may not have been forked yet when ls reads /proc: 2 or 3, never more.)
  auto out = sh("ls /proc | grep -c '^[0-9]'");
  EXPECT_TRUE(out == "2\n" || out == "3\n") << out;
}

TEST_F(ContainerTest, PrivateNetworkHasOnlyLoopbackUp) {
  auto out = sh("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; ip link show lo | head -1");
  EXPECT_THAT(out, HasSubstr("lo\n"));
  EXPECT_THAT(out, Not(HasSubstr("eth")));
  EXPECT_THAT(out, HasSubstr("UP"));
}

TEST_F(ContainerTest, HostNetworkSharesTheHostsInterfaces) {
  auto spec = container_spec({});
  spec.network = "host";
  auto inside = sh("readlink /proc/self/ns/net", spec);
  auto outside = shell("readlink /proc/self/ns/net");
  EXPECT_EQ(inside, outside);
}

TEST_F(ContainerTest, HasTheStandardDevicesAndFilesystems) {
  auto out = sh(
      "ls /dev | sort | tr '\\n' ' '; echo; "
      "echo hi > /dev/null && head -c 4 /dev/zero | wc -c && head -c 8 /dev/urandom | wc -c; "
      "grep -E ' /(proc|sys|dev|dev/pts|dev/shm|dev/mqueue) ' /proc/self/mounts | cut -d' ' -f2,3,4 | cut -d, -f1");
  for (auto dev : {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "ptmx", "fd",
                   "stdin", "stdout", "stderr"})
    EXPECT_THAT(out, HasSubstr(std::string(dev) + " ")) << dev;
  EXPECT_THAT(out, HasSubstr("4\n8\n"));
  EXPECT_THAT(out, HasSubstr("/proc proc rw"));
  EXPECT_THAT(out, HasSubstr("/sys sysfs ro"));
  EXPECT_THAT(out, HasSubstr("/dev tmpfs rw"));
  EXPECT_THAT(out, HasSubstr("/dev/pts devpts rw"));
  EXPECT_THAT(out, HasSubstr("/dev/shm tmpfs rw"));
  EXPECT_THAT(out, HasSubstr("/dev/mqueue mqueue rw"));
}

TEST_F(ContainerTest, ProvidesHostsAndResolvConf) {
  auto out = sh("cat /etc/hosts; test -f /etc/resolv.conf && echo resolv-ok", container_spec({}, "web"));
  EXPECT_THAT(out, HasSubstr("localhost"));
  EXPECT_THAT(out, HasSubstr("web"));
  EXPECT_THAT(out, HasSubstr("resolv-ok"));
}

TEST_F(ContainerTest, CannotSeeTheHostFilesystem) {
  // The host's root went with pivot_root: nothing of the state root or /work is reachable.
  auto out = sh("ls / | tr '\\n' ' '; test -e " + root_ + " && echo LEAK; grep -c . /proc/self/mountinfo");
  EXPECT_THAT(out, Not(HasSubstr("LEAK")));
  EXPECT_THAT(out, HasSubstr("bin "));
}

}  // namespace
}  // namespace berth::testing
