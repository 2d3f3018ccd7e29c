// connect(2) on a non-blocking socket that gives up at a deadline: what the HTTP client, the
// health probes and a Wasm guest's tcp_connect all need.
#pragma once

#include <sys/socket.h>

#include <chrono>

namespace berth::linux {

// Connects `fd` (a non-blocking stream socket) to `address`, waiting no later than `deadline`.
// Returns 0, or the errno that says why not (ETIMEDOUT when the deadline came first). The
// socket stays non-blocking.
int connect_before(int fd, const sockaddr* address, socklen_t length, std::chrono::steady_clock::time_point deadline);

}  // namespace berth::linux
