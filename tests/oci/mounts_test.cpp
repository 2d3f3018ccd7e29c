// OCI mount options that need more than mount(2): the recursive attributes (rro, rnosuid, ...)
// set with mount_setattr on every submount, nosymfollow, tmpfs "tmpcopyup", and ID-mapped bind
// mounts (idmap, ridmap), each observed from inside a real container.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oci/oci_fixture.hpp"
#include "support/idmapped_mounts.hpp"

namespace berth::testing {
namespace {

// A mount the test makes on the host, detached when the test ends however it ends.
class HostMount {
 public:
  HostMount(const std::string& target, unsigned long flags, const char* data) : target_(target) {
    ok_ = make_dirs(target) && ::mount("tmpfs", target.c_str(), "tmpfs", flags, data) == 0;
  }
  HostMount(const HostMount&) = delete;
  HostMount& operator=(const HostMount&) = delete;
  ~HostMount() {
    if (ok_) ::umount2(target_.c_str(), MNT_DETACH);
  }
  bool ok() const { return ok_; }

 private:
  std::string target_;
  bool ok_ = false;
};

nlohmann::json bind_mount(const std::string& destination, const std::string& source,
                          std::vector<std::string> options) {
  return {{"destination", destination}, {"type", "bind"}, {"source", source}, {"options", options}};
}

nlohmann::json tmpfs_mount(const std::string& destination, std::vector<std::string> options) {
  return {{"destination", destination}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", options}};
}

nlohmann::json one_to_one(unsigned container_id, unsigned host_id, unsigned size = 1) {
  return nlohmann::json::array({{{"containerID", container_id}, {"hostID", host_id}, {"size", size}}});
}

bool has_line(const std::string& out, const std::string& line) {
  return out.find(line + "\n") != std::string::npos;
}

using OciMounts = OciTest;

TEST_F(OciMounts, RecursiveAttributesReachSubmounts) {
  std::string source = dir_ + "/tree";
  ASSERT_TRUE(make_dirs(source));
  HostMount sub(source + "/sub", MS_NOSUID | MS_NOEXEC, "mode=777");
  ASSERT_TRUE(sub.ok());
  config_["mounts"].push_back(bind_mount("/rro", source, {"rbind", "rro"}));
  config_["mounts"].push_back(bind_mount("/ro", source, {"rbind", "ro"}));  // "ro" is the top only
  config_["mounts"].push_back(bind_mount("/attrs", source, {"rbind", "rnodev", "rnosymfollow", "rnoatime", "rnodiratime"}));
  config_["mounts"].push_back(bind_mount("/cleared", source, {"rbind", "rsuid", "rexec", "rstrictatime"}));
  set_args({"sh", "-c",
            "touch /rro/sub/f 2>/dev/null && echo rro-sub-writable || echo rro-sub-ro; "
            "touch /rro/f 2>/dev/null && echo rro-top-writable || echo rro-top-ro; "
            "touch /ro/sub/g 2>/dev/null && echo ro-sub-writable || echo ro-sub-ro; "
            "echo attrs=$(awk '$5 == \"/attrs/sub\" {print $6}' /proc/self/mountinfo); "
            "echo cleared=$(awk '$5 == \"/cleared/sub\" {print $6}' /proc/self/mountinfo)"});
  auto r = run("recursive");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(has_line(r.out, "rro-sub-ro")) << r.out;
  EXPECT_TRUE(has_line(r.out, "rro-top-ro")) << r.out;
  EXPECT_TRUE(has_line(r.out, "ro-sub-writable")) << r.out;
  auto attrs = r.out.substr(r.out.find("attrs="));
  attrs = attrs.substr(0, attrs.find('\n'));
  for (auto flag : {"nodev", "noatime", "nodiratime", "nosymfollow", "nosuid", "noexec"})
    EXPECT_NE(attrs.find(flag), std::string::npos) << flag << " in " << attrs;
  auto cleared = r.out.substr(r.out.find("cleared="));
  cleared = cleared.substr(0, cleared.find('\n'));
  ASSERT_NE(cleared, "cleared=") << r.out;
  for (auto flag : {"nosuid", "noexec", "relatime"})
    EXPECT_EQ(cleared.find(flag), std::string::npos) << flag << " in " << cleared;
}

TEST_F(OciMounts, NosymfollowRefusesSymlinksOnTheMountAndSymfollowClearsIt) {
  config_["mounts"].push_back(tmpfs_mount("/nofollow", {"nosymfollow"}));
  config_["mounts"].push_back(tmpfs_mount("/follow", {"nosymfollow", "symfollow"}));
  set_args({"sh", "-c",
            "for d in /nofollow /follow; do echo hi > $d/f; ln -s $d/f $d/link; "
            "cat $d/link >/dev/null 2>&1 && echo $d-follows || echo $d-refuses; done; "
            "grep ' /nofollow ' /proc/mounts | grep -q nosymfollow && echo flag-shown"});
  auto r = run("symfollow");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "/nofollow-refuses\n/follow-follows\nflag-shown\n");
}

TEST_F(OciMounts, TmpcopyupStartsTheTmpfsWithWhatTheImageHasThere) {
  // A rootfs of its own: the shared one stays untouched. The container's root has no
  // CAP_DAC_OVERRIDE (the default spec's capabilities), so the modes below let it in.
  std::string rootfs = dir_ + "/rootfs";
  auto made = shell("set -e; cp -a " + rootfs_parent_ + "/rootfs " + rootfs + "; s=" + rootfs + "/seed; mkdir -p $s/dir; "
                    "echo data > $s/file; chown 1000:1000 $s/file; chmod 604 $s/file; chmod 711 $s/dir; "
                    "echo deep > $s/dir/deep; ln -s file $s/link; mkfifo $s/fifo; chown 1000:0 $s; chmod 775 $s; "
                    "echo ok");
  ASSERT_EQ(made, "ok\n") << made;
  config_["root"]["path"] = rootfs;
  config_["mounts"].push_back(tmpfs_mount("/seed", {"tmpcopyup"}));
  config_["mounts"].push_back(tmpfs_mount("/bin", {"tmpcopyup", "ro"}));
  set_args({"sh", "-c",
            "cd /seed; echo $(stat -c '%u:%g %a' . file dir link fifo | tr '\\n' ' '); "
            "echo $(stat -c %F link fifo | tr '\\n' ' '); readlink link; cat link dir/deep; "
            "echo fs=$(awk '$2 == \"/seed\" {print $3}' /proc/mounts); "
            "echo new > /seed/new && echo seed-writable; "
            "touch /bin/new 2>/dev/null && echo bin-writable || echo bin-ro; "
            "ls /bin/ls >/dev/null && echo bin-copied"});
  auto r = run("copyup");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out,
            "1000:0 775 1000:1000 604 0:0 711 0:0 777 0:0 644\n"
            "symbolic link fifo\n"
            "file\ndata\ndeep\n"
            "fs=tmpfs\nseed-writable\nbin-ro\nbin-copied\n");
  EXPECT_FALSE(path_exists(rootfs + "/seed/new")) << "a write went to the rootfs, not the tmpfs";
}

TEST_F(OciMounts, IdmapShowsTheMappedOwnersAndWritesThroughTheMapping) {
  std::string source = dir_ + "/ids";
  ASSERT_TRUE(make_dirs(source));
  ASSERT_TRUE(write_file(source + "/users", "x"));
  ASSERT_TRUE(write_file(source + "/roots", "x"));
  ASSERT_EQ(::chown(source.c_str(), 1000, 1000), 0);
  ASSERT_EQ(::chown((source + "/users").c_str(), 1000, 1000), 0);
  if (auto missing = missing_idmapped_mounts(source)) GTEST_SKIP() << *missing;
  HostMount sub(source + "/sub", 0, "mode=755");
  ASSERT_TRUE(sub.ok());
  if (auto missing = missing_idmapped_mounts(source + "/sub")) GTEST_SKIP() << *missing;
  ASSERT_TRUE(write_file(source + "/sub/f", "x"));
  ASSERT_EQ(::chown((source + "/sub/f").c_str(), 1000, 1000), 0);
  auto mapped = [&](const std::string& destination, std::vector<std::string> options) {
    auto m = bind_mount(destination, source, std::move(options));
    m["uidMappings"] = one_to_one(1000, 0);
    m["gidMappings"] = one_to_one(1000, 0);
    return m;
  };
  config_["mounts"].push_back(mapped("/mapped", {"rbind", "idmap"}));
  config_["mounts"].push_back(mapped("/rmapped", {"rbind", "ridmap"}));
  config_["mounts"].push_back(bind_mount("/plain", source, {"rbind"}));
  set_args({"sh", "-c",
            "for d in /mapped /rmapped /plain; do echo $d $(stat -c %u:%g $d/users $d/roots $d/sub/f | tr '\\n' ' '); done; "
            "touch /mapped/made-inside && echo wrote"});
  auto r = run("idmap");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  // On-disk 1000 shows as 0; on-disk 0 is outside the mapping (the overflow id); the submount
  // is mapped by ridmap only.
  EXPECT_TRUE(has_line(r.out, "/mapped 0:0 65534:65534 1000:1000")) << r.out;
  EXPECT_TRUE(has_line(r.out, "/rmapped 0:0 65534:65534 0:0")) << r.out;
  EXPECT_TRUE(has_line(r.out, "/plain 1000:1000 0:0 1000:1000")) << r.out;
  EXPECT_TRUE(has_line(r.out, "wrote")) << r.out;
  struct stat st;
  ASSERT_EQ(::stat((source + "/made-inside").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1000u) << "a file root made through the mapping is owned by the mapped host id";
  EXPECT_EQ(st.st_gid, 1000u);
}

TEST_F(OciMounts, IdmapWithoutMappingsTakesTheContainersUserNamespace) {
  std::string source = dir_ + "/owned-by-root";
  ASSERT_TRUE(make_dirs(source));
  ASSERT_EQ(::chmod(source.c_str(), 0755), 0);
  ASSERT_TRUE(write_file(source + "/f", "x"));
  if (auto missing = missing_idmapped_mounts(source)) GTEST_SKIP() << *missing;
  config_["linux"]["namespaces"].push_back({{"type", "user"}});
  config_["linux"]["uidMappings"] = one_to_one(0, 200000, 65536);
  config_["linux"]["gidMappings"] = one_to_one(0, 200000, 65536);
  config_["mounts"].push_back(bind_mount("/mapped", source, {"bind", "idmap"}));
  config_["mounts"].push_back(bind_mount("/plain", source, {"bind"}));
  set_args({"sh", "-c", "stat -c %u:%g /mapped/f /plain/f; touch /mapped/g && echo wrote"});
  auto r = run("idmap-userns");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  // The host's root owns f: through the container's mappings it is the container's root, and
  // unmapped (the overflow id) without them.
  EXPECT_EQ(r.out, "0:0\n65534:65534\nwrote\n");
  struct stat st;
  ASSERT_EQ(::stat((source + "/g").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
}

// A joined user namespace (a pod's containers join their sandbox's) lends its mappings as they are.
TEST_F(OciMounts, IdmapWithoutMappingsInAJoinedUserNamespaceTakesItsMappings) {
  std::string source = dir_ + "/owned-by-root";
  ASSERT_TRUE(make_dirs(source));
  ASSERT_EQ(::chmod(source.c_str(), 0755), 0);
  ASSERT_TRUE(write_file(source + "/f", "x"));
  if (auto missing = missing_idmapped_mounts(source)) GTEST_SKIP() << *missing;
  config_["linux"]["namespaces"].push_back({{"type", "user"}});
  config_["linux"]["uidMappings"] = one_to_one(0, 300000, 65536);
  config_["linux"]["gidMappings"] = one_to_one(0, 300000, 65536);
  set_args({"sleep", "1000"});
  ASSERT_EQ(create("owner").code, 0);
  int owner = state("owner")["pid"];
  for (auto& ns : config_["linux"]["namespaces"])
    if (ns["type"] == "user") ns["path"] = "/proc/" + std::to_string(owner) + "/ns/user";
  config_["linux"].erase("uidMappings");
  config_["linux"].erase("gidMappings");
  config_["mounts"].push_back(bind_mount("/mapped", source, {"bind", "idmap"}));
  config_["mounts"].push_back(bind_mount("/plain", source, {"bind"}));
  set_args({"stat", "-c", "%u:%g", "/mapped/f", "/plain/f"});
  auto r = run("joiner");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "0:0\n65534:65534\n");
}

TEST_F(OciMounts, AFilesystemThatCannotBeIdMappedIsRefusedByName) {
  auto m = bind_mount("/procsys", "/proc/sys", {"rbind", "idmap"});
  m["uidMappings"] = one_to_one(0, 1000);
  m["gidMappings"] = one_to_one(0, 1000);
  config_["mounts"].push_back(m);
  std::size_t index = config_["mounts"].size() - 1;
  set_args({"true"});
  auto r = create("notmappable");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("mounts[" + std::to_string(index) + "]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("does not support ID-mapped mounts"), std::string::npos) << r.err;
  EXPECT_FALSE(path_exists(root_ + "/notmappable"));
}

TEST_F(OciMounts, BadMountOptionsAreRefusedByNameBeforeAnythingExists) {
  struct Case {
    std::string field;
    nlohmann::json mount;
  };
  auto with_uid_only = bind_mount("/x", "/tmp", {"bind"});
  with_uid_only["uidMappings"] = one_to_one(0, 1000);
  auto tmpfs_mapped = tmpfs_mount("/x", {});
  tmpfs_mapped["uidMappings"] = one_to_one(0, 1000);
  tmpfs_mapped["gidMappings"] = one_to_one(0, 1000);
  std::vector<Case> cases = {
      {"options[1]: \"remount\"", bind_mount("/x", "/tmp", {"bind", "remount"})},
      {"has none", bind_mount("/x", "/tmp", {"bind", "idmap"})},  // no mappings, no user namespace
      {".gidMappings", with_uid_only},
      {"must be a bind mount", tmpfs_mapped},
      {"must be a bind mount", tmpfs_mount("/x", {"ridmap"})},
      {"tmpcopyup", bind_mount("/x", "/tmp", {"bind", "tmpcopyup"})},
  };
  auto original = config_;
  int n = 0;
  for (auto& c : cases) {
    config_ = original;
    config_["mounts"].push_back(c.mount);
    std::string where = "mounts[" + std::to_string(config_["mounts"].size() - 1) + "]";
    std::string id = "badmount" + std::to_string(n++);
    auto r = create(id);
    EXPECT_NE(r.code, 0) << c.field;
    EXPECT_NE(r.err.find(where), std::string::npos) << c.field << ": " << r.err;
    EXPECT_NE(r.err.find(c.field), std::string::npos) << c.field << ": " << r.err;
    EXPECT_FALSE(path_exists(root_ + "/" + id)) << c.field;
  }
}

}  // namespace
}  // namespace berth::testing
