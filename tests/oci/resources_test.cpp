// linux.resources beyond memory, cpu and pids limits (memory reservation, swappiness and OOM
// killer, blockIO, hugepageLimits, realtime cpu, idle, burst) and linux.personality, through the
// real binary: each value read back from the control file it lands in (v1 on a v1 or hybrid
// host, v2 on a v2 host), refusals named at create with nothing left behind, and update.
#include <sys/vfs.h>

#include <linux/magic.h>

#include <cstdio>
#include <fmt/format.h>
#include <functional>

#include "linux/cgroup.hpp"
#include "oci/oci_fixture.hpp"
#include "support/host_features.hpp"

namespace berth::testing {
namespace {

class OciResources : public OciTest {
 protected:
  void SetUp() override {
    OciTest::SetUp();
    auto host = linux::detect_cgroup_host();
    ASSERT_TRUE(host);
    v2_ = host->version == linux::CgroupVersion::v2;
    struct statfs fs;
    hybrid_ = !v2_ && ::statfs("/sys/fs/cgroup/unified", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
    unified_subtree_ = read_file("/sys/fs/cgroup/unified/cgroup.subtree_control").value_or("");
    // A block device of this host with an I/O scheduler (a disk, not zram), else the first listed.
    auto found = shell("for d in /sys/dev/block/*; do grep -q . $d/queue/scheduler 2>/dev/null && basename $d && exit; "
                       "done; ls /sys/dev/block | head -1");
    std::sscanf(found.c_str(), "%u:%u", &device_.first, &device_.second);
  }

  void TearDown() override {
    auto ids = ids_;
    OciTest::TearDown();
    for (auto& id : ids)
      for (auto base : {"/sys/fs/cgroup/blkio/berth-oci/", "/sys/fs/cgroup/cpu/berth-oci/",
                        "/sys/fs/cgroup/unified/berth-oci/", "/sys/fs/cgroup/hugetlb/berth-oci/"})
        EXPECT_FALSE(path_exists(base + id)) << id << "'s cgroup is left under " << base;
    // A hybrid host's unified root as it was (best effort: another user's cgroup may hold hugetlb).
    if (hybrid_ && unified_subtree_.find("hugetlb") == std::string::npos)
      (void)write_file("/sys/fs/cgroup/unified/cgroup.subtree_control", "-hugetlb");
  }

  // The control file of the container's cgroup: v1 under the controller's hierarchy, or v2's.
  std::string file(const std::string& id, const std::string& v1_controller, const std::string& v1_file,
                   const std::string& v2_file) {
    if (v2_) return "/sys/fs/cgroup/berth-oci/" + id + "/" + v2_file;
    return "/sys/fs/cgroup/" + v1_controller + "/berth-oci/" + id + "/" + v1_file;
  }
  static std::string read_control(const std::string& path) {
    auto text = read_file(path);
    if (!text) return "(unreadable " + path + ")";
    while (!text->empty() && text->back() == '\n') text->pop_back();
    return *text;
  }
  std::string device() const { return fmt::format("{}:{}", device_.first, device_.second); }

  // What the host's blkio (v1) or io (v2) calls the weight, and the value it shows for `w`.
  std::pair<std::string, std::string> weight_file(const std::string& id, int w) {
    if (v2_) {
      if (path_exists("/sys/fs/cgroup/berth-oci/" + id + "/io.bfq.weight"))
        return {file(id, "", "", "io.bfq.weight"), fmt::format("default {}", w)};
      return {file(id, "", "", "io.weight"), fmt::format("default {}", 1 + (w - 10) * 9999 / 990)};
    }
    if (path_exists("/sys/fs/cgroup/blkio/berth-oci/" + id + "/blkio.weight"))
      return {file(id, "blkio", "blkio.weight", ""), std::to_string(w)};
    return {file(id, "blkio", "blkio.bfq.weight", ""), std::to_string(w)};
  }

  bool v2_ = false;
  bool hybrid_ = false;
  std::string unified_subtree_;
  std::pair<unsigned, unsigned> device_{0, 0};
};

TEST_F(OciResources, MemoryBlockIOAndCpuLandInTheirControlFiles) {
  ASSERT_NE(device_.first + device_.second, 0u) << "no block device on this host";
  auto& r = config_["linux"]["resources"];
  r["memory"] = {{"limit", 64 << 20}, {"reservation", 32 << 20}, {"kernel", 1 << 20}};
  if (!v2_) {
    r["memory"]["swappiness"] = 10;
    r["memory"]["disableOOMKiller"] = true;
  }
  r["blockIO"] = {{"throttleReadBpsDevice", {{{"major", device_.first}, {"minor", device_.second}, {"rate", 1048576}}}},
                  {"throttleWriteBpsDevice", {{{"major", device_.first}, {"minor", device_.second}, {"rate", 2097152}}}},
                  {"throttleReadIOPSDevice", {{{"major", device_.first}, {"minor", device_.second}, {"rate", 100}}}},
                  {"throttleWriteIOPSDevice", {{{"major", device_.first}, {"minor", device_.second}, {"rate", 200}}}}};
  // burst, idle and realtime depend on the kernel's version and options: each is set where this
  // host has its file (BlockIOWeightLandsInItsControlFile covers the weight).
  r["cpu"] = {{"quota", 50000}, {"period", 100000}};
  bool burst = v2_ || !missing_v1_cpu_file("cpu.cfs_burst_us");
  bool idle = v2_ || !missing_v1_cpu_file("cpu.idle");
  bool realtime = !v2_ && !missing_v1_cpu_file("cpu.rt_period_us");
  if (burst) r["cpu"]["burst"] = 10000;
  if (idle) r["cpu"]["idle"] = 1;
  if (realtime) r["cpu"]["realtimePeriod"] = 500000;
  config_["linux"]["cgroupsPath"] = "/berth-oci/tuned";
  set_args({"sleep", "1000"});
  auto created = create("tuned");
  ASSERT_EQ(created.code, 0) << created.err;
  // kernel memory: deprecated, ignored with a warning naming it (as runc).
  EXPECT_NE(created.err.find("warning: linux.resources.memory.kernel:"), std::string::npos) << created.err;

  EXPECT_EQ(read_control(file("tuned", "memory", "memory.soft_limit_in_bytes", "memory.low")), "33554432");
  if (!v2_) {
    EXPECT_EQ(read_control(file("tuned", "memory", "memory.swappiness", "")), "10");
    EXPECT_NE(read_control(file("tuned", "memory", "memory.oom_control", "")).find("oom_kill_disable 1"),
              std::string::npos);
  }
  if (v2_) {
    auto io_max = read_control(file("tuned", "", "", "io.max"));
    EXPECT_EQ(io_max, device() + " rbps=1048576 wbps=2097152 riops=100 wiops=200") << io_max;
  } else {
    EXPECT_EQ(read_control(file("tuned", "blkio", "blkio.throttle.read_bps_device", "")), device() + " 1048576");
    EXPECT_EQ(read_control(file("tuned", "blkio", "blkio.throttle.write_bps_device", "")), device() + " 2097152");
    EXPECT_EQ(read_control(file("tuned", "blkio", "blkio.throttle.read_iops_device", "")), device() + " 100");
    EXPECT_EQ(read_control(file("tuned", "blkio", "blkio.throttle.write_iops_device", "")), device() + " 200");
  }
  if (burst) {
    EXPECT_EQ(read_control(file("tuned", "cpu", "cpu.cfs_burst_us", "cpu.max.burst")), "10000");
  }
  if (idle) {
    EXPECT_EQ(read_control(file("tuned", "cpu", "cpu.idle", "cpu.idle")), "1");
  }
  if (realtime) {
    EXPECT_EQ(read_control(file("tuned", "cpu", "cpu.rt_period_us", "")), "500000");
  }
}

TEST_F(OciResources, BlockIOWeightLandsInItsControlFile) {
  if (auto missing = missing_blkio_weight()) GTEST_SKIP() << *missing;
  config_["linux"]["resources"]["blockIO"] = {{"weight", 300}};
  set_args({"sleep", "1000"});
  auto created = create("weighted");
  ASSERT_EQ(created.code, 0) << created.err;
  auto [weight, shown] = weight_file("weighted", 300);
  EXPECT_EQ(read_control(weight), shown);
}

// Where the host has no weights, asking for one is an error naming the field, not a silent no-op.
TEST_F(OciResources, BlockIOWeightOnAHostWithoutWeightsIsRefusedByName) {
  if (!missing_blkio_weight()) GTEST_SKIP() << "this host has block I/O weights";
  config_["linux"]["resources"]["blockIO"] = {{"weight", 300}};
  set_args({"sleep", "1000"});
  auto created = create("unweighted");
  EXPECT_NE(created.code, 0);
  EXPECT_NE(created.err.find("linux.resources.blockIO.weight"), std::string::npos) << created.err;
  EXPECT_FALSE(path_exists(root_ + "/unweighted"));
}

TEST_F(OciResources, HugepageLimitsLandInTheHugetlbController) {
  if (!path_exists("/sys/kernel/mm/hugepages/hugepages-2048kB")) GTEST_SKIP() << "no 2MB huge pages here";
  config_["linux"]["resources"]["hugepageLimits"] = {{{"pageSize", "2MB"}, {"limit", 4 << 20}}};
  set_args({"sleep", "1000"});
  auto created = create("huge");
  ASSERT_EQ(created.code, 0) << created.err;
  int pid = state("huge")["pid"];
  auto cgroups = read_file("/proc/" + std::to_string(pid) + "/cgroup").value_or("");
  if (v2_) {
    EXPECT_EQ(read_control("/sys/fs/cgroup/berth-oci/huge/hugetlb.2MB.max"), "4194304");
  } else if (path_exists("/sys/fs/cgroup/hugetlb/berth-oci")) {
    EXPECT_EQ(read_control("/sys/fs/cgroup/hugetlb/berth-oci/huge/hugetlb.2MB.limit_in_bytes"), "4194304");
  } else {
    // Hybrid: hugetlb is only in the unified hierarchy; the container's init joined it there.
    ASSERT_TRUE(hybrid_);
    EXPECT_EQ(read_control("/sys/fs/cgroup/unified/berth-oci/huge/hugetlb.2MB.max"), "4194304");
    EXPECT_NE(cgroups.find("0::/berth-oci/huge\n"), std::string::npos) << cgroups;
  }
  ASSERT_EQ(oci({"delete", "--force", "huge"}).code, 0);
  EXPECT_FALSE(path_exists("/sys/fs/cgroup/unified/berth-oci/huge"));
}

TEST_F(OciResources, PersonalityLinux32MakesUnameSayI686) {
  config_["linux"]["personality"] = {{"domain", "LINUX32"}};
  set_args({"uname", "-m"});
  auto r = run("linux32");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "i686\n");
  config_["linux"]["personality"] = {{"domain", "LINUX"}, {"flags", nlohmann::json::array()}};
  r = run("linux64");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "x86_64\n");
}

TEST_F(OciResources, BadValuesAreOneErrorNamingTheFieldAndLeaveNothing) {
  struct Case {
    std::string field;
    std::function<void(nlohmann::json&)> edit;
  };
  auto device = device_;
  std::vector<Case> cases = {
      {"linux.resources.blockIO.weight", [](auto& c) { c["linux"]["resources"]["blockIO"] = {{"weight", -5}}; }},
      {"linux.resources.blockIO.weight", [](auto& c) { c["linux"]["resources"]["blockIO"] = {{"weight", 5}}; }},
      {"linux.resources.blockIO.throttleReadBpsDevice[0]",
       [](auto& c) {
         c["linux"]["resources"]["blockIO"] = {
             {"throttleReadBpsDevice", {{{"major", 4000}, {"minor", 77}, {"rate", 1}}}}};
       }},
      {"linux.resources.blockIO.bogus", [](auto& c) { c["linux"]["resources"]["blockIO"] = {{"bogus", 1}}; }},
      {"linux.resources.hugepageLimits[0].pageSize",
       [](auto& c) { c["linux"]["resources"]["hugepageLimits"] = {{{"pageSize", "3MB"}, {"limit", 1}}}; }},
      {"linux.resources.hugepageLimits[0].pageSize",
       [](auto& c) { c["linux"]["resources"]["hugepageLimits"] = {{{"pageSize", "16GB"}, {"limit", 1}}}; }},
      {"linux.resources.memory.swappiness", [](auto& c) { c["linux"]["resources"]["memory"] = {{"swappiness", 101}}; }},
      {"linux.resources.memory.reservation", [](auto& c) { c["linux"]["resources"]["memory"] = {{"reservation", -7}}; }},
      {"linux.resources.cpu.idle", [](auto& c) { c["linux"]["resources"]["cpu"] = {{"idle", 2}}; }},
      {"linux.personality.domain", [](auto& c) { c["linux"]["personality"] = {{"domain", "BSD"}}; }},
  };
  // Refused by this host only when the cgroup is written (a device not scheduled by BFQ takes no
  // weight, and a host without BFQ or CFQ takes none at all): the cgroup made for it goes too.
  if (read_file(fmt::format("/sys/dev/block/{}/queue/scheduler", this->device())).value_or("[bfq]").find("[bfq]") ==
      std::string::npos)
    cases.push_back({"linux.resources.blockIO.weightDevice", [device](auto& c) {
                       c["linux"]["resources"]["blockIO"] = {
                           {"weightDevice", {{{"major", device.first}, {"minor", device.second}, {"weight", 200}}}}};
                     }});
  if (!v2_) {
    if (!path_exists("/sys/fs/cgroup/blkio/blkio.leaf_weight"))
      cases.push_back({"linux.resources.blockIO.leafWeight",
                       [](auto& c) { c["linux"]["resources"]["blockIO"] = {{"leafWeight", 500}}; }});
  } else {
    cases.push_back({"linux.resources.memory.swappiness",
                     [](auto& c) { c["linux"]["resources"]["memory"] = {{"swappiness", 10}}; }});
    cases.push_back({"linux.resources.cpu.realtimeRuntime",
                     [](auto& c) { c["linux"]["resources"]["cpu"] = {{"realtimeRuntime", 1000}}; }});
  }
  auto original = config_;
  int n = 0;
  for (auto& c : cases) {
    config_ = original;
    c.edit(config_);
    set_args({"sleep", "1000"});
    std::string id = "bad" + std::to_string(n++);
    auto r = create(id);
    EXPECT_NE(r.code, 0) << c.field;
    EXPECT_NE(r.err.find(c.field), std::string::npos) << c.field << ": " << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << c.field << ": not one line: " << r.err;
    EXPECT_FALSE(path_exists(root_ + "/" + id)) << c.field;
    for (auto base : {"/sys/fs/cgroup/memory/berth-oci/", "/sys/fs/cgroup/blkio/berth-oci/",
                      "/sys/fs/cgroup/unified/berth-oci/", "/sys/fs/cgroup/berth-oci/"})
      EXPECT_FALSE(path_exists(base + id)) << c.field << ": a cgroup is left under " << base;
  }
}

TEST_F(OciResources, UpdateChangesMemoryReservationFromFlagsAndFile) {
  set_args({"sleep", "1000"});
  auto created = create("updated");
  ASSERT_EQ(created.code, 0) << created.err;
  ASSERT_EQ(oci({"start", "updated"}).code, 0);

  auto flags = oci({"update", "--memory-reservation", "16m", "updated"});
  ASSERT_EQ(flags.code, 0) << flags.err;
  std::string reservation = file("updated", "memory", "memory.soft_limit_in_bytes", "memory.low");
  EXPECT_EQ(read_control(reservation), "16777216");

  std::string json = dir_ + "/resources.json";
  ASSERT_TRUE(write_file(json, R"({"memory": {"reservation": 8388608}})"));
  auto from_file = oci({"update", "-r", json, "updated"});
  ASSERT_EQ(from_file.code, 0) << from_file.err;
  EXPECT_EQ(read_control(reservation), "8388608");

  // Refused whole: nothing changes (the weight is out of range on every host).
  auto refused = oci({"update", "--blkio-weight", "2000", "--memory-reservation", "4m", "updated"});
  EXPECT_NE(refused.code, 0);
  EXPECT_NE(refused.err.find("--blkio-weight"), std::string::npos) << refused.err;
  EXPECT_EQ(read_control(reservation), "8388608");
  EXPECT_EQ(status("updated"), "running");
}

TEST_F(OciResources, UpdateChangesBlockIOWeight) {
  if (auto missing = missing_blkio_weight()) GTEST_SKIP() << *missing;
  set_args({"sleep", "1000"});
  auto created = create("reweighted");
  ASSERT_EQ(created.code, 0) << created.err;
  ASSERT_EQ(oci({"start", "reweighted"}).code, 0);

  auto flags = oci({"update", "--blkio-weight", "400", "reweighted"});
  ASSERT_EQ(flags.code, 0) << flags.err;
  auto [weight, shown] = weight_file("reweighted", 400);
  EXPECT_EQ(read_control(weight), shown);

  std::string json = dir_ + "/resources.json";
  ASSERT_TRUE(write_file(json, R"({"blockIO": {"weight": 250}})"));
  auto from_file = oci({"update", "-r", json, "reweighted"});
  ASSERT_EQ(from_file.code, 0) << from_file.err;
  auto [weight2, shown2] = weight_file("reweighted", 250);
  EXPECT_EQ(read_control(weight2), shown2);
}

}  // namespace
}  // namespace berth::testing
