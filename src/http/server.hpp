// An HTTP/1.1 server on Unix and TCP sockets: a thread per connection, keep-alive, pipelined
// requests answered in order, and streamed (chunked) responses that notice a client leaving.
// Untrusted clients bound what it holds: a gate decides on the request line and headers before
// any body is read, one body and all bodies together have a byte budget, and a refused client
// is answered and then drained briefly, so it reads the answer instead of a reset.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>

#include "common/fd.hpp"
#include "http/message.hpp"

namespace berth::http {

class ResponseWriter {
 public:
  ResponseWriter(int fd, std::stop_token stop, bool head_only_close) : fd_(fd), stop_(std::move(stop)), close_(head_only_close) {}

  // Either send() once, or begin_stream(), write() any number of times, end().
  Result<void> send(const Response& response);
  Result<void> begin_stream(int status, std::string_view content_type, const Headers& headers = {});
  // unavailable once the client has gone.
  Result<void> write(std::string_view chunk);
  Result<void> end();
  // The client hung up (checked without reading what it may have sent next).
  bool peer_closed() const;
  // Requested when the server stops.
  std::stop_token stop_token() const { return stop_; }

  bool responded() const { return responded_; }
  bool streaming() const { return streaming_; }

 private:
  Result<void> write_all(std::string_view data);
  int fd_;
  std::stop_token stop_;
  bool close_;  // tell the client this connection closes after the response
  bool responded_ = false;
  bool streaming_ = false;
  bool broken_ = false;
};

using Handler = std::function<void(const Request&, ResponseWriter&)>;
// Runs on a request's line and headers (and peer), before any of its body is read: a response
// refuses the request (it is sent and the connection closes); nothing admits it.
using Gate = std::function<std::optional<Response>(const Request&)>;

struct ServerOptions {
  std::size_t max_header_bytes = 64 * 1024;
  // One request's body: a larger Content-Length or chunked body is refused with 413.
  std::size_t max_body_bytes = 16 * 1024 * 1024;
  // The bodies of all connections together, while they are read and handled: a request that
  // would go past it is refused with 503, so the server never buffers more.
  std::size_t max_total_body_bytes = 64 * 1024 * 1024;
  std::chrono::milliseconds idle_timeout{60000};
  std::size_t max_connections = 256;
  // How long a refused client is read (and discarded) after its answer, before the close.
  std::chrono::milliseconds linger{2000};
  Gate gate;
};

class Server {
 public:
  explicit Server(Handler handler, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Replaces a stale socket file; conflict when another server answers on it. The socket is
  // created with `mode` (no window with wider permissions).
  Result<void> listen_unix(const std::string& path, mode_t mode = 0600);
  // "127.0.0.1:2375", "[::1]:2375"; port 0 picks a free one (tcp_port()).
  Result<void> listen_tcp(const std::string& address);
  std::uint16_t tcp_port() const { return tcp_port_; }

  // Accepts until stop(); then waits for the connections to finish.
  Result<void> run();
  // Thread-safe and async-signal-safe: stops accepting and asks every stream to end.
  void stop();
  // Request body bytes held now across all connections (at most max_total_body_bytes).
  std::size_t body_bytes_held() const { return body_bytes_.load(); }

 private:
  struct Listener {
    UniqueFd fd;
    bool tcp;
  };
  void serve(UniqueFd connection, bool tcp, std::stop_token stop);
  friend class BodyCharge;

  Handler handler_;
  ServerOptions options_;
  std::vector<Listener> listeners_;
  std::string unix_path_;
  std::uint16_t tcp_port_ = 0;
  UniqueFd wake_;  // eventfd: stop() writes, run() wakes
  std::stop_source stopping_;
  std::atomic<std::size_t> connections_{0};
  std::atomic<std::size_t> body_bytes_{0};
  struct Worker {
    std::shared_ptr<std::atomic<bool>> done;
    std::jthread thread;
  };
  std::mutex threads_mutex_;
  std::list<Worker> threads_;
};

}  // namespace berth::http
