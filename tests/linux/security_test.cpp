// Capabilities and seccomp filters applied for real in forked children, which report what they
// saw through a pipe (no gtest assertion runs in a child).
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <string>

#include "common/fs.hpp"
#include "linux/capabilities.hpp"
#include "linux/seccomp.hpp"

namespace berth::linux {
namespace {

using ::testing::HasSubstr;

// Runs `body` in a forked child; returns what it wrote to the pipe fd it was given.
std::string in_child(const std::function<void(int)>& body) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    body(fds[1]);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

void say(int fd, const std::string& text) { (void)!::write(fd, text.data(), text.size()); }

std::string status_line(const char* key) {
  auto status = read_file("/proc/self/status").value_or("");
  auto at = status.find(std::string(key) + ":\t");
  if (at == std::string::npos) return "?";
  auto end = status.find('\n', at);
  return status.substr(at, end - at);
}

TEST(Capabilities, NamesRoundTrip) {
  EXPECT_EQ(capability_from_name("CAP_NET_ADMIN"), 12);
  EXPECT_EQ(capability_from_name("net_admin"), 12);
  EXPECT_EQ(capability_name(21), "CAP_SYS_ADMIN");
  EXPECT_FALSE(capability_from_name("CAP_FLY"));
  EXPECT_EQ(default_container_capabilities(), 0xa80405fbULL);
}

TEST(Capabilities, AddDropAndAll) {
  auto base = default_container_capabilities();
  auto dropped = resolve_capabilities(base, {}, {"ALL"});
  ASSERT_TRUE(dropped);
  EXPECT_EQ(*dropped, 0u);
  auto one = resolve_capabilities(base, {"SYS_ADMIN"}, {"ALL"});
  ASSERT_TRUE(one);
  EXPECT_EQ(*one, 1ULL << 21);
  auto minus = resolve_capabilities(base, {}, {"CAP_CHOWN"});
  ASSERT_TRUE(minus);
  EXPECT_EQ(*minus, base & ~1ULL);
  auto bad = resolve_capabilities(base, {"CAP_FLY"}, {});
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message, HasSubstr("cap_add[0]"));
  EXPECT_THAT(bad.error().message, HasSubstr("CAP_FLY"));
}

TEST(Capabilities, AppliedInAChildAsRootAndAsAnotherUser) {
  auto sets = container_capability_sets(default_container_capabilities());
  auto root = in_child([&](int out) {
    if (drop_bounding_capabilities_in_child(sets, last_capability()) != 0) return say(out, "drop failed");
    const char* stage = "";
    if (apply_capabilities_in_child(sets, last_capability(), &stage) != 0) return say(out, stage);
    say(out, status_line("CapEff") + " " + status_line("CapBnd"));
  });
  EXPECT_EQ(root, "CapEff:\t00000000a80405fb CapBnd:\t00000000a80405fb");
  auto user = in_child([&](int out) {
    if (drop_bounding_capabilities_in_child(sets, last_capability()) != 0) return say(out, "drop failed");
    if (keep_capabilities_across_setuid() != 0 || ::setresgid(1000, 1000, 1000) != 0 ||
        ::setresuid(1000, 1000, 1000) != 0)
      return say(out, "setuid failed");
    const char* stage = "";
    if (apply_capabilities_in_child(sets, last_capability(), &stage) != 0) return say(out, stage);
    say(out, status_line("CapEff") + " " + status_line("CapPrm"));
  });
  EXPECT_EQ(user, "CapEff:\t00000000a80405fb CapPrm:\t00000000a80405fb");
}

TEST(Seccomp, DefaultProfileRefusesMountAndNamespacesButNotOrdinaryCalls) {
  auto program = default_seccomp_program(default_container_capabilities());
  ASSERT_TRUE(program) << program.error().message;
  auto seen = in_child([&](int out) {
    if (set_no_new_privileges() != 0 || install_seccomp_in_child(*program) != 0) return say(out, "install failed");
    std::string r = status_line("Seccomp");
    r += ::mount("none", "/mnt", "tmpfs", 0, nullptr) != 0 && errno == EPERM ? " mount-eperm" : " mount-ok";
    r += ::unshare(CLONE_NEWNS) != 0 && errno == EPERM ? " unshare-eperm" : " unshare-ok";
    r += ::getpid() > 0 ? " getpid-ok" : " getpid-bad";
    pid_t child = ::fork();  // clone without namespace flags stays allowed
    if (child == 0) ::_exit(0);
    r += child > 0 ? " fork-ok" : " fork-bad";
    if (child > 0) ::waitpid(child, nullptr, 0);
    say(out, r);
  });
  EXPECT_EQ(seen, "Seccomp:\t2 mount-eperm unshare-eperm getpid-ok fork-ok");
}

TEST(Seccomp, CapSysAdminOpensTheNamespaceCalls) {
  auto program = default_seccomp_program(default_container_capabilities() | (1ULL << 21));
  ASSERT_TRUE(program);
  auto seen = in_child([&](int out) {
    if (set_no_new_privileges() != 0 || install_seccomp_in_child(*program) != 0) return say(out, "install failed");
    say(out, ::unshare(CLONE_NEWUTS) == 0 ? "unshare-ok" : "unshare-refused");
  });
  EXPECT_EQ(seen, "unshare-ok");
}

TEST(Seccomp, CustomProfileWithErrnoAndArgumentFilters) {
  auto program = compile_seccomp_profile(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
      {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
      {"names":["personality"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
      {"names":["no_such_syscall_anywhere"],"action":"SCMP_ACT_ERRNO"}]})",
                                         0, "test");
  ASSERT_TRUE(program) << program.error().message;
  auto seen = in_child([&](int out) {
    if (set_no_new_privileges() != 0 || install_seccomp_in_child(*program) != 0) return say(out, "install failed");
    char buf[256];
    std::string r = ::getcwd(buf, sizeof buf) == nullptr && errno == ENOSYS ? "getcwd-enosys" : "getcwd-ok";
    r += ::personality(8) == -1 && errno == EPERM ? " pers8-eperm" : " pers8-ok";
    r += ::personality(0xffffffff) != -1 ? " query-ok" : " query-refused";
    say(out, r);
  });
  EXPECT_EQ(seen, "getcwd-enosys pers8-eperm query-ok");
}

TEST(Seccomp, BadProfilesNameWhereTheyAreWrong) {
  auto expect = [](std::string_view json, std::string_view needle) {
    auto p = compile_seccomp_profile(json, 0, "bad.json");
    ASSERT_FALSE(p) << json;
    EXPECT_THAT(p.error().message, HasSubstr(std::string(needle)));
    EXPECT_THAT(p.error().message, HasSubstr("bad.json"));
  };
  expect("{not json", "not a JSON object");
  expect(R"({"syscalls":[]})", "defaultAction");
  expect(R"({"defaultAction":"SCMP_ACT_EXPLODE"})", "SCMP_ACT_EXPLODE");
  expect(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_FOO"}]})",
         "syscalls[0].action");
  expect(R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"op":"SCMP_CMP_ALMOST"}]}]})",
         "syscalls[0].args[0].op");
  expect(R"({"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_VAX"]})", "SCMP_ARCH_VAX");
  expect(R"({"defaultAction":"SCMP_ACT_ALLOW","flagz":[]})", "flagz");
}

// SCMP_ACT_NOTIFY compiles into a filter loaded with a listener (for a seccomp agent); a
// profile without it gets none, and the flag survives the cache.
TEST(Seccomp, ANotifyingProfileAsksForAListener) {
  auto notifying = compile_seccomp_profile(
      R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]})", 0, "n.json");
  ASSERT_TRUE(notifying) << notifying.error().message;
  EXPECT_TRUE(needs_seccomp_agent(*notifying));
  auto plain = compile_seccomp_profile(
      R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]})", 0, "p.json");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(needs_seccomp_agent(*plain));
  char tmpl[] = "/tmp/berth-seccomp-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  std::string text = R"({"defaultAction":"SCMP_ACT_NOTIFY","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]})";
  auto first = cached_seccomp_program(text, 0, "c.json", dir);
  auto second = cached_seccomp_program(text, 0, "c.json", dir);
  ASSERT_TRUE(first && second);
  EXPECT_TRUE(needs_seccomp_agent(*first));
  EXPECT_TRUE(needs_seccomp_agent(*second)) << "read back from the cache";
  (void)remove_tree(dir);
}

TEST(Seccomp, CachedProgramsMatchFreshOnes) {
  char tmpl[] = "/tmp/berth-seccomp-XXXXXX";
  std::string dir = ::mkdtemp(tmpl);
  auto fresh = default_seccomp_program(default_container_capabilities());
  auto first = cached_seccomp_program(default_seccomp_profile_json(), default_container_capabilities(), "default", dir);
  auto second = cached_seccomp_program(default_seccomp_profile_json(), default_container_capabilities(), "default", dir);
  ASSERT_TRUE(fresh && first && second);
  EXPECT_EQ(second->instructions.size(), fresh->instructions.size());
  EXPECT_EQ(std::memcmp(second->instructions.data(), fresh->instructions.data(),
                        fresh->instructions.size() * sizeof(sock_filter)), 0);
  (void)remove_tree(dir);
}

}  // namespace
}  // namespace berth::linux
