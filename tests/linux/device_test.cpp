// Device access rules on this host's real hierarchies: v1's devices controller and, on the v2
// mount (the unified hierarchy of a hybrid host, or /sys/fs/cgroup on pure v2), the eBPF
// device filter. A forked child joins the cgroup and reports what it could open and mknod.
// Every cgroup and temporary node is removed by the fixture, even when a test fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "linux/cgroup.hpp"
#include "linux/device_filter.hpp"

namespace berth::linux {
namespace {

constexpr const char* unified_root = "/sys/fs/cgroup/unified";

// Where this host has a cgroup v2 hierarchy: the root on pure v2, else the hybrid unified mount.
std::string v2_mount() {
  if (path_exists("/sys/fs/cgroup/cgroup.controllers")) return "/sys/fs/cgroup";
  if (path_exists(std::string(unified_root) + "/cgroup.controllers")) return unified_root;
  return "";
}

// One operation the child tries: 0 when it worked, else its errno.
using Probe = std::function<int()>;

int open_errno(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return errno;
  ::close(fd);
  return 0;
}

int mknod_errno(const std::string& path, mode_t type, unsigned major, unsigned minor) {
  if (::mknod(path.c_str(), type | 0600, ::makedev(major, minor)) != 0) return errno;
  ::unlink(path.c_str());
  return 0;
}

class DeviceRulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    relative_ = "berth-test/devices-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
    char tmpl[] = "/tmp/berth-devices-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr) << std::strerror(errno);
    tmp_ = tmpl;
    // A loop0 block node (b 7:0) made while nothing restricts us; the children try to open it.
    block_node_ = tmp_ + "/loop0";
    ASSERT_EQ(::mknod(block_node_.c_str(), S_IFBLK | 0600, ::makedev(7, 0)), 0) << std::strerror(errno);
  }

  void TearDown() override {
    for (pid_t pid : children_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    for (auto& cg : cgroups_) {
      (void)cg->kill_all();
      auto removed = cg->remove();
      EXPECT_TRUE(removed) << removed.error().message;
      for (auto& dir : cg->paths()) EXPECT_FALSE(path_exists(dir)) << dir << " left behind";
    }
    if (!tmp_.empty()) {
      EXPECT_TRUE(remove_tree(tmp_));
    }
  }

  Cgroup* make(const CgroupHost& host) {
    auto cg = create_cgroup(host, relative_);
    EXPECT_TRUE(cg) << cg.error().message;
    if (!cg) return nullptr;
    cgroups_.push_back(std::move(*cg));
    return cgroups_.back().get();
  }

  // Forks a child that joins `cg` (add_process(0), as the runtime's children do) and runs each
  // probe; returns their results, or an empty vector when the child failed to report.
  std::vector<int> probe_in(Cgroup* cg, const std::vector<Probe>& probes) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      if (!cg->add_process(0)) ::_exit(120);
      for (auto& probe : probes) {
        int result = probe();
        if (::write(fds[1], &result, sizeof result) != sizeof result) ::_exit(121);
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    EXPECT_GT(pid, 0) << std::strerror(errno);
    if (pid < 0) {
      ::close(fds[0]);
      return {};
    }
    children_.push_back(pid);
    std::vector<int> results(probes.size());
    std::size_t got = 0;
    auto* bytes = reinterpret_cast<char*>(results.data());
    while (got < results.size() * sizeof(int)) {
      ssize_t n = ::read(fds[0], bytes + got, results.size() * sizeof(int) - got);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    ::close(fds[0]);
    int status = 0;
    EXPECT_EQ(::waitpid(pid, &status, 0), pid);
    std::erase(children_, pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
    if (got != results.size() * sizeof(int)) return {};
    return results;
  }

  // The checks every test makes: /dev/null read-write, the loop0 block node, mknod of c 1:3
  // and of b 8:0.
  std::vector<Probe> standard_probes() {
    return {
        [] { return open_errno("/dev/null", O_RDWR); },
        [this] { return open_errno(block_node_, O_RDONLY); },
        [this] { return mknod_errno(tmp_ + "/null", S_IFCHR, 1, 3); },
        [this] { return mknod_errno(tmp_ + "/sda", S_IFBLK, 8, 0); },
    };
  }

  std::string relative_;
  std::string tmp_;
  std::string block_node_;
  std::vector<std::unique_ptr<Cgroup>> cgroups_;
  std::vector<pid_t> children_;
};

// --- rules ----------------------------------------------------------------------------------

TEST(DeviceRules, DefaultListIsRuncsWithoutTheConsole) {
  auto rules = default_container_device_rules();
  ASSERT_EQ(rules.size(), 12u);
  EXPECT_FALSE(rules[0].allow);
  EXPECT_EQ(rules[0].type, 'a');
  std::set<std::string> allowed;
  for (auto& rule : rules) {
    if (!rule.allow) continue;
    auto number = [](std::int64_t n) { return n == -1 ? std::string("*") : std::to_string(n); };
    allowed.insert(std::string(1, rule.type) + " " + number(rule.major) + ":" + number(rule.minor) + " " +
                   rule.access);
  }
  std::set<std::string> expected = {"c *:* m",    "b *:* m",    "c 1:3 rwm",   "c 1:5 rwm",
                                    "c 1:7 rwm",  "c 1:8 rwm",  "c 1:9 rwm",   "c 5:0 rwm",
                                    "c 5:2 rwm",  "c 136:* rwm", "c 10:200 rwm"};
  EXPECT_EQ(allowed, expected);
  EXPECT_FALSE(allowed.contains("c 5:1 rwm"));  // /dev/console
  EXPECT_TRUE(validate_device_rules(rules));
}

TEST(DeviceRules, InvalidRulesNameTheField) {
  struct Case {
    DeviceRule rule;
    std::string field;
  };
  std::vector<Case> cases = {
      {DeviceRule{.type = 'x'}, "devices[1].type"},
      {DeviceRule{.type = 'c', .major = -2}, "devices[1].major"},
      {DeviceRule{.type = 'c', .major = 4096}, "devices[1].major"},
      {DeviceRule{.type = 'c', .minor = 1 << 20}, "devices[1].minor"},
      {DeviceRule{.type = 'c', .access = ""}, "devices[1].access"},
      {DeviceRule{.type = 'c', .access = "rwx"}, "devices[1].access"},
      {DeviceRule{.type = 'c', .access = "rr"}, "devices[1].access"},
      {DeviceRule{.type = 'a', .major = 1}, "devices[1].type"},
      {DeviceRule{.type = 'a', .access = "r"}, "devices[1].type"},
  };
  for (auto& c : cases) {
    auto valid = validate_device_rules({DeviceRule{.allow = false}, c.rule});
    ASSERT_FALSE(valid) << c.field;
    EXPECT_EQ(valid.error().code, ErrorCode::invalid_spec);
    EXPECT_TRUE(valid.error().message.starts_with(c.field + ":")) << valid.error().message;
  }
  EXPECT_TRUE(validate_device_rules({}));
  EXPECT_TRUE(validate_device_rules({DeviceRule{.type = 'b', .major = 8, .minor = 0, .access = "mr"}}));
}

// --- v1 -----------------------------------------------------------------------------------

TEST_F(DeviceRulesTest, V1DefaultRulesLetNullThroughAndStopBlockDevices) {
  auto host = detect_cgroup_host();
  ASSERT_TRUE(host);
  if (host->version != CgroupVersion::v1) GTEST_SKIP() << "host is not cgroup v1";
  if (!path_exists("/sys/fs/cgroup/devices/devices.list")) GTEST_SKIP() << "no v1 devices controller";

  // Unrestricted first: the block node opens or fails for want of a loop device, not EPERM.
  auto* open_cg = make(*host);
  ASSERT_TRUE(open_cg);
  auto before = probe_in(open_cg, standard_probes());
  ASSERT_EQ(before.size(), 4u);
  EXPECT_EQ(before[0], 0);
  EXPECT_NE(before[1], EPERM);
  EXPECT_EQ(before[3], 0);

  auto restricted = open_cg->restrict_devices(default_container_device_rules());
  ASSERT_TRUE(restricted) << restricted.error().message;
  std::string list_file = "/sys/fs/cgroup/devices/" + relative_ + "/devices.list";
  auto list = read_file(list_file);
  ASSERT_TRUE(list) << list.error().message;
  for (const char* line : {"c *:* m", "b *:* m", "c 1:3 rwm", "c 136:* rwm", "c 10:200 rwm"})
    EXPECT_NE(list->find(line), std::string::npos) << line << " missing from " << *list;
  EXPECT_EQ(list->find("a *:* rwm"), std::string::npos) << *list;

  auto after = probe_in(open_cg, standard_probes());
  ASSERT_EQ(after.size(), 4u);
  EXPECT_EQ(after[0], 0) << std::strerror(after[0]);          // /dev/null
  EXPECT_EQ(after[1], EPERM) << std::strerror(after[1]);      // b 7:0
  EXPECT_EQ(after[2], 0) << std::strerror(after[2]);          // mknod c 1:3 (c *:* m)
  EXPECT_EQ(after[3], 0) << std::strerror(after[3]);          // mknod b 8:0 (b *:* m)

  // Without runc's "b *:* m", mknod of a block device is refused too.
  restricted = open_cg->restrict_devices({DeviceRule{.allow = false},
                                          DeviceRule{.type = 'c', .major = 1, .minor = 3, .access = "rwm"}});
  ASSERT_TRUE(restricted) << restricted.error().message;
  auto narrow = probe_in(open_cg, standard_probes());
  ASSERT_EQ(narrow.size(), 4u);
  EXPECT_EQ(narrow[0], 0) << std::strerror(narrow[0]);
  EXPECT_EQ(narrow[1], EPERM) << std::strerror(narrow[1]);
  EXPECT_EQ(narrow[2], 0) << std::strerror(narrow[2]);
  EXPECT_EQ(narrow[3], EPERM) << std::strerror(narrow[3]);
}

TEST_F(DeviceRulesTest, V1InvalidRulesWriteNothing) {
  auto host = detect_cgroup_host();
  ASSERT_TRUE(host);
  if (host->version != CgroupVersion::v1) GTEST_SKIP() << "host is not cgroup v1";
  if (!path_exists("/sys/fs/cgroup/devices/devices.list")) GTEST_SKIP() << "no v1 devices controller";
  auto* cg = make(*host);
  ASSERT_TRUE(cg);
  auto restricted = cg->restrict_devices({DeviceRule{.allow = false}, DeviceRule{.type = 'q'}});
  ASSERT_FALSE(restricted);
  EXPECT_EQ(restricted.error().code, ErrorCode::invalid_spec);
  EXPECT_TRUE(restricted.error().message.starts_with("devices[1].type:")) << restricted.error().message;
  auto list = read_file("/sys/fs/cgroup/devices/" + relative_ + "/devices.list");
  ASSERT_TRUE(list);
  EXPECT_EQ(*list, "a *:* rwm\n");
}

// --- v2: the eBPF filter --------------------------------------------------------------------

TEST_F(DeviceRulesTest, V2FilterFromDefaultRulesLetsNullThroughAndStopsBlockDevices) {
  std::string mount = v2_mount();
  if (mount.empty()) GTEST_SKIP() << "no cgroup v2 mount";
  auto host = detect_cgroup_host(mount);
  ASSERT_TRUE(host);
  auto* cg = make(*host);
  ASSERT_TRUE(cg);
  ASSERT_EQ(cg->version(), CgroupVersion::v2);

  auto before = probe_in(cg, standard_probes());
  ASSERT_EQ(before.size(), 4u);
  EXPECT_EQ(before[0], 0);
  EXPECT_NE(before[1], EPERM);
  EXPECT_EQ(before[3], 0);

  UniqueFd dir(::open((mount + "/" + relative_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir) << std::strerror(errno);
  auto attached = attach_device_filter(dir.get(), default_container_device_rules());
  ASSERT_TRUE(attached) << attached.error().message;
  auto count = attached_device_filters(dir.get());
  ASSERT_TRUE(count) << count.error().message;
  EXPECT_EQ(*count, 1u);

  std::vector<Probe> probes = standard_probes();
  probes.push_back([] { return open_errno("/dev/zero", O_RDONLY); });
  probes.push_back([] { return open_errno("/dev/urandom", O_RDONLY); });
  probes.push_back([] { return open_errno("/dev/kmsg", O_RDONLY); });  // c 1:11: not listed
  auto after = probe_in(cg, probes);
  ASSERT_EQ(after.size(), 7u);
  EXPECT_EQ(after[0], 0) << std::strerror(after[0]);          // /dev/null
  EXPECT_EQ(after[1], EPERM) << std::strerror(after[1]);      // b 7:0
  EXPECT_EQ(after[2], 0) << std::strerror(after[2]);          // mknod c 1:3 (c *:* m)
  EXPECT_EQ(after[3], 0) << std::strerror(after[3]);          // mknod b 8:0 (b *:* m)
  EXPECT_EQ(after[4], 0) << std::strerror(after[4]);
  EXPECT_EQ(after[5], 0) << std::strerror(after[5]);
  EXPECT_EQ(after[6], EPERM) << std::strerror(after[6]);
}

// Through the Cgroup interface: a second call replaces the first filter (one program stays
// attached), and the last matching rule decides.
TEST_F(DeviceRulesTest, V2RestrictDevicesReplacesTheFilterAndTheLastMatchWins) {
  std::string mount = v2_mount();
  if (mount.empty()) GTEST_SKIP() << "no cgroup v2 mount";
  auto host = detect_cgroup_host(mount);
  ASSERT_TRUE(host);
  auto* cg = make(*host);
  ASSERT_TRUE(cg);
  auto restricted = cg->restrict_devices(default_container_device_rules());
  ASSERT_TRUE(restricted) << restricted.error().message;
  restricted = cg->restrict_devices({
      DeviceRule{.allow = false},
      DeviceRule{.type = 'c', .major = 1, .minor = -1, .access = "rwm"},
      DeviceRule{.allow = false, .type = 'c', .major = 1, .minor = 3, .access = "w"},
      DeviceRule{.allow = false, .type = 'c', .major = 1, .minor = 5, .access = "rwm"},
  });
  ASSERT_TRUE(restricted) << restricted.error().message;
  UniqueFd dir(::open((mount + "/" + relative_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dir);
  auto count = attached_device_filters(dir.get());
  ASSERT_TRUE(count) << count.error().message;
  EXPECT_EQ(*count, 1u);

  auto results = probe_in(cg, {
                                  [] { return open_errno("/dev/null", O_RDONLY); },
                                  [] { return open_errno("/dev/null", O_WRONLY); },
                                  [] { return open_errno("/dev/zero", O_RDONLY); },
                                  [] { return open_errno("/dev/urandom", O_RDONLY); },
                                  [] { return open_errno("/dev/tty", O_RDWR); },
                                  [this] { return mknod_errno(tmp_ + "/null", S_IFCHR, 1, 3); },
                                  [this] { return mknod_errno(tmp_ + "/sda", S_IFBLK, 8, 0); },
                              });
  ASSERT_EQ(results.size(), 7u);
  EXPECT_EQ(results[0], 0) << std::strerror(results[0]);      // c 1:* rwm
  EXPECT_EQ(results[1], EPERM) << std::strerror(results[1]);  // the later "c 1:3 w" deny
  EXPECT_EQ(results[2], EPERM) << std::strerror(results[2]);  // c 1:5 denied
  EXPECT_EQ(results[3], 0) << std::strerror(results[3]);      // c 1:9 through c 1:*
  EXPECT_EQ(results[4], EPERM) << std::strerror(results[4]);  // c 5:0: the first filter's, gone
  EXPECT_EQ(results[5], 0) << std::strerror(results[5]);      // mknod c 1:3: only w is denied
  EXPECT_EQ(results[6], EPERM) << std::strerror(results[6]);  // no "b *:* m" now

  auto bad = cg->restrict_devices({DeviceRule{.type = 'c', .minor = -7}});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("devices[0].minor:")) << bad.error().message;
}

}  // namespace
}  // namespace berth::linux
