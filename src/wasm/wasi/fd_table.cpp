#include "wasm/wasi/fd_table.hpp"

#include <fcntl.h>
#include <sys/socket.h>

namespace berth::wasm::wasi {

Filetype filetype_of(const struct stat& st, int host_fd_for_sockets) {
  switch (st.st_mode & S_IFMT) {
    case S_IFREG: return Filetype::regular_file;
    case S_IFDIR: return Filetype::directory;
    case S_IFCHR: return Filetype::character_device;
    case S_IFBLK: return Filetype::block_device;
    case S_IFLNK: return Filetype::symbolic_link;
    case S_IFSOCK: {
      int type = 0;
      socklen_t len = sizeof type;
      if (host_fd_for_sockets >= 0 &&
          ::getsockopt(host_fd_for_sockets, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
          type == SOCK_DGRAM) {
        return Filetype::socket_dgram;
      }
      return Filetype::socket_stream;
    }
    default: return Filetype::unknown;  // FIFOs too, as other runtimes report them
  }
}

Rights applicable_rights(Filetype type, int access_mode) {
  Rights rights = 0;
  switch (type) {
    case Filetype::directory: return right::directory_base;
    case Filetype::regular_file:
    case Filetype::block_device: rights = right::regular_file_base; break;
    case Filetype::socket_dgram:
    case Filetype::socket_stream: rights = right::socket_base; break;
    default: rights = right::stream_base; break;
  }
  constexpr Rights writing = right::fd_write | right::fd_datasync | right::fd_sync |
                             right::fd_allocate | right::fd_filestat_set_size;
  if (access_mode == O_RDONLY) rights &= ~writing;
  if (access_mode == O_WRONLY) rights &= ~right::fd_read;
  return rights;
}

std::expected<std::uint32_t, Errno> FdTable::insert(FdEntry entry) {
  std::uint32_t number = 0;
  for (const auto& [used, _] : entries_) {
    if (used != number) break;
    ++number;
  }
  if (number >= max_fds_) return std::unexpected(Errno::mfile);
  entries_.emplace(number, std::move(entry));
  return number;
}

void FdTable::place(std::uint32_t number, FdEntry entry) {
  entries_.insert_or_assign(number, std::move(entry));
}

std::expected<FdEntry*, Errno> FdTable::get(std::uint32_t number, Rights required) {
  auto it = entries_.find(number);
  if (it == entries_.end()) return std::unexpected(Errno::badf);
  if ((it->second.base & required) != required) return std::unexpected(Errno::notcapable);
  return &it->second;
}

Errno FdTable::close(std::uint32_t number) {
  auto it = entries_.find(number);
  if (it == entries_.end()) return Errno::badf;
  // close(2) errors other than EBADF still release the descriptor; the guest cannot act on them.
  entries_.erase(it);
  return Errno::success;
}

std::size_t FdTable::close_guest_connections() {
  return std::erase_if(entries_, [](const auto& item) { return item.second.guest_connection; });
}

Errno FdTable::renumber(std::uint32_t from, std::uint32_t to) {
  auto source = entries_.find(from);
  if (source == entries_.end() || !entries_.contains(to)) return Errno::badf;
  if (from == to) return Errno::success;
  FdEntry moved = std::move(source->second);
  entries_.erase(source);
  entries_.insert_or_assign(to, std::move(moved));
  return Errno::success;
}

}  // namespace berth::wasm::wasi
