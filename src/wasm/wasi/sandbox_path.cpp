#include "wasm/wasi/sandbox_path.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <deque>
#include <optional>
#include <vector>

#include "wasm/wasi/errno_map.hpp"

namespace berth::wasm::wasi {
namespace {

constexpr int max_symlinks = 40;  // Linux's MAXSYMLINKS
std::atomic<bool> openat2_works{true};

// openat2 beneath `base`; nullopt when the kernel lacks it.
std::optional<std::expected<UniqueFd, Errno>> try_openat2(int base, const std::string& path,
                                                          int flags, mode_t mode) {
  if (!openat2_works.load(std::memory_order_relaxed)) return std::nullopt;
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
  // O_TMPFILE includes O_DIRECTORY's bit; the kernel rejects a mode without O_CREAT/O_TMPFILE.
  how.mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  for (int attempt = 0;; ++attempt) {
    long fd = ::syscall(SYS_openat2, base, path.c_str(), &how, sizeof how);
    if (fd >= 0) return std::expected<UniqueFd, Errno>(UniqueFd(static_cast<int>(fd)));
    int err = errno;
    if (err == ENOSYS) {
      openat2_works.store(false, std::memory_order_relaxed);
      return std::nullopt;
    }
    // EAGAIN: a concurrent rename raced a ".." lookup; the kernel asks us to retry.
    if ((err == EAGAIN || err == EINTR) && attempt < 16) continue;
    // EXDEV is how RESOLVE_BENEATH reports an escape (absolute path, "..", absolute symlink).
    if (err == EXDEV) return std::unexpected(Errno::perm);
    return std::unexpected(errno_from_host(err));
  }
}

std::deque<std::string> split_components(std::string_view path) {
  std::deque<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

std::expected<std::string, Errno> read_link_fd(int fd) {
  std::string target(256, '\0');
  for (;;) {
    ssize_t n = ::readlinkat(fd, "", target.data(), target.size());
    if (n < 0) return std::unexpected(errno_from_host(errno));
    if (static_cast<std::size_t>(n) < target.size()) {
      target.resize(static_cast<std::size_t>(n));
      return target;
    }
    if (target.size() >= 65536) return std::unexpected(Errno::nametoolong);
    target.resize(target.size() * 2);
  }
}

// The walk: every component opened with O_PATH | O_NOFOLLOW, all symlinks expanded by hand.
std::expected<UniqueFd, Errno> walk_dir(int base, std::string_view path) {
  if (!path.empty() && path.front() == '/') return std::unexpected(Errno::perm);
  std::vector<UniqueFd> stack;  // directories below base; empty means "at base"
  auto current = [&] { return stack.empty() ? base : stack.back().get(); };
  std::deque<std::string> todo = split_components(path);
  int links = 0;
  while (!todo.empty()) {
    std::string component = std::move(todo.front());
    todo.pop_front();
    if (component == ".") continue;
    if (component == "..") {
      if (stack.empty()) return std::unexpected(Errno::perm);
      stack.pop_back();
      continue;
    }
    UniqueFd fd(::openat(current(), component.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return std::unexpected(errno_from_host(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return std::unexpected(errno_from_host(errno));
    if (S_ISLNK(st.st_mode)) {
      if (++links > max_symlinks) return std::unexpected(Errno::loop);
      auto target = read_link_fd(fd.get());
      if (!target) return std::unexpected(target.error());
      if (target->empty()) return std::unexpected(Errno::noent);
      if (target->front() == '/') return std::unexpected(Errno::perm);
      auto spliced = split_components(*target);
      todo.insert(todo.begin(), spliced.begin(), spliced.end());
      continue;
    }
    if (!S_ISDIR(st.st_mode)) return std::unexpected(Errno::notdir);
    stack.push_back(std::move(fd));
  }
  if (!stack.empty()) return std::move(stack.back());
  UniqueFd self(::openat(base, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!self) return std::unexpected(errno_from_host(errno));
  return self;
}

std::expected<UniqueFd, Errno> open_dir(int base, const std::string& dir_path,
                                        PathStrategy strategy) {
  if (strategy == PathStrategy::automatic) {
    if (auto fd = try_openat2(base, dir_path, O_PATH | O_DIRECTORY, 0)) return std::move(*fd);
  }
  return walk_dir(base, dir_path);
}

// Strips trailing slashes; true when there were any.
bool strip_trailing_slashes(std::string& path) {
  bool stripped = false;
  while (path.size() > 1 && path.back() == '/') {
    path.pop_back();
    stripped = true;
  }
  return stripped;
}

std::optional<Errno> check_guest_path(std::string_view path) {
  if (path.empty()) return Errno::noent;
  if (path.find('\0') != std::string_view::npos) return Errno::inval;
  if (path.front() == '/') return Errno::perm;
  return std::nullopt;
}

}  // namespace

bool openat2_available() { return openat2_works.load(std::memory_order_relaxed); }

std::expected<ResolvedPath, Errno> resolve_beneath(int base, std::string_view guest_path,
                                                   bool follow_final, PathStrategy strategy) {
  if (auto bad = check_guest_path(guest_path)) return std::unexpected(*bad);
  std::string path(guest_path);
  bool must_be_dir = strip_trailing_slashes(path);
  if (must_be_dir) follow_final = true;  // POSIX: a trailing slash resolves the final link
  for (int links = 0;;) {
    std::size_t slash = path.rfind('/');
    std::string dir_path = slash == std::string::npos ? "." : path.substr(0, slash);
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (dir_path.empty()) return std::unexpected(Errno::perm);  // "/name": absolute
    if (name == "..") {
      dir_path = path;
      name = ".";
    }
    auto dir = open_dir(base, dir_path, strategy);
    if (!dir) return std::unexpected(dir.error());
    if (follow_final && name != ".") {
      char target[4096];
      ssize_t n = ::readlinkat(dir->get(), name.c_str(), target, sizeof target);
      if (n >= 0) {
        if (++links > max_symlinks) return std::unexpected(Errno::loop);
        if (static_cast<std::size_t>(n) == sizeof target) return std::unexpected(Errno::nametoolong);
        std::string_view link(target, static_cast<std::size_t>(n));
        if (link.empty()) return std::unexpected(Errno::noent);
        if (link.front() == '/') return std::unexpected(Errno::perm);
        path = dir_path + "/" + std::string(link);
        if (strip_trailing_slashes(path)) must_be_dir = true;
        continue;
      }
      // EINVAL: not a symlink; ENOENT: nothing there yet (creation). Both end the loop.
      if (errno != EINVAL && errno != ENOENT) return std::unexpected(errno_from_host(errno));
    }
    return ResolvedPath{std::move(*dir), std::move(name), must_be_dir};
  }
}

std::expected<UniqueFd, Errno> open_beneath(int base, std::string_view guest_path, int flags,
                                            mode_t mode, bool follow_final,
                                            PathStrategy strategy) {
  if (auto bad = check_guest_path(guest_path)) return std::unexpected(*bad);
  // O_CREAT | O_EXCL never follows a final symlink (POSIX).
  if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) follow_final = false;
  if (strategy == PathStrategy::automatic) {
    std::string path(guest_path);
    if (auto fd = try_openat2(base, path, flags | (follow_final ? 0 : O_NOFOLLOW), mode)) {
      return std::move(*fd);
    }
  }
  auto resolved = resolve_beneath(base, guest_path, follow_final, PathStrategy::walk);
  if (!resolved) return std::unexpected(resolved.error());
  if (resolved->must_be_dir) flags |= O_DIRECTORY;
  int fd = ::openat(resolved->dir.get(), resolved->name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC,
                    mode);
  if (fd < 0) return std::unexpected(errno_from_host(errno));
  return UniqueFd(fd);
}

}  // namespace berth::wasm::wasi
