#include "common/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>

#include "common/fd.hpp"

namespace berth {

ErrorCode code_for_errno(int err) {
  switch (err) {
    case ENOENT: return ErrorCode::not_found;
    case EACCES:
    case EPERM: return ErrorCode::permission_denied;
    case EEXIST:
    case EBUSY: return ErrorCode::conflict;
    case EINVAL: return ErrorCode::invalid_spec;
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
    case EAGAIN: return ErrorCode::limit_exceeded;
    default: return ErrorCode::internal;
  }
}

Error errno_error(std::string_view what, const std::string& path, int err) {
  return Error{code_for_errno(err), fmt::format("{} {}: {}", what, path, std::strerror(err))};
}

Result<std::string> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::unexpected(errno_error("open", path, errno));
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(errno_error("read", path, errno));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

static Result<void> write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(errno_error("write", path, errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> write_file(const std::string& path, std::string_view data, mode_t mode) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return std::unexpected(errno_error("open", path, errno));
  return write_all(fd.get(), data, path);
}

Result<void> write_file_atomic(const std::string& path, std::string_view data, bool durable,
                               mode_t mode) {
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd) return std::unexpected(errno_error("open", tmp, errno));
    if (auto r = write_all(fd.get(), data, tmp); !r) {
      ::unlink(tmp.c_str());
      return r;
    }
    if (durable && ::fsync(fd.get()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return std::unexpected(errno_error("fsync", tmp, err));
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return std::unexpected(errno_error("rename", path, err));
  }
  return {};
}

Result<void> make_dirs(const std::string& path, unsigned mode) {
  if (path.empty()) return {};
  std::string partial;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), mode) != 0 && errno != EEXIST)
      return std::unexpected(errno_error("mkdir", partial, errno));
  }
  return {};
}

// Clears the group and other bits of `mode` on `path`, and says so: a state root an older berth
// made open to others is worth knowing about.
static Result<void> tighten(const std::string& path, mode_t mode) {
  mode_t tight = mode & ~mode_t{077};
  if (::chmod(path.c_str(), tight) != 0) return std::unexpected(errno_error("chmod", path, errno));
  fmt::print(stderr, "warning: {} had mode {:04o}, open to other users: tightened to {:04o}\n", path, mode, tight);
  return {};
}

Result<void> make_private_dir(const std::string& path) {
  if (auto r = make_dirs(path, 0700); !r) return r;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::unexpected(errno_error("stat", path, errno));
  if (!S_ISDIR(st.st_mode))
    return std::unexpected(Error{ErrorCode::invalid_spec, fmt::format("{}: not a directory", path)});
  mode_t mode = st.st_mode & 07777;
  if (st.st_uid != ::geteuid()) {
    if (::access(path.c_str(), R_OK | W_OK | X_OK) == 0) return {};
    return std::unexpected(Error{
        ErrorCode::permission_denied,
        fmt::format("{}: permission denied: it belongs to uid {} (mode {:04o}) and only its owner may use it",
                    path, st.st_uid, mode)});
  }
  if ((mode & 077) == 0) return {};
  return tighten(path, mode);
}

Result<void> make_file_private(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return std::unexpected(errno_error("stat", path, errno));
  }
  mode_t mode = st.st_mode & 07777;
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (mode & 077) == 0) return {};
  return tighten(path, mode);
}

// Removes the contents of the directory open at `dirfd`, never following symlinks.
static Result<void> remove_contents(int dirfd, const std::string& path) {
  int dup = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return std::unexpected(errno_error("dup", path, errno));
  DIR* dir = ::fdopendir(dup);
  if (!dir) {
    ::close(dup);
    return std::unexpected(errno_error("opendir", path, errno));
  }
  Result<void> result;
  while (dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    std::string child = path + "/" + std::string(name);
    if (::unlinkat(dirfd, entry->d_name, 0) == 0) continue;
    if (errno != EISDIR) {
      if (errno != ENOENT) result = std::unexpected(errno_error("unlink", child, errno));
      continue;
    }
    UniqueFd sub(::openat(dirfd, entry->d_name,
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) {
      result = std::unexpected(errno_error("open", child, errno));
      continue;
    }
    if (auto r = remove_contents(sub.get(), child); !r) result = r;
    if (::unlinkat(dirfd, entry->d_name, AT_REMOVEDIR) != 0 && errno != ENOENT)
      result = std::unexpected(errno_error("rmdir", child, errno));
  }
  ::closedir(dir);
  return result;
}

Result<void> remove_tree(const std::string& path) {
  if (::unlink(path.c_str()) == 0) return {};
  if (errno == ENOENT) return {};
  if (errno != EISDIR) return std::unexpected(errno_error("unlink", path, errno));
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return std::unexpected(errno_error("open", path, errno));
  if (auto r = remove_contents(fd.get(), path); !r) return r;
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT)
    return std::unexpected(errno_error("rmdir", path, errno));
  return {};
}

bool path_exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string read_to_end(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace berth
