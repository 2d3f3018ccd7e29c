#include "image/layer_unpack.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

namespace berth::image {

namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
using Archive = std::unique_ptr<archive, ArchiveDeleter>;

std::unexpected<Error> bad_entry(const std::string& layer, const std::string& entry, std::string_view why) {
  return fail(ErrorCode::invalid_spec, fmt::format("layer {}: entry \"{}\": {}", layer, entry, why));
}

// "a/./b/" -> {"a","b"}; a leading "/" is dropped (as Docker does); ".." is refused.
Result<std::vector<std::string>> components(const std::string& path, const std::string& layer) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    std::string part = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (part == "..") return bad_entry(layer, path, "climbs out of the layer with \"..\"");
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
        return std::unexpected(errno_error("mkdir", entry, errno));
      fd = ::syscall(SYS_openat2, dir.get(), parts[i].c_str(), &how, sizeof how);
    }
    if (fd < 0) {
      if (errno == ELOOP || errno == EXDEV) return bad_entry(layer, entry, "its path goes through a symlink");
      if (errno == ENOTDIR) return bad_entry(layer, entry, "its path goes through something that is not a directory");
      return std::unexpected(errno_error("open", entry, errno));
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

Archive open_archive(const std::string& path, bool raw) {
  Archive a(archive_read_new());
  archive_read_support_filter_all(a.get());
  if (raw) archive_read_support_format_raw(a.get());
  else archive_read_support_format_tar(a.get()), archive_read_support_format_gnutar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 16) != ARCHIVE_OK) return nullptr;
  return a;
}

}  // namespace

Result<std::string> file_sha256(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::unexpected(errno_error("open", path, errno));
  Sha256 hash;
  std::vector<char> buf(1 << 16);
  ssize_t n;
  while ((n = ::read(fd.get(), buf.data(), buf.size())) > 0) hash.update(buf.data(), static_cast<std::size_t>(n));
  if (n < 0) return std::unexpected(errno_error("read", path, errno));
  return hash.hex_digest();
}

Result<std::string> uncompressed_sha256(const std::string& path) {
  Archive a = open_archive(path, true);
  if (!a) return fail(ErrorCode::invalid_spec, fmt::format("layer {}: not a readable archive", path));
  archive_entry* e;
  Sha256 hash;
  if (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
    std::vector<char> buf(1 << 16);
    la_ssize_t n;
    while ((n = archive_read_data(a.get(), buf.data(), buf.size())) > 0) hash.update(buf.data(), static_cast<std::size_t>(n));
    if (n < 0)
      return fail(ErrorCode::invalid_spec, fmt::format("layer {}: {}", path, archive_error_string(a.get())));
  }
  return hash.hex_digest();
}

Result<UnpackResult> unpack_tar(const std::string& archive_path, const std::string& target,
                                const UnpackOptions& options) {
  const std::string& layer = archive_path;
  Archive a = open_archive(archive_path, false);
  if (!a) return fail(ErrorCode::invalid_spec, fmt::format("layer {}: not a readable tar archive", layer));
  UniqueFd root(::open(target.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return std::unexpected(errno_error("open", target, errno));
  bool may_make_devices = ::geteuid() == 0 && !in_user_namespace();
  UnpackResult result;
  std::vector<char> buf(1 << 16);
  archive_entry* e;
  for (;;) {
    int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN)
      return fail(ErrorCode::invalid_spec, fmt::format("layer {}: {}", layer, archive_error_string(a.get())));
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
          return std::unexpected(errno_error("mark opaque", entry, errno));
        continue;
      }
      std::string hidden = name.substr(4);
      if (hidden.empty() || hidden == "." || hidden == "..") return bad_entry(layer, entry, "whiteout of nothing");
      ::unlinkat(dir, hidden.c_str(), 0);
      if (::mknodat(dir, hidden.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0)
        return std::unexpected(errno_error("make whiteout", entry, errno));
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
      if (target_parts->empty()) return bad_entry(layer, entry, "hardlink to the layer root");
      auto link_parent = open_parent(root.get(), *target_parts, target_parts->size() - 1, layer, link);
      if (!link_parent)
        return bad_entry(layer, entry, fmt::format("hardlink target \"{}\" is not inside the layer", link));
      struct stat st;
      if (::fstatat(link_parent->get(), target_parts->back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
        return bad_entry(layer, entry, fmt::format("hardlink target \"{}\" does not exist in the layer", link));
      if (::linkat(link_parent->get(), target_parts->back().c_str(), dir, name.c_str(), 0) != 0)
        return std::unexpected(errno_error("link", entry, errno));
      continue;
    }
    switch (type) {
      case AE_IFDIR:
        if (!exists && ::mkdirat(dir, name.c_str(), 0700) != 0) return std::unexpected(errno_error("mkdir", entry, errno));
        if (auto r = set_metadata(dir, name, e, false); !r) return std::unexpected(r.error());
        {
          UniqueFd d(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
          if (d) set_xattrs(d.get(), e);
        }
        break;
      case AE_IFREG: {
        UniqueFd f(::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!f) return std::unexpected(errno_error("create", entry, errno));
        la_ssize_t n;
        while ((n = archive_read_data(a.get(), buf.data(), buf.size())) > 0) {
          if (::write(f.get(), buf.data(), static_cast<std::size_t>(n)) != n)
            return std::unexpected(errno_error("write", entry, errno));
          result.bytes += n;
        }
        if (n < 0) return fail(ErrorCode::invalid_spec, fmt::format("layer {}: entry \"{}\": {}", layer, entry,
                                                                     archive_error_string(a.get())));
        set_xattrs(f.get(), e);
        if (auto r = set_metadata(dir, name, e, false); !r) return std::unexpected(r.error());
        break;
      }
      case AE_IFLNK: {
        const char* to = archive_entry_symlink(e);
        // Any target is fine: nothing here follows it, and a container resolves it in its root.
        if (!to || ::symlinkat(to, dir, name.c_str()) != 0) return std::unexpected(errno_error("symlink", entry, errno));
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
          return std::unexpected(errno_error("mknod", entry, errno));
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
