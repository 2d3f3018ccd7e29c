// Unpacking a layer tar (plain, gzip, zstd, ...: libarchive detects the filter) into a
// directory without trusting it: every entry is written with *at() calls beneath the target's
// fd, no path may climb out ("..") or pass through a symlink, hardlinks must point inside,
// device nodes need real root. The first entry that breaks a rule is an error naming it.
#pragma once

#include <cstdint>
#include <string>

#include "berth/error.hpp"

namespace berth::image {

struct UnpackOptions {
  // Layer semantics: ".wh.NAME" becomes an overlay whiteout (char device 0/0) for NAME and
  // ".wh..wh..opq" marks its directory opaque (xattr trusted.overlay.opaque=y). Off for
  // archives that are not layers (an OCI archive's own tar).
  bool whiteouts = true;
};

struct UnpackResult {
  std::int64_t bytes = 0;  // regular file contents written
};

// `target` must be an existing empty directory.
Result<UnpackResult> unpack_tar(const std::string& archive_path, const std::string& target,
                                const UnpackOptions& options);

// sha256 hex of a file's bytes, and of its decompressed bytes (a layer's diff_id).
Result<std::string> file_sha256(const std::string& path);
Result<std::string> uncompressed_sha256(const std::string& path);

}  // namespace berth::image
