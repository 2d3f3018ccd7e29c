// process.ioPriority, process.scheduler and process.execCPUAffinity (runtime-spec 1.2) through the
// real binary: each observed on the init (from the host, through ioprio_get and sched_getattr on
// its pid, and from inside) or on an exec'd process, and each bad value refused by name with
// nothing left behind.
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <fmt/format.h>
#include <functional>

#include "linux/scheduling.hpp"
#include "oci/oci_fixture.hpp"

namespace berth::testing {
namespace {

struct SchedAttr {
  std::uint32_t size;
  std::uint32_t policy;
  std::uint64_t flags;
  std::int32_t nice;
  std::uint32_t priority;
  std::uint64_t runtime, deadline, period;
  std::uint32_t util_min, util_max;
};

class OciScheduling : public OciTest {
 protected:
  int init_pid(const std::string& id) {
    auto s = state(id);
    return s.is_object() ? s.value("pid", -1) : -1;
  }
  static SchedAttr scheduler_of(int pid) {
    SchedAttr attr{};
    if (::syscall(SYS_sched_getattr, pid, &attr, sizeof attr, 0) != 0) attr.policy = ~0U;
    return attr;
  }
  static std::string status_line(int pid, const std::string& key) {
    auto text = read_file(fmt::format("/proc/{}/status", pid)).value_or("");
    auto at = text.find(key + ":\t");
    if (at == std::string::npos) return "";
    at += key.size() + 2;
    return text.substr(at, text.find('\n', at) - at);
  }
  Ran exec(const std::vector<std::string>& args, const std::vector<std::string>& prefix = {}) {
    std::vector<std::string> full = prefix;
    full.insert(full.end(), {BERTH_OCI_PATH, "--root", root_, "exec"});
    full.insert(full.end(), args.begin(), args.end());
    return run_program(full);
  }
  // Every CPU this host has online, as the kernel lists them ("0-1").
  static std::string online() {
    auto text = read_file("/sys/devices/system/cpu/online").value_or("");
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }
};

TEST_F(OciScheduling, IoPriorityIsTheInitsFromCreateOn) {
  config_["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_BE"}, {"priority", 3}};
  set_args({"sh", "-c", "ionice -p $$"});
  auto created = create("io");
  ASSERT_EQ(created.code, 0) << created.err;
  int pid = init_pid("io");
  ASSERT_GT(pid, 0);
  // Set before the init waits for start, so already visible from the host.
  EXPECT_EQ(linux::io_priority_of(pid), (2 << 13) | 3);
  auto shown = run_program({"/usr/bin/ionice", "-p", std::to_string(pid)});
  EXPECT_EQ(shown.out, "best-effort: prio 3\n") << shown.err;

  auto r = run("io-run");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "best-effort: prio 3\n");
}

TEST_F(OciScheduling, SchedBatchWithANiceValue) {
  config_["process"]["scheduler"] = {{"policy", "SCHED_BATCH"}, {"nice", 5}};
  // Field 19 of stat is the nice value; the process sees its own.
  set_args({"sh", "-c", "set -- $(cat /proc/$$/stat); echo nice=${19} policy=${41}"});
  auto created = create("batch");
  ASSERT_EQ(created.code, 0) << created.err;
  int pid = init_pid("batch");
  ASSERT_GT(pid, 0);
  auto attr = scheduler_of(pid);
  EXPECT_EQ(attr.policy, 3u);  // SCHED_BATCH
  EXPECT_EQ(attr.nice, 5);

  auto r = run("batch-run");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "nice=5 policy=3\n");
}

TEST_F(OciScheduling, SchedFifoNeedsARealtimeBudgetUnderCgroupV1) {
  config_["process"]["scheduler"] = {{"policy", "SCHED_FIFO"}, {"priority", 10}};
  set_args({"sh", "-c", "set -- $(cat /proc/$$/stat); echo rtprio=${40} policy=${41}"});
  bool rt_groups = path_exists("/sys/fs/cgroup/cpu/cpu.rt_runtime_us");
  if (rt_groups) {
    // A new cpu cgroup has no realtime time: the kernel refuses SCHED_FIFO with EPERM, and the
    // error says what to give.
    auto refused = create("fifo-nobudget");
    EXPECT_NE(refused.code, 0);
    EXPECT_NE(refused.err.find("process.scheduler"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("linux.resources.cpu.realtimeRuntime"), std::string::npos) << refused.err;
    EXPECT_EQ(refused.err.find('\n'), refused.err.size() - 1) << "not one line: " << refused.err;
    EXPECT_FALSE(path_exists(root_ + "/fifo-nobudget"));
    EXPECT_FALSE(path_exists("/sys/fs/cgroup/cpu/berth-oci/fifo-nobudget"));
    // A budget for the container, but its parent (berth-oci's own cgroup) has none to give.
    config_["linux"]["resources"]["cpu"]["realtimeRuntime"] = 50000;
    auto no_parent_budget = create("fifo-noparent");
    EXPECT_NE(no_parent_budget.code, 0);
    EXPECT_NE(no_parent_budget.err.find("linux.resources.cpu.realtimeRuntime"), std::string::npos)
        << no_parent_budget.err;
    EXPECT_NE(no_parent_budget.err.find("parent cgroup"), std::string::npos) << no_parent_budget.err;
    EXPECT_FALSE(path_exists("/sys/fs/cgroup/cpu/berth-oci/fifo-noparent"));
    // Directly under the root cgroup, whose budget is the host's.
    config_["linux"]["cgroupsPath"] = "/berth-oci-test-rt";
  }
  auto created = create("fifo");
  ASSERT_EQ(created.code, 0) << created.err;
  int pid = init_pid("fifo");
  auto attr = scheduler_of(pid);
  EXPECT_EQ(attr.policy, 1u);  // SCHED_FIFO
  EXPECT_EQ(attr.priority, 10u);
  ASSERT_EQ(oci({"delete", "--force", "fifo"}).code, 0);

  auto r = run("fifo-run");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "rtprio=10 policy=1\n");
  ASSERT_EQ(oci({"delete", "--force", "fifo-run"}).code, 0);
  EXPECT_FALSE(path_exists("/sys/fs/cgroup/cpu/berth-oci-test-rt"));
}

TEST_F(OciScheduling, ExecCpuAffinityIsForExecdProcessesOnly) {
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs two CPUs";
  config_["process"]["execCPUAffinity"] = {{"initial", "1"}, {"final", "0"}};
  set_args({"sleep", "1000"});
  // Started pinned to CPU 1, as a caller of the runtime may be: the init is not (runc resets
  // it to what its cgroup allows), and execCPUAffinity is not for it.
  std::vector<std::string> pinned{"/usr/bin/taskset", "-c", "1"};
  write_config();
  ids_.push_back("aff");
  std::vector<std::string> args = pinned;
  args.insert(args.end(), {BERTH_OCI_PATH, "--root", root_, "create", "--bundle", bundle_, "aff"});
  auto created = run_program(args);
  ASSERT_EQ(created.code, 0) << created.err;
  ASSERT_EQ(oci({"start", "aff"}).code, 0);
  EXPECT_EQ(status_line(init_pid("aff"), "Cpus_allowed_list"), online());

  auto r = exec({"aff", "grep", "Cpus_allowed_list", "/proc/self/status"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Cpus_allowed_list:\t0\n");

  // A --process file's own execCPUAffinity wins; without one (and without the container's),
  // the process takes every CPU rather than the caller's pinning.
  nlohmann::json process = {{"args", {"grep", "Cpus_allowed_list", "/proc/self/status"}},
                            {"cwd", "/"},
                            {"env", {"PATH=/bin"}},
                            {"execCPUAffinity", {{"final", "1"}}}};
  std::string file = dir_ + "/process.json";
  ASSERT_TRUE(write_file(file, process.dump()));
  r = exec({"--process", file, "aff"}, pinned);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Cpus_allowed_list:\t1\n");
}

TEST_F(OciScheduling, ExecWithoutAffinityTakesEveryCpuNotTheCallers) {
  if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "needs two CPUs";
  set_args({"sleep", "1000"});
  ASSERT_EQ(create("noaff").code, 0);
  ASSERT_EQ(oci({"start", "noaff"}).code, 0);
  auto r = exec({"noaff", "grep", "Cpus_allowed_list", "/proc/self/status"}, {"/usr/bin/taskset", "-c", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "Cpus_allowed_list:\t" + online() + "\n");
}

TEST_F(OciScheduling, ExecGetsTheSchedulerAndIoPriority) {
  config_["process"]["scheduler"] = {{"policy", "SCHED_IDLE"}};
  config_["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_IDLE"}, {"priority", 0}};
  set_args({"sleep", "1000"});
  ASSERT_EQ(create("ex").code, 0);
  ASSERT_EQ(oci({"start", "ex"}).code, 0);
  auto r = exec({"ex", "sh", "-c", "set -- $(cat /proc/$$/stat); echo policy=${41}; ionice -p $$"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "policy=5\nidle\n");  // busybox prints no level for the idle class

  // A --process file's own fields replace the container's.
  nlohmann::json process = {{"args", {"sh", "-c", "set -- $(cat /proc/$$/stat); echo policy=${41}; ionice -p $$"}},
                            {"cwd", "/"},
                            {"env", {"PATH=/bin"}},
                            {"scheduler", {{"policy", "SCHED_BATCH"}}},
                            {"ioPriority", {{"class", "IOPRIO_CLASS_BE"}, {"priority", 6}}}};
  std::string file = dir_ + "/process.json";
  ASSERT_TRUE(write_file(file, process.dump()));
  r = exec({"--process", file, "ex"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "policy=3\nbest-effort: prio 6\n");

  // And are checked as config.json's are.
  process["ioPriority"]["priority"] = 9;
  ASSERT_TRUE(write_file(file, process.dump()));
  auto bad = exec({"--process", file, "ex"});
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("process.ioPriority.priority"), std::string::npos) << bad.err;
}

TEST_F(OciScheduling, BadValuesAreRefusedByNameWithNothingLeft) {
  struct Case {
    std::string field;
    std::function<void(nlohmann::json&)> edit;
  };
  std::vector<Case> cases = {
      {"process.ioPriority.class", [](auto& c) { c["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_FOO"}, {"priority", 1}}; }},
      {"process.ioPriority.class", [](auto& c) { c["process"]["ioPriority"] = {{"priority", 1}}; }},
      {"process.ioPriority.priority", [](auto& c) { c["process"]["ioPriority"] = {{"class", "IOPRIO_CLASS_BE"}, {"priority", 9}}; }},
      {"process.scheduler.policy: \"SCHED_FOO\" is not a scheduling policy",
       [](auto& c) { c["process"]["scheduler"] = {{"policy", "SCHED_FOO"}}; }},
      {"process.scheduler.policy", [](auto& c) { c["process"]["scheduler"] = nlohmann::json::object(); }},
      {"process.scheduler.priority", [](auto& c) { c["process"]["scheduler"] = {{"policy", "SCHED_OTHER"}, {"priority", 5}}; }},
      {"process.scheduler.priority", [](auto& c) { c["process"]["scheduler"] = {{"policy", "SCHED_RR"}, {"priority", 100}}; }},
      {"process.scheduler.nice", [](auto& c) { c["process"]["scheduler"] = {{"policy", "SCHED_OTHER"}, {"nice", 20}}; }},
      {"process.scheduler.runtime", [](auto& c) { c["process"]["scheduler"] = {{"policy", "SCHED_BATCH"}, {"runtime", 1000}}; }},
      {"process.scheduler.flags[1]", [](auto& c) {
         c["process"]["scheduler"] = {{"policy", "SCHED_OTHER"}, {"flags", {"SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_FOO"}}};
       }},
      {"process.scheduler.unknown", [](auto& c) { c["process"]["scheduler"] = {{"policy", "SCHED_OTHER"}, {"unknown", 1}}; }},
      {"process.execCPUAffinity.final", [](auto& c) { c["process"]["execCPUAffinity"] = {{"final", "0-x"}}; }},
      {"process.execCPUAffinity.initial", [](auto& c) { c["process"]["execCPUAffinity"] = {{"initial", "3-1"}}; }},
      {"process.execCPUAffinity.initial", [](auto& c) { c["process"]["execCPUAffinity"] = {{"initial", ","}}; }},
      // Refused by the kernel once the init runs (no mainline kernel has SCHED_ISO): the
      // cgroup made for it goes too.
      {"process.scheduler.policy: SCHED_ISO", [](auto& c) { c["process"]["scheduler"] = {{"policy", "SCHED_ISO"}}; }},
  };
  set_args({"sleep", "1000"});
  auto original = config_;
  int n = 0;
  for (auto& c : cases) {
    config_ = original;
    c.edit(config_);
    std::string id = "bad" + std::to_string(n++);
    auto r = create(id);
    EXPECT_NE(r.code, 0) << c.field;
    EXPECT_NE(r.err.find(c.field), std::string::npos) << c.field << ": " << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << c.field << ": not one line: " << r.err;
    EXPECT_FALSE(path_exists(root_ + "/" + id)) << c.field;
    for (auto base : {"/sys/fs/cgroup/memory/berth-oci/", "/sys/fs/cgroup/cpu/berth-oci/", "/sys/fs/cgroup/pids/berth-oci/",
                      "/sys/fs/cgroup/berth-oci/"})
      EXPECT_FALSE(path_exists(base + id)) << c.field << ": a cgroup is left under " << base;
  }
}

}  // namespace
}  // namespace berth::testing
