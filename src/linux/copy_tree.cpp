#include "linux/copy_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>
#include <memory>

#include "common/fd.hpp"
#include "common/fs.hpp"

namespace berth::linux {

namespace {

constexpr int walk_flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC;

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

// Owner, then mode (a chown clears set-id bits), then times, of `name` in `dir`; symlinks
// keep the mode they have.
Result<void> copy_metadata(int dir, const char* name, const struct stat& st, const std::string& path) {
  if (::fchownat(dir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0)
    return std::unexpected(errno_error("chown", path, errno));
  if (!S_ISLNK(st.st_mode) && ::fchmodat(dir, name, st.st_mode & 07777, 0) != 0)
    return std::unexpected(errno_error("chmod", path, errno));
  const timespec times[2] = {st.st_atim, st.st_mtim};
  if (::utimensat(dir, name, times, AT_SYMLINK_NOFOLLOW) != 0)
    return std::unexpected(errno_error("set times of", path, errno));
  return {};
}

Result<void> copy_file(int from_dir, int to_dir, const char* name, const struct stat& st, const std::string& path) {
  UniqueFd in(::openat(from_dir, name, walk_flags));
  if (!in) return std::unexpected(errno_error("open", path, errno));
  UniqueFd out(::openat(to_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return std::unexpected(errno_error("create", path, errno));
  for (off_t left = st.st_size; left > 0;) {
    ssize_t n = ::sendfile(out.get(), in.get(), nullptr, static_cast<std::size_t>(left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(errno_error("copy", path, errno));
    if (n == 0) break;  // the file shrank while we copied
    left -= n;
  }
  return {};
}

Result<void> copy_entry(int from_dir, int to_dir, const char* name, const std::string& path);

Result<void> copy_children(int from_dir, int to_dir, const std::string& path) {
  // fdopendir takes the fd it is given, so it gets its own.
  int listing = ::openat(from_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (listing < 0) return std::unexpected(errno_error("open", path, errno));
  std::unique_ptr<DIR, DirCloser> dir(::fdopendir(listing));
  if (!dir) {
    int err = errno;
    ::close(listing);
    return std::unexpected(errno_error("list", path, err));
  }
  for (errno = 0; dirent* e = ::readdir(dir.get()); errno = 0) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    if (auto r = copy_entry(from_dir, to_dir, e->d_name, path + "/" + e->d_name); !r) return r;
  }
  if (errno != 0) return std::unexpected(errno_error("list", path, errno));
  return {};
}

Result<void> copy_entry(int from_dir, int to_dir, const char* name, const std::string& path) {
  struct stat st;
  if (::fstatat(from_dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return std::unexpected(errno_error("stat", path, errno));
  if (S_ISDIR(st.st_mode)) {
    if (::mkdirat(to_dir, name, 0700) != 0) return std::unexpected(errno_error("mkdir", path, errno));
    UniqueFd from(::openat(from_dir, name, walk_flags | O_DIRECTORY));
    UniqueFd to(::openat(to_dir, name, walk_flags | O_DIRECTORY));
    if (!from || !to) return std::unexpected(errno_error("open", path, errno));
    if (auto r = copy_children(from.get(), to.get(), path); !r) return r;
  } else if (S_ISREG(st.st_mode)) {
    if (auto r = copy_file(from_dir, to_dir, name, st, path); !r) return r;
  } else if (S_ISLNK(st.st_mode)) {
    std::string link(static_cast<std::size_t>(st.st_size) + 1, '\0');
    ssize_t n = ::readlinkat(from_dir, name, link.data(), link.size());
    if (n < 0) return std::unexpected(errno_error("readlink", path, errno));
    link.resize(static_cast<std::size_t>(n));
    if (::symlinkat(link.c_str(), to_dir, name) != 0) return std::unexpected(errno_error("symlink", path, errno));
  } else if (::mknodat(to_dir, name, st.st_mode & S_IFMT, st.st_rdev) != 0) {
    return std::unexpected(errno_error("mknod", path, errno));
  }
  // Last, so a directory's times are not changed by what was made in it.
  return copy_metadata(to_dir, name, st, path);
}

}  // namespace

Result<void> copy_tree(int from_dir, int to_dir, const std::string& what) {
  return copy_children(from_dir, to_dir, what);
}

}  // namespace berth::linux
