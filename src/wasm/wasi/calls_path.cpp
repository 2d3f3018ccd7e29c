// The path_* functions. Every path is resolved beneath its directory descriptor (see
// sandbox_path.hpp) to (directory, one component), then used with a single *at call that does
// not follow a final symlink.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "wasm/wasi/calls.hpp"
#include "wasm/wasi/errno_map.hpp"

namespace berth::wasm::wasi {
namespace {

std::expected<ResolvedPath, Errno> resolve(WasiContext& context, Guest& guest,
                                           std::uint32_t dir_fd, Rights required,
                                           std::uint32_t path_at, std::uint32_t path_length,
                                           bool follow) {
  auto entry = context.fds().get(dir_fd, required);
  if (!entry) return std::unexpected(entry.error());
  if ((*entry)->type != Filetype::directory) return std::unexpected(Errno::notdir);
  auto path = guest.string(path_at, path_length);
  if (!path) return std::unexpected(path.error());
  return resolve_beneath((*entry)->host.get(), *path, follow, context.path_strategy());
}

// A path with a trailing slash must name a directory (or nothing yet).
Errno check_trailing_slash(const ResolvedPath& path) {
  if (!path.must_be_dir) return Errno::success;
  struct stat st {};
  if (::fstatat(path.dir.get(), path.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Errno::success : errno_now();
  }
  return S_ISDIR(st.st_mode) ? Errno::success : Errno::notdir;
}

}  // namespace

Errno path_create_directory(WasiContext& context, Guest& guest, Args args) {
  auto path = resolve(context, guest, args.u32(0), right::path_create_directory, args.u32(1),
                      args.u32(2), false);
  if (!path) return path.error();
  if (path->name == ".") return Errno::exist;
  return ::mkdirat(path->dir.get(), path->name.c_str(), 0777) == 0 ? Errno::success
                                                                   : errno_now();
}

Errno path_filestat_get(WasiContext& context, Guest& guest, Args args) {
  if (!guest.writable(args.u32(4), layout::filestat_size)) return Errno::fault;
  auto path = resolve(context, guest, args.u32(0), right::path_filestat_get, args.u32(2),
                      args.u32(3), args.u32(1) & lookup_symlink_follow);
  if (!path) return path.error();
  struct stat st {};
  if (::fstatat(path->dir.get(), path->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno_now();
  }
  if (path->must_be_dir && !S_ISDIR(st.st_mode)) return Errno::notdir;
  store_filestat(guest, args.u32(4), st);
  return Errno::success;
}

Errno path_filestat_set_times(WasiContext& context, Guest& guest, Args args) {
  auto times = file_times(args.u64(4), args.u64(5), args.u32(6));
  if (!times) return Errno::inval;
  auto path = resolve(context, guest, args.u32(0), right::path_filestat_set_times, args.u32(2),
                      args.u32(3), args.u32(1) & lookup_symlink_follow);
  if (!path) return path.error();
  if (Errno err = check_trailing_slash(*path); err != Errno::success) return err;
  return ::utimensat(path->dir.get(), path->name.c_str(), times->data(), AT_SYMLINK_NOFOLLOW) == 0
             ? Errno::success
             : errno_now();
}

Errno path_link(WasiContext& context, Guest& guest, Args args) {
  auto from = resolve(context, guest, args.u32(0), right::path_link_source, args.u32(2),
                      args.u32(3), args.u32(1) & lookup_symlink_follow);
  if (!from) return from.error();
  auto to = resolve(context, guest, args.u32(4), right::path_link_target, args.u32(5),
                    args.u32(6), false);
  if (!to) return to.error();
  if (Errno err = check_trailing_slash(*from); err != Errno::success) return err;
  if (::linkat(from->dir.get(), from->name.c_str(), to->dir.get(), to->name.c_str(), 0) != 0) {
    return errno_now();
  }
  return Errno::success;
}

Errno path_open(WasiContext& context, Guest& guest, Args args) {
  std::uint32_t dir_fd = args.u32(0);
  bool follow = args.u32(1) & lookup_symlink_follow;
  std::uint32_t oflags = args.u32(4);
  Rights base = args.u64(5);
  Rights inheriting = args.u64(6);
  std::uint32_t fdflags = args.u32(7);
  std::uint32_t result_at = args.u32(8);

  if ((oflags & ~std::uint32_t{oflag::all}) != 0) return Errno::inval;
  if ((fdflags & ~std::uint32_t{fdflag::all}) != 0) return Errno::inval;
  Rights needed = right::path_open;
  if (oflags & oflag::creat) needed |= right::path_create_file;
  if (oflags & oflag::trunc) needed |= right::path_filestat_set_size;
  auto dir = context.fds().get(dir_fd, needed);
  if (!dir) return dir.error();
  if ((*dir)->type != Filetype::directory) return Errno::notdir;
  // New descriptors get at most what the directory lets them inherit.
  Rights allowed = (*dir)->inheriting;
  if ((base & ~allowed) != 0 || (inheriting & ~allowed) != 0) return Errno::notcapable;
  if ((fdflags & fdflag::dsync) && !(allowed & right::fd_datasync)) return Errno::notcapable;
  if ((fdflags & (fdflag::rsync | fdflag::sync)) && !(allowed & right::fd_sync)) {
    return Errno::notcapable;
  }
  auto path = guest.string(args.u32(2), args.u32(3));
  if (!path) return path.error();
  if (!guest.writable(result_at, 4)) return Errno::fault;

  // The access mode follows the rights asked for, as wasi-libc expects.
  constexpr Rights reading = right::fd_read | right::fd_readdir;
  constexpr Rights writing =
      right::fd_write | right::fd_datasync | right::fd_allocate | right::fd_filestat_set_size;
  int flags = O_RDONLY;
  if (!(oflags & oflag::directory)) {
    bool read = base & reading;
    bool write = base & writing;
    flags = read && write ? O_RDWR : write ? O_WRONLY : O_RDONLY;
  }
  if (oflags & oflag::creat) flags |= O_CREAT;
  if (oflags & oflag::directory) flags |= O_DIRECTORY;
  if (oflags & oflag::excl) flags |= O_EXCL;
  if (oflags & oflag::trunc) flags |= O_TRUNC;
  if (fdflags & fdflag::append) flags |= O_APPEND;
  if (fdflags & fdflag::dsync) flags |= O_DSYNC;
  if (fdflags & fdflag::nonblock) flags |= O_NONBLOCK;
  if (fdflags & (fdflag::rsync | fdflag::sync)) flags |= O_SYNC;
  flags |= O_NOCTTY;

  auto opened = open_beneath((*dir)->host.get(), *path, flags, 0666, follow,
                             context.path_strategy());
  if (!opened) return opened.error();
  struct stat st {};
  if (::fstat(opened->get(), &st) != 0) return errno_now();
  FdEntry entry;
  entry.type = filetype_of(st, opened->get());
  entry.base = base & applicable_rights(entry.type, flags & O_ACCMODE);
  entry.inheriting = inheriting;
  entry.host = std::move(*opened);
  auto number = context.fds().insert(std::move(entry));
  if (!number) return number.error();
  guest.store<std::uint32_t>(result_at, *number);
  return Errno::success;
}

Errno path_readlink(WasiContext& context, Guest& guest, Args args) {
  auto buffer = guest.bytes(args.u32(3), args.u32(4));
  if (!buffer) return Errno::fault;
  if (!guest.writable(args.u32(5), 4)) return Errno::fault;
  auto path = resolve(context, guest, args.u32(0), right::path_readlink, args.u32(1),
                      args.u32(2), false);
  if (!path) return path.error();
  char target[PATH_MAX];
  ssize_t n = ::readlinkat(path->dir.get(), path->name.c_str(), target, sizeof target);
  if (n < 0) return errno_now();
  // A target longer than the buffer is cut off, as readlink(2) does.
  std::size_t take = std::min(static_cast<std::size_t>(n), buffer->size());
  std::memcpy(buffer->data(), target, take);
  guest.store<std::uint32_t>(args.u32(5), static_cast<std::uint32_t>(take));
  return Errno::success;
}

Errno path_remove_directory(WasiContext& context, Guest& guest, Args args) {
  auto path = resolve(context, guest, args.u32(0), right::path_remove_directory, args.u32(1),
                      args.u32(2), false);
  if (!path) return path.error();
  if (::unlinkat(path->dir.get(), path->name.c_str(), AT_REMOVEDIR) != 0) {
    return errno == EEXIST ? Errno::notempty : errno_now();
  }
  return Errno::success;
}

Errno path_rename(WasiContext& context, Guest& guest, Args args) {
  auto from = resolve(context, guest, args.u32(0), right::path_rename_source, args.u32(1),
                      args.u32(2), false);
  if (!from) return from.error();
  auto to = resolve(context, guest, args.u32(3), right::path_rename_target, args.u32(4),
                    args.u32(5), false);
  if (!to) return to.error();
  if (Errno err = check_trailing_slash(*from); err != Errno::success) return err;
  if (Errno err = check_trailing_slash(*to); err != Errno::success) return err;
  if (::renameat(from->dir.get(), from->name.c_str(), to->dir.get(), to->name.c_str()) != 0) {
    return errno_now();
  }
  return Errno::success;
}

// The link's target is stored as the guest gave it; resolving it later stays beneath the
// directory like every other path, so an absolute or escaping target simply cannot be used.
Errno path_symlink(WasiContext& context, Guest& guest, Args args) {
  auto target = guest.string(args.u32(0), args.u32(1));
  if (!target) return target.error();
  if (target->find('\0') != std::string::npos) return Errno::inval;
  auto path = resolve(context, guest, args.u32(2), right::path_symlink, args.u32(3), args.u32(4),
                      false);
  if (!path) return path.error();
  if (path->must_be_dir) return Errno::noent;  // "link/" names the target's directory
  return ::symlinkat(target->c_str(), path->dir.get(), path->name.c_str()) == 0 ? Errno::success
                                                                                : errno_now();
}

Errno path_unlink_file(WasiContext& context, Guest& guest, Args args) {
  auto path = resolve(context, guest, args.u32(0), right::path_unlink_file, args.u32(1),
                      args.u32(2), false);
  if (!path) return path.error();
  if (path->must_be_dir) {
    struct stat st {};
    if (::fstatat(path->dir.get(), path->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return errno_now();
    }
    return S_ISDIR(st.st_mode) ? Errno::isdir : Errno::notdir;
  }
  return ::unlinkat(path->dir.get(), path->name.c_str(), 0) == 0 ? Errno::success : errno_now();
}

}  // namespace berth::wasm::wasi
