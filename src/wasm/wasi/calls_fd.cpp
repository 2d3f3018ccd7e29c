// The fd_* functions: I/O and metadata on descriptors the guest holds.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>

#include "wasm/wasi/calls.hpp"
#include "wasm/wasi/errno_map.hpp"

namespace berth::wasm::wasi {
namespace {

bool is_stream(Filetype type) {
  return type != Filetype::regular_file && type != Filetype::directory &&
         type != Filetype::block_device;
}

std::uint16_t fdflags_of(int status) {
  std::uint16_t flags = 0;
  if (status & O_APPEND) flags |= fdflag::append;
  if (status & O_NONBLOCK) flags |= fdflag::nonblock;
  if ((status & O_SYNC) == O_SYNC) {
    flags |= fdflag::sync | fdflag::rsync;  // Linux: O_RSYNC == O_SYNC
  } else if (status & O_DSYNC) {
    flags |= fdflag::dsync;
  }
  return flags;
}


// readv/writev-like transfer into the guest; stores the byte count at `result_at`.
template <typename Transfer>
Errno transfer(Guest& guest, std::uint32_t iovs, std::uint32_t count, std::uint32_t result_at,
               Transfer&& io) {
  auto vectors = guest.iovecs(iovs, count);
  if (!vectors) return vectors.error();
  if (!guest.writable(result_at, 4)) return Errno::fault;
  ssize_t n;
  do {
    n = io(vectors->data(), static_cast<int>(vectors->size()));
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno_now();
  guest.store<std::uint32_t>(result_at, static_cast<std::uint32_t>(n));
  return Errno::success;
}

Errno read_listing(FdEntry& entry) {
  if (::lseek(entry.host.get(), 0, SEEK_SET) < 0) return errno_now();
  std::vector<DirectoryEntry> listing;
  alignas(8) char buffer[16384];
  for (;;) {
    ssize_t n = ::getdents64(entry.host.get(), buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_now();
    }
    if (n == 0) break;
    for (ssize_t at = 0; at < n;) {
      auto* record = reinterpret_cast<struct dirent64*>(buffer + at);
      DirectoryEntry item;
      item.ino = record->d_ino;
      item.name = record->d_name;
      switch (record->d_type) {
        case DT_REG: item.type = Filetype::regular_file; break;
        case DT_DIR: item.type = Filetype::directory; break;
        case DT_LNK: item.type = Filetype::symbolic_link; break;
        case DT_CHR: item.type = Filetype::character_device; break;
        case DT_BLK: item.type = Filetype::block_device; break;
        case DT_SOCK: item.type = Filetype::socket_stream; break;
        case DT_UNKNOWN: {
          struct stat st {};
          if (::fstatat(entry.host.get(), record->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            item.type = filetype_of(st);
          }
          break;
        }
        default: item.type = Filetype::unknown; break;
      }
      listing.push_back(std::move(item));
      at += record->d_reclen;
    }
  }
  entry.listing = std::move(listing);
  return Errno::success;
}

std::optional<std::array<struct timespec, 2>> times_from(std::uint64_t atim, std::uint64_t mtim,
                                                         std::uint32_t flags) {
  if ((flags & ~std::uint32_t{fstflag::all}) != 0) return std::nullopt;
  if ((flags & fstflag::atim) && (flags & fstflag::atim_now)) return std::nullopt;
  if ((flags & fstflag::mtim) && (flags & fstflag::mtim_now)) return std::nullopt;
  auto one = [](std::uint64_t ns, bool set, bool now) {
    struct timespec t {};
    if (now) {
      t.tv_nsec = UTIME_NOW;
    } else if (set) {
      t.tv_sec = static_cast<time_t>(ns / 1'000'000'000u);
      t.tv_nsec = static_cast<long>(ns % 1'000'000'000u);
    } else {
      t.tv_nsec = UTIME_OMIT;
    }
    return t;
  };
  return std::array<struct timespec, 2>{
      one(atim, flags & fstflag::atim, flags & fstflag::atim_now),
      one(mtim, flags & fstflag::mtim, flags & fstflag::mtim_now)};
}

}  // namespace

std::optional<std::array<struct timespec, 2>> file_times(std::uint64_t atim,
                                                              std::uint64_t mtim,
                                                              std::uint32_t flags) {
  return times_from(atim, mtim, flags);
}

Errno fd_advise(WasiContext& context, Guest&, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_advise);
  if (!entry) return entry.error();
  static constexpr int advice[] = {POSIX_FADV_NORMAL,   POSIX_FADV_SEQUENTIAL, POSIX_FADV_RANDOM,
                                   POSIX_FADV_WILLNEED, POSIX_FADV_DONTNEED,   POSIX_FADV_NOREUSE};
  std::uint32_t which = args.u32(3);
  if (which >= std::size(advice)) return Errno::inval;
  if (args.u64(1) > INT64_MAX || args.u64(2) > INT64_MAX) return Errno::inval;
  int err = ::posix_fadvise((*entry)->host.get(), static_cast<off_t>(args.u64(1)),
                            static_cast<off_t>(args.u64(2)), advice[which]);
  return errno_from_host(err);
}

Errno fd_allocate(WasiContext& context, Guest&, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_allocate);
  if (!entry) return entry.error();
  if (args.u64(1) > INT64_MAX || args.u64(2) > INT64_MAX) return Errno::inval;
  if (args.u64(2) == 0) return Errno::inval;
  int err = ::posix_fallocate((*entry)->host.get(), static_cast<off_t>(args.u64(1)),
                              static_cast<off_t>(args.u64(2)));
  return errno_from_host(err);
}

Errno fd_close(WasiContext& context, Guest&, Args args) {
  return context.fds().close(args.u32(0));
}

Errno fd_datasync(WasiContext& context, Guest&, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_datasync);
  if (!entry) return entry.error();
  return ::fdatasync((*entry)->host.get()) == 0 ? Errno::success : errno_now();
}

Errno fd_sync(WasiContext& context, Guest&, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_sync);
  if (!entry) return entry.error();
  return ::fsync((*entry)->host.get()) == 0 ? Errno::success : errno_now();
}

Errno fd_fdstat_get(WasiContext& context, Guest& guest, Args args) {
  auto entry = context.fds().get(args.u32(0));
  if (!entry) return entry.error();
  int status = ::fcntl((*entry)->host.get(), F_GETFL);
  if (status < 0) return errno_now();
  std::uint8_t record[layout::fdstat_size] = {};
  record[0] = static_cast<std::uint8_t>((*entry)->type);
  std::uint16_t flags = fdflags_of(status);
  std::memcpy(record + 2, &flags, 2);
  std::memcpy(record + 8, &(*entry)->base, 8);
  std::memcpy(record + 16, &(*entry)->inheriting, 8);
  return guest.store_bytes(args.u32(1), record, sizeof record) ? Errno::success : Errno::fault;
}

Errno fd_fdstat_set_flags(WasiContext& context, Guest&, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_fdstat_set_flags);
  if (!entry) return entry.error();
  std::uint32_t wanted = args.u32(1);
  if ((wanted & ~std::uint32_t{fdflag::all}) != 0) return Errno::inval;
  int status = ::fcntl((*entry)->host.get(), F_GETFL);
  if (status < 0) return errno_now();
  // Linux cannot change the synchronisation flags of an open file.
  constexpr std::uint16_t sync_flags = fdflag::dsync | fdflag::rsync | fdflag::sync;
  std::uint16_t current = fdflags_of(status);
  if ((wanted & sync_flags) != 0 && (wanted & sync_flags) != (current & sync_flags)) {
    return Errno::notsup;
  }
  int updated = status & ~(O_APPEND | O_NONBLOCK);
  if (wanted & fdflag::append) updated |= O_APPEND;
  if (wanted & fdflag::nonblock) updated |= O_NONBLOCK;
  return ::fcntl((*entry)->host.get(), F_SETFL, updated) == 0 ? Errno::success : errno_now();
}

Errno fd_fdstat_set_rights(WasiContext& context, Guest&, Args args) {
  auto entry = context.fds().get(args.u32(0));
  if (!entry) return entry.error();
  Rights base = args.u64(1);
  Rights inheriting = args.u64(2);
  if ((base & ~(*entry)->base) != 0 || (inheriting & ~(*entry)->inheriting) != 0) {
    return Errno::notcapable;
  }
  (*entry)->base = base;
  (*entry)->inheriting = inheriting;
  return Errno::success;
}

Errno fd_filestat_get(WasiContext& context, Guest& guest, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_filestat_get);
  if (!entry) return entry.error();
  if (!guest.writable(args.u32(1), layout::filestat_size)) return Errno::fault;
  struct stat st {};
  if (::fstat((*entry)->host.get(), &st) != 0) return errno_now();
  store_filestat(guest, args.u32(1), st);
  return Errno::success;
}

Errno fd_filestat_set_size(WasiContext& context, Guest&, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_filestat_set_size);
  if (!entry) return entry.error();
  if (args.u64(1) > INT64_MAX) return Errno::inval;
  int rc;
  do {
    rc = ::ftruncate((*entry)->host.get(), static_cast<off_t>(args.u64(1)));
  } while (rc != 0 && errno == EINTR);
  return rc == 0 ? Errno::success : errno_now();
}

Errno fd_filestat_set_times(WasiContext& context, Guest&, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_filestat_set_times);
  if (!entry) return entry.error();
  auto times = file_times(args.u64(1), args.u64(2), args.u32(3));
  if (!times) return Errno::inval;
  return ::futimens((*entry)->host.get(), times->data()) == 0 ? Errno::success : errno_now();
}

Errno fd_pread(WasiContext& context, Guest& guest, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_read | right::fd_seek);
  if (!entry) return entry.error();
  if (args.u64(3) > INT64_MAX) return Errno::inval;
  int fd = (*entry)->host.get();
  auto offset = static_cast<off_t>(args.u64(3));
  return transfer(guest, args.u32(1), args.u32(2), args.u32(4),
                  [&](const struct iovec* v, int n) { return ::preadv(fd, v, n, offset); });
}

Errno fd_pwrite(WasiContext& context, Guest& guest, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_write | right::fd_seek);
  if (!entry) return entry.error();
  if (args.u64(3) > INT64_MAX) return Errno::inval;
  int fd = (*entry)->host.get();
  auto offset = static_cast<off_t>(args.u64(3));
  return transfer(guest, args.u32(1), args.u32(2), args.u32(4),
                  [&](const struct iovec* v, int n) { return ::pwritev(fd, v, n, offset); });
}

Errno fd_read(WasiContext& context, Guest& guest, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_read);
  if (!entry) return entry.error();
  int fd = (*entry)->host.get();
  return transfer(guest, args.u32(1), args.u32(2), args.u32(3),
                  [&](const struct iovec* v, int n) { return ::readv(fd, v, n); });
}

Errno fd_write(WasiContext& context, Guest& guest, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_write);
  if (!entry) return entry.error();
  int fd = (*entry)->host.get();
  std::optional<SigpipeGuard> guard;
  if (is_stream((*entry)->type)) guard.emplace();
  return transfer(guest, args.u32(1), args.u32(2), args.u32(3),
                  [&](const struct iovec* v, int n) { return ::writev(fd, v, n); });
}

Errno fd_prestat_get(WasiContext& context, Guest& guest, Args args) {
  auto entry = context.fds().get(args.u32(0));
  if (!entry) return entry.error();
  if (!(*entry)->preopen_name) return Errno::badf;
  std::uint8_t record[layout::prestat_size] = {};
  record[0] = preopentype_dir;
  auto length = static_cast<std::uint32_t>((*entry)->preopen_name->size());
  std::memcpy(record + 4, &length, 4);
  return guest.store_bytes(args.u32(1), record, sizeof record) ? Errno::success : Errno::fault;
}

Errno fd_prestat_dir_name(WasiContext& context, Guest& guest, Args args) {
  auto entry = context.fds().get(args.u32(0));
  if (!entry) return entry.error();
  if (!(*entry)->preopen_name) return Errno::badf;
  const std::string& name = *(*entry)->preopen_name;
  if (args.u32(2) < name.size()) return Errno::nametoolong;
  return guest.store_bytes(args.u32(1), name.data(), name.size()) ? Errno::success
                                                                    : Errno::fault;
}

// Entries are packed as dirent headers each followed by its name; the last one may be cut off
// where the buffer ends (the guest sees bufused == buf_len and retries with a larger buffer).
// Cookies are positions in the listing: entry i has d_next = i + 1.
Errno fd_readdir(WasiContext& context, Guest& guest, Args args) {
  auto entry = context.fds().get(args.u32(0), right::fd_readdir);
  if (!entry) return entry.error();
  auto buffer = guest.bytes(args.u32(1), args.u32(2));
  if (!buffer) return Errno::fault;
  if (!guest.writable(args.u32(4), 4)) return Errno::fault;
  std::uint64_t cookie = args.u64(3);
  if (cookie == 0 || !(*entry)->listing) {
    if (Errno err = read_listing(**entry); err != Errno::success) return err;
  }
  const auto& listing = *(*entry)->listing;
  std::size_t used = 0;
  for (std::uint64_t i = cookie; i < listing.size() && used < buffer->size(); ++i) {
    const DirectoryEntry& item = listing[i];
    std::uint8_t header[layout::dirent_size] = {};
    std::uint64_t next = i + 1;
    auto name_length = static_cast<std::uint32_t>(item.name.size());
    std::memcpy(header, &next, 8);
    std::memcpy(header + 8, &item.ino, 8);
    std::memcpy(header + 16, &name_length, 4);
    header[20] = static_cast<std::uint8_t>(item.type);
    std::size_t take = std::min(sizeof header, buffer->size() - used);
    std::memcpy(buffer->data() + used, header, take);
    used += take;
    take = std::min(item.name.size(), buffer->size() - used);
    std::memcpy(buffer->data() + used, item.name.data(), take);
    used += take;
  }
  guest.store<std::uint32_t>(args.u32(4), static_cast<std::uint32_t>(used));
  return Errno::success;
}

Errno fd_renumber(WasiContext& context, Guest&, Args args) {
  return context.fds().renumber(args.u32(0), args.u32(1));
}

Errno fd_seek(WasiContext& context, Guest& guest, Args args) {
  auto entry = context.fds().get(args.u32(0));
  if (!entry) return entry.error();
  auto offset = static_cast<std::int64_t>(args.u64(1));
  std::uint32_t whence = args.u32(2);
  bool tell_only = whence == static_cast<std::uint32_t>(Whence::cur) && offset == 0;
  Rights base = (*entry)->base;
  if (!(base & right::fd_seek) && !(tell_only && (base & right::fd_tell))) {
    return Errno::notcapable;
  }
  int host_whence;
  switch (whence) {
    case static_cast<std::uint32_t>(Whence::set): host_whence = SEEK_SET; break;
    case static_cast<std::uint32_t>(Whence::cur): host_whence = SEEK_CUR; break;
    case static_cast<std::uint32_t>(Whence::end): host_whence = SEEK_END; break;
    default: return Errno::inval;
  }
  if (!guest.writable(args.u32(3), 8)) return Errno::fault;
  off_t position = ::lseek((*entry)->host.get(), offset, host_whence);
  if (position < 0) return errno_now();
  guest.store<std::uint64_t>(args.u32(3), static_cast<std::uint64_t>(position));
  return Errno::success;
}

Errno fd_tell(WasiContext& context, Guest& guest, Args args) {
  auto entry = context.fds().get(args.u32(0));
  if (!entry) return entry.error();
  if (!((*entry)->base & (right::fd_tell | right::fd_seek))) return Errno::notcapable;
  if (!guest.writable(args.u32(1), 8)) return Errno::fault;
  off_t position = ::lseek((*entry)->host.get(), 0, SEEK_CUR);
  if (position < 0) return errno_now();
  guest.store<std::uint64_t>(args.u32(1), static_cast<std::uint64_t>(position));
  return Errno::success;
}

}  // namespace berth::wasm::wasi
