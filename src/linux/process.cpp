#include "linux/process.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fs.hpp"

namespace berth::linux {

std::optional<std::uint64_t> process_start_time(pid_t pid) {
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: skip past its last ')'.
  auto close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::size_t pos = close + 2;  // field 3 (the state) starts here
  // A zombie has ended; only its parent's wait is missing (some inits never reap orphans).
  if (pos >= stat->size() || (*stat)[pos] == 'Z' || (*stat)[pos] == 'X') return std::nullopt;
  for (int field = 3; field < 22; ++field) {
    pos = stat->find(' ', pos);
    if (pos == std::string::npos) return std::nullopt;
    ++pos;
  }
  return std::strtoull(stat->c_str() + pos, nullptr, 10);
}

bool process_matches(pid_t pid, std::uint64_t start_time) {
  if (pid <= 0) return false;
  auto t = process_start_time(pid);
  return t && *t == start_time;
}

ExecArgs::ExecArgs(const std::vector<std::string>& argv, const std::vector<std::string>& env)
    : argv_(argv), env_(env) {
  for (auto& a : argv_) argv_ptrs_.push_back(a.data());
  argv_ptrs_.push_back(nullptr);
  for (auto& e : env_) env_ptrs_.push_back(e.data());
  env_ptrs_.push_back(nullptr);
  path_ = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (auto& e : env_)
    if (e.starts_with("PATH=")) path_ = e.substr(5);
}

void exec_with_path_search(const ExecArgs& args) {
  const char* file = args.file();
  if (file[0] == '\0') {
    errno = ENOENT;
    return;
  }
  if (std::strchr(file, '/')) {
    ::execve(file, args.argv(), args.envp());
    return;
  }
  char candidate[4096];
  std::size_t file_len = std::strlen(file);
  int best_errno = ENOENT;
  const char* p = args.search_path();
  for (;;) {
    const char* end = std::strchr(p, ':');
    std::size_t dir_len = end ? static_cast<std::size_t>(end - p) : std::strlen(p);
    if (dir_len == 0) {  // an empty entry means the current directory
      candidate[0] = '.';
      dir_len = 1;
    } else if (dir_len + file_len + 2 <= sizeof candidate) {
      std::memcpy(candidate, p, dir_len);
    } else {
      dir_len = 0;
    }
    if (dir_len && dir_len + file_len + 2 <= sizeof candidate) {
      candidate[dir_len] = '/';
      std::memcpy(candidate + dir_len + 1, file, file_len + 1);
      ::execve(candidate, args.argv(), args.envp());
      // Keep looking past missing entries, but remember a more telling failure (EACCES...).
      if (errno != ENOENT && errno != ENOTDIR) best_errno = errno;
    }
    if (!end) break;
    p = end + 1;
  }
  errno = best_errno;
}

void mark_fds_cloexec_from(int lowest) {
  if (::syscall(SYS_close_range, lowest, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  // Older kernels: walk the fd table by number (no allocation, no opendir).
  long max = ::sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = lowest; fd < max; ++fd) {
    int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
  }
}

void write_all_noalloc(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void fail_child(int error_fd, const char* stage, int err) {
  // strerror is not async-signal-safe in theory; the child is the only thread of a fresh
  // fork and exits right after, so the usual fork caveats do not bite.
  const char* text = std::strerror(err);
  write_all_noalloc(error_fd, stage, std::strlen(stage));
  write_all_noalloc(error_fd, ": ", 2);
  write_all_noalloc(error_fd, text, std::strlen(text));
  ::_exit(err == EACCES || err == ENOEXEC ? 126 : 127);
}

}  // namespace berth::linux
