// berthd SIGKILLed at each step of create, start, stop and remove (BERTH_FAULT_POINT, see
// src/common/fault_point.hpp): the next berthd accounts for every workload, never runs one
// twice, and once the user finishes what was cut short (rm -f), nothing is left: no row, no
// directory, no cgroup, no process.
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>

#include "daemon_fixture.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class FaultPoints : public DaemonTest, public ::testing::WithParamInterface<const char*> {
 protected:
  // berthd again, armed to kill itself at `point`.
  void restart_armed(const char* point) {
    stop_daemon(SIGTERM);
    ::setenv("BERTH_FAULT_POINT", point, 1);
    start_daemon();
    ::unsetenv("BERTH_FAULT_POINT");
  }

  // berthd died at its fault point (not of anything else); a plain one takes its place.
  void expect_died_there_and_restart(const char* point) {
    ASSERT_TRUE(eventually([&] { return ::kill(daemon_pid_, 0) != 0 || reaped_exit(); }, 10s))
        << "berthd did not die at " << point;
    int status = stop_daemon(SIGTERM);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "berthd ended otherwise than at " << point << ": status " << status << "\n" << daemon_log();
    remote_.reset();
    start_daemon();
  }

  bool reaped_exit() {
    // A dead child is a zombie until waited for: kill(pid, 0) still succeeds on it.
    auto stat = read_file("/proc/" + std::to_string(daemon_pid_) + "/stat").value_or("");
    auto close = stat.rfind(')');
    return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
  }

  std::vector<WorkloadInfo> named(const std::string& name) {
    std::vector<WorkloadInfo> out;
    auto all = remote_->list({.all = true});
    EXPECT_TRUE(all) << all.error().message;
    if (all)
      for (auto& w : *all)
        if (w.status.name == name) out.push_back(w);
    return out;
  }

  std::vector<std::string> workload_dirs() {
    std::vector<std::string> out;
    if (DIR* d = ::opendir((root_ + "/workloads").c_str())) {
      while (auto* e = ::readdir(d))
        if (e->d_name[0] != '.') out.push_back(e->d_name);
      ::closedir(d);
    }
    return out;
  }

  // Processes in the workload's cgroup (pids controller on v1, the unified dir on v2).
  static int processes_of(const std::string& id) {
    for (auto base : {"/sys/fs/cgroup/pids", "/sys/fs/cgroup"}) {
      auto procs = read_file(std::string(base) + "/berth/" + id + "/cgroup.procs");
      if (procs) return static_cast<int>(std::count(procs->begin(), procs->end(), '\n'));
    }
    return 0;
  }

  // Finishes whatever was cut short, as a user would, and checks nothing is left of it.
  void remove_and_expect_nothing_left(const std::string& name) {
    auto found = named(name);
    for (auto& w : found) {
      auto r = remote_->remove(w.status.id, true);
      ASSERT_TRUE(r) << "rm -f " << name << ": " << r.error().message;
      for (auto& dir : cgroup_dirs_of(w.status.id)) EXPECT_FALSE(path_exists(dir)) << dir << " left behind";
      if (w.status.pid) {
        EXPECT_TRUE(process_gone(*w.status.pid)) << name << "'s process runs on";
      }
    }
    EXPECT_TRUE(named(name).empty());
    EXPECT_TRUE(workload_dirs().empty()) << "a workload directory is left: " << workload_dirs().front();
  }
};

TEST_P(FaultPoints, ACrashedBerthdLosesNothingAndLeaksNothing) {
  const std::string point = GetParam();
  const std::string name = "victim";
  auto spec = process_spec({"/bin/sleep", "1000"}, name);
  spec.stop_grace = 2s;
  // Up to the step before the point, without faults.
  if (point.starts_with("stop:") || point.starts_with("remove:")) {
    ASSERT_TRUE(remote_->create(spec));
    ASSERT_TRUE(remote_->start(name));
  } else if (point.starts_with("start:")) {
    ASSERT_TRUE(remote_->create(spec));
  }

  restart_armed(point.c_str());
  if (point.starts_with("create:")) {
    EXPECT_FALSE(remote_->create(spec)) << "berthd should have died";
  }
  if (point.starts_with("start:")) {
    EXPECT_FALSE(remote_->start(name));
  }
  if (point.starts_with("stop:")) {
    EXPECT_FALSE(remote_->stop(name, 2s));
  }
  if (point.starts_with("remove:")) {
    EXPECT_FALSE(remote_->remove(name, true));
  }
  expect_died_there_and_restart(point.c_str());

  // Accounted for: listed once at most, never twice, and never with two copies running.
  auto found = named(name);
  ASSERT_LE(found.size(), 1u) << name << " is listed twice";
  if (point == "create:dir-made") {
    EXPECT_TRUE(found.empty()) << "a create that died before its row is no workload";
    EXPECT_TRUE(workload_dirs().empty()) << "the orphaned directory was not swept at berthd's start";
  }
  if (point == "create:recorded") {
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].status.state, WorkloadState::created);
  }
  if (!found.empty()) {
    EXPECT_LE(processes_of(found[0].status.id), 1) << name << " runs twice";
  }
  // A remove cut short is finished by the user's next rm -f (below); anything else can be
  // carried on: start what is not running, stop what is.
  if (!found.empty() && !point.starts_with("remove:")) {
    auto status = remote_->status(name);
    ASSERT_TRUE(status) << status.error().message;
    if (status->state == WorkloadState::created || status->state == WorkloadState::exited) {
      auto started = remote_->start(name);
      EXPECT_TRUE(started) << "start after a crash at " << point << ": " << started.error().message;
    }
    if (point.starts_with("start:")) {
      EXPECT_TRUE(eventually([&] { return remote_->status(name)->state == WorkloadState::running; }));
      EXPECT_EQ(processes_of(found[0].status.id), 1) << "the shim berthd launched runs the workload once";
    }
    auto stopped = remote_->stop(name, 2s);
    EXPECT_TRUE(stopped) << "stop after a crash at " << point << ": " << stopped.error().message;
    EXPECT_EQ(processes_of(found[0].status.id), 0);
  }
  remove_and_expect_nothing_left(name);
}

INSTANTIATE_TEST_SUITE_P(EveryStep, FaultPoints,
                         ::testing::Values("create:dir-made", "create:recorded", "start:launched", "stop:marked",
                                           "stop:signalled", "remove:killed", "remove:files-gone"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n)
                             if (c == ':' || c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace berth::testing
