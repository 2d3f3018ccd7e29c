#include "http/server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/numbers.hpp"
#include "linux/unix_socket.hpp"

namespace berth::http {

namespace {

using namespace std::chrono_literals;

Error errno_error(std::string_view what, int error) {
  return Error{ErrorCode::internal, fmt::format("{}: {}", what, std::strerror(error))};
}

std::string error_body(std::string_view code, std::string_view message) {
  std::string escaped;
  for (char c : message) {
    if (c == '"' || c == '\\') escaped += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    escaped += c;
  }
  return fmt::format("{{\"code\":\"{}\",\"message\":\"{}\"}}\n", code, escaped);
}

// Reads more into `buffer`: false when the peer closed, the idle timeout passed or stop came.
bool read_more(int fd, std::string& buffer, std::chrono::milliseconds idle, const std::stop_token& stop) {
  auto deadline = std::chrono::steady_clock::now() + idle;
  for (;;) {
    if (stop.stop_requested()) return false;
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, 200);
    if (ready < 0 && errno != EINTR) return false;
    if (ready <= 0) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      continue;
    }
    char chunk[16384];
    ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
}

// Splits "host:port" and "[v6]:port".
Result<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view address) {
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos)
    return fail(ErrorCode::invalid_spec, fmt::format("address \"{}\" is not HOST:PORT", address));
  std::string host(address.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  // Port 0: the kernel picks one.
  auto port_text = address.substr(colon + 1);
  auto port = port_text == "0" ? std::optional<std::uint16_t>(0) : parse_port_number(port_text);
  if (!port) return fail(ErrorCode::invalid_spec, fmt::format("address \"{}\": \"{}\" is not a port", address, port_text));
  if (host.empty()) host = "0.0.0.0";
  return std::pair{host, *port};
}

}  // namespace

// -- ResponseWriter ------------------------------------------------------------------------

Result<void> ResponseWriter::write_all(std::string_view data) {
  if (broken_) return fail(ErrorCode::unavailable, "the client has gone");
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, 1000);
        continue;
      }
      broken_ = true;
      return fail(ErrorCode::unavailable, fmt::format("the client has gone ({})", std::strerror(errno)));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> ResponseWriter::send(const Response& response) {
  if (responded_) return fail(ErrorCode::internal, "a response was already sent");
  responded_ = true;
  std::string head = fmt::format("HTTP/1.1 {} {}\r\n", response.status, reason_phrase(response.status));
  for (const auto& [k, v] : response.headers) head += fmt::format("{}: {}\r\n", k, v);
  head += fmt::format("Content-Length: {}\r\n", response.body.size());
  if (close_) head += "Connection: close\r\n";
  head += "\r\n";
  head += response.body;
  return write_all(head);
}

Result<void> ResponseWriter::begin_stream(int status, std::string_view content_type, const Headers& headers) {
  if (responded_) return fail(ErrorCode::internal, "a response was already sent");
  responded_ = true;
  streaming_ = true;
  std::string head = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache\r\n",
                                 status, reason_phrase(status), content_type);
  for (const auto& [k, v] : headers) head += fmt::format("{}: {}\r\n", k, v);
  if (close_) head += "Connection: close\r\n";
  head += "\r\n";
  return write_all(head);
}

Result<void> ResponseWriter::write(std::string_view chunk) {
  if (!streaming_) return fail(ErrorCode::internal, "write() before begin_stream()");
  if (chunk.empty()) return {};  // an empty chunk would end the body
  std::string framed = fmt::format("{:x}\r\n", chunk.size());
  framed += chunk;
  framed += "\r\n";
  return write_all(framed);
}

Result<void> ResponseWriter::end() {
  if (!streaming_) return fail(ErrorCode::internal, "end() before begin_stream()");
  streaming_ = false;
  return write_all("0\r\n\r\n");
}

bool ResponseWriter::peer_closed() const {
  if (broken_) return true;
  pollfd p{fd_, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// -- Server --------------------------------------------------------------------------------

Server::Server(Handler handler, ServerOptions options)
    : handler_(std::move(handler)), options_(options), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

Server::~Server() {
  stop();
  std::lock_guard lock(threads_mutex_);
  threads_.clear();
  if (!unix_path_.empty()) ::unlink(unix_path_.c_str());
}

Result<void> Server::listen_unix(const std::string& path, mode_t mode) {
  auto address = linux::unix_address(path);
  if (!address) return std::unexpected(address.error());
  // A socket file from a server that died is replaced; a live server keeps its socket.
  {
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&address->address), sizeof address->address) == 0)
      return fail(ErrorCode::conflict, fmt::format("{}: another server answers on it", path));
  }
  ::unlink(path.c_str());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return std::unexpected(errno_error("socket", errno));
  // The socket file is born with `mode`: no moment with wider permissions.
  mode_t old = ::umask(static_cast<mode_t>(~mode & 0777));
  int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&address->address), sizeof address->address);
  int bind_errno = errno;
  ::umask(old);
  if (rc != 0) return std::unexpected(errno_error("bind " + path, bind_errno));
  if (::listen(fd.get(), 128) != 0) return std::unexpected(errno_error("listen " + path, errno));
  unix_path_ = path;
  listeners_.push_back({std::move(fd), false});
  return {};
}

Result<void> Server::listen_tcp(const std::string& address) {
  auto split = split_host_port(address);
  if (!split) return std::unexpected(split.error());
  auto& [host, port] = *split;
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    family = v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    length = sizeof *v4;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    family = v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    length = sizeof *v6;
  } else {
    return fail(ErrorCode::invalid_spec, fmt::format("address \"{}\": \"{}\" is not an IP address", address, host));
  }
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return std::unexpected(errno_error("socket", errno));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), length) != 0)
    return std::unexpected(errno_error("bind " + address, errno));
  if (::listen(fd.get(), 128) != 0) return std::unexpected(errno_error("listen " + address, errno));
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&storage), &length) == 0)
    tcp_port_ = ntohs(family == AF_INET ? v4->sin_port : v6->sin6_port);
  listeners_.push_back({std::move(fd), true});
  return {};
}

void Server::stop() {
  std::uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof one);
}

Result<void> Server::run() {
  if (listeners_.empty()) return fail(ErrorCode::invalid_spec, "the server listens nowhere");
  std::vector<pollfd> fds;
  fds.push_back({wake_.get(), POLLIN, 0});
  for (const auto& l : listeners_) fds.push_back({l.fd.get(), POLLIN, 0});
  for (;;) {
    int ready = ::poll(fds.data(), fds.size(), -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(errno_error("poll", errno));
    }
    if (fds[0].revents) break;
    for (std::size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      UniqueFd connection(::accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (!connection) continue;
      bool tcp = listeners_[i - 1].tcp;
      if (tcp) {
        int one = 1;
        ::setsockopt(connection.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      if (connections_.load() >= options_.max_connections) {
        std::string busy = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\n";
        std::string body = error_body("unavailable", "too many connections");
        busy += fmt::format("Content-Length: {}\r\n\r\n{}", body.size(), body);
        (void)!::send(connection.get(), busy.data(), busy.size(), MSG_NOSIGNAL);
        continue;
      }
      ++connections_;
      std::lock_guard lock(threads_mutex_);
      // Finished connection threads are joined here, so the list stays as long as the live ones.
      std::erase_if(threads_, [](const Worker& w) { return w.done->load(); });
      auto done = std::make_shared<std::atomic<bool>>(false);
      threads_.push_back(Worker{done, std::jthread([this, c = std::move(connection), tcp, done,
                                                    stop = stopping_.get_token()]() mutable {
                                  serve(std::move(c), tcp, stop);
                                  --connections_;
                                  done->store(true);
                                })});
    }
  }
  listeners_.clear();
  if (!unix_path_.empty()) {
    ::unlink(unix_path_.c_str());
    unix_path_.clear();
  }
  stopping_.request_stop();
  std::lock_guard lock(threads_mutex_);
  threads_.clear();  // joins: streams see the stop and end
  return {};
}

void Server::serve(UniqueFd connection, bool tcp, std::stop_token stop) {
  int fd = connection.get();
  std::optional<ucred> peer;
  if (!tcp) {
    ucred cred{};
    socklen_t length = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) == 0) peer = cred;
  }
  auto refuse = [&](int status, std::string_view message) {
    ResponseWriter writer(fd, stop, true);
    Response r;
    r.status = status;
    r.headers = {{"Content-Type", "application/json"}};
    r.body = error_body(status == 413 || status == 431 ? "limit_exceeded" : "invalid_spec", message);
    (void)writer.send(r);
  };
  std::string buffer;
  for (;;) {
    std::size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (buffer.size() > options_.max_header_bytes) return refuse(431, "request headers too large");
      if (!read_more(fd, buffer, options_.idle_timeout, stop)) return;
    }
    if (head_end > options_.max_header_bytes) return refuse(431, "request headers too large");
    auto request = parse_request_head(std::string_view(buffer).substr(0, head_end));
    buffer.erase(0, head_end + 4);
    if (!request) return refuse(400, request.error().message);
    request->peer = peer;
    request->tcp = tcp;
    if (lower(request->header("expect").value_or("")) == "100-continue") {
      std::string_view go = "HTTP/1.1 100 Continue\r\n\r\n";
      (void)!::send(fd, go.data(), go.size(), MSG_NOSIGNAL);
    }
    // The body: by Content-Length, or chunked.
    if (lower(request->header("transfer-encoding").value_or("")).find("chunked") != std::string::npos) {
      for (;;) {
        std::size_t line_end;
        while ((line_end = buffer.find("\r\n")) == std::string::npos)
          if (!read_more(fd, buffer, options_.idle_timeout, stop)) return;
        std::size_t size = 0;
        try {
          size = std::stoul(buffer.substr(0, line_end), nullptr, 16);
        } catch (...) {
          return refuse(400, "bad chunk size");
        }
        if (request->body.size() + size > options_.max_body_bytes) return refuse(413, "request body too large");
        while (buffer.size() < line_end + 2 + size + 2)
          if (!read_more(fd, buffer, options_.idle_timeout, stop)) return;
        request->body.append(buffer, line_end + 2, size);
        buffer.erase(0, line_end + 2 + size + 2);
        if (size == 0) break;  // (trailers are not used by berth's clients)
      }
    } else if (auto length = request->header("content-length")) {
      std::size_t size = 0;
      try {
        std::size_t used = 0;
        size = std::stoul(*length, &used);
        if (used != length->size()) throw std::invalid_argument("trailing");
      } catch (...) {
        return refuse(400, fmt::format("Content-Length \"{}\" is not a number", *length));
      }
      if (size > options_.max_body_bytes) return refuse(413, "request body too large");
      while (buffer.size() < size)
        if (!read_more(fd, buffer, options_.idle_timeout, stop)) return;
      request->body = buffer.substr(0, size);
      buffer.erase(0, size);
    }
    bool keep = request->keep_alive() && !stop.stop_requested();
    ResponseWriter writer(fd, stop, !keep);
    try {
      handler_(*request, writer);
    } catch (const std::exception& e) {
      if (!writer.responded()) {
        Response r{500, {{"Content-Type", "application/json"}}, error_body("internal", e.what())};
        (void)writer.send(r);
      } else {
        return;
      }
    }
    if (!writer.responded()) {
      Response r{500, {{"Content-Type", "application/json"}}, error_body("internal", "no response")};
      (void)writer.send(r);
    }
    if (writer.streaming() || !keep) return;  // a stream left open ends with the connection
  }
}

}  // namespace berth::http
