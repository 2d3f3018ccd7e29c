#include "runtime/ids.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

namespace berth {

Result<std::string> new_workload_id() {
  unsigned char bytes[32];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(ErrorCode::internal, fmt::format("getrandom: {}", std::strerror(errno)));
    got += static_cast<std::size_t>(n);
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(64, '0');
  for (std::size_t i = 0; i < sizeof bytes; ++i) {
    id[2 * i] = hex[bytes[i] >> 4];
    id[2 * i + 1] = hex[bytes[i] & 15];
  }
  return id;
}

}  // namespace berth
