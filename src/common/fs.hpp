// Small file-system helpers that return Result and name the path at fault.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "berth/error.hpp"

namespace berth {

// "open /x/y: No such file or directory" with the code that fits errno.
Error errno_error(std::string_view what, const std::string& path, int err);
ErrorCode code_for_errno(int err);

Result<std::string> read_file(const std::string& path);
// Everything an open descriptor still has to give, until end of file or an error (EINTR retried):
// a pipe's output after its writer closed, a memfd from its current offset.
std::string read_to_end(int fd);
// A file is created with `mode` (an existing one keeps its own). 0600 by default: most of what
// berth writes is its own state, and a spec's environment holds secrets. Files meant to be read
// inside a container (its /etc/hosts) or by other tools (a pid file) pass 0644.
Result<void> write_file(const std::string& path, std::string_view data, mode_t mode = 0600);
// Writes to a temporary file beside `path` (made with `mode`), fsyncs if asked, then renames
// over `path`.
Result<void> write_file_atomic(const std::string& path, std::string_view data,
                               bool durable = false, mode_t mode = 0600);
// mkdir -p with `mode` for the directories it creates.
Result<void> make_dirs(const std::string& path, unsigned mode = 0755);
// A directory only its owner may enter, for a state root: made 0700 (with any missing parents)
// or, when it exists with group or other bits (made by an older berth), tightened to 0700 with a
// warning on stderr. One of another user that this user cannot use is a permission error
// naming its owner; one of another user that is open to this one is left as it is.
Result<void> make_private_dir(const std::string& path);
// Clears the group and other bits of an existing file of this user, with a warning on stderr
// when there were any. Missing is fine.
Result<void> make_file_private(const std::string& path);
// rm -rf that never follows symlinks. Missing is fine.
Result<void> remove_tree(const std::string& path);
bool path_exists(const std::string& path);

}  // namespace berth
