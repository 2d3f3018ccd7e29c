// config.json into the launch plan, without running anything.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include "oci/config.hpp"
#include "oci/container.hpp"

namespace berth::oci {
namespace {

nlohmann::json minimal() {
  return {{"ociVersion", "1.0.2"},
          {"root", {{"path", "/"}}},
          {"process", {{"args", {"true"}}, {"cwd", "/"}}},
          {"linux", {{"namespaces", {{{"type", "mount"}}, {{"type", "pid"}}}}}}};
}

TEST(OciConfigParse, TheMinimalConfigMakesABerthPlan) {
  auto config = parse_bundle_config(minimal().dump(), "/bundle");
  ASSERT_TRUE(config) << config.error().message;
  auto& plan = config->plan;
  EXPECT_EQ(plan.clone_flags, static_cast<unsigned long>(CLONE_NEWNS | CLONE_NEWPID));
  EXPECT_FALSE(plan.rootfs.private_network);  // no network namespace: the host's
  EXPECT_FALSE(plan.rootfs.standard_mounts);
  EXPECT_FALSE(plan.default_env);
  EXPECT_EQ(plan.user, "0:0");
  EXPECT_EQ(plan.umask, std::optional<mode_t>(022));
  EXPECT_EQ(plan.capabilities.bounding, 0u);
  EXPECT_TRUE(plan.rootfs.masked_paths.empty());
}

TEST(OciConfigParse, RlimitsByTheirKernelNames) {
  auto c = minimal();
  c["process"]["rlimits"] = {{{"type", "RLIMIT_NPROC"}, {"soft", 10}, {"hard", 20}}};
  auto config = parse_bundle_config(c.dump(), "/bundle");
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->plan.rlimits.size(), 1u);
  EXPECT_EQ(config->plan.rlimits[0].first, RLIMIT_NPROC);
  c["process"]["rlimits"] = {{{"type", "RLIMIT_BOGUS"}, {"soft", 10}, {"hard", 20}}};
  auto bad = parse_bundle_config(c.dump(), "/bundle");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("process.rlimits[0].type"), std::string::npos) << bad.error().message;
}

TEST(OciConfigParse, MistakesNameTheirField) {
  auto expect_error = [](nlohmann::json c, const std::string& field) {
    auto r = parse_bundle_config(c.dump(), "/bundle");
    ASSERT_FALSE(r) << field;
    EXPECT_NE(r.error().message.find(field), std::string::npos) << r.error().message;
  };
  auto c = minimal();
  c["hostname"] = "x";
  expect_error(c, "hostname");  // no uts namespace
  c = minimal();
  c["process"]["capabilities"] = {{"bounding", {"CAP_NOPE"}}};
  expect_error(c, "process.capabilities.bounding[0]");
  c = minimal();
  c["linux"]["namespaces"] = {{{"type", "pid"}}};
  expect_error(c, "linux.namespaces");
  c = minimal();
  c["linux"]["resources"] = {{"cpu", {{"period", 50000}, {"quota", 25000}}}};
  expect_error(c, "linux.resources.cpu.period");
  c = minimal();
  c["mounts"] = {{{"destination", "/x"}, {"type", "tmpfs"}, {"options", {"rro"}}}};
  expect_error(c, "mounts[0].options[0]");
  c = minimal();
  c["linux"]["sysctl"] = {{"vm.swappiness", "0"}};
  expect_error(c, "linux.sysctl[\"vm.swappiness\"]");  // the host's
  c = minimal();
  c["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
  expect_error(c, "linux.sysctl[\"net.ipv4.ip_forward\"]");  // no network namespace of its own
  c = minimal();
  c["process"]["args"] = nlohmann::json::array();
  expect_error(c, "process.args");
}

TEST(OciConfigParse, ABindMountedDevGetsNoNodesMade) {
  auto c = minimal();
  c["mounts"] = {{{"destination", "/dev"}, {"type", "bind"}, {"source", "/dev"}, {"options", {"rbind"}}}};
  auto config = parse_bundle_config(c.dump(), "/bundle");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_FALSE(config->plan.rootfs.make_standard_devices);
  c["linux"]["devices"] = {{{"path", "/dev/x"}, {"type", "c"}, {"major", 1}, {"minor", 3}}};
  auto refused = parse_bundle_config(c.dump(), "/bundle");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("linux.devices"), std::string::npos);
}

TEST(OciConfigParse, CgroupsPathsAsRuncTakesThem) {
  EXPECT_EQ(cgroup_path_for("", "abc", false), "berth-oci/abc");
  EXPECT_EQ(cgroup_path_for("/kubepods/pod1/abc", "abc", false), "kubepods/pod1/abc");
  EXPECT_EQ(cgroup_path_for("machine.slice:libpod:abc", "abc", true), "machine.slice/libpod-abc.scope");
}

}  // namespace
}  // namespace berth::oci
