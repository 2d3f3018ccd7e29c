// The local image store under <state root>/images: images imported from an OCI image layout,
// an OCI archive or a docker-archive, every blob checked against its digest, each layer unpacked
// once (content-addressed by diff_id) in a form overlayfs takes directly as a lower layer.
//
//   images/lock                    flock: one writer at a time
//   images/meta/<id-hex>.json      an image: ImageInfo and its layer list
//   images/layers/<diff-id-hex>/   an unpacked layer (whiteouts as overlay whiteouts)
//   images/tmp/                    work in progress; emptied on open
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "berth/error.hpp"
#include "berth/image.hpp"

namespace berth::image {

class ImageStore {
 public:
  static Result<ImageStore> open(std::string dir);

  Result<ImageInfo> import(const std::string& path, const ImageImportOptions& options);
  Result<std::vector<ImageInfo>> list() const;
  // "name:tag", "name" (:latest), "sha256:<hex>", or a unique id prefix of at least 4 hex digits.
  Result<ImageInfo> find(std::string_view ref) const;
  // A name: the name goes, and the image with it when it was its last one. An id: the image
  // and all its names. Layers no remaining image uses are deleted. Returns removed image ids.
  Result<std::vector<std::string>> remove(std::string_view ref);
  // Unpacked layer directories, bottom first.
  std::vector<std::string> layer_dirs(const ImageInfo& image) const;

 private:
  explicit ImageStore(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

// "busybox" -> "busybox:latest"; an error names what is wrong with the reference.
Result<std::string> normalize_reference(std::string_view ref);

// For hosts without overlayfs: the layers applied in order into the empty directory `target`
// (whiteouts delete, opaque directories hide what is below).
Result<void> copy_layers_into(const std::vector<std::string>& layer_dirs, const std::string& target);

}  // namespace berth::image
