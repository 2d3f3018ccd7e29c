// The image store on real archives: the busybox OCI layout built at test time (and the OCI
// archive and docker-archive made from it), then broken and malicious inputs made with
// python3's tarfile: each refused with an error naming what is wrong, nothing written outside,
// nothing left in the store.
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
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
    std::string dir = dir_ + "/" + name;
    std::string py = R"(
import hashlib, io, json, os, sys, tarfile
out = sys.argv[1]
os.makedirs(out + "/blobs/sha256")
buf = io.BytesIO()
t = tarfile.open(fileobj=buf, mode="w")
def add(name, data=b"", **kw):
    info = tarfile.TarInfo(name)
    for k, v in kw.items(): setattr(info, k, v)
    info.size = len(data) if info.type == tarfile.REGTYPE else 0
    t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
)" + script + R"(
t.close()
layer = buf.getvalue()
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(out + "/blobs/sha256/" + d, "wb").write(data)
    return d, len(data)
ld, ls = blob(layer)
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + ld]}}).encode()
cd, cs = blob(cfg)
man = json.dumps({"schemaVersion": 2, "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": cs},
                  "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + ld, "size": ls}]}).encode()
md, ms = blob(man)
open(out + "/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
open(out + "/index.json", "w").write(json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + md, "size": ms}]}))
)";
    std::string script_path = dir_ + "/" + name + ".py";
    EXPECT_TRUE(write_file(script_path, py));
    auto out = shell("python3 " + script_path + " " + dir + " 2>&1");
    EXPECT_EQ(out, "");
    return dir;
  }

  void expect_refused(const std::string& path, std::string_view needle) {
    auto r = store_->import(path, {ImageFormat::automatic, "evil:1"});
    ASSERT_FALSE(r) << "imported " << path;
    EXPECT_THAT(r.error().message, HasSubstr(std::string(needle)));
    expect_empty_store();
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
  std::string docker = dir_ + "/docker";
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
tar -C )" + docker + " -cf " + docker + ".tar .");
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

}  // namespace
}  // namespace berth::image
