// Unpacking a layer tar (plain, gzip, zstd, ...: libarchive detects the filter) into a
// directory without trusting it: every entry is written with *at() calls beneath the target's
// fd, no path may climb out ("..") or pass through a symlink, hardlinks must point inside,
// device nodes need real root, and sizes are capped: no entry over max_entry_bytes, no more than
// max_bytes in all, nothing that would not fit in the free space of the target's file system.
// The first entry that breaks a rule is an error naming it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "berth/error.hpp"

namespace berth::image {

struct UnpackOptions {
  // Layer semantics: ".wh.NAME" becomes an overlay whiteout (char device 0/0) for NAME and
  // ".wh..wh..opq" marks its directory opaque (xattr trusted.overlay.opaque=y). Off for
  // archives that are not layers (an OCI archive's own tar).
  bool whiteouts = true;
  // 0: no cap. The size an entry claims counts (a sparse file's full size), not its tar bytes.
  std::int64_t max_bytes = 0;
  std::int64_t max_entry_bytes = 0;
  // How to raise the caps, for the error: "--max-layer-size".
  std::string_view max_bytes_hint = {};
  std::string_view max_entry_bytes_hint = {};
};

struct UnpackResult {
  std::int64_t bytes = 0;  // regular file contents written
};

// `target` must be an existing empty directory; `archive_fd` is read from its start; `label`
// names the archive in errors ("layer 0 (blobs/sha256/...)").
Result<UnpackResult> unpack_tar(int archive_fd, const std::string& label, const std::string& target,
                                const UnpackOptions& options);

struct StreamDigest {
  std::string sha256_hex;
  std::int64_t bytes = 0;
};
// sha256 hex of a file's bytes, and of its decompressed bytes (a layer's diff_id) with their
// count; reading stops with an error past `max_bytes` (0: no cap). Both read from the start.
Result<std::string> file_sha256(int fd, const std::string& label);
Result<StreamDigest> uncompressed_sha256(int fd, const std::string& label, std::int64_t max_bytes,
                                         std::string_view max_bytes_hint);

// Writes all of `data`: 0, or the errno of the write that failed (a short write is retried, so
// the call that fails says why: ENOSPC, not whatever errno held before).
int write_fully(int fd, const char* data, std::size_t size);

// Bytes an unprivileged writer may still use on the file system of `fd` (statvfs f_bavail).
Result<std::int64_t> free_space(int fd, const std::string& name);

}  // namespace berth::image
