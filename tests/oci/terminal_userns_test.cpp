// A terminal through --console-socket (the pty master passed with SCM_RIGHTS, as runc's
// recvtty and conmon expect it) and a user namespace from uidMappings/gidMappings.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "linux/unix_socket.hpp"
#include "oci/oci_fixture.hpp"

namespace berth::testing {
namespace {

using OciTerminal = OciTest;

TEST_F(OciTerminal, TheConsoleSocketGetsThePtyMaster) {
  std::string path = dir_ + "/console.sock";
  UniqueFd listener = listen_console_socket(path);
  ASSERT_TRUE(listener);

  config_["process"]["terminal"] = true;
  set_args({"sh", "-c", "test -t 0 && test -t 1 && echo on-a-tty $(tty)"});
  auto created = create("tty", {"--console-socket", path});
  ASSERT_EQ(created.code, 0) << created.err;
  auto received = accept_pty(listener.get());
  ASSERT_TRUE(received) << received.error().message;
  UniqueFd pty = std::move(*received);
  ASSERT_EQ(oci({"start", "tty"}).code, 0);
  std::string out = read_pty_line(pty.get());
  EXPECT_NE(out.find("on-a-tty /dev/pts/0"), std::string::npos) << out;
}


// As runc: the terminal is also /dev/console (same device), owned by the process's user, and
// process.consoleSize is its size from the start.
constexpr const char* console_probe =
    "echo size=$(stty size) tty=$(stat -c %t:%T $(tty)) console=$(stat -c %t:%T /dev/console) "
    "owner=$(stat -c %u /dev/console); echo through-console > /dev/console";

TEST_F(OciTerminal, TheTerminalIsTheConsoleAndHasTheConfiguredSize) {
  std::string path = dir_ + "/console.sock";
  UniqueFd listener = listen_console_socket(path);
  ASSERT_TRUE(listener);
  config_["process"]["terminal"] = true;
  config_["process"]["consoleSize"] = {{"height", 33}, {"width", 111}};
  config_["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
  set_args({"sh", "-c", console_probe});
  auto created = create("console", {"--console-socket", path});
  ASSERT_EQ(created.code, 0) << created.err;
  auto received = accept_pty(listener.get());
  ASSERT_TRUE(received) << received.error().message;
  UniqueFd pty = std::move(*received);
  ASSERT_EQ(oci({"start", "console"}).code, 0);
  std::string out = read_pty_until(pty.get(), "through-console");
  EXPECT_NE(out.find("size=33 111"), std::string::npos) << out;
  auto tty = out.find("tty="), console = out.find("console=");
  ASSERT_NE(tty, std::string::npos) << out;
  ASSERT_NE(console, std::string::npos) << out;
  EXPECT_EQ(out.substr(tty + 4, out.find(' ', tty) - tty - 4), out.substr(console + 8, out.find(' ', console) - console - 8))
      << "/dev/console is the terminal: " << out;
  EXPECT_NE(out.find("owner=1000"), std::string::npos) << out;
  EXPECT_NE(out.find("through-console"), std::string::npos) << out;
}

TEST_F(OciTerminal, UnderAUserNamespaceTheConsoleIsOwnedByTheMappedUser) {
  std::string path = dir_ + "/console.sock";
  UniqueFd listener = listen_console_socket(path);
  ASSERT_TRUE(listener);
  config_["linux"]["namespaces"].push_back({{"type", "user"}});
  config_["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  config_["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  config_["process"]["terminal"] = true;
  config_["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
  set_args({"sh", "-c", console_probe});
  auto created = create("usercons", {"--console-socket", path});
  ASSERT_EQ(created.code, 0) << created.err;
  auto received = accept_pty(listener.get());
  ASSERT_TRUE(received) << received.error().message;
  UniqueFd pty = std::move(*received);
  ASSERT_EQ(oci({"start", "usercons"}).code, 0);
  std::string out = read_pty_until(pty.get(), "through-console");
  EXPECT_NE(out.find("owner=1000"), std::string::npos) << "uid 1000 inside is host uid 201000: " << out;
  EXPECT_NE(out.find("through-console"), std::string::npos) << out;
}

TEST_F(OciTerminal, ABadConsoleSizeIsOneClearError) {
  config_["process"]["terminal"] = true;
  config_["process"]["consoleSize"] = {{"height", 70000}, {"width", 80}};
  auto r = create("badsize", {"--console-socket", dir_ + "/none.sock"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("process.consoleSize"), std::string::npos) << r.err;
  EXPECT_FALSE(path_exists(root_ + "/badsize"));
}

TEST_F(OciTerminal, ATerminalWithoutAConsoleSocketIsRefused) {
  config_["process"]["terminal"] = true;
  auto r = create("notty");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("process.terminal"), std::string::npos) << r.err;
}

using OciUserNamespace = OciTest;

TEST_F(OciUserNamespace, RootInsideIsAMappedHostUid) {
  config_["linux"]["namespaces"].push_back({{"type", "user"}});
  config_["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  config_["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  set_args({"sh", "-c", "echo id=$(id -u); cat /proc/self/uid_map"});
  auto r = run("userns");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("id=0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("200000"), std::string::npos) << r.out;
}

// Joining by path (as a pod's containers join its sandbox's): the same mappings, no new ones.
TEST_F(OciUserNamespace, JoinsAUserNamespaceByPath) {
  config_["linux"]["namespaces"].push_back({{"type", "user"}});
  config_["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 300000}, {"size", 65536}}};
  config_["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 300000}, {"size", 65536}}};
  set_args({"sleep", "1000"});
  ASSERT_EQ(create("owner").code, 0);
  int owner = state("owner")["pid"];

  for (auto& ns : config_["linux"]["namespaces"])
    if (ns["type"] == "user") ns["path"] = "/proc/" + std::to_string(owner) + "/ns/user";
  config_["linux"].erase("uidMappings");
  config_["linux"].erase("gidMappings");
  set_args({"sh", "-c", "echo id=$(id -u); cat /proc/self/uid_map; readlink /proc/self/ns/user"});
  auto r = run("joiner");
  ASSERT_EQ(r.code, 0) << r.err;
  char link[64] = {};
  ASSERT_GT(::readlink(("/proc/" + std::to_string(owner) + "/ns/user").c_str(), link, sizeof link - 1), 0);
  EXPECT_NE(r.out.find("id=0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("300000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(link), std::string::npos) << r.out;

  // Mappings next to a path are refused, naming the field.
  config_["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 300000}, {"size", 1}}};
  config_["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 300000}, {"size", 1}}};
  auto refused = run("both");
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.err.find("linux.uidMappings"), std::string::npos) << refused.err;
}

}  // namespace
}  // namespace berth::testing
