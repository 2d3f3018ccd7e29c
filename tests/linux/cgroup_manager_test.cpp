// The cgroup layer on this host's real hierarchies: v1 (this machine's controllers) and the
// v2 code path on the machine's unified mount (which holds no controllers here).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/fs.hpp"
#include "linux/cgroup.hpp"
#include <random>

namespace berth::linux {
namespace {

using namespace std::chrono_literals;

std::string trimmed(const std::string& path) {
  auto text = read_file(path);
  if (!text) return "<" + text.error().message + ">";
  while (!text->empty() && text->back() == '\n') text->pop_back();
  return *text;
}

// A forked child that sleeps until killed.
pid_t sleeper() {
  pid_t pid = ::fork();
  if (pid == 0) {
    for (;;) ::pause();
  }
  return pid;
}

class CgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    relative_ = "berth-test/" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
  }
  void TearDown() override {
    for (auto* cg : {v1_.get(), v2_.get()}) {
      if (!cg) continue;
      (void)cg->kill_all();
      for (pid_t pid : children_) ::waitpid(pid, nullptr, WNOHANG);
      auto removed = cg->remove();
      EXPECT_TRUE(removed) << removed.error().message;
      for (auto& dir : cg->paths()) EXPECT_FALSE(path_exists(dir)) << dir;
    }
    for (pid_t pid : children_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }

  std::unique_ptr<Cgroup> make_v1() {
    auto host = detect_cgroup_host();
    EXPECT_TRUE(host);
    auto cg = create_cgroup(*host, relative_);
    EXPECT_TRUE(cg) << cg.error().message;
    return cg ? std::move(*cg) : nullptr;
  }

  std::string relative_;
  std::unique_ptr<Cgroup> v1_, v2_;
  std::vector<pid_t> children_;
};

TEST_F(CgroupTest, DetectsThisHostsLayout) {
  auto host = detect_cgroup_host();
  ASSERT_TRUE(host);
  // This machine runs hybrid: v1 controllers, a controller-less v2 at /sys/fs/cgroup/unified.
  bool pure_v2 = path_exists("/sys/fs/cgroup/cgroup.controllers");
  EXPECT_EQ(host->version, pure_v2 ? CgroupVersion::v2 : CgroupVersion::v1);
  auto unified = detect_cgroup_host("/sys/fs/cgroup/unified");
  if (path_exists("/sys/fs/cgroup/unified/cgroup.controllers")) {
    ASSERT_TRUE(unified);
    EXPECT_EQ(unified->version, CgroupVersion::v2);
  }
  auto missing = detect_cgroup_host("/no/such/mount");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/no/such/mount"), std::string::npos);
}

TEST_F(CgroupTest, V1LimitsLandInTheControllerFiles) {
  auto host = detect_cgroup_host();
  if (host->version != CgroupVersion::v1) GTEST_SKIP() << "host is not cgroup v1";
  v1_ = make_v1();
  ASSERT_TRUE(v1_);
  Resources r;
  r.memory_bytes = 64 << 20;
  r.cpus = 0.5;
  r.cpu_shares = 512;
  r.pids_limit = 42;
  ASSERT_TRUE(v1_->apply(r));
  EXPECT_EQ(trimmed("/sys/fs/cgroup/memory/" + relative_ + "/memory.limit_in_bytes"), "67108864");
  EXPECT_EQ(trimmed("/sys/fs/cgroup/cpu/" + relative_ + "/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(trimmed("/sys/fs/cgroup/cpu/" + relative_ + "/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(trimmed("/sys/fs/cgroup/cpu/" + relative_ + "/cpu.shares"), "512");
  EXPECT_EQ(trimmed("/sys/fs/cgroup/pids/" + relative_ + "/pids.max"), "42");
  auto stats = v1_->stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->memory_limit_bytes, 64u << 20);
  EXPECT_EQ(stats->pids_limit, 42u);
}

TEST_F(CgroupTest, V1RejectsValuesTheKernelRefuses) {
  auto host = detect_cgroup_host();
  if (host->version != CgroupVersion::v1) GTEST_SKIP() << "host is not cgroup v1";
  v1_ = make_v1();
  ASSERT_TRUE(v1_);
  Resources r;
  r.pids_limit = -5;
  auto applied = v1_->apply(r);
  ASSERT_FALSE(applied);
  EXPECT_NE(applied.error().message.find("pids"), std::string::npos) << applied.error().message;
}

TEST_F(CgroupTest, V1ProcessesKillAllAndRemove) {
  auto host = detect_cgroup_host();
  if (host->version != CgroupVersion::v1) GTEST_SKIP() << "host is not cgroup v1";
  v1_ = make_v1();
  ASSERT_TRUE(v1_);
  pid_t a = sleeper(), b = sleeper();
  children_ = {a, b};
  ASSERT_TRUE(v1_->add_process(a));
  ASSERT_TRUE(v1_->add_process(b));
  auto procs = v1_->processes();
  ASSERT_TRUE(procs);
  EXPECT_EQ(procs->size(), 2u);
  auto killed = v1_->kill_all();
  ASSERT_TRUE(killed) << killed.error().message;
  EXPECT_EQ(killed->size(), 2u);
  int status = 0;
  ASSERT_EQ(::waitpid(a, &status, 0), a);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_EQ(::waitpid(b, &status, 0), b);
  children_.clear();
  EXPECT_TRUE(v1_->processes()->empty());
  auto removed = v1_->remove();
  ASSERT_TRUE(removed) << removed.error().message;
  EXPECT_FALSE(removed->empty());
  for (auto& dir : v1_->paths()) EXPECT_FALSE(path_exists(dir)) << dir;
  // Its empty parent went with it, so nothing named berth-test is left.
  EXPECT_FALSE(path_exists("/sys/fs/cgroup/memory/berth-test"));
}

TEST_F(CgroupTest, OpeningAMissingCgroupIsHarmless) {
  auto host = detect_cgroup_host();
  auto cg = open_cgroup(*host, "berth-test/never-made");
  EXPECT_TRUE(cg->paths().empty());
  auto killed = cg->kill_all();
  ASSERT_TRUE(killed);
  EXPECT_TRUE(killed->empty());
  auto removed = cg->remove();
  ASSERT_TRUE(removed);
  EXPECT_TRUE(removed->empty());
}

TEST_F(CgroupTest, V2CodePathOnTheUnifiedMount) {
  if (!path_exists("/sys/fs/cgroup/unified/cgroup.controllers") &&
      !path_exists("/sys/fs/cgroup/cgroup.controllers"))
    GTEST_SKIP() << "no cgroup v2 mount";
  std::string mount = path_exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup"
                                                                         : "/sys/fs/cgroup/unified";
  auto host = detect_cgroup_host(mount);
  ASSERT_TRUE(host);
  ASSERT_EQ(host->version, CgroupVersion::v2);
  auto cg = create_cgroup(*host, relative_);
  ASSERT_TRUE(cg) << cg.error().message;
  v2_ = std::move(*cg);
  ASSERT_EQ(v2_->paths().size(), 1u);
  EXPECT_TRUE(path_exists(mount + "/" + relative_));
  EXPECT_GE(v2_->clone_into_fd(), 0);
  pid_t a = sleeper();
  children_ = {a};
  ASSERT_TRUE(v2_->add_process(a));
  auto procs = v2_->processes();
  ASSERT_TRUE(procs);
  EXPECT_EQ(*procs, std::vector<pid_t>{a});
  auto killed = v2_->kill_all();
  ASSERT_TRUE(killed) << killed.error().message;
  int status = 0;
  ASSERT_EQ(::waitpid(a, &status, 0), a);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  children_.clear();
  if (mount == "/sys/fs/cgroup/unified") {
    // Here the v2 hierarchy has no memory controller: a memory limit is refused, naming it.
    Resources r;
    r.memory_bytes = 64 << 20;
    auto applied = v2_->apply(r);
    ASSERT_FALSE(applied);
    EXPECT_EQ(applied.error().code, ErrorCode::invalid_spec);
    EXPECT_NE(applied.error().message.find("memory"), std::string::npos);
  }
}

}  // namespace
}  // namespace berth::linux
