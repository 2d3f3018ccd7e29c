// An HTTP/1.1 client for berthd's API: one kept-alive connection per Connection, over a Unix
// socket or TCP (with a bearer token), and streamed bodies read piece by piece.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>

#include "common/fd.hpp"
#include "http/message.hpp"

namespace berth::http {

struct Endpoint {
  std::string unix_path;  // or
  std::string host;       // with port
  std::uint16_t port = 0;
  std::string bearer_token;
  std::string describe() const;
};

// "unix:///run/berth/berth.sock", "/run/berth/berth.sock", "tcp://127.0.0.1:2375".
Result<Endpoint> parse_endpoint(std::string_view text);

struct ClientResponse {
  int status = 0;
  Headers headers;  // names lower-cased
  std::string body;
  std::optional<std::string> header(std::string_view name) const;
};

class Connection {
 public:
  // unavailable when nothing listens there (the message names where); permission_denied when
  // this user may not connect to the Unix socket.
  static Result<Connection> open(const Endpoint& endpoint, std::chrono::milliseconds timeout);

  Result<ClientResponse> request(std::string_view method, std::string_view target, std::string_view body = {},
                                 std::string_view content_type = "application/json",
                                 std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Sends the request and reads the status and headers; the body comes through read_body_part.
  // Waiting for the answer ends early (unavailable) when `stop` is requested.
  Result<ClientResponse> start_request(std::string_view method, std::string_view target, std::string_view body = {},
                                       std::string_view content_type = "application/json",
                                       std::chrono::milliseconds timeout = std::chrono::seconds(30),
                                       std::stop_token stop = {});
  // The next piece of the body: bytes, std::nullopt at its end, a timeout error when nothing
  // came in `timeout` (call again), unavailable when `stop` was requested or the server went.
  Result<std::optional<std::string>> read_body_part(std::chrono::milliseconds timeout, std::stop_token stop = {});

 private:
  Connection(UniqueFd fd, Endpoint endpoint) : fd_(std::move(fd)), endpoint_(std::move(endpoint)) {}
  Result<void> fill(std::chrono::steady_clock::time_point deadline, const std::stop_token& stop);

  UniqueFd fd_;
  Endpoint endpoint_;
  std::string buffer_;
  // The body being read: by length, chunked, or until the server closes.
  enum class BodyMode { none, length, chunked, until_close } mode_ = BodyMode::none;
  std::size_t remaining_ = 0;  // of the length, or of the current chunk
  bool chunk_ends_pending_ = false;
};

}  // namespace berth::http
