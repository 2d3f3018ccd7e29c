// The wasi_snapshot_preview1 ABI as the guest sees it: errno values, rights bits, flags and the
// byte layouts of the records host functions read and write (little-endian, offsets from
// WebAssembly/WASI legacy/preview1/witx/typenames.witx).
#pragma once

#include <bit>
#include <cstdint>

namespace berth::wasm::wasi {

static_assert(std::endian::native == std::endian::little, "guest memory is little-endian");

enum class Errno : std::uint16_t {
  success, toobig /* 2big */, acces, addrinuse, addrnotavail, afnosupport, again, already, badf,
  badmsg, busy, canceled, child, connaborted, connrefused, connreset, deadlk, destaddrreq, dom,
  dquot, exist, fault, fbig, hostunreach, idrm, ilseq, inprogress, intr, inval, io, isconn, isdir,
  loop, mfile, mlink, msgsize, multihop, nametoolong, netdown, netreset, netunreach, nfile, nobufs,
  nodev, noent, noexec, nolck, nolink, nomem, nomsg, noprotoopt, nospc, nosys, notconn, notdir,
  notempty, notrecoverable, notsock, notsup, notty, nxio, overflow, ownerdead, perm, pipe, proto,
  protonosupport, prototype, range, rofs, spipe, srch, stale, timedout, txtbsy, xdev, notcapable,
};
static_assert(static_cast<int>(Errno::notcapable) == 76);

using Rights = std::uint64_t;
namespace right {
inline constexpr Rights fd_datasync = 1ull << 0;
inline constexpr Rights fd_read = 1ull << 1;
inline constexpr Rights fd_seek = 1ull << 2;
inline constexpr Rights fd_fdstat_set_flags = 1ull << 3;
inline constexpr Rights fd_sync = 1ull << 4;
inline constexpr Rights fd_tell = 1ull << 5;
inline constexpr Rights fd_write = 1ull << 6;
inline constexpr Rights fd_advise = 1ull << 7;
inline constexpr Rights fd_allocate = 1ull << 8;
inline constexpr Rights path_create_directory = 1ull << 9;
inline constexpr Rights path_create_file = 1ull << 10;
inline constexpr Rights path_link_source = 1ull << 11;
inline constexpr Rights path_link_target = 1ull << 12;
inline constexpr Rights path_open = 1ull << 13;
inline constexpr Rights fd_readdir = 1ull << 14;
inline constexpr Rights path_readlink = 1ull << 15;
inline constexpr Rights path_rename_source = 1ull << 16;
inline constexpr Rights path_rename_target = 1ull << 17;
inline constexpr Rights path_filestat_get = 1ull << 18;
inline constexpr Rights path_filestat_set_size = 1ull << 19;
inline constexpr Rights path_filestat_set_times = 1ull << 20;
inline constexpr Rights fd_filestat_get = 1ull << 21;
inline constexpr Rights fd_filestat_set_size = 1ull << 22;
inline constexpr Rights fd_filestat_set_times = 1ull << 23;
inline constexpr Rights path_symlink = 1ull << 24;
inline constexpr Rights path_remove_directory = 1ull << 25;
inline constexpr Rights path_unlink_file = 1ull << 26;
inline constexpr Rights poll_fd_readwrite = 1ull << 27;
inline constexpr Rights sock_shutdown = 1ull << 28;
inline constexpr Rights sock_accept = 1ull << 29;
inline constexpr Rights all = (1ull << 30) - 1;

// What applies to each kind of descriptor; path_open and the preopens narrow to these.
inline constexpr Rights directory_base =
    fd_fdstat_set_flags | fd_sync | fd_datasync | fd_advise | path_create_directory |
    path_create_file | path_link_source | path_link_target | path_open | fd_readdir |
    path_readlink | path_rename_source | path_rename_target | path_filestat_get |
    path_filestat_set_size | path_filestat_set_times | fd_filestat_get | fd_filestat_set_times |
    path_symlink | path_remove_directory | path_unlink_file;
inline constexpr Rights regular_file_base =
    fd_datasync | fd_read | fd_seek | fd_fdstat_set_flags | fd_sync | fd_tell | fd_write |
    fd_advise | fd_allocate | fd_filestat_get | fd_filestat_set_size | fd_filestat_set_times |
    poll_fd_readwrite;
// Pipes, character devices, ttys: no seeking.
inline constexpr Rights stream_base = regular_file_base & ~(fd_seek | fd_tell);
inline constexpr Rights socket_base = stream_base | sock_shutdown | sock_accept;
}  // namespace right

enum class Filetype : std::uint8_t {
  unknown, block_device, character_device, directory, regular_file, socket_dgram, socket_stream,
  symbolic_link,
};

namespace fdflag {
inline constexpr std::uint16_t append = 1 << 0;
inline constexpr std::uint16_t dsync = 1 << 1;
inline constexpr std::uint16_t nonblock = 1 << 2;
inline constexpr std::uint16_t rsync = 1 << 3;
inline constexpr std::uint16_t sync = 1 << 4;
inline constexpr std::uint16_t all = 0x1f;
}  // namespace fdflag

namespace oflag {
inline constexpr std::uint16_t creat = 1 << 0;
inline constexpr std::uint16_t directory = 1 << 1;
inline constexpr std::uint16_t excl = 1 << 2;
inline constexpr std::uint16_t trunc = 1 << 3;
inline constexpr std::uint16_t all = 0xf;
}  // namespace oflag

namespace fstflag {
inline constexpr std::uint16_t atim = 1 << 0;
inline constexpr std::uint16_t atim_now = 1 << 1;
inline constexpr std::uint16_t mtim = 1 << 2;
inline constexpr std::uint16_t mtim_now = 1 << 3;
inline constexpr std::uint16_t all = 0xf;
}  // namespace fstflag

inline constexpr std::uint32_t lookup_symlink_follow = 1;

enum class ClockId : std::uint32_t { realtime, monotonic, process_cputime, thread_cputime };
enum class Whence : std::uint8_t { set, cur, end };
enum class EventType : std::uint8_t { clock, fd_read, fd_write };
inline constexpr std::uint16_t subclock_abstime = 1;
inline constexpr std::uint16_t event_fd_readwrite_hangup = 1;
inline constexpr std::uint16_t riflag_recv_peek = 1;
inline constexpr std::uint16_t riflag_recv_waitall = 2;
inline constexpr std::uint16_t roflag_recv_data_truncated = 1;
inline constexpr std::uint8_t sdflag_rd = 1;
inline constexpr std::uint8_t sdflag_wr = 2;
inline constexpr std::uint8_t preopentype_dir = 0;

// Record layouts: size and field offsets in bytes.
namespace layout {
inline constexpr std::uint32_t iovec_size = 8;  // buf u32 @0, buf_len u32 @4
inline constexpr std::uint32_t prestat_size = 8;  // tag u8 @0, pr_name_len u32 @4
// fdstat: fs_filetype u8 @0, fs_flags u16 @2, fs_rights_base u64 @8, fs_rights_inheriting u64 @16
inline constexpr std::uint32_t fdstat_size = 24;
// filestat: dev @0, ino @8, filetype u8 @16, nlink @24, size @32, atim @40, mtim @48, ctim @56
inline constexpr std::uint32_t filestat_size = 64;
// dirent: d_next u64 @0, d_ino u64 @8, d_namlen u32 @16, d_type u8 @20; the name follows
inline constexpr std::uint32_t dirent_size = 24;
// subscription: userdata u64 @0, tag u8 @8, then at @16 either clock (id u32 @16, timeout u64
// @24, precision u64 @32, flags u16 @40) or fd_readwrite (file_descriptor u32 @16)
inline constexpr std::uint32_t subscription_size = 48;
// event: userdata u64 @0, error u16 @8, type u8 @10, nbytes u64 @16, flags u16 @24
inline constexpr std::uint32_t event_size = 32;
}  // namespace layout

inline constexpr const char* module_name = "wasi_snapshot_preview1";

}  // namespace berth::wasm::wasi
