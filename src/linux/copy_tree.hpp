// Copies a directory's content into another directory, as the host's root: regular files,
// directories, symlinks and special files (fifos, device nodes, sockets), with their owners,
// modes and times. Hard links become separate copies and extended attributes are not copied.
// Used by OCI "tmpcopyup", where a fresh tmpfs starts with what the image had at its target.
//
// Both sides are fds and every entry is opened relative to its parent without following
// symlinks, so a symlink in the image is copied as a symlink and never leads the copy out of
// the tree.
#pragma once

#include <string>

#include "berth/error.hpp"

namespace berth::linux {

// `from_dir` and `to_dir` are O_RDONLY directory fds; `what` names the source in errors.
Result<void> copy_tree(int from_dir, int to_dir, const std::string& what);

}  // namespace berth::linux
