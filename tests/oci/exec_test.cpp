// berth-oci exec through the real binary: a new process in a running container's namespaces and
// cgroup with its privileges, the flags and --process over config.json's process, --detach with
// --pid-file, a terminal through --console-socket, and the errors (a container not running).
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <thread>

#include "linux/unix_socket.hpp"
#include "oci/oci_fixture.hpp"

namespace berth::testing {
namespace {

class OciExec : public OciTest {
 protected:
  // A running container whose init sleeps, on hostname "exec-host".
  void start_sleeper(const std::string& id) {
    config_["hostname"] = "exec-host";
    set_args({"sleep", "1000"});
    auto created = create(id);
    ASSERT_EQ(created.code, 0) << created.err;
    auto started = oci({"start", id});
    ASSERT_EQ(started.code, 0) << started.err;
  }
  // Runs `berth-oci exec` with `args` and --console-socket on a fresh socket in dir_: the pty
  // master it sends, and its first line of output.
  struct Console {
    std::string first_line;
    Ran finished;
  };
  Console exec_with_console(std::vector<std::string> args) {
    Console c;
    std::string path = dir_ + "/console.sock";
    ::unlink(path.c_str());
    UniqueFd listener = listen_console_socket(path);
    EXPECT_TRUE(listener);
    std::vector<std::string> full{BERTH_OCI_PATH, "--root", root_, "exec", "--console-socket", path};
    full.insert(full.end(), args.begin(), args.end());
    Program running(full);
    // Held until the process has finished: closing the master hangs its terminal up (SIGHUP).
    UniqueFd pty;
    pollfd ready{listener.get(), POLLIN, 0};
    if (::poll(&ready, 1, 10000) == 1) {
      auto received = accept_pty(listener.get());
      EXPECT_TRUE(received) << received.error().message;
      if (received) {
        pty = std::move(*received);
        c.first_line = read_pty_line(pty.get());
      }
    } else {
      ADD_FAILURE() << "no pty on the console socket";
    }
    c.finished = running.finish();
    return c;
  }
  Ran exec(const std::vector<std::string>& args) {
    std::vector<std::string> full{"exec"};
    full.insert(full.end(), args.begin(), args.end());
    return oci(full);
  }
};

TEST_F(OciExec, JoinsTheContainersNamespacesAndPassesTheExitCodeThrough) {
  ASSERT_NO_FATAL_FAILURE(start_sleeper("box"));
  auto r = exec({"box", "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline; echo; hostname; echo err >&2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "sleep 1000 \nexec-host\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(exec({"box", "sh", "-c", "exit 7"}).code, 7);
  auto missing = exec({"box", "/no/such/program"});
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("/no/such/program"), std::string::npos) << missing.err;
  EXPECT_EQ(status("box"), "running");
}

TEST_F(OciExec, GetsTheInitsCapabilitiesAndNoNewPrivs) {
  ASSERT_NO_FATAL_FAILURE(start_sleeper("privs"));
  auto r = exec({"privs", "sh", "-c",
                 "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/1/status; echo --; "
                 "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' /proc/self/status"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto split = r.out.find("--\n");
  ASSERT_NE(split, std::string::npos) << r.out;
  EXPECT_EQ(r.out.substr(0, split), r.out.substr(split + 3)) << r.out;
  EXPECT_NE(r.out.find("NoNewPrivs:\t1"), std::string::npos) << r.out;
  // --cap adds to the bounding, effective and permitted sets.
  auto added = exec({"--cap", "CAP_SYS_ADMIN", "privs", "grep", "^CapBnd:", "/proc/self/status"});
  ASSERT_EQ(added.code, 0) << added.err;
  auto plain = exec({"privs", "grep", "^CapBnd:", "/proc/self/status"});
  EXPECT_NE(added.out, plain.out);
}

// Podman's configs: a seccomp profile, no noNewPrivileges, a reduced capability set. The exec'd
// process gets the filter too, loaded while it still may.
TEST_F(OciExec, GetsTheSeccompFilterWithoutNoNewPrivs) {
  config_["process"]["noNewPrivileges"] = false;
  config_["linux"]["seccomp"] = {
      {"defaultAction", "SCMP_ACT_ALLOW"},
      {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}}}};
  ASSERT_NO_FATAL_FAILURE(start_sleeper("filtered"));
  auto r = exec({"filtered", "sh", "-c", "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; mkdir /tmp/d; echo rc=$?"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("NoNewPrivs:\t0\nSeccomp:\t2\nrc=1"), std::string::npos) << r.out;
}

TEST_F(OciExec, ForegroundExecForwardsSignalsToTheProcess) {
  ASSERT_NO_FATAL_FAILURE(start_sleeper("sig"));
  std::string pid_file = dir_ + "/exec.pid";
  Program running({BERTH_OCI_PATH, "--root", root_, "exec", "--pid-file", pid_file, "sig", "sh", "-c",
                   "trap 'echo got TERM; exit 9' TERM; echo ready; sleep 1000 & wait"});
  for (int i = 0; i < 500 && !path_exists(pid_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(path_exists(pid_file));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ::kill(running.pid(), SIGTERM);
  auto r = running.finish();
  EXPECT_EQ(r.code, 9) << r.err;
  EXPECT_EQ(r.out, "ready\ngot TERM\n");
}

TEST_F(OciExec, EnvCwdAndUserFlagsApply) {
  ASSERT_NO_FATAL_FAILURE(start_sleeper("flags"));
  auto r = exec({"--env", "FOO=bar", "-e", "BAZ=qux", "--cwd", "/tmp", "--user", "1000:1000", "flags", "sh", "-c",
                 "echo $FOO $BAZ $(pwd) $(id -u):$(id -g) $HOME"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "bar qux /tmp 1000:1000 /home/berth\n");
  // The config's environment is the base: PATH comes from it, --env replaces a key.
  auto path = exec({"-e", "PATH=/bin", "flags", "sh", "-c", "echo $PATH"});
  EXPECT_EQ(path.out, "/bin\n") << path.err;
  auto bad_env = exec({"-e", "NOEQUALS", "flags", "true"});
  EXPECT_NE(bad_env.code, 0);
  EXPECT_NE(bad_env.err.find("NOEQUALS"), std::string::npos) << bad_env.err;
}

TEST_F(OciExec, AProcessFileGivesTheWholeProcess) {
  ASSERT_NO_FATAL_FAILURE(start_sleeper("pfile"));
  nlohmann::json process = {{"terminal", false},
                            {"args", {"sh", "-c", "echo $X $(pwd) $(id -u):$(id -g) $(umask)"}},
                            {"env", {"PATH=/bin", "X=from-file"}},
                            {"cwd", "/home/berth"},
                            {"user", {{"uid", 1000}, {"gid", 1000}, {"umask", 63}}},
                            {"noNewPrivileges", true}};
  std::string file = dir_ + "/process.json";
  ASSERT_TRUE(write_file(file, process.dump()));
  auto r = exec({"--process", file, "pfile"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "from-file /home/berth 1000:1000 0077\n");
  // Its fields are checked as config.json's are.
  process["cwd"] = "relative";
  ASSERT_TRUE(write_file(file, process.dump()));
  auto bad = exec({"-p", file, "pfile"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("process.cwd"), std::string::npos) << bad.err;
}

TEST_F(OciExec, DetachReturnsAtOnceWithThePidFileWritten) {
  ASSERT_NO_FATAL_FAILURE(start_sleeper("det"));
  std::string pid_file = dir_ + "/exec.pid";
  auto r = exec({"--detach", "--pid-file", pid_file, "det", "sleep", "999"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto text = read_file(pid_file);
  ASSERT_TRUE(text);
  int pid = std::stoi(*text);
  // The pid is the command's own (host pid), in the container's pid namespace and cgroup.
  EXPECT_EQ(read_file("/proc/" + std::to_string(pid) + "/comm").value_or(""), "sleep\n");
  int init = state("det")["pid"];
  auto ns = [](int p) {
    char buf[64] = {};
    ssize_t n = ::readlink(("/proc/" + std::to_string(p) + "/ns/pid").c_str(), buf, sizeof buf - 1);
    return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
  };
  EXPECT_EQ(ns(pid), ns(init));
  EXPECT_EQ(read_file("/proc/" + std::to_string(pid) + "/cgroup").value_or("a"),
            read_file("/proc/" + std::to_string(init) + "/cgroup").value_or("b"));
  // delete --force takes it down with the container.
  ASSERT_EQ(oci({"delete", "--force", "det"}).code, 0);
  for (int i = 0; i < 200 && alive_and_named(pid, "sleep"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(alive_and_named(pid, "sleep"));
}

TEST_F(OciExec, TtyWithAConsoleSocketGetsAPtyOfTheContainer) {
  ASSERT_NO_FATAL_FAILURE(start_sleeper("tty"));
  auto c = exec_with_console({"--tty", "tty", "sh", "-c", "test -t 0 && test -t 1 && echo on-a-tty $(tty); exit 3"});
  EXPECT_NE(c.first_line.find("on-a-tty /dev/pts/"), std::string::npos) << c.first_line;
  EXPECT_EQ(c.finished.code, 3) << c.finished.err;
  // A terminal needs the socket, and the socket a terminal.
  auto no_socket = exec({"-t", "tty", "true"});
  EXPECT_NE(no_socket.code, 0);
  EXPECT_NE(no_socket.err.find("--console-socket"), std::string::npos) << no_socket.err;
  auto no_tty = exec({"--console-socket", dir_ + "/console.sock", "tty", "true"});
  EXPECT_NE(no_tty.code, 0);
  EXPECT_NE(no_tty.err.find("no terminal"), std::string::npos) << no_tty.err;
}

TEST_F(OciExec, AProcessFilesConsoleSizeSizesItsPty) {
  ASSERT_NO_FATAL_FAILURE(start_sleeper("sized"));
  auto process = config_["process"];
  process["terminal"] = true;
  process["consoleSize"] = {{"height", 41}, {"width", 97}};
  process["args"] = {"sh", "-c", "echo size=$(stty size)"};
  ASSERT_TRUE(write_file(dir_ + "/process.json", process.dump()));
  auto c = exec_with_console({"--process", dir_ + "/process.json", "sized"});
  EXPECT_NE(c.first_line.find("size=41 97"), std::string::npos) << c.first_line;
  EXPECT_EQ(c.finished.code, 0) << c.finished.err;
}

TEST_F(OciExec, OnlyStdioReachesTheProcess) {
  ASSERT_NO_FATAL_FAILURE(start_sleeper("fds"));
  // fd 5 is inheritable in the caller; the process sees 0-2 and ls's own directory fd (3).
  auto r = run_program({"/bin/sh", "-c",
                        "exec 5</dev/null; exec " + std::string(BERTH_OCI_PATH) + " --root " + root_ +
                            " exec fds ls /proc/self/fd"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "0\n1\n2\n3\n");
}

TEST_F(OciExec, AContainerThatIsNotRunningIsAnError) {
  set_args({"sh", "-c", "exit 0"});
  ASSERT_EQ(create("idle").code, 0);
  auto created = exec({"idle", "true"});
  EXPECT_NE(created.code, 0);
  EXPECT_EQ(created.err, "berth-oci: cannot exec in container \"idle\": it is created, not running\n");
  ASSERT_EQ(oci({"start", "idle"}).code, 0);
  for (int i = 0; i < 200 && status("idle") != "stopped"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto stopped = exec({"idle", "true"});
  EXPECT_NE(stopped.code, 0);
  EXPECT_EQ(stopped.err, "berth-oci: cannot exec in container \"idle\": it is stopped, not running\n");
  auto unknown = exec({"nosuch", "true"});
  EXPECT_NE(unknown.code, 0);
  EXPECT_NE(unknown.err.find("nosuch"), std::string::npos) << unknown.err;
}

TEST_F(OciExec, JoinsAUserNamespace) {
  config_["linux"]["namespaces"].push_back({{"type", "user"}});
  config_["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  config_["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  ASSERT_NO_FATAL_FAILURE(start_sleeper("userns"));
  auto r = exec({"userns", "sh", "-c", "echo id=$(id -u); cat /proc/self/uid_map"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("id=0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("200000"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace berth::testing
