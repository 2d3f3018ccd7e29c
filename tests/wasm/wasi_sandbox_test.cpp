// Escapes from a preopened directory that must fail, with the kernel's openat2 RESOLVE_BENEATH
// and with the component walk berth falls back to (forced here with PathStrategy::walk).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wasi_fixture.hpp"

namespace berth::wasm::wasi::testing {
namespace {

class WasiSandboxTest : public ::testing::TestWithParam<PathStrategy>, public WasiFixture {
 protected:
  void SetUp() override {
    start(GetParam());
    // A file and a directory beside the sandbox, which must stay out of reach.
    outside = root + "-outside";
    ASSERT_TRUE(make_dirs(outside).has_value());
    ASSERT_TRUE(write_file(outside + "/secret", "secret").has_value());
    outside_name = outside.substr(outside.rfind('/') + 1);
    ASSERT_TRUE(make_dirs(host_path("sub/deeper")).has_value());
    ASSERT_TRUE(write_file(host_path("inside"), "inside").has_value());
  }
  void TearDown() override {
    (void)remove_tree(outside);
    stop();
  }
  int stat_path(std::string_view path, std::uint32_t lookup = lookup_symlink_follow) {
    auto [p, n] = str(path);
    return call("path_filestat_get", {I32(sandbox_fd), I32(lookup), p, n, I32(256)});
  }
  void host_symlink(const std::string& target, const std::string& link) {
    ASSERT_EQ(::symlink(target.c_str(), host_path(link).c_str()), 0) << link;
  }

  std::string outside;
  std::string outside_name;
};

TEST_P(WasiSandboxTest, DotDotCannotLeave) {
  EXPECT_EQ(open("../" + outside_name + "/secret"), E(Errno::perm));
  EXPECT_EQ(open("sub/../../" + outside_name + "/secret"), E(Errno::perm));
  EXPECT_EQ(open("sub/deeper/../../../" + outside_name + "/secret"), E(Errno::perm));
  EXPECT_EQ(open(".."), E(Errno::perm));
  EXPECT_EQ(stat_path(".."), E(Errno::perm));
  EXPECT_EQ(stat_path("sub/../.."), E(Errno::perm));
  // Going up and back down inside is fine.
  open_ok("sub/deeper/../../inside");
  EXPECT_EQ(stat_path("sub/.."), 0);
}

TEST_P(WasiSandboxTest, AbsolutePathsAreRefused) {
  EXPECT_EQ(open("/etc/passwd"), E(Errno::perm));
  EXPECT_EQ(open("/"), E(Errno::perm));
  EXPECT_EQ(open(outside + "/secret"), E(Errno::perm));
  EXPECT_EQ(stat_path("/etc"), E(Errno::perm));
  auto [p, n] = str("/tmp/berth-wasi-should-not-exist");
  EXPECT_EQ(call("path_create_directory", {I32(sandbox_fd), p, n}), E(Errno::perm));
  EXPECT_FALSE(path_exists("/tmp/berth-wasi-should-not-exist"));
}

TEST_P(WasiSandboxTest, SymlinkToRootDoesNotLeadOut) {
  host_symlink("/", "root");
  EXPECT_EQ(open("root/etc/passwd"), E(Errno::perm));
  EXPECT_EQ(open("root", oflag::directory), E(Errno::perm));
  EXPECT_EQ(stat_path("root/etc"), E(Errno::perm));
  EXPECT_EQ(stat_path("root"), E(Errno::perm));
  EXPECT_EQ(stat_path("root", 0), 0);  // the link itself is inside
  host_symlink(outside, "out");
  EXPECT_EQ(open("out/secret"), E(Errno::perm));
  EXPECT_EQ(open("out/"), E(Errno::perm));
  auto [p, n] = str("out/planted");
  EXPECT_EQ(call("path_create_directory", {I32(sandbox_fd), p, n}), E(Errno::perm));
  EXPECT_FALSE(path_exists(outside + "/planted"));
}

TEST_P(WasiSandboxTest, GuestMadeSymlinksAreStoredButNotFollowedOut) {
  auto [target, tl] = str("/etc");
  auto [link, ll] = str("etc");
  ASSERT_EQ(call("path_symlink", {target, tl, I32(sandbox_fd), link, ll}), 0);
  ASSERT_EQ(call("path_readlink", {I32(sandbox_fd), link, ll, I32(buffer), I32(64), I32(result)}), 0);
  EXPECT_EQ(bytes_at(buffer, load<std::uint32_t>(result)), "/etc");  // stored as given
  EXPECT_EQ(open("etc/passwd"), E(Errno::perm));
  EXPECT_EQ(stat_path("etc"), E(Errno::perm));
  auto [up, ul] = str("../" + outside_name);
  auto [uplink, upl] = str("up");
  ASSERT_EQ(call("path_symlink", {up, ul, I32(sandbox_fd), uplink, upl}), 0);
  EXPECT_EQ(open("up/secret"), E(Errno::perm));
  // Creating a file through a dangling link that points outside fails and creates nothing.
  auto [dangling, dl] = str(outside + "/created");
  auto [evil, el] = str("evil");
  ASSERT_EQ(call("path_symlink", {dangling, dl, I32(sandbox_fd), evil, el}), 0);
  EXPECT_EQ(open("evil", oflag::creat), E(Errno::perm));
  EXPECT_FALSE(path_exists(outside + "/created"));
  // ... and the link is not followed by calls that act on links themselves.
  auto [moved, ml] = str("moved");
  EXPECT_EQ(call("path_rename", {I32(sandbox_fd), evil, el, I32(sandbox_fd), moved, ml}), 0);
  EXPECT_EQ(call("path_unlink_file", {I32(sandbox_fd), moved, ml}), 0);
  EXPECT_TRUE(path_exists(outside + "/secret"));
}

TEST_P(WasiSandboxTest, SymlinkChainsThatEscapeAreCaught) {
  // c1 -> sub/c2 -> ../c3 -> ../<outside>: every hop is relative, the last leaves.
  host_symlink("sub/c2", "c1");
  host_symlink("../c3", "sub/c2");
  host_symlink("../" + outside_name, "c3");
  EXPECT_EQ(open("c1/secret"), E(Errno::perm));
  EXPECT_EQ(stat_path("c1"), E(Errno::perm));
  // A chain that stays inside works.
  host_symlink("sub/i2", "i1");
  host_symlink("../inside", "sub/i2");
  std::uint32_t fd = open_ok("i1");
  ASSERT_EQ(read(fd, 6), 0);
  EXPECT_EQ(bytes_at(buffer, 6), "inside");
  // Loops end with ELOOP.
  host_symlink("loop2", "loop1");
  host_symlink("loop1", "loop2");
  EXPECT_EQ(open("loop1"), E(Errno::loop));
  EXPECT_EQ(stat_path("loop1/x"), E(Errno::loop));
}

TEST_P(WasiSandboxTest, ProcSelfRootIsNotAWayOut) {
  host_symlink("/proc/self/root", "proc-root");
  EXPECT_EQ(open("proc-root/etc/passwd"), E(Errno::perm));
  auto [target, tl] = str("/proc/self/root");
  auto [link, ll] = str("guest-proc");
  ASSERT_EQ(call("path_symlink", {target, tl, I32(sandbox_fd), link, ll}), 0);
  EXPECT_EQ(open("guest-proc/etc/passwd"), E(Errno::perm));
  host_symlink("../../../../../../../../proc/self/root", "relative-proc");
  EXPECT_EQ(open("relative-proc/etc/passwd"), E(Errno::perm));
}

TEST_P(WasiSandboxTest, MagicLinksStayClosedEvenUnderAPreopenedProc) {
  stop();
  WasiConfig config;
  config.preopens.push_back({"/proc", "/proc"});
  start(GetParam(), std::move(config));
  const std::uint32_t proc_fd = 4;
  for (const char* path : {"self/root/etc/passwd", "self/root", "self/cwd", "self/exe",
                           "self/fd/0", "thread-self/root/etc"}) {
    int rc = open(path, 0, right::fd_read, 0, lookup_symlink_follow, proc_fd);
    EXPECT_NE(rc, 0) << path;
    EXPECT_NE(rc, -1) << path;
  }
}

TEST_P(WasiSandboxTest, EveryPathCallIsConfined) {
  std::string escape = "../" + outside_name + "/secret";
  auto [e, el] = str(escape);
  auto [in, il] = str("inside");
  auto [d, dl] = str("../" + outside_name + "/newdir");
  EXPECT_EQ(call("path_unlink_file", {I32(sandbox_fd), e, el}), E(Errno::perm));
  EXPECT_EQ(call("path_create_directory", {I32(sandbox_fd), d, dl}), E(Errno::perm));
  EXPECT_EQ(call("path_remove_directory", {I32(sandbox_fd), d, dl}), E(Errno::perm));
  EXPECT_EQ(call("path_rename", {I32(sandbox_fd), e, el, I32(sandbox_fd), in, il}), E(Errno::perm));
  EXPECT_EQ(call("path_rename", {I32(sandbox_fd), in, il, I32(sandbox_fd), e, el}), E(Errno::perm));
  EXPECT_EQ(call("path_link", {I32(sandbox_fd), I32(0), e, el, I32(sandbox_fd), in, il}), E(Errno::perm));
  EXPECT_EQ(call("path_link", {I32(sandbox_fd), I32(0), in, il, I32(sandbox_fd), e, el}), E(Errno::perm));
  EXPECT_EQ(call("path_symlink", {in, il, I32(sandbox_fd), e, el}), E(Errno::perm));
  EXPECT_EQ(call("path_readlink", {I32(sandbox_fd), e, el, I32(buffer), I32(64), I32(result)}), E(Errno::perm));
  EXPECT_EQ(call("path_filestat_set_times",
                 {I32(sandbox_fd), I32(0), e, el, I64(0), I64(0), I32(fstflag::mtim_now)}), E(Errno::perm));
  EXPECT_EQ(read_file(outside + "/secret").value_or(""), "secret");
  EXPECT_TRUE(path_exists(host_path("inside")));
  EXPECT_FALSE(path_exists(outside + "/newdir"));
  // Paths with NUL bytes never reach the kernel.
  EXPECT_EQ(open(std::string("inside\0/../..", 13)), E(Errno::inval));
  EXPECT_EQ(open(""), E(Errno::noent));
}

TEST_P(WasiSandboxTest, SubdirectoryDescriptorsAreTheirOwnBoundary) {
  std::uint32_t sub = 0;
  {
    auto [p, n] = str("sub");
    ASSERT_EQ(call("path_open", {I32(sandbox_fd), I32(0), p, n, I32(oflag::directory),
                                 I64(right::directory_base), I64(right::all), I32(0), I32(result)}), 0);
    sub = load<std::uint32_t>(result);
  }
  // Beneath means beneath the descriptor used, not beneath the preopen.
  EXPECT_EQ(open("../inside", 0, right::fd_read, 0, lookup_symlink_follow, sub), E(Errno::perm));
  EXPECT_EQ(open("deeper/../../inside", 0, right::fd_read, 0, lookup_symlink_follow, sub), E(Errno::perm));
  ASSERT_TRUE(write_file(host_path("sub/here"), "here").has_value());
  EXPECT_EQ(open("deeper/../here", 0, right::fd_read, 0, lookup_symlink_follow, sub), 0);
}

INSTANTIATE_TEST_SUITE_P(Strategies, WasiSandboxTest,
                         ::testing::Values(PathStrategy::automatic, PathStrategy::walk),
                         [](const auto& info) {
                           return info.param == PathStrategy::walk ? std::string("walk")
                                                                   : std::string("openat2");
                         });

TEST(WasiSandbox, KernelHasOpenat2Here) {
  // The automatic strategy is only a different path from the walk where openat2 exists; say so
  // when it doesn't, rather than pass twice over the same code.
  WasiFixture fixture;
  fixture.start(PathStrategy::automatic);
  (void)fixture.open("anything");
  EXPECT_TRUE(openat2_available()) << "this kernel lacks openat2: only the walk was tested";
  fixture.stop();
}

}  // namespace
}  // namespace berth::wasm::wasi::testing
