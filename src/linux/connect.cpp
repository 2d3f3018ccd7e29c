#include "linux/connect.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>

namespace berth::linux {

int connect_before(int fd, const sockaddr* address, socklen_t length, std::chrono::steady_clock::time_point deadline) {
  if (::connect(fd, address, length) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) return ETIMEDOUT;
    pollfd p{fd, POLLOUT, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1'000'000)));
    if (n < 0 && errno == EINTR) continue;  // a signal (a Wasm deadline's, too): the loop sees the time
    if (n < 0) return errno;
    if (n == 0) return ETIMEDOUT;
    break;
  }
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) return errno;
  return error;
}

}  // namespace berth::linux
