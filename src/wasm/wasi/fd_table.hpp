// The guest's file descriptors: WASI numbers mapped to host descriptors, each with the rights
// the spec attaches to it (base: what this descriptor may do; inheriting: the most that
// descriptors opened through it may get). Rights only ever shrink.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <expected>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/fd.hpp"
#include "wasm/wasi/abi.hpp"

namespace berth::wasm::wasi {

struct DirectoryEntry {
  std::uint64_t ino = 0;
  Filetype type = Filetype::unknown;
  std::string name;
};

struct FdEntry {
  UniqueFd host;
  Filetype type = Filetype::unknown;
  Rights base = 0;
  Rights inheriting = 0;
  std::optional<std::string> preopen_name;  // the guest path of a preopened directory
  // fd_readdir reads a directory once at cookie 0 and serves later cookies (indexes into this
  // list) from the same listing, as readdir(3) after rewinddir(3) may.
  std::optional<std::vector<DirectoryEntry>> listing;
  // A connection the guest opened (berth.tcp_connect): closed when its instance goes back to a
  // pool, so none outlives the call that made it.
  bool guest_connection = false;
};

Filetype filetype_of(const struct stat& st, int host_fd_for_sockets = -1);
// The rights that make sense for a descriptor of `type` opened with `access_mode` (O_RDONLY,
// O_WRONLY or O_RDWR; O_PATH-like descriptors get no I/O rights).
Rights applicable_rights(Filetype type, int access_mode);

class FdTable {
 public:
  explicit FdTable(std::uint32_t max_fds = 1024) : max_fds_(max_fds) {}

  // Takes the lowest free number; mfile when the table is full.
  std::expected<std::uint32_t, Errno> insert(FdEntry entry);
  void place(std::uint32_t number, FdEntry entry);  // replaces what was there
  // badf when there is no such descriptor, notcapable when it lacks any of `required`.
  std::expected<FdEntry*, Errno> get(std::uint32_t number, Rights required = 0);
  Errno close(std::uint32_t number);
  Errno renumber(std::uint32_t from, std::uint32_t to);
  // Closes every guest_connection entry; returns how many.
  std::size_t close_guest_connections();
  std::size_t size() const { return entries_.size(); }

 private:
  std::map<std::uint32_t, FdEntry> entries_;
  std::uint32_t max_fds_;
};

}  // namespace berth::wasm::wasi
