// run --detach, exec --preserve-fds and the session keyring (--no-new-keyring), as runc has them.
#include <chrono>
#include <thread>

#include "oci/oci_fixture.hpp"

namespace berth::testing {
namespace {

using OciRunOptions = OciTest;

TEST_F(OciRunOptions, RunDetachReturnsWithTheContainerRunning) {
  set_args({"sleep", "1000"});
  write_config();
  ids_.push_back("detached");
  auto begin = std::chrono::steady_clock::now();
  auto r = oci({"run", "-d", "--bundle", bundle_, "detached"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - begin, std::chrono::seconds(10));
  EXPECT_EQ(status("detached"), "running");
  int pid = state("detached")["pid"];
  for (int i = 0; i < 200 && read_file("/proc/" + std::to_string(pid) + "/comm").value_or("") != "sleep\n"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(read_file("/proc/" + std::to_string(pid) + "/comm").value_or(""), "sleep\n");
  EXPECT_EQ(oci({"kill", "detached", "KILL"}).code, 0);
}

TEST_F(OciRunOptions, ExecPreserveFdsPassesThemOn) {
  set_args({"sleep", "1000"});
  ASSERT_EQ(create("fds").code, 0);
  ASSERT_EQ(oci({"start", "fds"}).code, 0);
  ASSERT_TRUE(write_file(dir_ + "/three", "from fd 3\n"));
  ASSERT_TRUE(write_file(dir_ + "/four", "from fd 4\n"));
  std::string exec = std::string(BERTH_OCI_PATH) + " --root " + root_ + " exec ";
  auto passed = run_program({"/bin/sh", "-c", "exec 3<" + dir_ + "/three 4<" + dir_ + "/four; " + exec +
                                                  "--preserve-fds 2 fds sh -c 'cat <&3; cat <&4'"});
  EXPECT_EQ(passed.code, 0) << passed.err;
  EXPECT_EQ(passed.out, "from fd 3\nfrom fd 4\n");
  // Only as many as asked for; none without the flag.
  auto one = run_program({"/bin/sh", "-c", "exec 3<" + dir_ + "/three 4<" + dir_ + "/four; " + exec +
                                               "--preserve-fds=1 fds sh -c 'cat <&3; cat <&4'"});
  EXPECT_NE(one.code, 0);
  EXPECT_EQ(one.out, "from fd 3\n");
  auto none = run_program({"/bin/sh", "-c", "exec 3<" + dir_ + "/three; " + exec + "fds sh -c 'cat <&3'"});
  EXPECT_NE(none.code, 0);
  EXPECT_EQ(none.out, "");
  auto bad = oci({"exec", "--preserve-fds", "x", "fds", "true"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("--preserve-fds"), std::string::npos) << bad.err;
}

// The init's session keyring is not reachable from the host's /proc/<pid>, but /proc/keys lists
// every keyring root may view: a new session keyring is named after the container id (runc's
// behaviour); with --no-new-keyring there is none, the container keeps the caller's.
bool keyring_named(const std::string& name) {
  auto keys = read_file("/proc/keys").value_or("");
  return keys.find(" keyring   " + name + ":") != std::string::npos ||
         keys.find(" keyring " + name + ":") != std::string::npos;
}

TEST_F(OciRunOptions, TheInitJoinsANewSessionKeyringUnlessNoNewKeyring) {
  if (!path_exists("/proc/keys")) GTEST_SKIP() << "no /proc/keys (kernel without keyrings)";
  set_args({"sleep", "1000"});
  std::string id = "keyring-" + std::to_string(::getpid());
  ASSERT_FALSE(keyring_named(id));
  ASSERT_EQ(create(id).code, 0);
  ASSERT_EQ(oci({"start", id}).code, 0);
  EXPECT_TRUE(keyring_named(id)) << read_file("/proc/keys").value_or("");

  std::string kept = "kept-" + std::to_string(::getpid());
  auto r = create(kept, {"--no-new-keyring"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(keyring_named(kept));
}

}  // namespace
}  // namespace berth::testing
