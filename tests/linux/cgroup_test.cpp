// The cgroup layer against this host's real hierarchies: v1 controllers (this machine runs
// hybrid) and the v2 code path on the controller-less unified mount. Every test makes its own
// cgroup "berth-test/<random>" and the fixture removes it, even when the test fails.
#include <fcntl.h>
#include <sched.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include "common/fs.hpp"
#include "linux/cgroup.hpp"
#include "support/host_features.hpp"

namespace berth::linux {
namespace {

using namespace std::chrono_literals;

constexpr const char* unified_root = "/sys/fs/cgroup/unified";

std::string random_name() {
  return std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
}

std::string contents(const std::string& path) {
  auto text = read_file(path);
  if (!text) return "<" + text.error().message + ">";
  while (!text->empty() && text->back() == '\n') text->pop_back();
  return *text;
}

bool has_word_in(const std::string& text, const std::string& word) {
  return (" " + text + " ").find(" " + word + " ") != std::string::npos;
}

bool contains(const std::vector<pid_t>& pids, pid_t pid) {
  return std::find(pids.begin(), pids.end(), pid) != pids.end();
}

// Gone or a zombie: it will run no more.
bool dead(pid_t pid) {
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  auto paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z';
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 3s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return condition();
}

class CgroupLayerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    relative_ = "berth-test/" + random_name();
    unified_subtree_ = read_file(std::string(unified_root) + "/cgroup.subtree_control").value_or("");
  }

  void TearDown() override {
    for (auto& cg : cgroups_) (void)cg->kill_all();
    // Children a test left outside its cgroup are not killed by kill_all.
    for (pid_t pid : children_) ::kill(pid, SIGKILL);
    reap_children();
    for (auto& cg : cgroups_) {
      auto removed = cg->remove();
      EXPECT_TRUE(removed) << removed.error().message;
      for (auto& dir : cg->paths()) EXPECT_FALSE(path_exists(dir)) << dir << " left behind";
    }
    // The hybrid host's unified root as it was: hugetlb enabled for our cgroups goes (best
    // effort: another user's child cgroup may hold it).
    if (!has_word_in(unified_subtree_, "hugetlb"))
      (void)write_file(std::string(unified_root) + "/cgroup.subtree_control", "-hugetlb");
  }
  std::string unified_subtree_;

  void reap_children() {
    for (pid_t pid : children_) ::waitpid(pid, nullptr, 0);
    children_.clear();
  }

  bool v1_host() {
    auto host = detect_cgroup_host();
    return host && host->version == CgroupVersion::v1;
  }

  // Creates (and owns, for TearDown) a cgroup on `host`.
  Cgroup* make(const CgroupHost& host, const std::string& relative) {
    auto cg = create_cgroup(host, relative);
    EXPECT_TRUE(cg) << cg.error().message;
    if (!cg) return nullptr;
    cgroups_.push_back(std::move(*cg));
    return cgroups_.back().get();
  }
  Cgroup* make_default() {
    auto host = detect_cgroup_host();
    EXPECT_TRUE(host) << host.error().message;
    return host ? make(*host, relative_) : nullptr;
  }

  // Forks a child that runs `body` and exits with its result; the fixture kills and reaps it.
  pid_t spawn(const std::function<int()>& body) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(body());
    EXPECT_GT(pid, 0) << std::strerror(errno);
    if (pid > 0) children_.push_back(pid);
    return pid;
  }
  // A child that joins `cg` itself (as the runtime's children do, between fork and exec) and
  // then runs `body`. Returns once the child is in the cgroup.
  pid_t spawn_in(Cgroup* cg, const std::function<int()>& body) {
    pid_t pid = spawn([&] {
      if (!cg->add_process(0)) return 120;
      return body();
    });
    EXPECT_TRUE(eventually([&] {
      auto procs = cg->processes();
      return (procs && contains(*procs, pid)) || dead(pid);
    })) << "child never joined";
    return pid;
  }
  // Waits for a child the test expects to exit on its own.
  int wait_child(pid_t pid) {
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    std::erase(children_, pid);
    return status;
  }

  std::string v1_file(const char* controller, const char* file) const {
    return std::string("/sys/fs/cgroup/") + controller + "/" + relative_ + "/" + file;
  }

  std::string relative_;
  std::vector<std::unique_ptr<Cgroup>> cgroups_;
  std::vector<pid_t> children_;
};

[[noreturn]] void sleep_forever() {
  for (;;) ::pause();
}

// --- detection --------------------------------------------------------------------------

TEST_F(CgroupLayerTest, DetectsHybridAsV1AndTheUnifiedMountAsV2) {
  auto host = detect_cgroup_host();
  ASSERT_TRUE(host) << host.error().message;
  bool pure_v2 = path_exists("/sys/fs/cgroup/cgroup.controllers");
  EXPECT_EQ(host->version, pure_v2 ? CgroupVersion::v2 : CgroupVersion::v1);
  EXPECT_EQ(host->mount_root, "/sys/fs/cgroup");
  if (path_exists(std::string(unified_root) + "/cgroup.controllers")) {
    auto unified = detect_cgroup_host(std::string(unified_root) + "/");
    ASSERT_TRUE(unified) << unified.error().message;
    EXPECT_EQ(unified->version, CgroupVersion::v2);
    EXPECT_EQ(unified->mount_root, unified_root);
  }
  auto missing = detect_cgroup_host("/no/such/mount");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);
  EXPECT_NE(missing.error().message.find("/no/such/mount"), std::string::npos) << missing.error().message;
}

// --- v1 -----------------------------------------------------------------------------------

TEST_F(CgroupLayerTest, V1MakesOneDirectoryPerMountedController) {
  if (!v1_host()) GTEST_SKIP() << "host is not cgroup v1";
  auto* cg = make_default();
  ASSERT_TRUE(cg);
  EXPECT_EQ(cg->version(), CgroupVersion::v1);
  EXPECT_EQ(cg->clone_into_fd(), -1);
  auto paths = cg->paths();
  for (const char* controller : {"memory", "cpu", "cpuacct", "pids", "cpuset", "freezer", "devices", "blkio"}) {
    std::string dir = std::string("/sys/fs/cgroup/") + controller + "/" + relative_;
    if (!path_exists(std::string("/sys/fs/cgroup/") + controller + "/cgroup.procs")) continue;
    // Co-mounted cpu,cpuacct is one directory reached by two names.
    bool listed = std::find(paths.begin(), paths.end(), dir) != paths.end();
    EXPECT_TRUE(listed || std::string_view(controller).starts_with("cpu")) << dir;
    EXPECT_TRUE(path_exists(dir)) << dir;
  }
  // A new v1 cpuset cgroup has no cpus or memory nodes (and takes no task) until they are
  // set: the parent we made and the cgroup itself took them from their parents.
  if (path_exists("/sys/fs/cgroup/cpuset/cpuset.cpus")) {
    for (const char* file : {"cpuset.cpus", "cpuset.mems"}) {
      std::string root_value = contents(std::string("/sys/fs/cgroup/cpuset/") + file);
      EXPECT_FALSE(root_value.empty());
      EXPECT_EQ(contents("/sys/fs/cgroup/cpuset/berth-test/" + std::string(file)), root_value);
      EXPECT_EQ(contents(v1_file("cpuset", file)), root_value);
    }
  }

  // Creating again opens it; open_cgroup finds the same directories.
  auto again = create_cgroup(*detect_cgroup_host(), relative_);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->paths(), paths);
  EXPECT_EQ(open_cgroup(*detect_cgroup_host(), relative_)->paths(), paths);
}

TEST_F(CgroupLayerTest, V1LimitsLandInTheControllerFiles) {
  if (!v1_host()) GTEST_SKIP() << "host is not cgroup v1";
  auto* cg = make_default();
  ASSERT_TRUE(cg);
  Resources r;
  r.memory_bytes = 64 << 20;
  r.cpus = 1.5;
  r.cpu_shares = 512;
  r.pids_limit = 42;
  auto applied = cg->apply(r);
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(contents(v1_file("memory", "memory.limit_in_bytes")), "67108864");
  EXPECT_EQ(contents(v1_file("cpu", "cpu.cfs_quota_us")), "150000");
  EXPECT_EQ(contents(v1_file("cpu", "cpu.cfs_period_us")), "100000");
  EXPECT_EQ(contents(v1_file("cpu", "cpu.shares")), "512");
  EXPECT_EQ(contents(v1_file("pids", "pids.max")), "42");

  auto stats = cg->stats();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->memory_limit_bytes, std::optional<std::uint64_t>(64u << 20));
  EXPECT_EQ(stats->pids_limit, std::optional<std::uint64_t>(42));
  EXPECT_EQ(stats->pids, 0u);
  EXPECT_EQ(stats->oom_kills, 0u);
  EXPECT_EQ(cg->oom_kills(), 0u);
}

TEST_F(CgroupLayerTest, V1UnlimitedReadsAsNoLimit) {
  if (!v1_host()) GTEST_SKIP() << "host is not cgroup v1";
  auto* cg = make_default();
  ASSERT_TRUE(cg);
  auto stats = cg->stats();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->memory_limit_bytes, std::nullopt);  // the page counter's huge maximum
  EXPECT_EQ(stats->pids_limit, std::nullopt);          // "max"
  EXPECT_EQ(stats->io_read_bytes, 0u);
  EXPECT_EQ(stats->io_write_bytes, 0u);
}

// memory.limit_in_bytes may never exceed memory.memsw.limit_in_bytes: raising and lowering
// both need the right order.
TEST_F(CgroupLayerTest, V1SwapLimitFollowsMemoryUpAndDown) {
  if (!v1_host()) GTEST_SKIP() << "host is not cgroup v1";
  auto* cg = make_default();
  ASSERT_TRUE(cg);
  if (auto missing = testing::missing_swap_accounting()) GTEST_SKIP() << *missing;
  auto set = [&](std::int64_t memory, std::int64_t swap) {
    Resources r;
    r.memory_bytes = memory;
    r.memory_swap_bytes = swap;
    auto applied = cg->apply(r);
    EXPECT_TRUE(applied) << memory << "/" << swap << ": " << applied.error().message;
    EXPECT_EQ(contents(v1_file("memory", "memory.limit_in_bytes")), std::to_string(memory));
    if (swap != -1) {
      EXPECT_EQ(contents(v1_file("memory", "memory.memsw.limit_in_bytes")), std::to_string(swap));
    }
  };
  set(64 << 20, 128 << 20);
  set(256 << 20, 512 << 20);  // up: memsw first
  set(32 << 20, 48 << 20);    // down: memory first
  set(96 << 20, 96 << 20);    // memory above the old memsw
  set(16 << 20, -1);          // unlimited swap
  EXPECT_GT(std::stoull(contents(v1_file("memory", "memory.memsw.limit_in_bytes"))), 1ULL << 62);
}

TEST_F(CgroupLayerTest, V1KillAllKillsAChildAndItsFork) {
  if (!v1_host()) GTEST_SKIP() << "host is not cgroup v1";
  auto* cg = make_default();
  ASSERT_TRUE(cg);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  pid_t child = spawn_in(cg, [&]() -> int {
    pid_t grandchild = ::fork();
    if (grandchild == 0) sleep_forever();
    (void)!::write(fds[1], &grandchild, sizeof grandchild);
    sleep_forever();
  });
  ::close(fds[1]);
  pid_t grandchild = 0;
  ASSERT_EQ(::read(fds[0], &grandchild, sizeof grandchild), static_cast<ssize_t>(sizeof grandchild));
  ::close(fds[0]);
  ASSERT_GT(grandchild, 0);

  auto procs = cg->processes();
  ASSERT_TRUE(procs) << procs.error().message;
  EXPECT_TRUE(contains(*procs, child));
  EXPECT_TRUE(contains(*procs, grandchild));
  EXPECT_EQ(procs->size(), 2u);

  auto killed = cg->kill_all();
  ASSERT_TRUE(killed) << killed.error().message;
  EXPECT_TRUE(contains(*killed, child));
  EXPECT_TRUE(contains(*killed, grandchild));
  // We are the child's parent: kill_all did not wait for us to reap it.
  int status = wait_child(child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_TRUE(eventually([&] { return dead(grandchild); }));
  EXPECT_TRUE(cg->processes()->empty());
  // The freezer was thawed again.
  if (path_exists(v1_file("freezer", "freezer.state"))) {
    EXPECT_EQ(contents(v1_file("freezer", "freezer.state")), "THAWED");
  }
  // Nothing left to kill.
  auto again = cg->kill_all();
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->empty());
}

TEST_F(CgroupLayerTest, V1AddProcessMovesAnotherProcessIn) {
  if (!v1_host()) GTEST_SKIP() << "host is not cgroup v1";
  auto* cg = make_default();
  ASSERT_TRUE(cg);
  pid_t child = spawn([]() -> int { sleep_forever(); });
  auto added = cg->add_process(child);
  ASSERT_TRUE(added) << added.error().message;
  auto procs = cg->processes();
  ASSERT_TRUE(procs) << procs.error().message;
  EXPECT_EQ(*procs, std::vector<pid_t>{child});
  // Every hierarchy has it, not only the one processes() reads.
  for (auto& dir : cg->paths()) EXPECT_EQ(contents(dir + "/cgroup.procs"), std::to_string(child)) << dir;
}

TEST_F(CgroupLayerTest, V1StatsCountTheCpuOfABusyChild) {
  if (!v1_host()) GTEST_SKIP() << "host is not cgroup v1";
  auto* cg = make_default();
  ASSERT_TRUE(cg);
  // Spins until it has had 200 ms of CPU (however loaded the machine is).
  pid_t child = spawn_in(cg, [] {
    auto cpu_ns = [] {
      timespec ts;
      ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
      return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
    };
    auto give_up = std::chrono::steady_clock::now() + 10s;
    while (cpu_ns() < 200'000'000LL)
      if (std::chrono::steady_clock::now() > give_up) return 1;
    return 0;
  });
  EXPECT_EQ(wait_child(child), 0);
  auto stats = cg->stats();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_GE(stats->cpu_usage_ns, 190'000'000u);
  EXPECT_EQ(stats->pids, 0u);
}

TEST_F(CgroupLayerTest, V1PidsLimitStopsAForkLoop) {
  if (!v1_host()) GTEST_SKIP() << "host is not cgroup v1";
  auto* cg = make_default();
  ASSERT_TRUE(cg);
  Resources r;
  r.pids_limit = 5;
  auto applied = cg->apply(r);
  ASSERT_TRUE(applied) << applied.error().message;
  // The child forks sleepers until fork fails, then exits with how many it made.
  pid_t child = spawn_in(cg, [] {
    int made = 0;
    for (int i = 0; i < 20; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) sleep_forever();
      if (pid < 0) return errno == EAGAIN ? made : 100;
      ++made;
    }
    return 101;  // the limit never bit
  });
  int status = wait_child(child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 4);  // 5 tasks: the child and four forks
  auto stats = cg->stats();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->pids, 4u);  // the sleepers (reparented, still in the cgroup)
  auto killed = cg->kill_all();
  ASSERT_TRUE(killed) << killed.error().message;
  EXPECT_EQ(killed->size(), 4u);
}

TEST_F(CgroupLayerTest, V1CpusetPinsAChildToItsCpus) {
  if (!v1_host()) GTEST_SKIP() << "host is not cgroup v1";
  if (!path_exists("/sys/fs/cgroup/cpuset/cpuset.cpus")) GTEST_SKIP() << "no v1 cpuset controller";
  auto* cg = make_default();
  ASSERT_TRUE(cg);
  auto applied = cg->apply(Resources{.cpuset_cpus = "0", .cpuset_mems = "0"});
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(contents(v1_file("cpuset", "cpuset.cpus")), "0");
  EXPECT_EQ(contents(v1_file("cpuset", "cpuset.mems")), "0");
  // Exit 0: the child's affinity is exactly {0}; 1: something else; 2: the call failed.
  pid_t child = spawn_in(cg, [] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof set, &set) != 0) return 2;
    return CPU_COUNT(&set) == 1 && CPU_ISSET(0, &set) ? 0 : 1;
  });
  int status = wait_child(child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  // Stats do not change with a cpuset.
  EXPECT_TRUE(cg->stats());
}

TEST_F(CgroupLayerTest, CpusetListsAreCheckedForSyntaxAndOnlineIds) {
  auto* cg = make_default();
  ASSERT_TRUE(cg);
  for (std::string bad : {"1-0", "a", "0,,1", ",0", "0,", "0-", "-1", " 0", "0 ", "+1", "0-1-2", "0:1", "0\n"}) {
    auto valid = validate_resources(Resources{.cpuset_cpus = bad});
    ASSERT_FALSE(valid) << '"' << bad << '"';
    EXPECT_EQ(valid.error().code, ErrorCode::invalid_spec);
    EXPECT_TRUE(valid.error().message.starts_with("resources.cpuset_cpus: ")) << valid.error().message;
    EXPECT_NE(valid.error().message.find("is not a cpu list"), std::string::npos) << valid.error().message;
    valid = validate_resources(Resources{.cpuset_mems = bad});
    ASSERT_FALSE(valid) << '"' << bad << '"';
    EXPECT_TRUE(valid.error().message.starts_with("resources.cpuset_mems: ")) << valid.error().message;
  }
  // Beyond what this host has online (it has at most a few thousand cpus).
  auto offline = cg->apply(Resources{.cpuset_cpus = "0,9999"});
  ASSERT_FALSE(offline);
  EXPECT_EQ(offline.error().code, ErrorCode::invalid_spec);
  EXPECT_TRUE(offline.error().message.starts_with("resources.cpuset_cpus: cpu 9999 is not online"))
      << offline.error().message;
  offline = cg->apply(Resources{.cpuset_mems = "0-9999"});
  ASSERT_FALSE(offline);
  EXPECT_TRUE(offline.error().message.starts_with("resources.cpuset_mems: memory node ")) << offline.error().message;
  // Well-formed and online.
  std::string online = contents("/sys/devices/system/cpu/online");
  EXPECT_TRUE(validate_resources(Resources{.cpuset_cpus = online}));
  EXPECT_TRUE(validate_resources(Resources{.cpuset_cpus = "0,0-0", .cpuset_mems = "0"}));
  if (v1_host() && path_exists(v1_file("cpuset", "cpuset.cpus"))) {
    // Nothing was written on the way to the errors.
    EXPECT_EQ(contents(v1_file("cpuset", "cpuset.cpus")), contents("/sys/fs/cgroup/cpuset/cpuset.cpus"));
  }
}

TEST_F(CgroupLayerTest, V1MemoryLimitGetsAHogOomKilled) {
  if (!v1_host()) GTEST_SKIP() << "host is not cgroup v1";
  auto* cg = make_default();
  ASSERT_TRUE(cg);
  Resources r;
  r.memory_bytes = 32 << 20;
  // No escape into swap: memory + swap is capped at the same 32 MiB where swap is accounted.
  if (path_exists(v1_file("memory", "memory.memsw.limit_in_bytes"))) r.memory_swap_bytes = 32 << 20;
  auto applied = cg->apply(r);
  ASSERT_TRUE(applied) << applied.error().message;
  pid_t child = spawn_in(cg, [] {
    constexpr std::size_t size = 200u << 20;
    void* block = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED) return 2;
    auto* bytes = static_cast<volatile char*>(block);
    for (std::size_t i = 0; i < size; i += 4096) bytes[i] = 1;
    return 0;  // survived: the limit did not hold
  });
  int status = wait_child(child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  auto stats = cg->stats();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_GE(stats->oom_kills, 1u);
  EXPECT_GE(cg->oom_kills(), 1u);
  EXPECT_EQ(stats->memory_limit_bytes, std::optional<std::uint64_t>(32u << 20));
}

// --- limits that are refused ------------------------------------------------------------

TEST_F(CgroupLayerTest, InvalidValuesAreInvalidSpecNamingTheField) {
  auto* cg = make_default();
  ASSERT_TRUE(cg);
  struct Case {
    Resources resources;
    std::string field;
  };
  std::vector<Case> cases(6);
  cases[0].resources.memory_bytes = -(64 << 20);
  cases[0].field = "resources.memory";
  cases[1].resources.memory_bytes = 64 << 20;
  cases[1].resources.memory_swap_bytes = 32 << 20;
  cases[1].field = "resources.memory_swap";
  cases[2].resources.memory_swap_bytes = 64 << 20;
  cases[2].field = "resources.memory_swap";
  cases[3].resources.cpus = 0;
  cases[3].field = "resources.cpus";
  cases[4].resources.cpu_shares = 1;
  cases[4].field = "resources.cpu_shares";
  cases[5].resources.pids_limit = -5;
  cases[5].field = "resources.pids_limit";
  for (auto& c : cases) {
    auto applied = cg->apply(c.resources);
    ASSERT_FALSE(applied) << c.field;
    EXPECT_EQ(applied.error().code, ErrorCode::invalid_spec) << applied.error().message;
    EXPECT_TRUE(applied.error().message.starts_with(c.field + ":")) << applied.error().message;
  }
  if (v1_host()) {
    // Nothing was written on the way to the error.
    EXPECT_EQ(contents(v1_file("pids", "pids.max")), "max");
    EXPECT_GT(std::stoull(contents(v1_file("memory", "memory.limit_in_bytes"))), 1ULL << 62);
  }
}

TEST_F(CgroupLayerTest, BadRelativePathsAreRefused) {
  auto host = detect_cgroup_host();
  ASSERT_TRUE(host);
  for (std::string bad : {"", "/abs", "a//b", "a/../../etc", "trailing/", "./x"}) {
    auto cg = create_cgroup(*host, bad);
    ASSERT_FALSE(cg) << '"' << bad << '"';
    EXPECT_EQ(cg.error().code, ErrorCode::invalid_spec);
    EXPECT_TRUE(open_cgroup(*host, bad)->paths().empty()) << bad;
  }
}

// --- remove -------------------------------------------------------------------------------

TEST_F(CgroupLayerTest, RemoveTakesEmptyParentsAndIsIdempotent) {
  auto host = detect_cgroup_host();
  ASSERT_TRUE(host);
  // A top-level name of our own, so that no other test's cgroup keeps the parents busy.
  std::string top = "berth-test-" + random_name();
  auto* cg = make(*host, top + "/nested/leaf");
  ASSERT_TRUE(cg);
  auto paths = cg->paths();
  ASSERT_FALSE(paths.empty());
  pid_t child = spawn_in(cg, []() -> int { sleep_forever(); });
  ASSERT_TRUE(cg->kill_all());
  wait_child(child);

  auto removed = cg->remove();
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(*removed, paths);
  for (auto& dir : paths) {
    EXPECT_FALSE(path_exists(dir)) << dir;
    auto root = dir.substr(0, dir.size() - (top + "/nested/leaf").size() - 1);
    EXPECT_FALSE(path_exists(root + "/" + top)) << "empty parent left in " << root;
    EXPECT_TRUE(path_exists(root + "/cgroup.procs")) << "the mount root itself must stay";
  }
  auto again = cg->remove();
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_TRUE(again->empty());
  // A gone cgroup lists, kills and reports nothing, and cannot take a process.
  auto gone = open_cgroup(*host, top + "/nested/leaf");
  EXPECT_TRUE(gone->paths().empty());
  EXPECT_TRUE(gone->kill_all()->empty());
  EXPECT_TRUE(gone->processes()->empty());
  EXPECT_FALSE(cg->add_process(::getpid()));
}

TEST_F(CgroupLayerTest, RemoveLeavesASiblingsParentInPlace) {
  auto host = detect_cgroup_host();
  ASSERT_TRUE(host);
  std::string top = "berth-test-" + random_name();
  auto* a = make(*host, top + "/a");
  auto* b = make(*host, top + "/b");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->remove());
  for (auto& dir : b->paths()) EXPECT_TRUE(path_exists(dir)) << dir;
  ASSERT_TRUE(b->remove());
  for (auto& dir : b->paths())
    EXPECT_FALSE(path_exists(dir.substr(0, dir.rfind('/')))) << "parent of " << dir;
}

// Another workload's remove() may rmdir the shared empty parent while we create beneath it.
TEST_F(CgroupLayerTest, CreateSurvivesConcurrentTeardownOfTheParent) {
  auto host = detect_cgroup_host();
  ASSERT_TRUE(host);
  std::string top = "berth-test-" + random_name();
  std::atomic<int> failures{0};
  std::string first_error;
  std::mutex error_mutex;
  auto churn = [&](int worker) {
    for (int i = 0; i < 100; ++i) {
      auto cg = create_cgroup(*host, top + "/w" + std::to_string(worker) + "-" + std::to_string(i));
      if (!cg) {
        std::lock_guard lock(error_mutex);
        if (failures++ == 0) first_error = cg.error().message;
        continue;
      }
      for (auto& dir : (*cg)->paths())
        if (!path_exists(dir)) ++failures;
      if (!(*cg)->remove()) ++failures;
    }
  };
  std::vector<std::jthread> workers;
  for (int w = 0; w < 4; ++w) workers.emplace_back(churn, w);
  workers.clear();
  EXPECT_EQ(failures.load(), 0) << first_error;
  EXPECT_TRUE(open_cgroup(*host, top)->paths().empty()) << "parent left behind";
}

// --- v2, on the machine's unified mount (no memory/cpu/pids controllers there) ---------------

TEST_F(CgroupLayerTest, V2CodePathOnTheUnifiedMount) {
  std::string mount = path_exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : unified_root;
  if (!path_exists(mount + "/cgroup.controllers")) GTEST_SKIP() << "no cgroup v2 mount";
  auto host = detect_cgroup_host(mount);
  ASSERT_TRUE(host) << host.error().message;
  ASSERT_EQ(host->version, CgroupVersion::v2);
  auto* cg = make(*host, relative_);
  ASSERT_TRUE(cg);
  EXPECT_EQ(cg->version(), CgroupVersion::v2);
  EXPECT_EQ(cg->paths(), std::vector<std::string>{mount + "/" + relative_});
  EXPECT_TRUE(path_exists(mount + "/" + relative_ + "/cgroup.procs"));
  EXPECT_GE(cg->clone_into_fd(), 0);
  EXPECT_EQ(open_cgroup(*host, relative_)->paths(), cg->paths());

  // One process moved in from outside, one that joins itself and forks.
  pid_t outside = spawn([]() -> int { sleep_forever(); });
  auto added = cg->add_process(outside);
  ASSERT_TRUE(added) << added.error().message;
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  pid_t child = spawn_in(cg, [&]() -> int {
    pid_t grandchild = ::fork();
    if (grandchild == 0) sleep_forever();
    (void)!::write(fds[1], &grandchild, sizeof grandchild);
    sleep_forever();
  });
  ::close(fds[1]);
  pid_t grandchild = 0;
  ASSERT_EQ(::read(fds[0], &grandchild, sizeof grandchild), static_cast<ssize_t>(sizeof grandchild));
  ::close(fds[0]);
  auto procs = cg->processes();
  ASSERT_TRUE(procs) << procs.error().message;
  EXPECT_EQ(procs->size(), 3u);
  for (pid_t pid : {outside, child, grandchild}) EXPECT_TRUE(contains(*procs, pid)) << pid;

  auto stats = cg->stats();
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_EQ(stats->memory_limit_bytes, std::nullopt);

  auto killed = cg->kill_all();
  ASSERT_TRUE(killed) << killed.error().message;
  for (pid_t pid : {outside, child, grandchild}) EXPECT_TRUE(contains(*killed, pid)) << pid;
  for (pid_t pid : {outside, child}) {
    int status = wait_child(pid);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << pid << ": " << status;
  }
  EXPECT_TRUE(eventually([&] { return dead(grandchild); }));
  EXPECT_TRUE(cg->processes()->empty());

  if (mount == unified_root) {
    // No memory, cpu or pids controller here: each limit is refused, naming it.
    Resources memory;
    memory.memory_bytes = 64 << 20;
    auto applied = cg->apply(memory);
    ASSERT_FALSE(applied);
    EXPECT_EQ(applied.error().code, ErrorCode::invalid_spec);
    EXPECT_NE(applied.error().message.find("resources.memory"), std::string::npos) << applied.error().message;
    EXPECT_NE(applied.error().message.find("memory cgroup controller"), std::string::npos);
    Resources pids;
    pids.pids_limit = 10;
    applied = cg->apply(pids);
    ASSERT_FALSE(applied);
    EXPECT_NE(applied.error().message.find("resources.pids_limit"), std::string::npos) << applied.error().message;
    Resources cpus;
    cpus.cpus = 0.5;
    applied = cg->apply(cpus);
    ASSERT_FALSE(applied);
    EXPECT_NE(applied.error().message.find("resources.cpus"), std::string::npos) << applied.error().message;
    if (!has_word_in(contents(mount + "/" + relative_ + "/cgroup.controllers"), "cpuset")) {
      applied = cg->apply(Resources{.cpuset_cpus = "0"});
      ASSERT_FALSE(applied);
      EXPECT_EQ(applied.error().code, ErrorCode::invalid_spec);
      EXPECT_NE(applied.error().message.find("resources.cpuset_cpus"), std::string::npos) << applied.error().message;
      EXPECT_NE(applied.error().message.find("cpuset cgroup controller"), std::string::npos);
    }
    EXPECT_TRUE(cg->apply(Resources{}));  // no limits: nothing to refuse
  }

  auto removed = cg->remove();
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_EQ(*removed, std::vector<std::string>{mount + "/" + relative_});
  EXPECT_FALSE(path_exists(mount + "/" + relative_));
  EXPECT_EQ(cg->clone_into_fd(), -1);
}

// --- extra resources (OCI linux.resources beyond Resources) -------------------------------

TEST_F(CgroupLayerTest, ExtraResourcesAreCheckedForBoundsDevicesAndPageSizes) {
  EXPECT_EQ(hugepage_size_name("2MB"), "2MB");
  EXPECT_EQ(hugepage_size_name("2048KB"), "2MB");
  EXPECT_EQ(hugepage_size_name("1G"), "1GB");
  EXPECT_EQ(hugepage_size_name("64kB"), "64KB");
  EXPECT_FALSE(hugepage_size_name("3MB"));
  EXPECT_FALSE(hugepage_size_name("2XB"));
  EXPECT_FALSE(hugepage_size_name("MB"));
  struct Case {
    std::function<void(ExtraResources&)> edit;
    std::string field;
  };
  const Case cases[] = {
      {[](auto& x) { x.blkio_weight = 5; }, "blockIO.weight:"},
      {[](auto& x) { x.blkio_leaf_weight = 1001; }, "blockIO.leafWeight:"},
      {[](auto& x) { x.throttle_write_iops.push_back({4000, 77, 1}); }, "blockIO.throttleWriteIOPSDevice[0]:"},
      {[](auto& x) { x.blkio_weight_device.push_back({4000, 77, 100, {}}); }, "blockIO.weightDevice[0]:"},
      {[](auto& x) { x.hugepage_limits.push_back({"3MB", 1}); }, "hugepageLimits[0].pageSize:"},
      {[](auto& x) { x.hugepage_limits.push_back({"2048KB", 1}); }, "hugepageLimits[0].pageSize:"},
      {[](auto& x) { x.memory_swappiness = 101; }, "memory.swappiness:"},
      {[](auto& x) { x.memory_reservation = -2; }, "memory.reservation:"},
      {[](auto& x) { x.cpu_idle = 3; }, "cpu.idle:"},
      {[](auto& x) { x.cpu_rt_period = 0; }, "cpu.realtimePeriod:"},
  };
  for (auto& c : cases) {
    ExtraResources x;
    c.edit(x);
    auto r = validate_extra_resources(x);
    ASSERT_FALSE(r) << c.field;
    EXPECT_EQ(r.error().code, ErrorCode::invalid_spec) << c.field;
    EXPECT_TRUE(r.error().message.starts_with(c.field)) << r.error().message;
  }
  EXPECT_TRUE(validate_extra_resources(ExtraResources{}));
}

TEST_F(CgroupLayerTest, V1ExtraResourcesLandInTheControllerFiles) {
  if (!v1_host()) GTEST_SKIP() << "host is not cgroup v1";
  if (!path_exists("/sys/kernel/mm/hugepages/hugepages-2048kB")) GTEST_SKIP() << "no 2MB huge pages";
  auto host = detect_cgroup_host();
  ASSERT_TRUE(host);
  CgroupNeeds needs;
  needs.hugetlb = true;
  auto made = create_cgroup(*host, relative_, needs);
  ASSERT_TRUE(made) << made.error().message;
  cgroups_.push_back(std::move(*made));
  Cgroup* cg = cgroups_.back().get();
  ExtraResources x;
  x.memory_reservation = 16 << 20;
  x.memory_swappiness = 5;
  bool burst = !testing::missing_v1_cpu_file("cpu.cfs_burst_us");  // kernels before 5.14 have none
  if (burst) x.cpu_burst = 1000;
  x.hugepage_limits.push_back({"2MB", 8 << 20});
  auto applied = cg->apply_extra(x);
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_TRUE(applied->empty());
  EXPECT_EQ(contents(v1_file("memory", "memory.soft_limit_in_bytes")), "16777216");
  EXPECT_EQ(contents(v1_file("memory", "memory.swappiness")), "5");
  if (burst) {
    EXPECT_EQ(contents(v1_file("cpu", "cpu.cfs_burst_us")), "1000");
  }
  // A v1 hugetlb hierarchy, or (hybrid) the unified one, which the child joins with the others.
  bool v1_hugetlb = path_exists("/sys/fs/cgroup/hugetlb/" + relative_);
  std::string hugetlb_dir = v1_hugetlb ? "/sys/fs/cgroup/hugetlb/" + relative_ : std::string(unified_root) + "/" + relative_;
  EXPECT_EQ(contents(hugetlb_dir + (v1_hugetlb ? "/hugetlb.2MB.limit_in_bytes" : "/hugetlb.2MB.max")), "8388608");
  pid_t child = spawn_in(cg, []() -> int { sleep_forever(); });
  // spawn_in returns once the child is in the pids hierarchy; the unified one is joined last.
  std::string own;
  eventually([&] {
    own = read_file("/proc/" + std::to_string(child) + "/cgroup").value_or("");
    return v1_hugetlb || own.find("0::/" + relative_ + "\n") != std::string::npos;
  });
  if (!v1_hugetlb) {
    EXPECT_NE(own.find("0::/" + relative_ + "\n"), std::string::npos) << own;
  }
  // A cgroup made without hugetlb has no hugetlb directory to write to: an error naming the field.
  auto plain = create_cgroup(*host, relative_ + "-plain");
  ASSERT_TRUE(plain) << plain.error().message;
  cgroups_.push_back(std::move(*plain));
  ExtraResources huge;
  huge.hugepage_limits.push_back({"2MB", 8 << 20});
  auto refused = cgroups_.back()->apply_extra(huge);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().message.starts_with("hugepageLimits")) << refused.error().message;
}

TEST_F(CgroupLayerTest, V2ExtraResourcesOnTheUnifiedMount) {
  std::string mount = path_exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : unified_root;
  if (!path_exists(mount + "/cgroup.controllers")) GTEST_SKIP() << "no cgroup v2 mount";
  auto host = detect_cgroup_host(mount);
  ASSERT_TRUE(host);
  auto* cg = make(*host, relative_);
  ASSERT_TRUE(cg);
  ExtraResources v1_only;
  v1_only.memory_swappiness = 10;
  auto refused = cg->apply_extra(v1_only);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().message.starts_with("memory.swappiness: cgroup v2")) << refused.error().message;
  ExtraResources rt;
  rt.cpu_rt_runtime = 1000;
  refused = cg->apply_extra(rt);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().message.starts_with("cpu.realtimeRuntime")) << refused.error().message;
  ExtraResources oom;
  oom.disable_oom_killer = true;
  auto warned = cg->apply_extra(oom);
  ASSERT_TRUE(warned) << warned.error().message;
  ASSERT_EQ(warned->size(), 1u);
  EXPECT_TRUE((*warned)[0].starts_with("memory.disableOOMKiller")) << (*warned)[0];
  auto available = read_file(mount + "/" + relative_ + "/cgroup.controllers").value_or("");
  if (available.find("hugetlb") == std::string::npos || !path_exists("/sys/kernel/mm/hugepages/hugepages-2048kB"))
    GTEST_SKIP() << "no hugetlb controller or 2MB pages here";
  ExtraResources huge;
  huge.hugepage_limits.push_back({"2MB", 4 << 20});
  auto applied = cg->apply_extra(huge);
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(contents(mount + "/" + relative_ + "/hugetlb.2MB.max"), "4194304");
}

TEST_F(CgroupLayerTest, V2AddProcessToAGoneCgroupNamesTheFile) {
  std::string mount = path_exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : unified_root;
  if (!path_exists(mount + "/cgroup.controllers")) GTEST_SKIP() << "no cgroup v2 mount";
  auto host = detect_cgroup_host(mount);
  ASSERT_TRUE(host);
  auto* cg = make(*host, relative_);
  ASSERT_TRUE(cg);
  // Removed behind this object's back (another process tore the workload down).
  ASSERT_EQ(::rmdir((mount + "/" + relative_).c_str()), 0);
  pid_t child = spawn([]() -> int { sleep_forever(); });
  auto added = cg->add_process(child);
  ASSERT_FALSE(added);
  EXPECT_EQ(added.error().code, ErrorCode::not_found);
  EXPECT_NE(added.error().message.find(mount + "/" + relative_ + "/cgroup.procs"), std::string::npos)
      << added.error().message;
  EXPECT_NE(added.error().message.find("No such file or directory"), std::string::npos);
}

// --- freeze (berth-oci pause/resume), v1 freezer and v2 cgroup.freeze ---------------------

class CgroupFreezeTest : public CgroupLayerTest {
 protected:
  // A child in `cg` bumping a shared counter; freeze stops it, thaw lets it go on.
  void freeze_and_thaw(Cgroup* cg) {
    auto* counter = static_cast<std::atomic<long>*>(
        ::mmap(nullptr, sizeof(std::atomic<long>), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(counter, MAP_FAILED);
    new (counter) std::atomic<long>(0);
    pid_t child = spawn_in(cg, [&]() -> int {
      for (;;) {
        counter->fetch_add(1);
        ::usleep(1000);
      }
    });
    ASSERT_TRUE(eventually([&] { return counter->load() > 2; }));
    EXPECT_FALSE(cg->frozen());

    auto frozen = cg->freeze(true);
    ASSERT_TRUE(frozen) << frozen.error().message;
    EXPECT_TRUE(cg->frozen());
    long at = counter->load();
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(counter->load(), at) << "the child ran while frozen";

    auto thawed = cg->freeze(false);
    ASSERT_TRUE(thawed) << thawed.error().message;
    EXPECT_FALSE(cg->frozen());
    EXPECT_TRUE(eventually([&] { return counter->load() > at; })) << "the child did not run after thaw";

    // A frozen cgroup can still be killed whole (v1: kill_all thaws after its SIGKILLs; v2
    // lets SIGKILL through a frozen cgroup).
    ASSERT_TRUE(cg->freeze(true));
    auto killed = cg->kill_all();
    ASSERT_TRUE(killed) << killed.error().message;
    int status = wait_child(child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
    ::munmap(counter, sizeof(std::atomic<long>));
  }
};

TEST_F(CgroupFreezeTest, V1FreezerStopsAChildAndThawLetsItGoOn) {
  if (!v1_host()) GTEST_SKIP() << "host is not cgroup v1";
  if (!path_exists("/sys/fs/cgroup/freezer/freezer.state") && !path_exists("/sys/fs/cgroup/freezer/tasks"))
    GTEST_SKIP() << "no v1 freezer";
  auto* cg = make_default();
  ASSERT_TRUE(cg);
  EXPECT_EQ(contents(v1_file("freezer", "freezer.state")), "THAWED");
  freeze_and_thaw(cg);
}

TEST_F(CgroupFreezeTest, V2CgroupFreezeStopsAChildAndThawLetsItGoOn) {
  std::string mount = path_exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : unified_root;
  if (!path_exists(mount + "/cgroup.controllers")) GTEST_SKIP() << "no cgroup v2 mount";
  auto host = detect_cgroup_host(mount);
  ASSERT_TRUE(host) << host.error().message;
  auto* cg = make(*host, relative_);
  ASSERT_TRUE(cg);
  if (!path_exists(mount + "/" + relative_ + "/cgroup.freeze")) GTEST_SKIP() << "kernel without cgroup.freeze";
  freeze_and_thaw(cg);
}

TEST_F(CgroupFreezeTest, FreezeWithoutAFreezerIsAnError) {
  std::string mount = path_exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : unified_root;
  if (!path_exists(mount + "/cgroup.controllers")) GTEST_SKIP() << "no cgroup v2 mount";
  auto host = detect_cgroup_host(mount);
  ASSERT_TRUE(host);
  // A cgroup that is not there has nothing to freeze.
  auto gone = open_cgroup(*host, relative_ + "-absent");
  auto frozen = gone->freeze(true);
  EXPECT_FALSE(frozen);
  EXPECT_FALSE(gone->frozen());
}

}  // namespace
}  // namespace berth::linux
