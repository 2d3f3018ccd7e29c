// config.json into the launch plan, without running anything.
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
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
  c["mounts"] = {{{"destination", "/x"}, {"type", "tmpfs"}, {"options", {"remount"}}}};
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

TEST(OciConfigParse, MountOptionsBeyondMountFlags) {
  auto c = minimal();
  c["mounts"] = {
      {{"destination", "/a"}, {"type", "bind"}, {"source", "/tmp"},
       {"options", {"rbind", "rro", "rnosuid", "rdev", "rnoexec", "rexec", "rstrictatime", "rnoatime", "nosymfollow"}}},
      {{"destination", "/b"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"tmpcopyup", "rrelatime", "symfollow"}}},
      {{"destination", "/c"}, {"type", "bind"}, {"source", "/tmp"}, {"options", {"rbind", "ridmap"}},
       {"uidMappings", {{{"containerID", 0}, {"hostID", 1000}, {"size", 10}}}},
       {"gidMappings", {{{"containerID", 0}, {"hostID", 2000}, {"size", 10}}}}},
      // Mappings without the option are an ID-mapped mount all the same (runc).
      {{"destination", "/d"}, {"type", "bind"}, {"source", "/tmp"},
       {"uidMappings", {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}}},
       {"gidMappings", {{{"containerID", 0}, {"hostID", 1000}, {"size", 1}}}}}};
  auto config = parse_bundle_config(c.dump(), "/bundle");
  ASSERT_TRUE(config) << config.error().message;
  auto& mounts = config->plan.rootfs.mounts;
  ASSERT_EQ(mounts.size(), 4u);
  EXPECT_EQ(mounts[0].name, "mounts[0]");
  // The last of two atime options wins; exec after noexec clears it.
  EXPECT_EQ(mounts[0].attr_set, static_cast<std::uint64_t>(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME));
  EXPECT_EQ(mounts[0].attr_clr, static_cast<std::uint64_t>(MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC | MOUNT_ATTR__ATIME));
  EXPECT_EQ(mounts[0].flags, static_cast<unsigned long>(MS_NOSYMFOLLOW));
  EXPECT_FALSE(mounts[0].idmap.enabled);
  EXPECT_TRUE(mounts[1].copy_up);
  EXPECT_EQ(mounts[1].attr_set, 0u);  // relatime is the atime value 0
  EXPECT_EQ(mounts[1].attr_clr, static_cast<std::uint64_t>(MOUNT_ATTR__ATIME));
  EXPECT_EQ(mounts[1].flags, 0u);
  EXPECT_TRUE(mounts[2].idmap.enabled);
  EXPECT_TRUE(mounts[2].idmap.recursive);
  EXPECT_EQ(mounts[2].idmap.uid_map, (std::vector<IdMapping>{{0, 1000, 10}}));
  EXPECT_EQ(mounts[2].idmap.gid_map, (std::vector<IdMapping>{{0, 2000, 10}}));
  EXPECT_TRUE(mounts[3].idmap.enabled);
  EXPECT_FALSE(mounts[3].idmap.recursive);
}

TEST(OciConfigParse, IdmapWithoutMappingsTakesTheContainersUserNamespace) {
  auto c = minimal();
  c["linux"]["namespaces"].push_back({{"type", "user"}});
  c["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
  c["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 200000}, {"size", 65536}}};
  c["mounts"] = {{{"destination", "/a"}, {"type", "bind"}, {"source", "/tmp"}, {"options", {"bind", "idmap"}}}};
  auto config = parse_bundle_config(c.dump(), "/bundle");
  ASSERT_TRUE(config) << config.error().message;
  auto& m = config->plan.rootfs.mounts.at(0);
  EXPECT_EQ(m.idmap.uid_map, (std::vector<IdMapping>{{0, 100000, 65536}}));
  EXPECT_EQ(m.idmap.gid_map, (std::vector<IdMapping>{{0, 200000, 65536}}));
  EXPECT_TRUE(m.idmap.userns_path.empty());
  // A joined user namespace is used as it is.
  c["linux"].erase("uidMappings");
  c["linux"].erase("gidMappings");
  c["linux"]["namespaces"][2]["path"] = "/proc/1/ns/user";
  config = parse_bundle_config(c.dump(), "/bundle");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->plan.rootfs.mounts.at(0).idmap.userns_path, "/proc/1/ns/user");
  EXPECT_TRUE(config->plan.rootfs.mounts.at(0).idmap.uid_map.empty());
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
