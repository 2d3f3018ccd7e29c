#include "image/layer_unpack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>
#include <memory>
#include <vector>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/sha256.hpp"
#include "common/units.hpp"

namespace berth::image {

namespace {

// libarchive's message for its last error; it may have none (NULL), which fmt refuses to
// format (a malformed tar found this with the layer_unpack fuzzer: berth terminated).
const char* archive_message(archive* a) {
  const char* message = archive_error_string(a);
  return message ? message : "malformed archive (libarchive gave no reason)";
}

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using Archive = std::unique_ptr<archive, ArchiveDeleter>;

std::unexpected<Error> bad_entry(const std::string& layer, const std::string& entry, std::string_view why) {
  return fail(ErrorCode::invalid_spec, fmt::format("{}: entry \"{}\": {}", layer, entry, why));
}

// A failed system call on an entry, with the errno captured at that call. ENOSPC says so in
// words a reader looks for.
std::unexpected<Error> entry_error(const std::string& layer, const std::string& entry, std::string_view op, int err) {
  if (err == ENOSPC)
    return fail(ErrorCode::limit_exceeded, fmt::format("{}: entry \"{}\": {}: no space left on device", layer, entry, op));
  Error e = errno_error(op, fmt::format("entry \"{}\"", entry), err);
  return std::unexpected(e.with_context(layer));
}

// "a/./b/" -> {"a","b"}; a leading "/" is dropped (as Docker does); ".." is refused.
Result<std::vector<std::string>> components(const std::string& path, const std::string& layer) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    std::string part = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (part == "..") return bad_entry(layer, path, "climbs out of the archive with \"..\"");
    if (!part.empty() && part != ".") out.push_back(part);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

// The directory `parts[0..n)` beneath root, created as needed, never through a symlink.
Result<UniqueFd> open_parent(int root, const std::vector<std::string>& parts, std::size_t n,
                             const std::string& layer, const std::string& entry) {
  UniqueFd dir(::fcntl(root, F_DUPFD_CLOEXEC, 0));
  for (std::size_t i = 0; i < n; ++i) {
    open_how how{};
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    long fd = ::syscall(SYS_openat2, dir.get(), parts[i].c_str(), &how, sizeof how);
    if (fd < 0 && errno == ENOENT) {
      if (::mkdirat(dir.get(), parts[i].c_str(), 0755) != 0 && errno != EEXIST)
        return entry_error(layer, entry, "mkdir", errno);
      fd = ::syscall(SYS_openat2, dir.get(), parts[i].c_str(), &how, sizeof how);
    }
    if (fd < 0) {
      if (errno == ELOOP || errno == EXDEV) return bad_entry(layer, entry, "its path goes through a symlink");
      if (errno == ENOTDIR) return bad_entry(layer, entry, "its path goes through something that is not a directory");
      return entry_error(layer, entry, "open", errno);
    }
    dir.reset(static_cast<int>(fd));
  }
  return dir;
}

bool in_user_namespace() {
  auto map = read_file("/proc/self/uid_map").value_or("");
  return map.find("4294967295") == std::string::npos;
}

Result<void> set_metadata(int dir, const std::string& name, archive_entry* e, bool is_link) {
  if (::fchownat(dir, name.c_str(), static_cast<uid_t>(archive_entry_uid(e)), static_cast<gid_t>(archive_entry_gid(e)),
                 AT_SYMLINK_NOFOLLOW) != 0 && errno != EPERM)
    return std::unexpected(errno_error("chown", name, errno));
  if (!is_link && ::fchmodat(dir, name.c_str(), archive_entry_perm(e) & 07777, 0) != 0)
    return std::unexpected(errno_error("chmod", name, errno));
  timespec times[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                       {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
  ::utimensat(dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW);
  return {};
}

void set_xattrs(int fd, archive_entry* e) {
  const char* name;
  const void* value;
  size_t size;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) ::fsetxattr(fd, name, value, size, 0);
}

// Reads `fd` from its start (libarchive neither seeks nor closes it).
Archive open_archive(int fd, bool raw) {
  if (::lseek(fd, 0, SEEK_SET) != 0) return nullptr;
  Archive a(archive_read_new());
  archive_read_support_filter_all(a.get());
  if (raw) archive_read_support_format_raw(a.get());
  else archive_read_support_format_tar(a.get()), archive_read_support_format_gnutar(a.get());
  if (archive_read_open_fd(a.get(), fd, 1 << 16) != ARCHIVE_OK) return nullptr;
  return a;
}

}  // namespace

int write_fully(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return ENOSPC;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return 0;
}

Result<std::string> file_sha256(int fd, const std::string& label) {
  if (::lseek(fd, 0, SEEK_SET) != 0) return std::unexpected(errno_error("seek", label, errno));
  Sha256 hash;
  std::vector<char> buf(1 << 16);
  ssize_t n;
  while ((n = ::read(fd, buf.data(), buf.size())) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(errno_error("read", label, errno));
    hash.update(buf.data(), static_cast<std::size_t>(n));
  }
  return hash.hex_digest();
}

Result<StreamDigest> uncompressed_sha256(int fd, const std::string& label, std::int64_t max_bytes,
                                         std::string_view max_bytes_hint) {
  Archive a = open_archive(fd, true);
  if (!a) return fail(ErrorCode::invalid_spec, fmt::format("{}: not a readable archive", label));
  archive_entry* e;
  Sha256 hash;
  StreamDigest out;
  if (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
    std::vector<char> buf(1 << 16);
    la_ssize_t n;
    while ((n = archive_read_data(a.get(), buf.data(), buf.size())) > 0) {
      hash.update(buf.data(), static_cast<std::size_t>(n));
      out.bytes += n;
      if (max_bytes > 0 && out.bytes > max_bytes)
        return fail(ErrorCode::limit_exceeded,
                    fmt::format("{}: uncompressed, it is over the layer size limit of {} ({})", label,
                                format_size(static_cast<std::uint64_t>(max_bytes)), max_bytes_hint));
    }
    if (n < 0)
      return fail(ErrorCode::invalid_spec, fmt::format("{}: {}", label, archive_message(a.get())));
  }
  out.sha256_hex = hash.hex_digest();
  return out;
}

Result<std::int64_t> free_space(int fd, const std::string& name) {
  struct statvfs vfs;
  if (::fstatvfs(fd, &vfs) != 0) return std::unexpected(errno_error("statvfs", name, errno));
  return static_cast<std::int64_t>(vfs.f_bavail) * static_cast<std::int64_t>(vfs.f_frsize);
}

Result<UnpackResult> unpack_tar(int archive_fd, const std::string& label, const std::string& target,
                                const UnpackOptions& options) {
  const std::string& layer = label;
  Archive a = open_archive(archive_fd, false);
  if (!a) return fail(ErrorCode::invalid_spec, fmt::format("{}: not a readable tar archive", layer));
  UniqueFd root(::open(target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return std::unexpected(errno_error("open", target, errno));
  bool may_make_devices = ::geteuid() == 0 && !in_user_namespace();
  UnpackResult result;
  // Checked before an entry is written: the size it claims (a sparse file's full size, which
  // libarchive fills in with zeros) against the caps and the space left.
  auto check_entry_size = [&](archive_entry* entry_header, std::int64_t written, const std::string& entry) -> Result<void> {
    if (!archive_entry_size_is_set(entry_header)) return {};
    std::int64_t size = archive_entry_size(entry_header);
    if (options.max_entry_bytes > 0 && size > options.max_entry_bytes)
      return fail(ErrorCode::limit_exceeded,
                  fmt::format("{}: entry \"{}\" is {}, over the entry size limit of {} ({})", layer, entry,
                              format_size(static_cast<std::uint64_t>(size)),
                              format_size(static_cast<std::uint64_t>(options.max_entry_bytes)), options.max_entry_bytes_hint));
    if (options.max_bytes > 0 && written + size > options.max_bytes)
      return fail(ErrorCode::limit_exceeded,
                  fmt::format("{}: entry \"{}\" takes it over the size limit of {} ({})", layer, entry,
                              format_size(static_cast<std::uint64_t>(options.max_bytes)), options.max_bytes_hint));
    if (size == 0) return {};
    auto space = free_space(root.get(), target);
    if (!space) return std::unexpected(space.error());
    if (size > *space)
      return fail(ErrorCode::limit_exceeded,
                  fmt::format("{}: entry \"{}\" is {}, {} are free: no space left on device", layer, entry,
                              format_size(static_cast<std::uint64_t>(size)), format_size(static_cast<std::uint64_t>(*space))));
    return {};
  };
  std::vector<char> buf(1 << 16);
  archive_entry* e;
  for (;;) {
    int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN)
      return fail(ErrorCode::invalid_spec, fmt::format("{}: {}", layer, archive_message(a.get())));
    const char* raw_path = archive_entry_pathname(e);
    std::string entry = raw_path ? raw_path : "";
    auto parts = components(entry, layer);
    if (!parts) return std::unexpected(parts.error());
    if (parts->empty()) continue;  // "./": the root itself
    std::string name = parts->back();
    auto parent = open_parent(root.get(), *parts, parts->size() - 1, layer, entry);
    if (!parent) return std::unexpected(parent.error());
    int dir = parent->get();

    if (options.whiteouts && name.starts_with(".wh.")) {
      if (name == ".wh..wh..opq") {
        UniqueFd d(::openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!d || ::fsetxattr(d.get(), "trusted.overlay.opaque", "y", 1, 0) != 0)
          return entry_error(layer, entry, "mark opaque", errno);
        continue;
      }
      std::string hidden = name.substr(4);
      if (hidden.empty() || hidden == "." || hidden == "..") return bad_entry(layer, entry, "whiteout of nothing");
      ::unlinkat(dir, hidden.c_str(), 0);
      if (::mknodat(dir, hidden.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0)
        return entry_error(layer, entry, "make whiteout", errno);
      continue;
    }

    // Replacing what an earlier entry put here (tar semantics), but never following it.
    struct stat existing;
    bool exists = ::fstatat(dir, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0;
    auto type = archive_entry_filetype(e);
    if (exists && !(S_ISDIR(existing.st_mode) && type == AE_IFDIR)) {
      if (S_ISDIR(existing.st_mode)) return bad_entry(layer, entry, "would replace a directory");
      ::unlinkat(dir, name.c_str(), 0);
    }

    if (const char* link = archive_entry_hardlink(e)) {
      auto target_parts = components(link, layer);
      if (!target_parts) return std::unexpected(target_parts.error());
      if (target_parts->empty()) return bad_entry(layer, entry, "hardlink to the archive root");
      auto link_parent = open_parent(root.get(), *target_parts, target_parts->size() - 1, layer, link);
      if (!link_parent)
        return bad_entry(layer, entry, fmt::format("hardlink target \"{}\" is not inside the archive", link));
      struct stat st;
      if (::fstatat(link_parent->get(), target_parts->back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return bad_entry(layer, entry, fmt::format("hardlink target \"{}\" does not exist in the archive", link));
      if (::linkat(link_parent->get(), target_parts->back().c_str(), dir, name.c_str(), 0) != 0)
        return entry_error(layer, entry, "link", errno);
      continue;
    }
    switch (type) {
      case AE_IFDIR:
        if (!exists && ::mkdirat(dir, name.c_str(), 0700) != 0) return entry_error(layer, entry, "mkdir", errno);
        if (auto r = set_metadata(dir, name, e, false); !r) return std::unexpected(r.error());
        {
          UniqueFd d(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
          if (d) set_xattrs(d.get(), e);
        }
        break;
      case AE_IFREG: {
        if (auto room = check_entry_size(e, result.bytes, entry); !room) return std::unexpected(room.error());
        UniqueFd f(::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!f) return entry_error(layer, entry, "create", errno);
        la_ssize_t n;
        while ((n = archive_read_data(a.get(), buf.data(), buf.size())) > 0) {
          if (int err = write_fully(f.get(), buf.data(), static_cast<std::size_t>(n)); err != 0)
            return entry_error(layer, entry, "write", err);
          result.bytes += n;
        }
        if (n < 0) return fail(ErrorCode::invalid_spec, fmt::format("{}: entry \"{}\": {}", layer, entry,
                                                                     archive_message(a.get())));
        set_xattrs(f.get(), e);
        if (auto r = set_metadata(dir, name, e, false); !r) return std::unexpected(r.error());
        break;
      }
      case AE_IFLNK: {
        const char* to = archive_entry_symlink(e);
        // Any target is fine: nothing here follows it, and a container resolves it in its root.
        if (!to) return bad_entry(layer, entry, "symlink without a target");
        if (::symlinkat(to, dir, name.c_str()) != 0) return entry_error(layer, entry, "symlink", errno);
        if (auto r = set_metadata(dir, name, e, true); !r) return std::unexpected(r.error());
        break;
      }
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO: {
        if (type != AE_IFIFO && !may_make_devices)
          return bad_entry(layer, entry, "device nodes need root outside a user namespace");
        mode_t kind = type == AE_IFCHR ? S_IFCHR : type == AE_IFBLK ? S_IFBLK : S_IFIFO;
        if (::mknodat(dir, name.c_str(), kind | 0600, archive_entry_rdev(e)) != 0)
          return entry_error(layer, entry, "mknod", errno);
        if (auto r = set_metadata(dir, name, e, false); !r) return std::unexpected(r.error());
        break;
      }
      default:
        return bad_entry(layer, entry, "unsupported entry type");
    }
  }
  return result;
}

}  // namespace berth::image
