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

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <expected>

#include <fmt/format.h>

#include "common/numbers.hpp"
#include "linux/unix_socket.hpp"

namespace berth::http {

// Body bytes one request holds against the server's total budget, given back with the request.
class BodyCharge {
 public:
  explicit BodyCharge(Server& server) : server_(server) {}
  ~BodyCharge() { server_.body_bytes_ -= held_; }
  BodyCharge(const BodyCharge&) = delete;
  BodyCharge& operator=(const BodyCharge&) = delete;

  // False (nothing charged) when the bytes would take the total past the budget.
  bool add(std::size_t bytes) {
    std::size_t limit = server_.options_.max_total_body_bytes;
    std::size_t held = server_.body_bytes_.load();
    do {
      if (held > limit || bytes > limit - held) return false;
    } while (!server_.body_bytes_.compare_exchange_weak(held, held + bytes));
    held_ += bytes;
    return true;
  }

 private:
  Server& server_;
  std::size_t held_ = 0;
};

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

// When a refused client has had its answer: stop sending, then read and discard what it is still
// sending until it closes or `linger` passes. Closing with its bytes unread would reset the
// connection, and the client could lose the answer.
void drain_before_close(int fd, std::chrono::milliseconds linger, const std::stop_token& stop) {
  ::shutdown(fd, SHUT_WR);
  auto deadline = std::chrono::steady_clock::now() + linger;
  char sink[16384];
  while (!stop.stop_requested()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 200)));
    if (ready < 0 && errno != EINTR) return;
    if (ready <= 0) continue;
    ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return;
  }
}

std::string busy_response(std::string_view message) {
  std::string body = error_body("unavailable", message);
  return fmt::format("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                     "Connection: close\r\nContent-Length: {}\r\n\r\n{}",
                     body.size(), body);
}

// What a connection has sent and the server not yet used, and how to wait for more.
class Inbound {
 public:
  Inbound(int fd, std::chrono::milliseconds idle, std::stop_token stop) : fd_(fd), idle_(idle), stop_(std::move(stop)) {}

  std::string buffer;

  // Reads more into `buffer`: false when the peer closed, the idle timeout passed or stop came.
  bool more() {
    char chunk[16384];
    ssize_t n = receive(chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  enum class Line { ok, gone, too_long };
  // The next line, without its CRLF, at most `max` bytes long.
  Line line(std::string& out, std::size_t max) {
    std::size_t end;
    while ((end = buffer.find("\r\n")) == std::string::npos) {
      if (buffer.size() >= max + 2) return Line::too_long;  // no CRLF where one had to be
      if (!more()) return Line::gone;
    }
    if (end > max) return Line::too_long;
    out = buffer.substr(0, end);
    buffer.erase(0, end + 2);
    return Line::ok;
  }

  enum class Take { all, gone, over_budget };
  // Appends the next `n` bytes to `out`: what is buffered, then straight from the socket (no
  // second copy). With a `charge`, each piece is charged before it is read.
  Take take(std::string& out, std::size_t n, BodyCharge* charge);

 private:
  // One recv after waiting for the socket: its result, 0 also for idle timeout and stop.
  ssize_t receive(char* into, std::size_t size) {
    auto deadline = std::chrono::steady_clock::now() + idle_;
    for (;;) {
      if (stop_.stop_requested()) return 0;
      pollfd p{fd_, POLLIN, 0};
      int ready = ::poll(&p, 1, 200);
      if (ready < 0 && errno != EINTR) return 0;
      if (ready <= 0) {
        if (std::chrono::steady_clock::now() >= deadline) return 0;
        continue;
      }
      ssize_t n = ::recv(fd_, into, size, MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      return n < 0 ? 0 : n;
    }
  }

  int fd_;
  std::chrono::milliseconds idle_;
  std::stop_token stop_;
};

// A chunk-size line: hex digits, optionally ";extensions". nullopt when it is not one. A size
// past 64 bits saturates (and is refused as too large) instead of wrapping.
std::optional<std::uint64_t> parse_chunk_size(std::string_view line) {
  auto digits = line.substr(0, line.find(';'));
  while (!digits.empty() && (digits.back() == ' ' || digits.back() == '\t')) digits.remove_suffix(1);
  if (digits.empty()) return std::nullopt;
  std::uint64_t size = 0;
  for (char c : digits) {
    int value = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (value < 0) return std::nullopt;
    size = size > (UINT64_MAX >> 4) ? UINT64_MAX : size * 16 + static_cast<unsigned>(value);
  }
  return size;
}

struct Refusal {
  int status;
  std::string message;
};

// How a request's body is framed: chunked, or a length (0: none).
struct Framing {
  bool chunked = false;
  std::uint64_t length = 0;
};

std::expected<Framing, Refusal> body_framing(const Request& request, std::size_t max_body) {
  std::vector<std::string_view> encodings, lengths;
  for (const auto& [name, value] : request.headers) {
    if (name == "transfer-encoding") encodings.push_back(value);
    if (name == "content-length") lengths.push_back(value);
  }
  if (!encodings.empty()) {
    // Both framings at once is how requests are smuggled past proxies: refused.
    if (!lengths.empty()) return std::unexpected(Refusal{400, "Transfer-Encoding and Content-Length together"});
    if (encodings.size() != 1 || lower(encodings[0]) != "chunked")
      return std::unexpected(Refusal{501, fmt::format("Transfer-Encoding \"{}\" is not supported (only chunked)", encodings[0])});
    return Framing{true, 0};
  }
  if (lengths.empty()) return Framing{};
  for (auto other : lengths)
    if (other != lengths[0]) return std::unexpected(Refusal{400, "Content-Length given twice, differently"});
  auto text = lengths[0];
  std::uint64_t length = 0;
  bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits) return std::unexpected(Refusal{400, fmt::format("Content-Length \"{}\" is not a number", text)});
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), length);
  if (error == std::errc::result_out_of_range || length > max_body)
    return std::unexpected(Refusal{413, fmt::format("Content-Length {} is over the request body limit of {} bytes", text, max_body)});
  return Framing{false, length};
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

Inbound::Take Inbound::take(std::string& out, std::size_t n, BodyCharge* charge) {
  constexpr std::size_t piece = 64 * 1024;
  while (n > 0) {
    std::size_t want = std::min(n, piece);
    if (charge && !charge->add(want)) return Take::over_budget;
    std::size_t from_buffer = std::min(want, buffer.size());
    out.append(buffer, 0, from_buffer);
    buffer.erase(0, from_buffer);
    for (std::size_t left = want - from_buffer; left > 0;) {
      std::size_t at = out.size();
      out.resize(at + left);
      ssize_t got = receive(out.data() + at, left);
      out.resize(at + static_cast<std::size_t>(std::max<ssize_t>(got, 0)));
      if (got <= 0) return Take::gone;
      left -= static_cast<std::size_t>(got);
    }
    n -= want;
  }
  return Take::all;
}

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
  // Connections refused at the cap: answered, then read and discarded until they close or their
  // time is up (so the client reads the 503, not a reset), without a thread each. Past
  // max_draining, a refused connection is just closed.
  struct Draining {
    UniqueFd fd;
    std::chrono::steady_clock::time_point until;
  };
  constexpr std::size_t max_draining = 64;
  std::vector<Draining> draining;
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    fds.push_back({wake_.get(), POLLIN, 0});
    for (const auto& l : listeners_) fds.push_back({l.fd.get(), POLLIN, 0});
    for (const auto& d : draining) fds.push_back({d.fd.get(), POLLIN, 0});
    int timeout = -1;  // no connection draining: until something happens
    auto now = std::chrono::steady_clock::now();
    if (!draining.empty()) {
      auto soonest = std::min_element(draining.begin(), draining.end(),
                                      [](const Draining& a, const Draining& b) { return a.until < b.until; })->until;
      timeout = static_cast<int>(std::clamp<long long>(std::chrono::ceil<std::chrono::milliseconds>(soonest - now).count(), 0, 60000));
    }
    int ready = ::poll(fds.data(), fds.size(), timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(errno_error("poll", errno));
    }
    if (fds[0].revents) break;
    now = std::chrono::steady_clock::now();
    std::size_t first_draining = 1 + listeners_.size();
    for (std::size_t i = draining.size(); i-- > 0;) {
      bool done = now >= draining[i].until;
      if (fds[first_draining + i].revents) {
        char sink[16384];
        ssize_t n = ::recv(draining[i].fd.get(), sink, sizeof sink, MSG_DONTWAIT);
        done |= n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
      }
      if (done) draining.erase(draining.begin() + static_cast<std::ptrdiff_t>(i));
    }
    for (std::size_t i = 1; i < first_draining; ++i) {
      if (!(fds[i].revents & POLLIN)) continue;
      UniqueFd connection(::accept4(fds[i].fd, nullptr, nullptr, SOCK_CLOEXEC));
      if (!connection) continue;
      bool tcp = listeners_[i - 1].tcp;
      if (tcp) {
        int one = 1;
        ::setsockopt(connection.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      }
      if (connections_.load() >= options_.max_connections) {
        std::string busy = busy_response(fmt::format("too many connections at once (the most is {})", options_.max_connections));
        (void)!::send(connection.get(), busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        ::shutdown(connection.get(), SHUT_WR);
        if (draining.size() < max_draining) draining.push_back({std::move(connection), now + options_.linger});
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
  draining.clear();
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
  // What one request/response exchange leaves: the next one, the end, or a refusal. A refused
  // request ends the connection: its body (if any) is not read, so what follows cannot be told
  // apart from it.
  enum class Outcome { next, close, refused };
  auto close_with = [&](const Response& response) {
    ResponseWriter writer(fd, stop, true);
    (void)writer.send(response);
    return Outcome::refused;
  };
  auto refuse = [&](int status, std::string_view message) {
    std::string_view code = status == 413 || status == 431 ? "limit_exceeded" : status == 503 ? "unavailable" : "invalid_spec";
    Response r{status, {{"Content-Type", "application/json"}}, error_body(code, message)};
    if (status == 503) r.headers.emplace_back("Retry-After", "1");
    return close_with(r);
  };
  auto over_budget = [&] {
    return refuse(503, fmt::format("request bodies in flight fill the budget of {} bytes", options_.max_total_body_bytes));
  };
  auto too_large = [&] {
    return refuse(413, fmt::format("the request body is over the limit of {} bytes", options_.max_body_bytes));
  };
  Inbound in(fd, options_.idle_timeout, stop);
  // (A lambda, so the request's body and budget charge are gone before a refused client is drained.)
  auto exchange = [&]() -> Outcome {
    std::size_t head_end;
    while ((head_end = in.buffer.find("\r\n\r\n")) == std::string::npos) {
      if (in.buffer.size() > options_.max_header_bytes) return refuse(431, "request headers too large");
      if (!in.more()) return Outcome::close;
    }
    if (head_end > options_.max_header_bytes) return refuse(431, "request headers too large");
    auto request = parse_request_head(std::string_view(in.buffer).substr(0, head_end));
    in.buffer.erase(0, head_end + 4);
    if (!request) return refuse(400, request.error().message);
    request->peer = peer;
    request->tcp = tcp;
    // Who may send a body is decided before a byte of it is read.
    if (options_.gate)
      if (auto refusal = options_.gate(*request)) return close_with(*refusal);
    auto framing = body_framing(*request, options_.max_body_bytes);
    if (!framing) return refuse(framing.error().status, framing.error().message);
    BodyCharge charge(*this);
    // A declared length is charged whole, before the client is told to go on.
    if (framing->length > 0 && !charge.add(framing->length)) return over_budget();
    if (lower(request->header("expect").value_or("")) == "100-continue" && (framing->chunked || framing->length > 0)) {
      std::string_view go = "HTTP/1.1 100 Continue\r\n\r\n";
      (void)!::send(fd, go.data(), go.size(), MSG_NOSIGNAL);
    }
    if (framing->chunked) {
      // A chunked body's size is known only as it comes: each piece is charged as it arrives.
      constexpr std::size_t max_chunk_line = 1024;
      for (;;) {
        std::string line;
        auto got = in.line(line, max_chunk_line);
        if (got == Inbound::Line::gone) return Outcome::close;
        if (got == Inbound::Line::too_long) return refuse(400, "chunk size line too long");
        auto size = parse_chunk_size(line);
        if (!size) return refuse(400, fmt::format("chunk size \"{}\" is not hexadecimal", line.substr(0, 32)));
        // (body.size() <= max_body_bytes: the subtraction cannot wrap.)
        if (*size > options_.max_body_bytes - request->body.size()) return too_large();
        if (*size == 0) {
          // Trailer fields (unused) up to the empty line, bounded like the headers.
          std::size_t trailers = 0;
          for (;;) {
            got = in.line(line, options_.max_header_bytes);
            if (got == Inbound::Line::gone) return Outcome::close;
            trailers += line.size() + 2;
            if (got == Inbound::Line::too_long || trailers > options_.max_header_bytes)
              return refuse(431, "request trailers too large");
            if (line.empty()) break;
          }
          break;
        }
        auto took = in.take(request->body, static_cast<std::size_t>(*size), &charge);
        if (took == Inbound::Take::over_budget) return over_budget();
        if (took == Inbound::Take::gone) return Outcome::close;
        got = in.line(line, 0);
        if (got == Inbound::Line::gone) return Outcome::close;
        if (got != Inbound::Line::ok || !line.empty()) return refuse(400, "chunk data is not followed by CRLF");
      }
    } else if (framing->length > 0) {
      request->body.reserve(static_cast<std::size_t>(framing->length));
      if (in.take(request->body, static_cast<std::size_t>(framing->length), nullptr) != Inbound::Take::all) return Outcome::close;
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
        return Outcome::close;
      }
    }
    if (!writer.responded()) {
      Response r{500, {{"Content-Type", "application/json"}}, error_body("internal", "no response")};
      (void)writer.send(r);
    }
    if (writer.streaming() || !keep) return Outcome::close;  // a stream left open ends with the connection
    return Outcome::next;
  };
  for (;;) {
    auto outcome = exchange();
    if (outcome == Outcome::next) continue;
    if (outcome == Outcome::refused) drain_before_close(fd, options_.linger, stop);
    return;
  }
}

}  // namespace berth::http
