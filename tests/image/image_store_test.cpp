// The image store on real archives: the busybox OCI layout built at test time (and the OCI
// archive and docker-archive made from it), then broken and malicious inputs made with
// python3's tarfile: each refused with an error naming what is wrong, nothing written outside,
// nothing left in the store.
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/fs.hpp"
#include "image/image_store.hpp"
#include "support/shell.hpp"

namespace berth::image {
namespace {

using berth::testing::shell;

using ::testing::HasSubstr;

class ImageStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/berth-image-test-XXXXXX";
    shared_ = ::mkdtemp(tmpl);
    layout_ = shared_ + "/layout";
    shell(std::string(BERTH_SOURCE_DIR) + "/scripts/make-busybox-image.sh " + layout_ + " 1.0 >/dev/null 2>&1");
  }
  static void TearDownTestSuite() { (void)remove_tree(shared_); }

  void SetUp() override {
    ASSERT_TRUE(path_exists(layout_ + "/index.json"));
    char tmpl[] = "/tmp/berth-image-store-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    auto store = ImageStore::open(dir_ + "/images");
    ASSERT_TRUE(store) << store.error().message;
    store_.emplace(std::move(*store));
  }
  void TearDown() override { (void)remove_tree(dir_); }

  // The store holds no image, no layer and no work in progress.
  void expect_empty_store() {
    EXPECT_EQ(shell("ls " + dir_ + "/images/meta " + dir_ + "/images/layers " + dir_ + "/images/tmp | grep -v ':$' | grep -c ."), "0\n");
  }

  // A layout whose only layer is the tar python3 makes from `script` (tarfile code using `t`).
  std::string layout_with_layer(const std::string& name, const std::string& script) {
    std::string tar = dir_ + "/" + name + ".layer.tar";
    std::string py = R"(
import io, os, sys, tarfile
t = tarfile.open(sys.argv[1], mode="w")
def add(name, data=b"", **kw):
    info = tarfile.TarInfo(name)
    for k, v in kw.items(): setattr(info, k, v)
    info.size = len(data) if info.type == tarfile.REGTYPE else 0
    t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
)" + script + R"(
t.close()
)";
    std::string script_path = dir_ + "/" + name + ".py";
    EXPECT_TRUE(write_file(script_path, py));
    EXPECT_EQ(shell("python3 " + script_path + " " + tar + " 2>&1"), "");
    return layout_from_tar(name, tar);
  }

  // A layout whose only layer is the tar file `tar` (uncompressed, its digest its diff_id).
  std::string layout_from_tar(const std::string& name, const std::string& tar) {
    std::string dir = dir_ + "/" + name;
    auto out = shell("python3 - " + dir + " " + tar + R"( 2>&1 <<'PY'
import hashlib, json, os, sys
out = sys.argv[1]
os.makedirs(out + "/blobs/sha256")
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(out + "/blobs/sha256/" + d, "wb").write(data)
    return d, len(data)
ld, ls = blob(open(sys.argv[2], "rb").read())
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + ld]}}).encode()
cd, cs = blob(cfg)
man = json.dumps({"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": cs},
                  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + ld, "size": ls}]}).encode()
md, ms = blob(man)
open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
open(out + "/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + md, "size": ms}]}))
PY
)");
    EXPECT_EQ(out, "");
    return dir;
  }

  // An unpacked docker-archive of the busybox layout: manifest.json with Config, RepoTags and
  // plain tar layers l0/layer.tar and l1/layer.tar.
  std::string docker_dir(const std::string& name) {
    std::string docker = dir_ + "/" + name;
    shell("python3 - " + layout_ + " " + docker + R"( <<'PY'
import gzip, hashlib, json, os, sys
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
index = json.load(open(src + "/index.json"))
man = json.load(open(src + "/blobs/sha256/" + index["manifests"][0]["digest"][7:]))
cfg = man["config"]["digest"][7:]
open(out + "/" + cfg + ".json", "wb").write(open(src + "/blobs/sha256/" + cfg, "rb").read())
layers = []
for i, l in enumerate(man["layers"]):
    os.makedirs(out + "/l%d" % i)
    open(out + "/l%d/layer.tar" % i, "wb").write(gzip.decompress(open(src + "/blobs/sha256/" + l["digest"][7:], "rb").read()))
    layers.append("l%d/layer.tar" % i)
json.dump([{"Config": cfg + ".json", "RepoTags": ["docker.io/library/busybox:saved"], "Layers": layers}], open(out + "/manifest.json", "w"))
PY
)");
    return docker;
  }

  // docker_dir(name) with `member` moved out (to <dir>-host) and a symlink to it left in its
  // place, also tarred as <dir>.tar.
  std::string docker_with_member_on_host(const std::string& name, const std::string& member) {
    auto docker = docker_dir(name);
    std::string host = docker + "-host";
    EXPECT_EQ(::rename((docker + "/" + member).c_str(), host.c_str()), 0);
    EXPECT_EQ(::symlink(host.c_str(), (docker + "/" + member).c_str()), 0);
    shell("tar -C " + docker + " -cf " + docker + ".tar .");
    return docker;
  }

  // Everything in a store: names, types and file sizes.
  std::string store_listing(const std::string& store_dir) {
    return shell("cd " + store_dir + " && find . -printf '%p %y\\n' | sort && find . -type f -printf '%p %s\\n' | sort");
  }

  void expect_refused(const std::string& path, std::string_view needle) {
    auto r = store_->import(path, {ImageFormat::automatic, "evil:1"});
    ASSERT_FALSE(r) << "imported " << path;
    EXPECT_THAT(r.error().message, HasSubstr(std::string(needle)));
    expect_empty_store();
  }

  // The import fails with an error containing `needle` and leaves the store exactly as it was.
  void expect_refused_in(ImageStore& store, const std::string& store_dir, const std::string& path,
                         std::string_view needle, ImageImportOptions options = {ImageFormat::automatic, "evil:1"}) {
    std::string before = store_listing(store_dir);
    auto r = store.import(path, options);
    ASSERT_FALSE(r) << "imported " << path;
    EXPECT_THAT(r.error().message, HasSubstr(std::string(needle)));
    EXPECT_EQ(store_listing(store_dir), before) << "after importing " << path;
  }

  static inline std::string shared_, layout_;
  std::string dir_;
  std::optional<ImageStore> store_;
};

TEST_F(ImageStoreTest, ImportsTheOciLayoutWithItsConfig) {
  auto image = store_->import(layout_, {ImageFormat::automatic, "busybox"});
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_THAT(image->id, HasSubstr("sha256:"));
  EXPECT_EQ(image->names, std::vector<std::string>{"busybox:latest"});
  EXPECT_EQ(image->diff_ids.size(), 2u);
  EXPECT_EQ(image->defaults.cmd, std::vector<std::string>{"sh"});
  EXPECT_EQ(image->defaults.exposed_ports, std::vector<std::string>{"8080/tcp"});
  EXPECT_EQ(image->defaults.labels.at("org.berth.test"), "busybox");
  EXPECT_GT(image->size, 500000);
  auto dirs = store_->layer_dirs(*image);
  EXPECT_TRUE(path_exists(dirs[0] + "/bin/busybox"));
  EXPECT_TRUE(path_exists(dirs[1] + "/etc/passwd"));
  auto by_prefix = store_->find(image->id.substr(7, 8));
  ASSERT_TRUE(by_prefix);
  EXPECT_EQ(by_prefix->id, image->id);
  EXPECT_FALSE(store_->find("busybox:2"));
}

TEST_F(ImageStoreTest, ImportsOciArchiveAndDockerArchive) {
  std::string oci = dir_ + "/oci.tar";
  shell("tar -C " + layout_ + " -cf " + oci + " .");
  auto a = store_->import(oci, {ImageFormat::automatic, "from-oci:1"});
  ASSERT_TRUE(a) << a.error().message;
  // docker-archive: manifest.json with Config, RepoTags and plain tar layers.
  std::string docker = docker_dir("docker");
  shell("tar -C " + docker + " -cf " + docker + ".tar .");
  auto b = store_->import(docker + ".tar", {});
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(a->id, b->id);  // the same config: one image, two names
  EXPECT_EQ(b->names, (std::vector<std::string>{"docker.io/library/busybox:saved", "from-oci:1"}));
  // zstd layers (as newer engines write them) read the same, diff_ids checked uncompressed.
  ASSERT_TRUE(store_->remove(b->id));
  shell("cd " + docker + " && for l in l0 l1; do zstd -q --rm $l/layer.tar -o $l/layer.tar.zst; done && "
        "sed -i 's/layer.tar/layer.tar.zst/g' manifest.json");
  auto z = store_->import(docker, {ImageFormat::docker_archive, "zstd:1"});
  ASSERT_TRUE(z) << z.error().message;
  EXPECT_EQ(z->id, a->id);
  EXPECT_TRUE(path_exists(store_->layer_dirs(*z)[0] + "/bin/busybox"));
}

TEST_F(ImageStoreTest, RemoveByNameKeepsSharedLayersById) {
  ASSERT_TRUE(store_->import(layout_, {ImageFormat::automatic, "one:1"}));
  ASSERT_TRUE(store_->import(layout_, {ImageFormat::automatic, "two:1"}));
  auto removed = store_->remove("one:1");
  ASSERT_TRUE(removed);
  EXPECT_TRUE(removed->empty());  // "two:1" still names it
  auto image = store_->find("two:1");
  ASSERT_TRUE(image);
  EXPECT_TRUE(path_exists(store_->layer_dirs(*image)[0]));
  auto gone = store_->remove(image->id);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->size(), 1u);
  expect_empty_store();
}

TEST_F(ImageStoreTest, WhiteoutsBecomeOverlayWhiteoutsAndCopyAppliesThem) {
  auto dir = layout_with_layer("whiteouts", R"(
add("d", type=tarfile.DIRTYPE, mode=0o755)
add("d/.wh.gone")
add("o", type=tarfile.DIRTYPE, mode=0o755)
add("o/.wh..wh..opq")
add("o/kept", b"new")
)");
  auto image = store_->import(dir, {ImageFormat::automatic, "wh:1"});
  ASSERT_TRUE(image) << image.error().message;
  auto layer = store_->layer_dirs(*image)[0];
  struct stat st;
  ASSERT_EQ(::lstat((layer + "/d/gone").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0);
  char opaque[2] = {};
  EXPECT_EQ(::getxattr((layer + "/o").c_str(), "trusted.overlay.opaque", opaque, 1), 1);
  EXPECT_EQ(opaque[0], 'y');
  // copy_layers_into applies them over a lower layer.
  std::string lower = dir_ + "/lower", target = dir_ + "/target";
  shell("mkdir -p " + lower + "/d " + lower + "/o " + target + " && touch " + lower + "/d/gone " + lower + "/d/stays " + lower + "/o/hidden");
  ASSERT_TRUE(copy_layers_into({lower, layer}, target));
  EXPECT_FALSE(path_exists(target + "/d/gone"));
  EXPECT_TRUE(path_exists(target + "/d/stays"));
  EXPECT_FALSE(path_exists(target + "/o/hidden"));
  EXPECT_EQ(read_file(target + "/o/kept").value_or(""), "new");
}

TEST_F(ImageStoreTest, TraversalEntriesAreRefusedAndNothingIsWrittenOutside) {
  std::string sentinel = dir_ + "/outside";
  ASSERT_TRUE(make_dirs(sentinel, 0755));
  expect_refused(layout_with_layer("dotdot", R"(add("../../outside/evil", b"x"))"), "../../outside/evil");
  expect_refused(layout_with_layer("inner", R"(add("a/../../outside/evil", b"x"))"), "climbs out");
  expect_refused(layout_with_layer("symlink-dir", "add(\"link\", type=tarfile.SYMTYPE, linkname=\"" + sentinel +
                                                      "\")\nadd(\"link/evil\", b\"x\")"),
                 "symlink");
  expect_refused(layout_with_layer("symlink-up", R"(add("up", type=tarfile.SYMTYPE, linkname="../..")
add("up/outside/evil", b"x"))"),
                 "symlink");
  expect_refused(layout_with_layer("hardlink-abs", R"(add("pw", type=tarfile.LNKTYPE, linkname="/etc/passwd"))"),
                 "hardlink");
  expect_refused(layout_with_layer("hardlink-up", R"(add("x", type=tarfile.LNKTYPE, linkname="../outside/f"))"),
                 "..");
  EXPECT_EQ(shell("ls -A " + sentinel), "");
}

TEST_F(ImageStoreTest, BrokenInputsAreClearErrors) {
  std::string broken = dir_ + "/broken";
  auto copy = [&](const std::string& name) {
    std::string d = dir_ + "/" + name;
    shell("cp -a " + layout_ + " " + d);
    return d;
  };
  expect_refused(dir_ + "/nothing", "nothing");
  auto bad_index = copy("bad-index");
  ASSERT_TRUE(write_file(bad_index + "/index.json", "{not json"));
  expect_refused(bad_index, "index.json");
  auto missing = copy("missing-blob");
  shell("cd " + missing + "/blobs/sha256 && ls -S | head -1 | xargs rm");  // the largest: a layer
  expect_refused(missing, "missing");
  auto tampered = copy("tampered");
  shell("cd " + tampered + "/blobs/sha256 && f=$(ls -S | head -1) && printf x >> $f");
  expect_refused(tampered, "sha256");
  auto no_layout = copy("no-layout");
  shell("rm " + no_layout + "/oci-layout");
  expect_refused(no_layout, "oci-layout");
  auto weird = layout_with_layer("weird-type", R"(add("f", b"x"))");
  shell("sed -i 's/image.layer.v1.tar\"/image.layer.v1.wasm\"/' " + weird + "/blobs/sha256/*");
  auto r = store_->import(weird, {ImageFormat::automatic, "w:1"});
  ASSERT_FALSE(r);  // the manifest no longer matches its digest, or names an unknown media type
  expect_empty_store();
  auto bad_name = store_->import(layout_, {ImageFormat::automatic, "Bad Name"});
  ASSERT_FALSE(bad_name);
  EXPECT_THAT(bad_name.error().message, HasSubstr("Bad Name"));
  auto no_name = store_->import(layout_, {});
  ASSERT_FALSE(no_name);  // the layout carries only the tag "1.0"
  EXPECT_THAT(no_name.error().message, HasSubstr("NAME[:TAG]"));
  expect_empty_store();
}

TEST_F(ImageStoreTest, ArchiveMembersAreReadFromTheArchiveOnly) {
  std::string store_dir = dir_ + "/images";
  // On the host, a valid manifest: were the symlink followed, the import would succeed.
  auto docker = docker_with_member_on_host("host-manifest", "manifest.json");
  std::string host_manifest = docker + "-host";
  expect_refused_in(*store_, store_dir, docker + ".tar", "member \"manifest.json\" leads outside the archive");
  expect_refused_in(*store_, store_dir, docker, "member \"manifest.json\" leads outside the directory",
                    {ImageFormat::docker_archive, "evil:1"});
  // The same by a relative symlink climbing out of wherever the archive is unpacked.
  ASSERT_EQ(::unlink((docker + "/manifest.json").c_str()), 0);
  ASSERT_EQ(::symlink(("../../../../../../../../../../.." + host_manifest).c_str(), (docker + "/manifest.json").c_str()), 0);
  shell("tar -C " + docker + " -cf " + docker + "-relative.tar .");
  expect_refused_in(*store_, store_dir, docker + "-relative.tar", "\"manifest.json\"");
  // A hardlink entry to the host file: its target is not in the archive.
  shell("python3 - " + docker + " " + host_manifest + " " + docker + "-hardlink.tar" + R"( <<'PY'
import os, sys, tarfile
src, host, out = sys.argv[1:]
t = tarfile.open(out, "w")
for name in sorted(os.listdir(src)):
    if name != "manifest.json": t.add(os.path.join(src, name), name)
info = tarfile.TarInfo("manifest.json"); info.type = tarfile.LNKTYPE; info.linkname = host
t.addfile(info)
t.close()
PY
)");
  expect_refused_in(*store_, store_dir, docker + "-hardlink.tar", "entry \"manifest.json\": hardlink target");

  // A layer member that is a symlink to the (valid) layer tar on the host.
  auto layered = docker_with_member_on_host("host-layer", "l1/layer.tar");
  expect_refused_in(*store_, store_dir, layered + ".tar", "member \"l1/layer.tar\" leads outside the archive");

  // OCI: index.json of an archive, and a blob of a layout directory, on the host.
  std::string oci = dir_ + "/oci-host-index";
  shell("cp -a " + layout_ + " " + oci + " && mv " + oci + "/index.json " + dir_ + "/host-index.json && ln -s " +
        dir_ + "/host-index.json " + oci + "/index.json && tar -C " + oci + " -cf " + oci + ".tar .");
  expect_refused_in(*store_, store_dir, oci + ".tar", "member \"index.json\" leads outside the archive");
  std::string blob_layout = dir_ + "/oci-host-blob";
  shell("cp -a " + layout_ + " " + blob_layout + " && cd " + blob_layout + "/blobs/sha256 && f=$(ls -S | head -1) && mv $f " +
        dir_ + "/host-blob && ln -s " + dir_ + "/host-blob $f");
  expect_refused_in(*store_, store_dir, blob_layout, "leads outside the directory");
  expect_empty_store();

  // A symlink that stays inside (as older docker saves write for a repeated layer) is followed.
  auto inner = docker_dir("inner-link");
  shell("cd " + inner + " && mkdir shared && mv l1/layer.tar shared/ && ln -s ../shared/layer.tar l1/layer.tar && tar -cf " +
        inner + ".tar .");
  auto image = store_->import(inner + ".tar", {ImageFormat::automatic, "inner:1"});
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_TRUE(path_exists(store_->layer_dirs(*image)[1] + "/etc/passwd"));
}

// A store on a 4 MiB tmpfs with few inodes: full disks, made at will.
class SmallStoreTest : public ImageStoreTest {
 protected:
  void SetUp() override {
    ImageStoreTest::SetUp();
    if (HasFatalFailure()) return;
    small_ = dir_ + "/small";
    ASSERT_TRUE(make_dirs(small_, 0700));
    if (::mount("berth-test", small_.c_str(), "tmpfs", 0, "size=4m,nr_inodes=200,mode=0700") != 0)
      GTEST_SKIP() << "mount tmpfs: " << std::strerror(errno);
    mounted_ = true;
    auto store = ImageStore::open(small_ + "/images");
    ASSERT_TRUE(store) << store.error().message;
    small_store_.emplace(std::move(*store));
  }
  void TearDown() override {
    small_store_.reset();
    if (mounted_) {
      EXPECT_EQ(::umount2(small_.c_str(), MNT_DETACH), 0) << std::strerror(errno);
    }
    ImageStoreTest::TearDown();
  }

  // A layout whose layer holds `big`, a sparse file of 10 GiB: a hole, then one byte (a GNU
  // sparse entry: a few KiB of tar; unpacked, the hole is written out as zeros).
  std::string sparse_layout() {
    std::string src = dir_ + "/sparse-src", tar = dir_ + "/sparse.tar";
    shell("mkdir -p " + src + " && truncate -s 10G " + src + "/big && printf x >>" + src + "/big && tar --sparse -C " + src +
          " -cf " + tar + " big");
    EXPECT_LT(std::stoll(shell("stat -c %s " + tar)), 1 << 20);
    return layout_from_tar("sparse", tar);
  }

  void expect_refused_small(const std::string& path, std::string_view needle,
                            ImageImportOptions options = {ImageFormat::automatic, "evil:1"}) {
    expect_refused_in(*small_store_, small_ + "/images", path, needle, options);
  }

  std::string small_;
  bool mounted_ = false;
  std::optional<ImageStore> small_store_;
};

TEST_F(SmallStoreTest, SparseEntryOverTheCapIsRefusedBeforeItIsWritten) {
  auto layout = sparse_layout();
  auto start = std::chrono::steady_clock::now();
  // Over the cap: refused by the cap (were it written first, the disk would fill and say so).
  expect_refused_small(layout, "entry \"big\" is 10GiB, over the entry size limit of 1GiB (raise it with --max-entry-size",
                       {ImageFormat::automatic, "sparse:1", 0, std::int64_t{1} << 30});
  expect_refused_small(layout, "entry \"big\" takes it over the size limit of 1GiB (raise it with --max-layer-size",
                       {ImageFormat::automatic, "sparse:1", std::int64_t{1} << 30, 0});
  ASSERT_EQ(::setenv("BERTH_MAX_LAYER_SIZE", "2g", 1), 0);
  struct Unset {
    ~Unset() { ::unsetenv("BERTH_MAX_LAYER_SIZE"); }
  } unset;
  expect_refused_small(layout, "over the size limit of 2GiB");
  ASSERT_EQ(::setenv("BERTH_MAX_LAYER_SIZE", "lots", 1), 0);
  expect_refused_small(layout, "BERTH_MAX_LAYER_SIZE");
  ::unsetenv("BERTH_MAX_LAYER_SIZE");
  // Under the default caps, it does not fit: said before a byte is written.
  expect_refused_small(layout, "entry \"big\" is 10GiB");
  expect_refused_small(layout, "no space left on device");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
}

TEST_F(SmallStoreTest, FullDiskIsNoSpaceLeftOnDeviceAndLeavesNothing) {
  // A layer bigger than the whole file system: refused from its uncompressed size.
  auto big = layout_with_layer("big", R"(add("random", os.urandom(6 << 20)))");
  expect_refused_small(big, "no space left on device");
  // Small entries that each fit, until the file system has no inode left: the error of the
  // call that failed (create), not a stale one.
  auto many = layout_with_layer("many", R"(
for i in range(400): add("f%04d" % i)
)");
  expect_refused_small(many, "create: no space left on device");
  // A docker-archive bigger than the space: its own unpacking fails.
  auto docker = docker_dir("docker-big");
  shell("head -c 5000000 /dev/urandom >" + docker + "/padding && tar -C " + docker + " -cf " + docker + ".tar .");
  expect_refused_small(docker + ".tar", "no space left on device");
  // And the store still works.
  auto small = layout_with_layer("fits", R"(add("hello", b"world"))");
  auto image = small_store_->import(small, {ImageFormat::automatic, "fits:1"});
  ASSERT_TRUE(image) << image.error().message;
  EXPECT_EQ(read_file(small_store_->layer_dirs(*image)[0] + "/hello").value_or(""), "world");
}

}  // namespace
}  // namespace berth::image
