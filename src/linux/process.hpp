// Process helpers shared by the shim, exec and the runtime: identity across pid reuse,
// exec with a PATH search that is safe between fork and exec, and fd hygiene.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "berth/error.hpp"

namespace berth::linux {

// Field 22 of /proc/PID/stat (start time in clock ticks since boot): with the pid, it names a
// process uniquely, so a recycled pid is not mistaken for the one we recorded. A zombie counts
// as gone: it has ended, and not every init reaps orphans promptly.
std::optional<std::uint64_t> process_start_time(pid_t pid);
bool process_matches(pid_t pid, std::uint64_t start_time);

// argv/envp as NUL-terminated arrays built before fork, so the child allocates nothing.
class ExecArgs {
 public:
  ExecArgs(const std::vector<std::string>& argv, const std::vector<std::string>& env);
  char* const* argv() const { return argv_ptrs_.data(); }
  char* const* envp() const { return env_ptrs_.data(); }
  const char* file() const { return argv_.empty() ? "" : argv_[0].c_str(); }
  // PATH from the environment given, or the usual default when it has none.
  const char* search_path() const { return path_.c_str(); }

 private:
  std::vector<std::string> argv_, env_;
  std::vector<char*> argv_ptrs_, env_ptrs_;
  std::string path_;
};

// execve with execvp's PATH search over args.search_path() (not the caller's PATH), using only
// stack buffers. Returns only on failure, with errno set (the most telling error seen).
void exec_with_path_search(const ExecArgs& args);

// Marks every fd >= `lowest` close-on-exec (close_range with CLOSE_RANGE_CLOEXEC, with a
// /proc/self/fd fallback that allocates nothing).
void mark_fds_cloexec_from(int lowest);

// Writes all of `data` (a short message in a child after fork); ignores errors.
void write_all_noalloc(int fd, const char* data, std::size_t size);

// For a child between fork and exec: writes "STAGE: strerror(err)" to `error_fd` (the
// close-on-exec pipe its parent reads) and exits 126 when the program exists but cannot run,
// 127 otherwise, as shells do.
[[noreturn]] void fail_child(int error_fd, const char* stage, int err);

}  // namespace berth::linux
