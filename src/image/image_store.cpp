#include "image/image_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/sha256.hpp"
#include "common/time.hpp"
#include "image/image_config.hpp"
#include "image/layer_unpack.hpp"
#include "image/source_dir.hpp"
#include "common/units.hpp"

namespace berth::image {

namespace {

using nlohmann::json;

std::unexpected<Error> bad(std::string message) { return fail(ErrorCode::invalid_spec, std::move(message)); }

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f'); });
}

// "sha256:<64 hex>" -> the hex; anything else (other algorithms, or a path in disguise) is refused.
Result<std::string> digest_hex(const std::string& digest, std::string_view what) {
  if (!digest.starts_with("sha256:") || !is_hex64(std::string_view(digest).substr(7)))
    return bad(fmt::format("{}: \"{}\" is not a sha256 digest", what, digest));
  return digest.substr(7);
}

json parse_json(const std::string& text) { return json::parse(text, nullptr, false); }

Result<json> read_json_file(const std::string& path, std::string_view what) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error().with_context(std::string(what)));
  auto j = parse_json(*text);
  if (j.is_discarded()) return bad(fmt::format("{} ({}): not valid JSON", what, path));
  return j;
}

// A JSON member of the image source, read from beneath it only.
Result<json> read_json_member(const SourceDir& src, const std::string& member, std::string_view what) {
  auto text = src.read_member(member);
  if (!text) return std::unexpected(text.error().with_context(std::string(what)));
  auto j = parse_json(*text);
  if (j.is_discarded()) return bad(fmt::format("{} ({}): not valid JSON", what, member));
  return j;
}

template <typename T>
Result<T> get(const json& j, const char* key, std::string_view what, bool required = true, T fallback = {}) {
  if (!j.is_object()) return bad(fmt::format("{}: not a JSON object", what));
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return bad(fmt::format("{}: \"{}\" is missing", what, key));
    return fallback;
  }
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    return bad(fmt::format("{}: \"{}\" has the wrong type", what, key));
  }
}

struct LayerSource {
  std::string member;      // the blob or tar file, relative to the source directory
  std::string digest_hex;  // expected sha256 of the file itself; empty: not given (docker-archive)
};

struct ImageSource {
  std::string manifest_digest;  // "sha256:..." (docker-archive: of its manifest.json entry)
  std::string config_member;
  std::string config_digest_hex;  // verified
  std::vector<LayerSource> layers;
  std::string name;  // the reference the archive carries, if any
};

bool is_layer_media_type(const std::string& t) {
  static constexpr std::string_view known[] = {
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+gzip",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/vnd.oci.image.layer.nondistributable.v1.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.diff.tar"};
  return std::find(std::begin(known), std::end(known), t) != std::end(known);
}

// A blob of an OCI layout, its digest (and size, when known) verified: its member name.
Result<std::string> verified_blob(const SourceDir& layout, const json& descriptor, std::string_view what) {
  auto digest = get<std::string>(descriptor, "digest", what);
  if (!digest) return std::unexpected(digest.error());
  auto hex = digest_hex(*digest, what);
  if (!hex) return std::unexpected(hex.error());
  std::string member = "blobs/sha256/" + *hex;
  auto fd = layout.open_member(member);
  if (!fd) {
    if (fd.error().code == ErrorCode::not_found)
      return fail(ErrorCode::not_found, fmt::format("{}: blob {} is missing", what, *digest));
    return std::unexpected(fd.error().with_context(std::string(what)));
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return std::unexpected(errno_error("stat", member, errno));
  if (auto size = get<std::int64_t>(descriptor, "size", what, false, -1); size && *size >= 0 && *size != st.st_size)
    return bad(fmt::format("{}: blob {} has {} bytes, the descriptor says {}", what, *digest, st.st_size, *size));
  auto actual = file_sha256(fd->get(), member);
  if (!actual) return std::unexpected(actual.error());
  if (*actual != *hex) return bad(fmt::format("{}: blob {} has digest sha256:{}", what, *digest, *actual));
  return member;
}

bool is_index(const json& descriptor, const json& blob) {
  auto type = descriptor.value("mediaType", blob.is_object() ? blob.value("mediaType", "") : "");
  return type == "application/vnd.oci.image.index.v1+json" ||
         type == "application/vnd.docker.distribution.manifest.list.v2+json";
}

// From an index, the linux/amd64 image (or the only one).
Result<json> pick_platform(const json& index, std::string_view what) {
  auto manifests = index.find("manifests");
  if (manifests == index.end() || !manifests->is_array() || manifests->empty())
    return bad(fmt::format("{}: no manifests", what));
  if (manifests->size() == 1) return (*manifests)[0];
  for (auto& m : *manifests) {
    auto p = m.find("platform");
    if (p != m.end() && p->value("os", "") == "linux" && p->value("architecture", "") == "amd64") return m;
  }
  return bad(fmt::format("{}: no linux/amd64 image among {} manifests", what, manifests->size()));
}

Result<ImageSource> read_oci_layout(const SourceDir& dir, const std::string& wanted) {
  if (!dir.has_member("oci-layout"))
    return bad(fmt::format("{}: not an OCI image layout (no oci-layout file)", dir.path()));
  auto layout = read_json_member(dir, "oci-layout", "oci-layout");
  if (!layout) return std::unexpected(layout.error());
  auto version = get<std::string>(*layout, "imageLayoutVersion", "oci-layout");
  if (!version) return std::unexpected(version.error());
  auto index = read_json_member(dir, "index.json", "index.json");
  if (!index) return std::unexpected(index.error());
  auto manifests = index->find("manifests");
  if (!index->is_object() || manifests == index->end() || !manifests->is_array() || manifests->empty())
    return bad("index.json: no manifests");
  json chosen;
  std::string carried;
  auto ref_of = [](const json& m) {
    auto a = m.find("annotations");
    return a != m.end() && a->is_object() ? a->value("org.opencontainers.image.ref.name", "") : std::string();
  };
  if (manifests->size() == 1) {
    chosen = (*manifests)[0];
  } else {
    // Several images: the one named like the requested reference or its tag.
    std::string tag = wanted.substr(wanted.rfind(':') + 1);
    for (auto& m : *manifests)
      if (!wanted.empty() && (ref_of(m) == wanted || ref_of(m) == tag)) chosen = m;
    if (chosen.is_null()) {
      auto pick = pick_platform(*index, "index.json");
      if (!pick) return bad(fmt::format("index.json lists {} images: name the one to import", manifests->size()));
      chosen = *pick;
    }
  }
  carried = ref_of(chosen);
  for (int depth = 0; depth < 4; ++depth) {
    auto blob_member = verified_blob(dir, chosen, "index.json");
    if (!blob_member) return std::unexpected(blob_member.error());
    auto blob = read_json_member(dir, *blob_member, "manifest");
    if (!blob) return std::unexpected(blob.error());
    if (!is_index(chosen, *blob)) {
      ImageSource src;
      src.manifest_digest = chosen.value("digest", "");
      src.name = carried;
      auto config = blob->find("config");
      if (config == blob->end()) return bad(fmt::format("manifest {}: no config", src.manifest_digest));
      auto config_member = verified_blob(dir, *config, "manifest config");
      if (!config_member) return std::unexpected(config_member.error());
      src.config_member = *config_member;
      src.config_digest_hex = config->value("digest", "").substr(7);
      auto layers = blob->find("layers");
      if (layers == blob->end() || !layers->is_array())
        return bad(fmt::format("manifest {}: no layers", src.manifest_digest));
      for (std::size_t i = 0; i < layers->size(); ++i) {
        auto& l = (*layers)[i];
        std::string what = fmt::format("manifest layer {}", i);
        auto type = get<std::string>(l, "mediaType", what);
        if (!type) return std::unexpected(type.error());
        if (!is_layer_media_type(*type)) return bad(fmt::format("{}: media type \"{}\" is not a layer berth can unpack", what, *type));
        auto hex = digest_hex(l.value("digest", ""), what);
        if (!hex) return std::unexpected(hex.error());
        std::string member = "blobs/sha256/" + *hex;
        if (!dir.has_member(member)) return fail(ErrorCode::not_found, fmt::format("{}: blob sha256:{} is missing", what, *hex));
        src.layers.push_back({member, *hex});
      }
      return src;
    }
    auto next = pick_platform(*blob, "image index");
    if (!next) return std::unexpected(next.error());
    chosen = *next;
  }
  return bad("index.json: image indexes nested too deep");
}

// A path inside an extracted archive, as its manifest names it.
Result<std::string> inside(const std::string& relative, std::string_view what) {
  if (relative.empty() || relative[0] == '/' || relative.find("..") != std::string::npos)
    return bad(fmt::format("{}: \"{}\" is not a path inside the archive", what, relative));
  return relative;
}

Result<ImageSource> read_docker_archive(const SourceDir& dir) {
  auto manifest = read_json_member(dir, "manifest.json", "manifest.json");
  if (!manifest) return std::unexpected(manifest.error());
  if (!manifest->is_array() || manifest->empty()) return bad("manifest.json: not a list of images");
  if (manifest->size() > 1) return bad(fmt::format("manifest.json lists {} images: berth imports one at a time", manifest->size()));
  const json& m = (*manifest)[0];
  ImageSource src;
  src.manifest_digest = "sha256:" + sha256_hex(m.dump());
  auto config = get<std::string>(m, "Config", "manifest.json");
  if (!config) return std::unexpected(config.error());
  auto config_member = inside(*config, "manifest.json Config");
  if (!config_member) return std::unexpected(config_member.error());
  auto config_fd = dir.open_member(*config_member);
  if (!config_fd) return std::unexpected(config_fd.error().with_context("manifest.json Config"));
  auto digest = file_sha256(config_fd->get(), *config_member);
  if (!digest) return std::unexpected(digest.error().with_context("manifest.json Config"));
  src.config_member = *config_member;
  src.config_digest_hex = *digest;
  auto tags = get<std::vector<std::string>>(m, "RepoTags", "manifest.json", false);
  if (!tags) return std::unexpected(tags.error());
  if (!tags->empty()) src.name = tags->front();
  auto layers = get<std::vector<std::string>>(m, "Layers", "manifest.json");
  if (!layers) return std::unexpected(layers.error());
  for (auto& l : *layers) {
    auto path = inside(l, "manifest.json Layers");
    if (!path) return std::unexpected(path.error());
    if (!dir.has_member(*path)) return fail(ErrorCode::not_found, fmt::format("manifest.json Layers: \"{}\" is missing", l));
    // Newer docker saves name layers by digest (blobs/sha256/<hex>): check those too.
    std::string hex = l.substr(l.rfind('/') + 1);
    src.layers.push_back({*path, l.starts_with("blobs/sha256/") && is_hex64(hex) ? hex : ""});
  }
  return src;
}

class DirLock {
 public:
  static Result<DirLock> take(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return std::unexpected(errno_error("open", path, errno));
    while (::flock(fd.get(), LOCK_EX) != 0)
      if (errno != EINTR) return std::unexpected(errno_error("lock", path, errno));
    return DirLock(std::move(fd));
  }

 private:
  explicit DirLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// Removes files and directory trees when it goes out of scope, unless released: what a failed
// import made goes with it.
class TreeGuard {
 public:
  TreeGuard() = default;
  explicit TreeGuard(std::string path) { add(std::move(path)); }
  ~TreeGuard() {
    for (auto it = paths_.rbegin(); it != paths_.rend(); ++it) (void)remove_tree(*it);
  }
  TreeGuard(const TreeGuard&) = delete;
  TreeGuard& operator=(const TreeGuard&) = delete;
  void add(std::string path) { paths_.push_back(std::move(path)); }
  void release() { paths_.clear(); }

 private:
  std::vector<std::string> paths_;
};

constexpr std::int64_t default_max_layer_size = std::int64_t{64} << 30;
constexpr std::string_view max_layer_size_hint = "raise it with --max-layer-size or BERTH_MAX_LAYER_SIZE";
constexpr std::string_view max_entry_size_hint = "raise it with --max-entry-size or BERTH_MAX_ENTRY_SIZE";

// A size cap: as given, else from the environment, else `fallback`.
Result<std::int64_t> size_limit(std::int64_t given, const char* env, std::int64_t fallback) {
  if (given > 0) return given;
  const char* text = std::getenv(env);
  if (!text || !*text) return fallback;
  auto size = parse_size(text, env);
  if (!size) return std::unexpected(size.error());
  if (*size <= 0) return bad(fmt::format("{}: \"{}\" is not a positive size", env, text));
  return *size;
}

std::vector<std::string> entries_of(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d))
      if (e->d_name[0] != '.') out.push_back(e->d_name);
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string make_temp_dir(const std::string& tmp_root, const char* prefix) {
  std::string tmpl = fmt::format("{}/{}-XXXXXX", tmp_root, prefix);
  if (!::mkdtemp(tmpl.data())) return {};
  return tmpl;
}

}  // namespace

Result<std::string> normalize_reference(std::string_view ref) {
  std::string r(ref);
  auto slash = r.rfind('/');
  auto colon = r.rfind(':');
  std::string name = r, tag = "latest";
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    name = r.substr(0, colon);
    tag = r.substr(colon + 1);
  }
  auto name_ok = !name.empty() && std::isalnum(static_cast<unsigned char>(name[0])) &&
                 std::all_of(name.begin(), name.end(), [](char c) {
                   return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
                          c == '.' || c == '_' || c == '-' || c == '/' || c == ':';
                 });
  auto tag_ok = !tag.empty() && tag.size() <= 128 && std::all_of(tag.begin(), tag.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
  if (!name_ok || !tag_ok)
    return bad(fmt::format("image reference \"{}\" is not NAME[:TAG] (lowercase name; tag of letters, digits, _ . -)", ref));
  return name + ":" + tag;
}

Result<ImageStore> ImageStore::open(std::string dir) {
  for (const char* sub : {"", "/meta", "/layers", "/tmp"})
    if (auto r = make_dirs(dir + sub, 0700); !r) return std::unexpected(r.error());
  // Work a crashed import left behind. (Best effort: another importer's live temp dir is
  // protected by the lock it holds, so only clean under the lock.)
  auto lock = DirLock::take(dir + "/lock");
  if (!lock) return std::unexpected(lock.error());
  for (auto& name : entries_of(dir + "/tmp")) (void)remove_tree(dir + "/tmp/" + name);
  return ImageStore(std::move(dir));
}

Result<ImageInfo> ImageStore::import(const std::string& path, const ImageImportOptions& options) {
  std::string reference;
  if (!options.reference.empty()) {
    auto r = normalize_reference(options.reference);
    if (!r) return std::unexpected(r.error());
    reference = *r;
  }
  auto max_layer = size_limit(options.max_layer_size, "BERTH_MAX_LAYER_SIZE", default_max_layer_size);
  if (!max_layer) return std::unexpected(max_layer.error());
  // 0: no cap of its own (the layer cap holds for every entry too).
  auto max_entry = size_limit(options.max_entry_size, "BERTH_MAX_ENTRY_SIZE", 0);
  if (!max_entry) return std::unexpected(max_entry.error());
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::unexpected(errno_error("import", path, errno));
  auto lock = DirLock::take(dir_ + "/lock");
  if (!lock) return std::unexpected(lock.error());
  std::string work = make_temp_dir(dir_ + "/tmp", "import");
  if (work.empty()) return std::unexpected(errno_error("mkdtemp", dir_ + "/tmp", errno));
  TreeGuard work_guard(work);

  std::string source_dir = path;
  if (!S_ISDIR(st.st_mode)) {
    if (options.format == ImageFormat::oci_layout) return bad(fmt::format("{}: an OCI layout is a directory", path));
    source_dir = work + "/archive";
    if (::mkdir(source_dir.c_str(), 0700) != 0) return std::unexpected(errno_error("mkdir", source_dir, errno));
    UniqueFd archive(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!archive) return std::unexpected(errno_error("open", path, errno));
    // Its members are blobs and layers, each checked again when read; here only one member's
    // size is capped (the whole may hold many layers: no more than a layer each) and each must fit.
    auto unpacked = unpack_tar(archive.get(), "archive", source_dir,
                               UnpackOptions{.whiteouts = false,
                                             .max_entry_bytes = *max_entry > 0 ? *max_entry : *max_layer,
                                             .max_entry_bytes_hint = *max_entry > 0 ? max_entry_size_hint : max_layer_size_hint});
    if (!unpacked) return std::unexpected(unpacked.error().with_context("import " + path));
  } else if (options.format == ImageFormat::oci_archive) {
    // (A docker-archive may come already unpacked; an OCI archive unpacked is a layout.)
    return bad(fmt::format("{}: an OCI archive is a file, this is a directory", path));
  }
  auto source = SourceDir::open(source_dir, S_ISDIR(st.st_mode) ? "directory" : "archive");
  if (!source) return std::unexpected(source.error().with_context("import " + path));
  bool docker = source->has_member("manifest.json") && !source->has_member("index.json");
  if (options.format == ImageFormat::docker_archive && !source->has_member("manifest.json"))
    return bad(fmt::format("{}: not a docker-archive (no manifest.json)", path));
  if ((options.format == ImageFormat::oci_archive || options.format == ImageFormat::oci_layout) && docker)
    return bad(fmt::format("{}: not an OCI image (no index.json)", path));
  if (options.format == ImageFormat::docker_archive) docker = true;
  if (!docker && !source->has_member("index.json"))
    return bad(fmt::format("{}: neither an OCI image layout (index.json) nor a docker-archive (manifest.json)", path));
  auto src = docker ? read_docker_archive(*source) : read_oci_layout(*source, reference);
  if (!src) return std::unexpected(src.error().with_context("import " + path));

  if (reference.empty()) {
    if (src->name.empty() || src->name.find_first_of(":/") == std::string::npos)
      return bad(fmt::format("import {}: the image carries no full name{}: give NAME[:TAG]", path,
                             src->name.empty() ? "" : fmt::format(" (only the tag \"{}\")", src->name)));
    auto r = normalize_reference(src->name);
    if (!r) return std::unexpected(r.error());
    reference = *r;
  }

  auto config_text = source->read_member(src->config_member);
  if (!config_text) return std::unexpected(config_text.error().with_context("import " + path));
  auto config = parse_json(*config_text);
  if (config.is_discarded() || !config.is_object()) return bad(fmt::format("import {}: image config is not a JSON object", path));
  auto defaults = image_defaults_from_config(config);
  if (!defaults) return std::unexpected(defaults.error().with_context("import " + path + ": image config"));
  auto rootfs = config.find("rootfs");
  std::vector<std::string> diff_ids;
  if (rootfs == config.end() || !rootfs->is_object() || !rootfs->contains("diff_ids"))
    return bad(fmt::format("import {}: image config has no rootfs.diff_ids", path));
  try {
    diff_ids = rootfs->at("diff_ids").get<std::vector<std::string>>();
  } catch (const json::exception&) {
    return bad(fmt::format("import {}: image config rootfs.diff_ids is not a list of digests", path));
  }
  if (diff_ids.size() != src->layers.size())
    return bad(fmt::format("import {}: the manifest has {} layers, the config {} diff_ids", path, src->layers.size(),
                           diff_ids.size()));

  ImageInfo info;
  info.id = "sha256:" + src->config_digest_hex;
  info.manifest_digest = src->manifest_digest;
  info.diff_ids = diff_ids;
  info.architecture = config.value("architecture", "");
  info.os = config.value("os", "");
  if (config.contains("created") && config["created"].is_string())
    info.created = parse_rfc3339(config["created"].get<std::string>()).value_or(TimePoint{});
  info.imported = Clock::now();
  info.defaults = std::move(*defaults);

  // Layers: verified, then unpacked once. Those made here (directory and .size file) are
  // removed again if the import fails.
  TreeGuard new_layers;
  UniqueFd store_fd(::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!store_fd) return std::unexpected(errno_error("open", dir_, errno));
  for (std::size_t i = 0; i < src->layers.size(); ++i) {
    auto& layer = src->layers[i];
    std::string what = fmt::format("import {}: layer {}", path, i);
    std::string label = fmt::format("layer {} ({})", i, layer.member);
    auto diff_hex = digest_hex(diff_ids[i], what + " diff_id");
    if (!diff_hex) return std::unexpected(diff_hex.error());
    std::string final_dir = fmt::format("{}/layers/{}", dir_, *diff_hex);
    std::string size_file = final_dir + ".size";
    auto layer_fd = source->open_member(layer.member);
    if (!layer_fd) return std::unexpected(layer_fd.error().with_context(what));
    if (!layer.digest_hex.empty()) {
      auto actual = file_sha256(layer_fd->get(), label);
      if (!actual) return std::unexpected(actual.error().with_context("import " + path));
      if (*actual != layer.digest_hex)
        return bad(fmt::format("{}: blob sha256:{} has digest sha256:{}", what, layer.digest_hex, *actual));
    }
    if (path_exists(final_dir)) {
      info.size += std::atoll(read_file(size_file).value_or("0").c_str());
      continue;
    }
    auto uncompressed = uncompressed_sha256(layer_fd->get(), label, *max_layer, max_layer_size_hint);
    if (!uncompressed) return std::unexpected(uncompressed.error().with_context("import " + path));
    if (uncompressed->sha256_hex != *diff_hex)
      return bad(fmt::format("{}: uncompressed digest sha256:{} is not the diff_id {}", what, uncompressed->sha256_hex,
                             diff_ids[i]));
    // What the tar holds must fit (checked again entry by entry: a sparse entry unpacks to
    // more than its tar bytes).
    auto space = free_space(store_fd.get(), dir_);
    if (!space) return std::unexpected(space.error());
    if (uncompressed->bytes > *space)
      return fail(ErrorCode::limit_exceeded,
                  fmt::format("{}: {} uncompressed, {} free in {}: no space left on device", what,
                              format_size(static_cast<std::uint64_t>(uncompressed->bytes)),
                              format_size(static_cast<std::uint64_t>(*space)), dir_));
    std::string tmp_layer = make_temp_dir(dir_ + "/tmp", "layer");
    if (tmp_layer.empty()) return std::unexpected(errno_error("mkdtemp", dir_ + "/tmp", errno));
    TreeGuard tmp_guard(tmp_layer);
    ::chmod(tmp_layer.c_str(), 0755);
    auto unpacked = unpack_tar(layer_fd->get(), label, tmp_layer,
                               UnpackOptions{.max_bytes = *max_layer, .max_entry_bytes = *max_entry,
                                             .max_bytes_hint = max_layer_size_hint,
                                             .max_entry_bytes_hint = max_entry_size_hint});
    if (!unpacked) return std::unexpected(unpacked.error().with_context("import " + path));
    new_layers.add(size_file);
    if (auto r = write_file(size_file, std::to_string(unpacked->bytes)); !r) return std::unexpected(r.error().with_context(what));
    if (::rename(tmp_layer.c_str(), final_dir.c_str()) != 0) return std::unexpected(errno_error("rename", final_dir, errno));
    tmp_guard.release();
    new_layers.add(final_dir);
    info.size += unpacked->bytes;
  }

  // The name moves to this image; an image left with no name goes (it could only be found by
  // id, and nothing would clean it up otherwise). This image's record is written first: if that
  // fails (a full disk), no other record has changed yet and the guard removes the new layers.
  auto existing = list();
  if (!existing) return std::unexpected(existing.error());
  info.names = {reference};
  for (auto& other : *existing)
    if (other.id == info.id)
      for (auto& n : other.names)
        if (n != reference) info.names.push_back(n);
  std::sort(info.names.begin(), info.names.end());
  if (auto r = write_file_atomic(fmt::format("{}/meta/{}.json", dir_, info.id.substr(7)), image_info_to_json(info).dump()); !r)
    return std::unexpected(r.error().with_context("import " + path));
  new_layers.release();
  for (auto& other : *existing) {
    if (other.id == info.id || std::find(other.names.begin(), other.names.end(), reference) == other.names.end()) continue;
    std::erase(other.names, reference);
    std::string meta = fmt::format("{}/meta/{}.json", dir_, other.id.substr(7));
    if (other.names.empty()) {
      ::unlink(meta.c_str());
    } else if (auto r = write_file_atomic(meta, image_info_to_json(other).dump()); !r) {
      return std::unexpected(r.error().with_context(
          fmt::format("import {}: imported as {}, but the name {} stays on {} too", path, info.id, reference, other.id)));
    }
  }
  // Layers of images that lost their last name.
  auto remaining = list();
  if (remaining) {
    std::vector<std::string> used;
    for (auto& i : *remaining)
      for (auto& d : i.diff_ids) used.push_back(d.substr(7));
    for (auto& name : entries_of(dir_ + "/layers"))
      if (is_hex64(name) && std::find(used.begin(), used.end(), name) == used.end()) {
        (void)remove_tree(fmt::format("{}/layers/{}", dir_, name));
        ::unlink(fmt::format("{}/layers/{}.size", dir_, name).c_str());
      }
  }
  return info;
}

Result<std::vector<ImageInfo>> ImageStore::list() const {
  std::vector<ImageInfo> out;
  for (auto& name : entries_of(dir_ + "/meta")) {
    if (!name.ends_with(".json")) continue;
    auto j = read_json_file(dir_ + "/meta/" + name, "image record");
    if (!j) {
      if (j.error().code == ErrorCode::not_found) continue;  // removed meanwhile
      return std::unexpected(j.error());
    }
    auto info = image_info_from_json(*j, name);
    if (!info) return std::unexpected(info.error());
    out.push_back(std::move(*info));
  }
  return out;
}

Result<ImageInfo> ImageStore::find(std::string_view ref) const {
  auto all = list();
  if (!all) return std::unexpected(all.error());
  if (auto name = normalize_reference(ref))
    for (auto& i : *all)
      if (std::find(i.names.begin(), i.names.end(), *name) != i.names.end()) return i;
  std::string hex(ref.starts_with("sha256:") ? ref.substr(7) : ref);
  bool hexish = hex.size() >= 4 && hex.size() <= 64 &&
                std::all_of(hex.begin(), hex.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f'); });
  if (hexish) {
    std::vector<const ImageInfo*> matches;
    for (auto& i : *all)
      if (i.id.substr(7).starts_with(hex)) matches.push_back(&i);
    if (matches.size() == 1) return *matches[0];
    if (matches.size() > 1)
      return fail(ErrorCode::conflict, fmt::format("image id prefix \"{}\" matches {} images", ref, matches.size()));
  }
  return fail(ErrorCode::not_found, fmt::format("no image \"{}\"", ref));
}

Result<std::vector<std::string>> ImageStore::remove(std::string_view ref) {
  auto lock = DirLock::take(dir_ + "/lock");
  if (!lock) return std::unexpected(lock.error());
  auto image = find(ref);
  if (!image) return std::unexpected(image.error());
  std::string meta = fmt::format("{}/meta/{}.json", dir_, image->id.substr(7));
  auto name = normalize_reference(ref);
  bool by_name = name && std::find(image->names.begin(), image->names.end(), *name) != image->names.end();
  if (by_name && image->names.size() > 1) {
    std::erase(image->names, *name);
    if (auto r = write_file_atomic(meta, image_info_to_json(*image).dump()); !r) return std::unexpected(r.error());
    return std::vector<std::string>{};
  }
  if (::unlink(meta.c_str()) != 0) return std::unexpected(errno_error("remove", meta, errno));
  auto remaining = list();
  if (!remaining) return std::unexpected(remaining.error());
  for (auto& diff : image->diff_ids) {
    std::string hex = diff.substr(7);
    bool used = std::any_of(remaining->begin(), remaining->end(), [&](const ImageInfo& i) {
      return std::find(i.diff_ids.begin(), i.diff_ids.end(), diff) != i.diff_ids.end();
    });
    if (used || !is_hex64(hex)) continue;
    if (auto r = remove_tree(fmt::format("{}/layers/{}", dir_, hex)); !r) return std::unexpected(r.error());
    ::unlink(fmt::format("{}/layers/{}.size", dir_, hex).c_str());
  }
  return std::vector<std::string>{image->id};
}

std::vector<std::string> ImageStore::layer_dirs(const ImageInfo& image) const {
  std::vector<std::string> out;
  for (auto& d : image.diff_ids) out.push_back(fmt::format("{}/layers/{}", dir_, d.substr(7)));
  return out;
}

}  // namespace berth::image
