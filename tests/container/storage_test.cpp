// A container's filesystem: image defaults, the overlay and its copy fallback, a plain rootfs,
// read-only roots, bind mounts, volumes and tmpfs; bad input refused with nothing left behind.
#include <gmock/gmock.h>

#include <nlohmann/json.hpp>

#include "container/container_fixture.hpp"
#include "support/cli.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(ContainerTest, ImageDefaultsApplyAndTheSpecOverrides) {
  // No command: the image's Cmd ["sh"] runs (and ends at once, stdin being empty).
  auto [out, code] = run_to_exit(container_spec({}));
  EXPECT_EQ(code, 0) << out;
  auto spec = container_spec({});
  spec.env = {"EXTRA=1"};
  auto env = sh("echo $PATH; echo $EXTRA; echo $HOSTNAME; pwd", spec);
  EXPECT_THAT(env, HasSubstr("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n1\n"));
  auto h = runtime_->create(container_spec({"true"}, "labelled"));
  ASSERT_TRUE(h);
  auto info = runtime_->inspect(h->id);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->spec.labels.at("org.berth.test"), "busybox");
  EXPECT_THAT(info->spec.container.image_id, HasSubstr("sha256:"));
  auto entry = container_spec({"-c", "echo via entrypoint"});
  entry.container.entrypoint = std::vector<std::string>{"/bin/sh"};
  auto [eout, ecode] = run_to_exit(entry);
  EXPECT_EQ(eout, "via entrypoint\n");
}

TEST_F(ContainerTest, WritesGoToTheContainersOwnUpperLayer) {
  auto first = sh("echo changed > /etc/berth-image; rm /bin/vi; cat /etc/berth-image");
  EXPECT_EQ(first, "changed\n");
  // A second container of the same image sees the image as it was.
  auto second = sh("cat /etc/berth-image; test -e /bin/vi && echo vi-present");
  EXPECT_EQ(second, "busybox test image\nvi-present\n");
}

TEST_F(ContainerTest, CopyDriverWorksWithoutOverlay) {
  auto rt = open_runtime(RuntimeOptions{root_, BERTH_SHIM_PATH, "copy"});
  ASSERT_TRUE(rt) << rt.error().message;
  auto spec = container_spec({"sh", "-c", "echo copied > /x; cat /x /etc/berth-image; grep -c overlay /proc/self/mounts"});
  auto h = (*rt)->create(spec);
  ASSERT_TRUE(h) << h.error().message;
  ASSERT_TRUE((*rt)->start(h->id));
  auto exit = (*rt)->wait(h->id, 10s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(all_output(h->id), "copied\nbusybox test image\n0\n");
}

TEST_F(ContainerTest, PlainRootfsDirectory) {
  std::string rootfs = root_ + "/plain";
  shell("mkdir -p " + rootfs + "/bin && cp /bin/busybox " + rootfs + "/bin/ && ln -s busybox " + rootfs +
        "/bin/sh && ln -s busybox " + rootfs + "/bin/cat");
  WorkloadSpec spec;
  spec.kind = WorkloadKind::container;
  spec.rootfs = rootfs;
  spec.args = {"/bin/sh", "-c", "echo from-rootfs > /made; cat /made"};
  auto [out, code] = run_to_exit(spec);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(out, "from-rootfs\n");
  EXPECT_TRUE(path_exists(rootfs + "/made"));  // a plain rootfs is the container's, as with runc
}

TEST_F(ContainerTest, ReadOnlyRootWithATmpfs) {
  auto spec = container_spec({});
  spec.container.read_only_rootfs = true;
  spec.mounts.push_back(Mount{"tmpfs", "", "/scratch", false, {"size=1m"}});
  auto out = sh("touch /x 2>/dev/null || echo root-ro; echo ok > /scratch/f && cat /scratch/f; "
                "grep ' /scratch ' /proc/self/mounts | cut -d' ' -f3", spec);
  EXPECT_EQ(out, "root-ro\nok\ntmpfs\n");
}

TEST_F(ContainerTest, BindMountsAndNamedVolumes) {
  std::string host = root_ + "/shared";
  ASSERT_TRUE(make_dirs(host, 0755));
  ASSERT_TRUE(write_file(host + "/in", "from host\n"));
  auto spec = container_spec({});
  spec.mounts.push_back(Mount{"bind", host, "/data", false, {}});
  spec.mounts.push_back(Mount{"bind", host, "/ro", true, {}});
  spec.mounts.push_back(Mount{"volume", "cache", "/cache", false, {}});
  auto out = sh("cat /data/in; echo out > /data/out; (echo x > /ro/x) 2>/dev/null || echo ro-refused; "
                "echo kept > /cache/v", spec);
  EXPECT_EQ(out, "from host\nro-refused\n");
  EXPECT_EQ(read_file(host + "/out").value_or(""), "out\n");
  auto again = container_spec({});
  again.mounts.push_back(Mount{"volume", "cache", "/cache", false, {}});
  EXPECT_EQ(sh("cat /cache/v", again), "kept\n");
}

TEST_F(ContainerTest, SymlinkInTheRootfsCannotRedirectAMountToTheHost) {
  // A rootfs whose /etc is a symlink to a host directory: berth bind-mounts /etc/hostname and
  // /etc/hosts, and must resolve those targets inside the rootfs, never on the host.
  std::string escape_dir = root_ + "/escape";
  ASSERT_TRUE(make_dirs(escape_dir, 0755));
  std::string rootfs = root_ + "/evil";
  shell("mkdir -p " + rootfs + "/bin && cp /bin/busybox " + rootfs + "/bin/ && ln -s busybox " + rootfs +
        "/bin/sh && ln -s busybox " + rootfs + "/bin/cat && ln -s " + escape_dir + " " + rootfs + "/etc");
  WorkloadSpec spec;
  spec.kind = WorkloadKind::container;
  spec.rootfs = rootfs;
  spec.name = "evil";
  spec.args = {"/bin/sh", "-c", "cat /etc/hostname"};
  // Resolved inside the rootfs, the symlink dangles: create is refused, naming the path.
  auto h = runtime_->create(spec);
  ASSERT_FALSE(h);
  EXPECT_THAT(h.error().message, HasSubstr("/etc"));
  EXPECT_FALSE(path_exists(escape_dir + "/hostname")) << "a mount target escaped the rootfs";
  EXPECT_FALSE(path_exists(escape_dir + "/hosts"));
}

TEST_F(ContainerTest, BadInputIsRefusedWithNothingLeftBehind) {
  auto expect_refused = [&](WorkloadSpec spec, std::string_view needle) {
    auto h = runtime_->create(spec);
    ASSERT_FALSE(h) << "accepted: " << needle;
    EXPECT_THAT(h.error().message, HasSubstr(std::string(needle)));
  };
  auto unknown = container_spec({"true"});
  unknown.image = "nosuchimage";
  expect_refused(unknown, "nosuchimage");
  expect_refused(container_spec({"no-such-program"}), "no-such-program");
  auto bad_cap = container_spec({"true"});
  bad_cap.container.cap_add = {"CAP_FLY"};
  expect_refused(bad_cap, "CAP_FLY");
  auto bad_mount = container_spec({"true"});
  bad_mount.mounts.push_back(Mount{"bind", "/no/such/dir", "/x", false, {}});
  expect_refused(bad_mount, "/no/such/dir");
  auto escape = container_spec({"true"});
  escape.mounts.push_back(Mount{"tmpfs", "", "/a/../../b", false, {}});
  expect_refused(escape, "..");
  auto both = container_spec({"true"});
  both.rootfs = "/tmp";
  expect_refused(both, "exactly one");
  auto bad_profile = container_spec({"true"});
  bad_profile.container.seccomp = root_ + "/missing.json";
  expect_refused(bad_profile, "missing.json");
  // Mount options are checked before the volume is made (-v NAME:/x:zz, --tmpfs /t:size=abc).
  auto bad_option = container_spec({"true"});
  bad_option.mounts.push_back(Mount{"volume", "refused-vol", "/x", false, {"zz"}});
  expect_refused(bad_option, "\"zz\"");
  auto bad_size = container_spec({"true"});
  bad_size.mounts.push_back(Mount{"volume", "refused-vol", "/x", false, {}});
  bad_size.mounts.push_back(Mount{"tmpfs", "", "/t", false, {"size=abc"}});
  expect_refused(bad_size, "size=abc");
  auto all = runtime_->list({});
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
  auto left = shell("ls " + root_ + "/workloads | wc -l");
  EXPECT_EQ(left, "0\n");
  EXPECT_FALSE(path_exists(root_ + "/volumes/refused-vol")) << "a refused create made its volume";
}

TEST_F(ContainerTest, TmpfsOptionValuesTheKernelTakesAreAccepted) {
  auto spec = container_spec({});
  spec.mounts.push_back(Mount{"tmpfs", "", "/t", false, {"size=2m", "mode=1777", "nr_inodes=1k", "uid=0"}});
  spec.mounts.push_back(Mount{"tmpfs", "", "/p", false, {"size=10%"}});
  EXPECT_EQ(sh("stat -c %a /t; touch /t/f /p/f && echo ok", spec), "1777\nok\n");
}

TEST_F(ContainerTest, NamedVolumesAreListedAndRemovedOnlyWhenUnused) {
  auto spec = container_spec({"true"}, "user");
  spec.mounts.push_back(Mount{"volume", "kept", "/kept", false, {}});
  ASSERT_TRUE(runtime_->create(spec));
  auto other = container_spec({"true"}, "gone");
  other.mounts.push_back(Mount{"volume", "loose", "/loose", false, {}});
  ASSERT_TRUE(runtime_->create(other));
  ASSERT_TRUE(runtime_->remove("gone", true));

  auto all = runtime_->list_volumes();
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "kept");
  EXPECT_EQ((*all)[0].driver, "local");
  EXPECT_EQ((*all)[0].mountpoint, root_ + "/volumes/kept/_data");
  EXPECT_EQ((*all)[0].used_by, std::vector<std::string>{"user"});
  EXPECT_TRUE((*all)[1].used_by.empty());
  auto age = Clock::now() - (*all)[0].created_at;
  EXPECT_TRUE(age >= std::chrono::seconds(0) && age < std::chrono::minutes(5));

  // The CLI, in Docker's shapes.
  auto ls = run_cli(root_, {"volume", "ls"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.out, "DRIVER   VOLUME NAME\nlocal    kept\nlocal    loose\n");
  auto inspect = run_cli(root_, {"volume", "inspect", "kept"});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.err;
  auto shown = nlohmann::json::parse(inspect.out, nullptr, false);
  ASSERT_TRUE(shown.is_array() && shown.size() == 1) << inspect.out;
  EXPECT_EQ(shown[0].value("mountpoint", ""), root_ + "/volumes/kept/_data");
  EXPECT_EQ(shown[0]["used_by"], nlohmann::json::array({"user"}));
  EXPECT_TRUE(shown[0].contains("created_at"));
  auto in_use = run_cli(root_, {"volume", "rm", "kept"});
  EXPECT_EQ(in_use.exit_code, 125);
  EXPECT_EQ(in_use.err, "berth: volume kept is in use by user: remove it first\n");

  auto refused = runtime_->remove_volume("kept");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::conflict);
  EXPECT_THAT(refused.error().message, HasSubstr("in use by user"));
  EXPECT_TRUE(path_exists(root_ + "/volumes/kept/_data"));
  auto missing = runtime_->inspect_volume("nosuch");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);

  auto pruned = runtime_->prune_volumes();
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_EQ(*pruned, std::vector<std::string>{"loose"});
  EXPECT_FALSE(path_exists(root_ + "/volumes/loose"));
  ASSERT_TRUE(runtime_->remove("user", true));
  ASSERT_TRUE(runtime_->remove_volume("kept"));
  EXPECT_FALSE(path_exists(root_ + "/volumes/kept"));
  auto none = runtime_->list_volumes();
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

TEST_F(ContainerTest, AnImageInUseIsNotRemovedUnlessForced) {
  auto h = runtime_->create(container_spec({"true"}));
  ASSERT_TRUE(h);
  auto refused = runtime_->remove_image("busybox", false);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::conflict);
  ASSERT_TRUE(runtime_->remove(h->id, true));
  auto removed = runtime_->remove_image("busybox", false);
  ASSERT_TRUE(removed) << removed.error().message;
  auto images = runtime_->list_images();
  ASSERT_TRUE(images);
  EXPECT_TRUE(images->empty());
}

}  // namespace
}  // namespace berth::testing
