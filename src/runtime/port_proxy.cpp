#include "runtime/port_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "linux/nftables.hpp"

namespace berth {

namespace {

Result<sockaddr_in> address_of(const std::string& ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1)
    return fail(ErrorCode::invalid_spec, fmt::format("\"{}\" is not an IPv4 address", ip));
  return a;
}

// Moves one direction until end of input, then half-closes the other side. splice() through
// a pipe keeps the bytes in the kernel (no copy into this process and out again).
void pump(int from, int to) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return;
  UniqueFd pipe_read(pipe_fds[0]), pipe_write(pipe_fds[1]);
  ::fcntl(pipe_write.get(), F_SETPIPE_SZ, 1 << 20);
  constexpr std::size_t chunk = 1 << 20;
  for (;;) {
    ssize_t in = ::splice(from, nullptr, pipe_write.get(), nullptr, chunk, SPLICE_F_MOVE);
    if (in < 0 && errno == EINTR) continue;
    if (in <= 0) break;
    while (in > 0) {
      ssize_t out = ::splice(pipe_read.get(), nullptr, to, nullptr, static_cast<std::size_t>(in), SPLICE_F_MOVE);
      if (out < 0 && errno == EINTR) continue;
      if (out <= 0) return;
      in -= out;
    }
  }
  ::shutdown(to, SHUT_WR);
}

void relay(UniqueFd client, sockaddr_in target) {
  UniqueFd upstream(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!upstream || ::connect(upstream.get(), reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) return;
  int one = 1;
  ::setsockopt(upstream.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::thread back([&] { pump(upstream.get(), client.get()); });
  pump(client.get(), upstream.get());
  back.join();
}

// Accepts for as long as the shim lives (the listening socket dies with it).
void serve(int listener, sockaddr_in target) {
  for (;;) {
    UniqueFd client(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    std::thread(relay, std::move(client), target).detach();
  }
}

// UDP has no connections: each client address gets its own socket connected to the container
// (so replies come back to this relay and go out from the published port to that client), kept
// while datagrams flow and dropped after the idle time conntrack gives UDP streams.
void serve_datagrams(int bound, sockaddr_in target) {
  using Clock = std::chrono::steady_clock;
  constexpr auto idle_limit = std::chrono::seconds(120);
  struct Session {
    sockaddr_in client;
    UniqueFd upstream;
    Clock::time_point last_used;
  };
  std::vector<Session> sessions;
  std::vector<char> buffer(65536);
  for (;;) {
    std::vector<pollfd> fds{{bound, POLLIN, 0}};
    for (auto& s : sessions) fds.push_back({s.upstream.get(), POLLIN, 0});
    int ready = ::poll(fds.data(), fds.size(), 10000);
    if (ready < 0 && errno != EINTR) return;
    auto now = Clock::now();
    if (ready > 0 && (fds[0].revents & POLLIN)) {
      sockaddr_in client{};
      socklen_t length = sizeof client;
      ssize_t n = ::recvfrom(bound, buffer.data(), buffer.size(), 0, reinterpret_cast<sockaddr*>(&client), &length);
      if (n >= 0) {
        auto it = std::find_if(sessions.begin(), sessions.end(), [&](const Session& s) {
          return s.client.sin_addr.s_addr == client.sin_addr.s_addr && s.client.sin_port == client.sin_port;
        });
        if (it == sessions.end()) {
          UniqueFd upstream(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
          if (upstream && ::connect(upstream.get(), reinterpret_cast<sockaddr*>(&target), sizeof target) == 0) {
            sessions.push_back({client, std::move(upstream), now});
            it = sessions.end() - 1;
          }
        }
        if (it != sessions.end()) {
          (void)::send(it->upstream.get(), buffer.data(), static_cast<std::size_t>(n), MSG_NOSIGNAL);
          it->last_used = now;
        }
      }
    }
    for (std::size_t i = 1; ready > 0 && i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLERR))) continue;
      auto& s = sessions[i - 1];
      ssize_t n = ::recv(s.upstream.get(), buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (n < 0) continue;  // e.g. the container refused (ICMP): the client just hears nothing
      (void)::sendto(bound, buffer.data(), static_cast<std::size_t>(n), MSG_NOSIGNAL,
                     reinterpret_cast<sockaddr*>(&s.client), sizeof s.client);
      s.last_used = now;
    }
    std::erase_if(sessions, [&](const Session& s) { return now - s.last_used > idle_limit; });
  }
}

nlohmann::json to_json(const PublishedPort& p) {
  return {{"host_ip", p.host_ip}, {"host_port", p.host_port}, {"container_port", p.container_port}, {"protocol", p.protocol}};
}

}  // namespace

Result<std::vector<PublishedPort>> publish_ports(const std::vector<PortMapping>& ports, const std::string& container_ip,
                                                 const std::string& ports_path) {
  std::vector<PublishedPort> published;
  struct Listener {
    UniqueFd fd;
    sockaddr_in target;
    bool datagrams;
  };
  std::vector<Listener> listeners;
  std::vector<linux::nftables::PortForward> forwards;  // ports on every address also take DNAT
  for (const auto& m : ports) {
    PublishedPort p{m.host_ip.empty() ? "0.0.0.0" : m.host_ip, m.host_port.value_or(0), m.container_port, m.protocol};
    bool datagrams = p.protocol == "udp";
    auto bind_to = address_of(p.host_ip, p.host_port);
    if (!bind_to) return std::unexpected(bind_to.error().with_context("ports"));
    UniqueFd fd(::socket(AF_INET, (datagrams ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0));
    if (!fd) return fail(ErrorCode::internal, fmt::format("socket for port {}: {}", p.host_port, std::strerror(errno)));
    int one = 1;
    if (!datagrams) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&*bind_to), sizeof *bind_to) != 0) {
      int error = errno;
      return fail(error == EADDRINUSE ? ErrorCode::conflict : ErrorCode::internal,
                  fmt::format("port {}/{} on {}: {}", p.host_port, p.protocol, p.host_ip,
                              error == EADDRINUSE ? "already in use on this host" : std::strerror(error)));
    }
    if (!datagrams && ::listen(fd.get(), 128) != 0)
      return fail(ErrorCode::internal, fmt::format("listen on port {}: {}", p.host_port, std::strerror(errno)));
    socklen_t length = sizeof *bind_to;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&*bind_to), &length);
    p.host_port = ntohs(bind_to->sin_port);  // an ephemeral one, as the kernel chose it
    auto target = address_of(container_ip, p.container_port);
    if (!target) return std::unexpected(target.error());
    if (p.host_ip == "0.0.0.0") forwards.push_back({p.protocol, p.host_port, container_ip, p.container_port});
    published.push_back(p);
    listeners.push_back({std::move(fd), *target, datagrams});
  }
  if (auto r = linux::nftables::publish_ports(forwards); !r) return std::unexpected(r.error());
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : published) list.push_back(to_json(p));
  if (auto r = write_file_atomic(ports_path, list.dump()); !r) {
    (void)linux::nftables::unpublish_ports(forwards);
    return std::unexpected(r.error());
  }
  for (auto& l : listeners) std::thread(l.datagrams ? serve_datagrams : serve, l.fd.release(), l.target).detach();
  return published;
}

Result<std::vector<PublishedPort>> read_published_ports(const std::string& ports_path) {
  std::vector<PublishedPort> out;
  if (!path_exists(ports_path)) return out;
  auto text = read_file(ports_path);
  if (!text) return std::unexpected(text.error());
  auto list = nlohmann::json::parse(*text, nullptr, false);
  if (!list.is_array()) return fail(ErrorCode::internal, fmt::format("{}: not a list of ports", ports_path));
  for (const auto& item : list)
    out.push_back(PublishedPort{item.value("host_ip", ""), item.value("host_port", std::uint16_t{0}),
                                item.value("container_port", std::uint16_t{0}), item.value("protocol", "tcp")});
  return out;
}

std::vector<std::string> unpublish_ports(const std::string& ports_path) {
  std::vector<std::string> released;
  auto ports = read_published_ports(ports_path);
  if (!ports) return released;
  std::vector<linux::nftables::PortForward> forwarded;
  for (const auto& p : *ports) {
    if (p.host_ip == "0.0.0.0") forwarded.push_back({p.protocol, p.host_port, {}, p.container_port});
    released.push_back(fmt::format("port {}:{} -> {}/{}", p.host_ip, p.host_port, p.container_port, p.protocol));
  }
  (void)linux::nftables::unpublish_ports(forwarded);
  return released;
}

}  // namespace berth
