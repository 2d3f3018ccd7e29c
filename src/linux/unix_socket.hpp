// Unix socket addresses for paths longer than sun_path's 108 bytes (a state root plus a 64-hex
// workload id easily is): the directory is opened and the address goes through
// /proc/self/fd/N/NAME, which the kernel resolves like the real path.
#pragma once

#include <sys/un.h>

#include <string>

#include "berth/error.hpp"
#include "common/fd.hpp"

namespace berth::linux {

struct UnixAddress {
  sockaddr_un address{};
  UniqueFd directory;  // keeps /proc/self/fd/N valid while the address is used
};

Result<UnixAddress> unix_address(const std::string& path);

}  // namespace berth::linux
