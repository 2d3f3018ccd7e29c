// A client on a raw socket: the tests of HTTP limits speak HTTP on the wire, so they stay
// valid whichever HTTP library the server uses.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include <fmt/format.h>

#include "common/fd.hpp"
#include "linux/unix_socket.hpp"

namespace berth::testing {

class RawClient {
 public:
  static RawClient unix_socket(const std::string& path) {
    auto address = linux::unix_address(path);
    RawClient c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::connect(c.fd_.get(), reinterpret_cast<sockaddr*>(&address->address), sizeof address->address), 0);
    return c;
  }
  static RawClient tcp(std::uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    RawClient c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::connect(c.fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << std::strerror(errno);
    return c;
  }

  // Everything, or false when the server stopped taking it (closed, reset, or 5 s without room).
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      pollfd p{fd_.get(), POLLOUT, 0};
      if (::poll(&p, 1, 5000) <= 0) return false;
      ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Something to read now (an answer came, or the server closed)?
  bool readable() const {
    pollfd p{fd_.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }

  // Sends `head` (a request head announcing a chunked body, blank line included), then `pieces`
  // chunks of `piece_bytes`, `pause` apart, then the last chunk; stops sending as soon as the
  // server answers (a refusal before the end).
  void upload_chunked(std::string_view head, int pieces, std::size_t piece_bytes,
                      std::chrono::milliseconds pause = std::chrono::milliseconds(0)) {
    bool sent = send(head);
    std::string piece = fmt::format("{:x}\r\n{}\r\n", piece_bytes, std::string(piece_bytes, 'u'));
    for (int p = 0; p < pieces && sent && !readable(); ++p) {
      sent = send(piece);
      if (pause.count() > 0) std::this_thread::sleep_for(pause);  // a slow client, on purpose
    }
    if (sent && !readable()) (void)send("0\r\n\r\n");
  }

  struct Answer {
    std::string bytes;
    bool closed = false;  // the server closed the connection (EOF, not a reset)
    int error = 0;        // errno of a failed read (ECONNRESET)
    std::string status_line() const { return bytes.substr(0, bytes.find("\r\n")); }
  };
  // Reads until the server closes, the read fails, or `timeout` passes.
  Answer read(std::chrono::milliseconds timeout) {
    Answer a;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd_.get(), POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return a;
      char buffer[16384];
      ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
      if (n < 0) {
        a.error = errno;
        return a;
      }
      if (n == 0) {
        a.closed = true;
        return a;
      }
      a.bytes.append(buffer, static_cast<std::size_t>(n));
    }
  }

  int fd() const { return fd_.get(); }

 private:
  explicit RawClient(int fd) : fd_(fd) {}
  UniqueFd fd_;
};

}  // namespace berth::testing
