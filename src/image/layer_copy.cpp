// copy_layers_into: the rootfs of a container on a host without overlayfs, made by applying the
// unpacked layers in order, with directory fds and O_NOFOLLOW so no symlink in a layer can send a
// write outside the target.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>
#include <vector>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "image/image_store.hpp"
#include "image/layer_unpack.hpp"

namespace berth::image {

namespace {

std::vector<std::string> names_in(int dir_fd) {
  std::vector<std::string> out;
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return out;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return out;
  }
  while (auto* e = ::readdir(d))
    if (std::string_view n = e->d_name; n != "." && n != "..") out.emplace_back(n);
  ::closedir(d);
  return out;
}

// Removes `name` in `dir` whatever it is (a directory with its contents).
Result<void> remove_at(int dir, const std::string& name, const std::string& path) {
  struct stat st;
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return {};
  if (S_ISDIR(st.st_mode)) {
    UniqueFd sub(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) return std::unexpected(errno_error("open", path, errno));
    for (auto& child : names_in(sub.get()))
      if (auto r = remove_at(sub.get(), child, path + "/" + child); !r) return r;
    if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) != 0) return std::unexpected(errno_error("rmdir", path, errno));
  } else if (::unlinkat(dir, name.c_str(), 0) != 0) {
    return std::unexpected(errno_error("unlink", path, errno));
  }
  return {};
}

Result<void> copy_file(int src_dir, int dst_dir, const std::string& name, const struct stat& st, const std::string& path) {
  UniqueFd in(::openat(src_dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!in) return std::unexpected(errno_error("open", path, errno));
  UniqueFd out(::openat(dst_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return std::unexpected(errno_error("create", path, errno));
  for (off_t left = st.st_size; left > 0;) {
    ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, static_cast<std::size_t>(left), 0);
    if (n <= 0) {
      if (n < 0 && errno != EXDEV && errno != ENOSYS && errno != EINVAL)
        return std::unexpected(errno_error("copy", path, errno));
      char buf[65536];
      ssize_t r;
      while ((r = ::read(in.get(), buf, sizeof buf)) > 0)
        if (int err = write_fully(out.get(), buf, static_cast<std::size_t>(r)); err != 0)
          return std::unexpected(errno_error("write", path, err));
      if (r < 0) return std::unexpected(errno_error("read", path, errno));
      break;
    }
    left -= n;
  }
  if (::fchown(out.get(), st.st_uid, st.st_gid) != 0 || ::fchmod(out.get(), st.st_mode & 07777) != 0)
    return std::unexpected(errno_error("set owner and mode of", path, errno));
  return {};
}

Result<void> apply_dir(int src, int dst, const std::string& path) {
  for (auto& name : names_in(src)) {
    std::string child = path + "/" + name;
    struct stat st;
    if (::fstatat(src, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return std::unexpected(errno_error("stat", child, errno));
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {  // whiteout: what is below goes
      if (auto r = remove_at(dst, name, child); !r) return r;
      continue;
    }
    struct stat existing;
    bool exists = ::fstatat(dst, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
    if (S_ISDIR(st.st_mode)) {
      if (exists && !S_ISDIR(existing.st_mode)) {
        if (auto r = remove_at(dst, name, child); !r) return r;
        exists = false;
      }
      if (!exists && ::mkdirat(dst, name.c_str(), 0700) != 0) return std::unexpected(errno_error("mkdir", child, errno));
      UniqueFd s(::openat(src, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      UniqueFd d(::openat(dst, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!s || !d) return std::unexpected(errno_error("open", child, errno));
      char opaque[2] = {};
      if (exists && ::fgetxattr(s.get(), "trusted.overlay.opaque", opaque, 1) == 1 && opaque[0] == 'y')
        for (auto& below : names_in(d.get()))
          if (auto r = remove_at(d.get(), below, child + "/" + below); !r) return r;
      if (auto r = apply_dir(s.get(), d.get(), child); !r) return r;
      if (::fchown(d.get(), st.st_uid, st.st_gid) != 0 || ::fchmod(d.get(), st.st_mode & 07777) != 0)
        return std::unexpected(errno_error("set owner and mode of", child, errno));
      continue;
    }
    if (exists)
      if (auto r = remove_at(dst, name, child); !r) return r;
    if (S_ISREG(st.st_mode)) {
      if (auto r = copy_file(src, dst, name, st, child); !r) return r;
    } else if (S_ISLNK(st.st_mode)) {
      std::vector<char> target(static_cast<std::size_t>(st.st_size) + 1);
      ssize_t n = ::readlinkat(src, name.c_str(), target.data(), target.size());
      if (n < 0) return std::unexpected(errno_error("readlink", child, errno));
      target[static_cast<std::size_t>(n)] = '\0';
      if (::symlinkat(target.data(), dst, name.c_str()) != 0) return std::unexpected(errno_error("symlink", child, errno));
      ::fchownat(dst, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
    } else {
      if (::mknodat(dst, name.c_str(), st.st_mode, st.st_rdev) != 0) return std::unexpected(errno_error("mknod", child, errno));
      ::fchownat(dst, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
    }
  }
  return {};
}

}  // namespace

Result<void> copy_layers_into(const std::vector<std::string>& layer_dirs, const std::string& target) {
  UniqueFd dst(::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dst) return std::unexpected(errno_error("open", target, errno));
  for (auto& layer : layer_dirs) {
    UniqueFd src(::open(layer.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!src) return std::unexpected(errno_error("open", layer, errno));
    if (auto r = apply_dir(src.get(), dst.get(), target); !r) return r;
  }
  return {};
}

}  // namespace berth::image
