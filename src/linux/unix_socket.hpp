// Unix socket addresses for paths longer than sun_path's 108 bytes (a state root plus a 64-hex
// workload id easily is): the directory is opened and the address goes through
// /proc/self/fd/N/NAME, which the kernel resolves like the real path.
#pragma once

#include <sys/un.h>

#include <string>
#include <string_view>

#include "berth/error.hpp"
#include "common/fd.hpp"

namespace berth::linux {

struct UnixAddress {
  sockaddr_un address{};
  UniqueFd directory;  // keeps /proc/self/fd/N valid while the address is used
};

Result<UnixAddress> unix_address(const std::string& path);

// Passing one fd over a unix socket (SCM_RIGHTS, with one byte of payload); `what` names it in
// errors. The received fd is close-on-exec.
Result<void> send_fd(int socket_fd, int fd, std::string_view what);
// The same for a forked child of a threaded process: allocates nothing; 0 or errno.
int send_fd_noalloc(int socket_fd, int fd);
// `payload` (all of it, in one message) with `fd` attached to its first byte (SCM_RIGHTS).
Result<void> send_with_fd(int socket_fd, std::string_view payload, int fd, std::string_view what);
Result<int> receive_fd(int socket_fd, std::string_view what);

}  // namespace berth::linux
