// Internal to WASI: what each wasi_snapshot_preview1 function's implementation sees (the
// context, bounds-checked guest memory, the raw arguments) and the list of implementations.
#pragma once

#include <signal.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "wasm/engine.hpp"
#include "wasm/wasi/abi.hpp"
#include "wasm/wasi/context.hpp"

namespace berth::wasm::wasi {

// Guest memory for one call. Every access is checked; without a memory every access fails.
class Guest {
 public:
  explicit Guest(GuestMemory* memory) : memory_(memory) {}

  std::optional<std::span<std::uint8_t>> bytes(std::uint64_t offset, std::uint64_t length) {
    if (memory_ == nullptr) return std::nullopt;
    return memory_->view(offset, length);
  }
  bool writable(std::uint64_t offset, std::uint64_t length) {
    return bytes(offset, length).has_value();
  }
  template <typename T>
  bool load(std::uint64_t offset, T& out) {
    auto view = bytes(offset, sizeof(T));
    if (!view) return false;
    std::memcpy(&out, view->data(), sizeof(T));
    return true;
  }
  template <typename T>
  bool store(std::uint64_t offset, T value) {
    auto view = bytes(offset, sizeof(T));
    if (!view) return false;
    std::memcpy(view->data(), &value, sizeof(T));
    return true;
  }
  bool store_bytes(std::uint64_t offset, const void* data, std::size_t length) {
    auto view = bytes(offset, length);
    if (!view) return false;
    if (length > 0) std::memcpy(view->data(), data, length);
    return true;
  }
  // A path or other string argument: fault when out of bounds.
  std::expected<std::string, Errno> string(std::uint32_t offset, std::uint32_t length);
  // An iovec/ciovec array as host iovecs pointing into guest memory (valid until the guest's
  // memory next grows, i.e. for the rest of this call).
  std::expected<std::vector<struct iovec>, Errno> iovecs(std::uint32_t offset, std::uint32_t count);

 private:
  GuestMemory* memory_;
};

struct Args {
  std::span<const Value> values;
  std::uint32_t u32(std::size_t i) const { return values[i].as_i32(); }
  std::uint64_t u64(std::size_t i) const { return values[i].as_i64(); }
};

using Call = Errno (*)(WasiContext& context, Guest& guest, Args args);

Errno errno_now();  // errno_from_host(errno)
std::uint64_t to_timestamp(const struct timespec& time);
bool store_filestat(Guest& guest, std::uint32_t offset, const struct stat& st);
// utimensat/futimens times from WASI's (atim, mtim, fstflags); nullopt when the flags are invalid.
std::optional<std::array<struct timespec, 2>> file_times(std::uint64_t atim, std::uint64_t mtim,
                                                         std::uint32_t flags);

// Each function of wasi_snapshot_preview1 but proc_exit (which traps; see wasi_imports.cpp).
Errno args_get(WasiContext&, Guest&, Args);
Errno args_sizes_get(WasiContext&, Guest&, Args);
Errno environ_get(WasiContext&, Guest&, Args);
Errno environ_sizes_get(WasiContext&, Guest&, Args);
Errno clock_res_get(WasiContext&, Guest&, Args);
Errno clock_time_get(WasiContext&, Guest&, Args);
Errno random_get(WasiContext&, Guest&, Args);
Errno proc_raise(WasiContext&, Guest&, Args);
Errno sched_yield(WasiContext&, Guest&, Args);

Errno fd_advise(WasiContext&, Guest&, Args);
Errno fd_allocate(WasiContext&, Guest&, Args);
Errno fd_close(WasiContext&, Guest&, Args);
Errno fd_datasync(WasiContext&, Guest&, Args);
Errno fd_fdstat_get(WasiContext&, Guest&, Args);
Errno fd_fdstat_set_flags(WasiContext&, Guest&, Args);
Errno fd_fdstat_set_rights(WasiContext&, Guest&, Args);
Errno fd_filestat_get(WasiContext&, Guest&, Args);
Errno fd_filestat_set_size(WasiContext&, Guest&, Args);
Errno fd_filestat_set_times(WasiContext&, Guest&, Args);
Errno fd_pread(WasiContext&, Guest&, Args);
Errno fd_prestat_get(WasiContext&, Guest&, Args);
Errno fd_prestat_dir_name(WasiContext&, Guest&, Args);
Errno fd_pwrite(WasiContext&, Guest&, Args);
Errno fd_read(WasiContext&, Guest&, Args);
Errno fd_readdir(WasiContext&, Guest&, Args);
Errno fd_renumber(WasiContext&, Guest&, Args);
Errno fd_seek(WasiContext&, Guest&, Args);
Errno fd_sync(WasiContext&, Guest&, Args);
Errno fd_tell(WasiContext&, Guest&, Args);
Errno fd_write(WasiContext&, Guest&, Args);

Errno path_create_directory(WasiContext&, Guest&, Args);
Errno path_filestat_get(WasiContext&, Guest&, Args);
Errno path_filestat_set_times(WasiContext&, Guest&, Args);
Errno path_link(WasiContext&, Guest&, Args);
Errno path_open(WasiContext&, Guest&, Args);
Errno path_readlink(WasiContext&, Guest&, Args);
Errno path_remove_directory(WasiContext&, Guest&, Args);
Errno path_rename(WasiContext&, Guest&, Args);
Errno path_symlink(WasiContext&, Guest&, Args);
Errno path_unlink_file(WasiContext&, Guest&, Args);

Errno poll_oneoff(WasiContext&, Guest&, Args);

Errno sock_accept(WasiContext&, Guest&, Args);
Errno sock_recv(WasiContext&, Guest&, Args);
Errno sock_send(WasiContext&, Guest&, Args);
Errno sock_shutdown(WasiContext&, Guest&, Args);

// Blocks SIGPIPE in the calling thread for its lifetime and swallows one raised meanwhile, so a
// guest writing to a closed pipe gets Errno::pipe instead of killing the host process.
class SigpipeGuard {
 public:
  SigpipeGuard();
  ~SigpipeGuard();
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t old_mask_{};
  bool was_pending_ = false;
  bool active_ = false;
};

}  // namespace berth::wasm::wasi
