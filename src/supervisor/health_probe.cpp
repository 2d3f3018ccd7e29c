#include "supervisor/health_probe.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "common/fd.hpp"
#include "linux/connect.hpp"
#include "linux/netlink.hpp"
#include "runtime/health_target.hpp"

namespace berth::supervisor {

namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t max_output = 4096;

std::string truncated(std::string text) {
  if (text.size() > max_output) text.resize(max_output);
  return text;
}

int left_ms(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return static_cast<int>(std::max<std::int64_t>(left.count(), 0));
}

// A TCP connection to target within the deadline, or why not.
Result<UniqueFd> connect_to(const ProbeTarget& target, SteadyClock::time_point deadline) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port = std::to_string(target.port);
  if (int rc = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return fail(ErrorCode::invalid_spec, fmt::format("{}: {}", target.host, ::gai_strerror(rc)));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(found, ::freeaddrinfo);
  UniqueFd socket(::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket) return fail(ErrorCode::internal, fmt::format("socket: {}", std::strerror(errno)));
  if (int error = linux::connect_before(socket.get(), found->ai_addr, found->ai_addrlen, deadline)) {
    if (error == ETIMEDOUT) return fail(ErrorCode::timeout, fmt::format("connect {}:{}: timed out", target.host, target.port));
    return fail(ErrorCode::unavailable, fmt::format("connect {}:{}: {}", target.host, target.port, std::strerror(error)));
  }
  return socket;
}

HealthResult tcp_probe(const ProbeTarget& target, SteadyClock::time_point deadline) {
  auto socket = connect_to(target, deadline);
  if (!socket) return HealthResult{Clock::now(), 1, socket.error().message};
  return HealthResult{Clock::now(), 0, fmt::format("connected to {}:{}", target.host, target.port)};
}

// HTTP/1.0 GET: a 2xx or 3xx status passes, as Kubernetes' httpGet probe.
HealthResult http_probe(const ProbeTarget& target, SteadyClock::time_point deadline) {
  auto socket = connect_to(target, deadline);
  if (!socket) return HealthResult{Clock::now(), 1, socket.error().message};
  std::string request = fmt::format("GET {} HTTP/1.0\r\nHost: {}:{}\r\nUser-Agent: berth-health\r\n"
                                    "Connection: close\r\n\r\n", target.path, target.host, target.port);
  std::size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(socket->get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{socket->get(), POLLOUT, 0};
      if (::poll(&p, 1, left_ms(deadline)) == 0) return HealthResult{Clock::now(), 1, "timed out sending the request"};
    } else if (n < 0 && errno != EINTR) {
      return HealthResult{Clock::now(), 1, fmt::format("send: {}", std::strerror(errno))};
    }
  }
  std::string response;
  while (response.size() < max_output) {
    pollfd p{socket->get(), POLLIN, 0};
    int ready = ::poll(&p, 1, left_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      if (response.find("\r\n") != std::string::npos) break;  // the status line is all we need
      return HealthResult{Clock::now(), 1, "timed out waiting for the response"};
    }
    char buffer[1024];
    ssize_t n = ::read(socket->get(), buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) break;
    response.append(buffer, static_cast<std::size_t>(n));
  }
  // "HTTP/1.1 200 OK"
  auto line_end = response.find("\r\n");
  std::string status_line = response.substr(0, line_end);
  int code = 0;
  if (status_line.rfind("HTTP/", 0) == 0) {
    auto space = status_line.find(' ');
    if (space != std::string::npos) code = std::atoi(status_line.c_str() + space + 1);
  }
  if (code == 0) return HealthResult{Clock::now(), 1, truncated("not an HTTP response: " + status_line)};
  return HealthResult{Clock::now(), code >= 200 && code < 400 ? 0 : 1, truncated(status_line)};
}

// The inode of a network namespace, to tell whether the workload has its own.
std::optional<ino_t> net_namespace_of(const std::string& proc_dir) {
  struct stat st {};
  if (::stat((proc_dir + "/ns/net").c_str(), &st) != 0) return std::nullopt;
  return st.st_ino;
}

// Runs `probe` where the workload's loopback is: in its network namespace when it has its own.
HealthResult in_network_of(int pid, const std::function<HealthResult()>& probe) {
  auto ours = net_namespace_of("/proc/self");
  auto theirs = net_namespace_of(fmt::format("/proc/{}", pid));
  if (!theirs) return HealthResult{Clock::now(), 1, fmt::format("process {} is gone", pid)};
  if (ours == theirs) return probe();
  UniqueFd ns(::open(fmt::format("/proc/{}/ns/net", pid).c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns) return HealthResult{Clock::now(), 1, fmt::format("open network namespace of {}: {}", pid, std::strerror(errno))};
  HealthResult result;
  auto joined = linux::netlink::in_namespace(ns.get(), [&]() -> Result<void> {
    result = probe();
    return {};
  });
  if (!joined) return HealthResult{Clock::now(), 1, fmt::format("network namespace of {}: {}", pid, joined.error().message)};
  return result;
}

}  // namespace

HealthResult run_health_probe(Runtime& runtime, const WorkloadStatus& status, const HealthCheck& check) {
  auto deadline = SteadyClock::now() + check.timeout;
  if (check.type == "exec") {
    ExecOptions options;
    options.timeout = check.timeout;
    auto result = runtime.exec(status.id, check.command, options);
    if (!result) return HealthResult{Clock::now(), 1, truncated(result.error().message)};
    return HealthResult{Clock::now(), result->exit_code == 0 ? 0 : 1,
                        truncated(result->stdout_data + result->stderr_data)};
  }
  auto target = parse_probe_target(check.target);
  if (!target) return HealthResult{Clock::now(), 1, target.error().message};
  if (!status.pid) return HealthResult{Clock::now(), 1, "the workload has no process"};
  if (check.type == "tcp") return in_network_of(*status.pid, [&] { return tcp_probe(*target, deadline); });
  if (check.type == "http") return in_network_of(*status.pid, [&] { return http_probe(*target, deadline); });
  return HealthResult{Clock::now(), 1, fmt::format("health check type \"{}\" is not exec, http or tcp", check.type)};
}

}  // namespace berth::supervisor
