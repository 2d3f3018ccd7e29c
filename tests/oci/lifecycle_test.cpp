// The OCI lifecycle through the real berth-oci binary: the states the runtime-spec names at
// each step, run's exit code, the errors the spec requires, --pid-file, and cleanup.
#include <signal.h>

#include <chrono>
#include <thread>

#include "oci/oci_fixture.hpp"

namespace berth::testing {
namespace {

using OciLifecycle = OciTest;

TEST_F(OciLifecycle, CreateStartKillDeleteWithTheStateAtEachStep) {
  set_args({"sleep", "1000"});
  std::string pid_file = dir_ + "/init.pid";
  auto created = create("box", {"--pid-file", pid_file});
  ASSERT_EQ(created.code, 0) << created.err;

  auto s = state("box");
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["status"], "created");
  EXPECT_EQ(s["id"], "box");
  EXPECT_EQ(s["bundle"], bundle_);
  EXPECT_EQ(s["ociVersion"], config_["ociVersion"]);
  int pid = s["pid"];
  EXPECT_GT(pid, 0);
  // The pid file was there when create returned, holding the init's pid.
  EXPECT_EQ(read_file(pid_file).value_or(""), std::to_string(pid));
  // Created means waiting: the program has not run yet (the init is still berth's code).
  EXPECT_NE(read_file("/proc/" + std::to_string(pid) + "/comm").value_or(""), "sleep\n");

  auto started = oci({"start", "box"});
  ASSERT_EQ(started.code, 0) << started.err;
  EXPECT_EQ(status("box"), "running");
  for (int i = 0; i < 200 && read_file("/proc/" + std::to_string(pid) + "/comm").value_or("") != "sleep\n"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(read_file("/proc/" + std::to_string(pid) + "/comm").value_or(""), "sleep\n");

  auto listed = oci({"list", "--format", "json"});
  ASSERT_EQ(listed.code, 0) << listed.err;
  auto list = nlohmann::json::parse(listed.out);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], "box");
  EXPECT_EQ(list[0]["status"], "running");

  auto killed = oci({"kill", "box", "KILL"});
  ASSERT_EQ(killed.code, 0) << killed.err;
  for (int i = 0; i < 200 && status("box") != "stopped"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(status("box"), "stopped");

  auto deleted = oci({"delete", "box"});
  ASSERT_EQ(deleted.code, 0) << deleted.err;
  auto gone = oci({"state", "box"});
  EXPECT_NE(gone.code, 0);
  EXPECT_NE(gone.err.find("does not exist"), std::string::npos) << gone.err;
}

TEST_F(OciLifecycle, RunPassesStdioThroughAndReturnsTheExitCode) {
  set_args({"sh", "-c", "echo out; echo err >&2; exit 7"});
  auto r = run("job");
  EXPECT_EQ(r.code, 7) << r.err;
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  // run deletes what it made.
  EXPECT_FALSE(path_exists(root_ + "/job"));
}

TEST_F(OciLifecycle, RunForwardsSignalsAndReportsADeathBySignalAs128PlusIt) {
  set_args({"sh", "-c", "trap 'echo got TERM; exit 9' TERM; echo ready; sleep 1000 & wait"});
  write_config();
  ids_.push_back("fwd");
  Program running({BERTH_OCI_PATH, "--root", root_, "run", "--bundle", bundle_, "fwd"});
  for (int i = 0; i < 500 && status("fwd") != "running"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ::kill(running.pid(), SIGTERM);
  auto r = running.finish();
  EXPECT_EQ(r.code, 9) << r.err;
  EXPECT_EQ(r.out, "ready\ngot TERM\n");

  set_args({"sleep", "1000"});
  write_config();
  ids_.push_back("killed");
  Program second({BERTH_OCI_PATH, "--root", root_, "run", "--bundle", bundle_, "killed"});
  for (int i = 0; i < 500 && status("killed") != "running"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(oci({"kill", "killed", "KILL"}).code, 0);
  EXPECT_EQ(second.finish().code, 128 + SIGKILL);
}

TEST_F(OciLifecycle, TheErrorsTheSpecRequires) {
  set_args({"sleep", "1000"});
  ASSERT_EQ(create("twice").code, 0);
  // The same id again.
  auto again = oci({"create", "--bundle", bundle_, "twice"});
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;

  ASSERT_EQ(oci({"start", "twice"}).code, 0);
  auto second_start = oci({"start", "twice"});
  EXPECT_NE(second_start.code, 0);
  EXPECT_NE(second_start.err.find("it is running"), std::string::npos) << second_start.err;

  auto delete_running = oci({"delete", "twice"});
  EXPECT_NE(delete_running.code, 0);
  EXPECT_NE(delete_running.err.find("running"), std::string::npos) << delete_running.err;
  EXPECT_EQ(status("twice"), "running");

  ASSERT_EQ(oci({"kill", "twice", "9"}).code, 0);
  for (int i = 0; i < 200 && status("twice") != "stopped"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto kill_stopped = oci({"kill", "twice", "TERM"});
  EXPECT_NE(kill_stopped.code, 0);
  EXPECT_NE(kill_stopped.err.find("stopped"), std::string::npos) << kill_stopped.err;
  auto start_stopped = oci({"start", "twice"});
  EXPECT_NE(start_stopped.code, 0);

  // Unknown ids.
  EXPECT_NE(oci({"start", "nosuch"}).code, 0);
  EXPECT_NE(oci({"kill", "nosuch"}).code, 0);
  EXPECT_NE(oci({"delete", "nosuch"}).code, 0);
  EXPECT_EQ(oci({"delete", "--force", "nosuch"}).code, 0);
}

TEST_F(OciLifecycle, DeleteForceStopsARunningContainerAndEverythingInIt) {
  set_args({"sh", "-c", "sleep 1000 & sleep 1000"});
  ASSERT_EQ(create("forced").code, 0);
  ASSERT_EQ(oci({"start", "forced"}).code, 0);
  int pid = state("forced")["pid"];
  auto r = oci({"delete", "--force", "forced"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(path_exists(root_ + "/forced"));
  EXPECT_FALSE(alive_and_named(pid, "sleep"));
}

TEST_F(OciLifecycle, KillAllSignalsEveryProcessOfTheContainer) {
  set_args({"sh", "-c", "trap '' TERM; sleep 1000 & wait"});
  ASSERT_EQ(create("all").code, 0);
  ASSERT_EQ(oci({"start", "all"}).code, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto r = oci({"kill", "--all", "all", "KILL"});
  EXPECT_EQ(r.code, 0) << r.err;
  for (int i = 0; i < 200 && status("all") != "stopped"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(status("all"), "stopped");
}

TEST_F(OciLifecycle, ACreateThatFailsLeavesNothingBehind) {
  set_args({"/no/such/program"});
  auto r = create("broken");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("/no/such/program"), std::string::npos) << r.err;
  EXPECT_FALSE(path_exists(root_ + "/broken"));
  EXPECT_FALSE(path_exists("/sys/fs/cgroup/memory/berth-oci/broken"));
  EXPECT_NE(oci({"state", "broken"}).code, 0);
}

TEST_F(OciLifecycle, PreservedFdsReachTheContainerAndOthersDoNot) {
  set_args({"sh", "-c", "echo via-fd3 >&3; ls /proc/self/fd"});
  write_config();
  ids_.push_back("fds");
  std::string file = dir_ + "/fd3";
  auto r = run_program({"/bin/sh", "-c",
                        "exec 3>" + file + " 4>/dev/null; exec " + std::string(BERTH_OCI_PATH) + " --root " + root_ +
                            " run --preserve-fds 1 --bundle " + bundle_ + " fds"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_file(file).value_or(""), "via-fd3\n");
  // 0-2, the preserved 3, and ls's own directory fd (4: the caller's 4 was not preserved).
  EXPECT_EQ(r.out, "0\n1\n2\n3\n4\n");
}

// Socket activation as runc does it: systemd's LISTEN_FDS fds come first (3..), the process is
// told LISTEN_FDS=N and LISTEN_PID=1, and --preserve-fds counts the fds after them.
TEST_F(OciLifecycle, ListenFdsFromSystemdArePassedOnBeforePreservedFds) {
  set_args({"sh", "-c", "echo listen >&3; echo preserved >&4; echo $LISTEN_FDS $LISTEN_PID; ls /proc/self/fd"});
  write_config();
  ids_.push_back("activated");
  std::string listen = dir_ + "/listen", preserved = dir_ + "/preserved";
  auto r = run_program({"/bin/sh", "-c",
                        "exec 3>" + listen + " 4>" + preserved + " 5>/dev/null; LISTEN_FDS=1 exec " +
                            std::string(BERTH_OCI_PATH) + " --root " + root_ + " run --preserve-fds 1 --bundle " +
                            bundle_ + " activated"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_file(listen).value_or(""), "listen\n");
  EXPECT_EQ(read_file(preserved).value_or(""), "preserved\n");
  // 0-2, 3 and 4, and ls's own directory fd (5: the caller's 5 was not passed on).
  EXPECT_EQ(r.out, "1 1\n0\n1\n2\n3\n4\n5\n");
}

TEST_F(OciLifecycle, LogFileGetsTheErrorAsJson) {
  std::string log = dir_ + "/log.json";
  auto r = oci({"--log", log, "--log-format", "json", "start", "nosuch"});
  EXPECT_NE(r.code, 0);
  auto text = read_file(log);
  ASSERT_TRUE(text);
  auto line = nlohmann::json::parse(*text);
  EXPECT_EQ(line["level"], "error");
  EXPECT_NE(line["msg"].get<std::string>().find("nosuch"), std::string::npos);
}

TEST_F(OciLifecycle, VersionSpecAndFeatures) {
  auto v = oci({"--version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_NE(v.out.find("berth-oci version"), std::string::npos);
  auto f = oci({"features"});
  ASSERT_EQ(f.code, 0);
  auto features = nlohmann::json::parse(f.out);
  EXPECT_EQ(features["ociVersionMin"], "1.0.0");
  EXPECT_TRUE(features["linux"]["seccomp"]["enabled"].get<bool>());
  // spec refuses to overwrite.
  EXPECT_NE(oci({"spec", "--bundle", bundle_}).code, 0);
}

}  // namespace
}  // namespace berth::testing
