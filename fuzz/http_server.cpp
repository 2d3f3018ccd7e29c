// berthd's HTTP server on raw bytes from a client: request heads, Content-Length and chunked
// bodies, pipelined requests on one connection. The body framing is not a function of its own
// (it is part of Server's connection loop, src/http/server.cpp), so the target runs a real
// Server on a Unix socket in a fresh directory under /tmp, sends each input on a new
// connection, half-closes it and reads until the server closes. The handler checks what the
// server promises a handler: a body within max_body_bytes.
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "http/server.hpp"
#include "linux/unix_socket.hpp"

namespace {

constexpr std::size_t kMaxBody = 4096;

struct Fixture {
  std::string dir;
  std::string socket_path;
  berth::http::Server server;
  std::thread runner;

  Fixture() : server(handle, options()) {
    char dir_template[] = "/tmp/berth-fuzz-http-XXXXXX";
    if (!::mkdtemp(dir_template)) std::abort();
    dir = dir_template;
    socket_path = dir + "/api.sock";
    if (!server.listen_unix(socket_path)) std::abort();
    runner = std::thread([this] { (void)server.run(); });
  }
  ~Fixture() {
    server.stop();
    runner.join();
    (void)berth::remove_tree(dir);
  }

  static berth::http::ServerOptions options() {
    berth::http::ServerOptions o;
    o.max_header_bytes = 8192;
    o.max_body_bytes = kMaxBody;
    o.idle_timeout = std::chrono::milliseconds(2000);
    return o;
  }

  static void handle(const berth::http::Request& request, berth::http::ResponseWriter& writer) {
    if (request.body.size() > kMaxBody) {
      std::fprintf(stderr, "http_server: a handler got a body of %zu bytes, the limit is %zu\n", request.body.size(), kMaxBody);
      std::abort();
    }
    berth::http::Response response;
    response.body = std::to_string(request.body.size());
    (void)writer.send(response);
  }
};

Fixture* fixture = nullptr;

void send_all(int fd, const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return;  // the server may close early (an error answered)
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fixture = new Fixture();
  std::atexit([] { delete fixture; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  berth::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) std::abort();
  auto address = berth::linux::unix_address(fixture->socket_path);
  if (!address) std::abort();
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address->address), sizeof address->address) != 0) std::abort();
  send_all(fd.get(), data, size);
  ::shutdown(fd.get(), SHUT_WR);
  // Until the server closes: it must, since the client sent all it will (the idle timeout is
  // the bound; a hang past it is libFuzzer's -timeout to report).
  char buffer[4096];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n <= 0) break;
  }
  return 0;
}
