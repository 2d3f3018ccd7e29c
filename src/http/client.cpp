#include "http/client.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/numbers.hpp"
#include "linux/connect.hpp"
#include "linux/unix_socket.hpp"

namespace berth::http {

namespace {

using SteadyClock = std::chrono::steady_clock;

int ms_until(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(left, 0, 100));  // short slices: stop is polled
}

}  // namespace

std::string Endpoint::describe() const {
  return unix_path.empty() ? fmt::format("tcp://{}:{}", host, port) : "unix://" + unix_path;
}

std::optional<std::string> ClientResponse::header(std::string_view name) const {
  auto wanted = lower(name);
  for (const auto& [k, v] : headers)
    if (k == wanted) return v;
  return std::nullopt;
}

Result<Endpoint> parse_endpoint(std::string_view text) {
  const std::string original(text);
  Endpoint e;
  if (text.starts_with("unix://")) text.remove_prefix(7);
  if (text.starts_with("/")) {
    e.unix_path = std::string(text);
    return e;
  }
  if (text.starts_with("tcp://")) {
    text.remove_prefix(6);
    auto colon = text.rfind(':');
    if (colon != std::string_view::npos && colon > 0) {
      std::string host(text.substr(0, colon));
      if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
      if (auto port = parse_port_number(text.substr(colon + 1))) {
        e.host = host;
        e.port = *port;
        return e;
      }
    }
  }
  return fail(ErrorCode::invalid_spec,
              fmt::format("host \"{}\" is not unix:///PATH, /PATH or tcp://HOST:PORT", original));
}

Result<Connection> Connection::open(const Endpoint& endpoint, std::chrono::milliseconds timeout) {
  auto unavailable = [&](std::string_view what, int error) {
    return fail(ErrorCode::unavailable, fmt::format("nothing answers at {} ({}: {})", endpoint.describe(), what,
                                                    std::strerror(error)));
  };
  if (!endpoint.unix_path.empty()) {
    auto address = linux::unix_address(endpoint.unix_path);
    if (!address) return fail(ErrorCode::unavailable, fmt::format("nothing answers at {} ({})", endpoint.describe(), address.error().message));
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return unavailable("socket", errno);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address->address), sizeof address->address) != 0) {
      // Something is there, but this user may not use it: not the same as nothing answering.
      if (errno == EACCES || errno == EPERM)
        return fail(ErrorCode::permission_denied,
                    fmt::format("permission denied on the socket {} ({})", endpoint.unix_path, std::strerror(errno)));
      return unavailable("connect", errno);
    }
    return Connection(std::move(fd), endpoint);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(endpoint.host.c_str(), std::to_string(endpoint.port).c_str(), &hints, &found); rc != 0)
    return fail(ErrorCode::unavailable, fmt::format("{}: {}", endpoint.describe(), ::gai_strerror(rc)));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(found, ::freeaddrinfo);
  UniqueFd fd(::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return unavailable("socket", errno);
  if (int error = linux::connect_before(fd.get(), found->ai_addr, found->ai_addrlen, SteadyClock::now() + timeout))
    return unavailable("connect", error);
  return Connection(std::move(fd), endpoint);
}

Result<void> Connection::fill(SteadyClock::time_point deadline, const std::stop_token& stop) {
  for (;;) {
    if (stop.stop_requested()) return fail(ErrorCode::unavailable, "cancelled");
    pollfd p{fd_.get(), POLLIN, 0};
    int ready = ::poll(&p, 1, ms_until(deadline));
    if (ready < 0 && errno != EINTR) return fail(ErrorCode::unavailable, fmt::format("poll: {}", std::strerror(errno)));
    if (ready <= 0) {
      if (SteadyClock::now() >= deadline) return fail(ErrorCode::timeout, fmt::format("{}: no answer in time", endpoint_.describe()));
      continue;
    }
    char chunk[16384];
    ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return fail(ErrorCode::unavailable, fmt::format("{}: {}", endpoint_.describe(), std::strerror(errno)));
    if (n == 0) return fail(ErrorCode::unavailable, fmt::format("{} closed the connection", endpoint_.describe()));
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return {};
  }
}

Result<ClientResponse> Connection::start_request(std::string_view method, std::string_view target, std::string_view body,
                                                 std::string_view content_type, std::chrono::milliseconds timeout,
                                                 std::stop_token stop) {
  auto deadline = SteadyClock::now() + timeout;
  if (mode_ != BodyMode::none)
    return fail(ErrorCode::internal, "the previous response's body was not read to its end");
  std::string message = fmt::format("{} {} HTTP/1.1\r\nHost: berth\r\n", method, target);
  if (!endpoint_.bearer_token.empty()) message += fmt::format("Authorization: Bearer {}\r\n", endpoint_.bearer_token);
  if (!body.empty() || method == "POST" || method == "PUT")
    message += fmt::format("Content-Type: {}\r\nContent-Length: {}\r\n", content_type, body.size());
  message += "\r\n";
  message += body;
  std::string_view rest = message;
  while (!rest.empty()) {
    ssize_t n = ::send(fd_.get(), rest.data(), rest.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{fd_.get(), POLLOUT, 0};
        if (::poll(&p, 1, ms_until(deadline)) == 0 && SteadyClock::now() >= deadline)
          return fail(ErrorCode::timeout, fmt::format("{}: could not send in time", endpoint_.describe()));
        continue;
      }
      // The server may have answered early (a refusal before the body) and closed: its answer
      // is still there to read.
      if (errno == EPIPE || errno == ECONNRESET) break;
      return fail(ErrorCode::unavailable, fmt::format("{}: {}", endpoint_.describe(), std::strerror(errno)));
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  for (;;) {
    std::size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos)
      if (auto r = fill(deadline, stop); !r) return std::unexpected(r.error());
    std::string head = buffer_.substr(0, head_end);
    buffer_.erase(0, head_end + 4);
    ClientResponse response;
    auto line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (!status_line.starts_with("HTTP/1.") || status_line.size() < 12)
      return fail(ErrorCode::internal, fmt::format("{}: not an HTTP response: \"{}\"", endpoint_.describe(), status_line));
    response.status = std::atoi(status_line.c_str() + 9);
    std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto end = head.find("\r\n", pos);
      if (end == std::string::npos) end = head.size();
      auto field = std::string_view(head).substr(pos, end - pos);
      pos = end + 2;
      auto colon = field.find(':');
      if (colon == std::string_view::npos) continue;
      auto value = field.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      response.headers.emplace_back(lower(field.substr(0, colon)), std::string(value));
    }
    if (response.status == 100) continue;  // an interim answer; the real one follows
    if (lower(response.header("transfer-encoding").value_or("")).find("chunked") != std::string::npos) {
      mode_ = BodyMode::chunked;
      remaining_ = 0;
      chunk_ends_pending_ = false;
    } else if (auto length = response.header("content-length")) {
      remaining_ = std::strtoull(length->c_str(), nullptr, 10);
      mode_ = remaining_ > 0 ? BodyMode::length : BodyMode::none;
    } else if (response.status == 204 || response.status == 304 || method == "HEAD") {
      mode_ = BodyMode::none;
    } else {
      mode_ = BodyMode::until_close;
    }
    return response;
  }
}

Result<std::optional<std::string>> Connection::read_body_part(std::chrono::milliseconds timeout, std::stop_token stop) {
  auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    switch (mode_) {
      case BodyMode::none:
        return std::optional<std::string>();
      case BodyMode::length:
        if (remaining_ == 0) {
          mode_ = BodyMode::none;
          return std::optional<std::string>();
        }
        if (!buffer_.empty()) {
          std::size_t n = std::min(buffer_.size(), remaining_);
          std::string part = buffer_.substr(0, n);
          buffer_.erase(0, n);
          remaining_ -= n;
          if (remaining_ == 0) mode_ = BodyMode::none;
          return std::optional<std::string>(std::move(part));
        }
        break;
      case BodyMode::until_close:
        if (!buffer_.empty()) return std::optional<std::string>(std::exchange(buffer_, {}));
        if (auto r = fill(deadline, stop); !r) {
          if (r.error().code == ErrorCode::unavailable && !stop.stop_requested()) {
            mode_ = BodyMode::none;
            fd_.reset();  // the server closed it: this connection is done
            return std::optional<std::string>();
          }
          return std::unexpected(r.error());
        }
        continue;
      case BodyMode::chunked:
        if (chunk_ends_pending_) {
          if (buffer_.size() < 2) break;
          buffer_.erase(0, 2);
          chunk_ends_pending_ = false;
        }
        if (remaining_ == 0) {
          auto line_end = buffer_.find("\r\n");
          if (line_end == std::string::npos) break;
          std::size_t size = std::strtoull(buffer_.substr(0, line_end).c_str(), nullptr, 16);
          if (size == 0) {
            // The last chunk, then (no trailers from berthd) the empty line.
            if (buffer_.size() < line_end + 4) break;
            buffer_.erase(0, line_end + 4);
            mode_ = BodyMode::none;
            return std::optional<std::string>();
          }
          buffer_.erase(0, line_end + 2);
          remaining_ = size;
        }
        if (!buffer_.empty()) {
          std::size_t n = std::min(buffer_.size(), remaining_);
          std::string part = buffer_.substr(0, n);
          buffer_.erase(0, n);
          remaining_ -= n;
          if (remaining_ == 0) chunk_ends_pending_ = true;
          return std::optional<std::string>(std::move(part));
        }
        break;
    }
    if (auto r = fill(deadline, stop); !r) return std::unexpected(r.error());
  }
}

Result<ClientResponse> Connection::request(std::string_view method, std::string_view target, std::string_view body,
                                           std::string_view content_type, std::chrono::milliseconds timeout) {
  auto deadline = SteadyClock::now() + timeout;
  auto response = start_request(method, target, body, content_type, timeout);
  if (!response) return response;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    auto part = read_body_part(std::max(left, std::chrono::milliseconds(1)));
    if (!part) return std::unexpected(part.error());
    if (!*part) break;
    response->body += **part;
  }
  return response;
}

}  // namespace berth::http
