// Small file-system helpers that return Result and name the path at fault.
#pragma once

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
Result<void> write_file(const std::string& path, std::string_view data);
// Writes to a temporary file beside `path`, fsyncs if asked, then renames over `path`.
Result<void> write_file_atomic(const std::string& path, std::string_view data,
                               bool durable = false);
// mkdir -p with `mode` for the directories it creates.
Result<void> make_dirs(const std::string& path, unsigned mode = 0755);
// rm -rf that never follows symlinks. Missing is fine.
Result<void> remove_tree(const std::string& path);
bool path_exists(const std::string& path);

}  // namespace berth
