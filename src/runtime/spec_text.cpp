#include "runtime/spec_text.hpp"

#include <arpa/inet.h>
#include <sys/resource.h>

#include <fmt/format.h>

#include "common/numbers.hpp"
#include "common/units.hpp"
#include "common/text.hpp"

namespace berth {

namespace {

std::unexpected<Error> invalid(std::string message) {
  return fail(ErrorCode::invalid_spec, std::move(message));
}

bool is_bind_source(std::string_view source) {
  return source.starts_with('/') || source == "." || source == ".." || source.starts_with("./") ||
         source.starts_with("../");
}

// 1-65535 in decimal digits; leading zeros are fine, as Docker takes them.
std::optional<std::uint16_t> port_number(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value < 1 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

}  // namespace

Result<Mount> parse_volume(std::string_view text, std::string_view field) {
  auto parts = split(text, ':');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty())
    return invalid(fmt::format("{}: \"{}\" is not SRC:DST[:OPTIONS]", field, text));
  Mount m;
  m.type = is_bind_source(parts[0]) ? "bind" : "volume";
  m.source = parts[0];
  m.target = parts[1];
  if (parts.size() == 3)
    for (auto& option : split(parts[2], ',')) {
      if (option.empty()) return invalid(fmt::format("{}: \"{}\" has an empty option", field, text));
      if (option == "ro") m.read_only = true;
      else if (option != "rw") m.options.push_back(option);
    }
  return m;
}

Result<Mount> parse_tmpfs(std::string_view text, std::string_view field) {
  auto colon = text.find(':');
  Mount m;
  m.type = "tmpfs";
  m.target = std::string(text.substr(0, colon));
  if (m.target.empty()) return invalid(fmt::format("{}: \"{}\" is not DST[:OPTIONS]", field, text));
  if (colon != std::string_view::npos)
    for (auto& option : split(text.substr(colon + 1), ',')) {
      if (option == "ro") m.read_only = true;
      else if (option != "rw" && !option.empty()) m.options.push_back(option);
    }
  return m;
}

Result<Rlimit> parse_ulimit(std::string_view text, std::string_view field) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return invalid(fmt::format("{}: \"{}\" is not TYPE=SOFT[:HARD]", field, text));
  Rlimit l;
  l.type = std::string(text.substr(0, eq));
  auto values = split(text.substr(eq + 1), ':');
  if (values.size() > 2) return invalid(fmt::format("{}: \"{}\" is not TYPE=SOFT[:HARD]", field, text));
  auto value = [&](const std::string& v) -> Result<std::uint64_t> {
    if (v == "-1" || v == "unlimited") return RLIM_INFINITY;
    auto n = parse_integer(v, field, 0);
    if (!n) return std::unexpected(n.error());
    return static_cast<std::uint64_t>(*n);
  };
  auto soft = value(values[0]);
  if (!soft) return std::unexpected(soft.error());
  auto hard = values.size() == 2 ? value(values[1]) : soft;
  if (!hard) return std::unexpected(hard.error());
  l.soft = *soft;
  l.hard = *hard;
  return l;
}

Result<PortMapping> parse_port_mapping(std::string_view text, std::string_view field) {
  auto bad = [&](std::string_view why) {
    return invalid(fmt::format("{}: \"{}\" is not [HOST_IP:]HOST_PORT:CONTAINER_PORT ({})",
                               field, text, why));
  };
  PortMapping p;
  std::string_view rest = text;
  if (auto slash = rest.rfind('/'); slash != std::string_view::npos) {
    p.protocol = std::string(rest.substr(slash + 1));
    if (p.protocol != "tcp" && p.protocol != "udp")
      return bad(fmt::format("\"{}\" is not tcp or udp", p.protocol));
    rest = rest.substr(0, slash);
  }
  // An IPv6 address has colons of its own: Docker takes it only in brackets.
  bool bracketed = rest.starts_with('[');
  if (bracketed) {
    auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
      return bad("an IPv6 host address is [ADDRESS]:HOST_PORT:CONTAINER_PORT");
    p.host_ip = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 2);
  }
  auto parts = split(rest, ':');
  std::string host_port;
  std::string container_port;
  if (bracketed) {
    if (parts.size() != 2) return bad("expected HOST_PORT:CONTAINER_PORT after the address");
    host_port = parts[0];
    container_port = parts[1];
  } else if (parts.size() == 1) {
    container_port = parts[0];
  } else if (parts.size() == 2) {
    if (parts[0].empty()) return bad("the host port is empty");
    host_port = parts[0];
    container_port = parts[1];
  } else if (parts.size() == 3) {
    p.host_ip = parts[0];
    host_port = parts[1];
    container_port = parts[2];
  } else {
    return bad("too many ':' (an IPv6 host address goes in brackets)");
  }
  if (!p.host_ip.empty()) {
    unsigned char address[16];
    int family = bracketed ? AF_INET6 : AF_INET;
    if (inet_pton(family, p.host_ip.c_str(), address) != 1)
      return bad(fmt::format("\"{}\" is not an IP{} address", p.host_ip, bracketed ? "v6" : "v4"));
  } else if (bracketed) {
    return bad("the bracketed host address is empty");
  }
  if (!host_port.empty()) {
    p.host_port = port_number(host_port);
    if (!p.host_port) return bad(fmt::format("host port \"{}\" is not a port in 1-65535", host_port));
  }
  auto port = port_number(container_port);
  if (!port) return bad(fmt::format("container port \"{}\" is not a port in 1-65535", container_port));
  p.container_port = *port;
  return p;
}

Result<RestartPolicy> parse_restart_policy(std::string_view text, std::string_view field) {
  RestartPolicy policy;
  auto colon = text.find(':');
  policy.name = std::string(text.substr(0, colon));
  if (policy.name != "no" && policy.name != "always" && policy.name != "unless-stopped" &&
      policy.name != "on-failure")
    return invalid(fmt::format(
        "{}: \"{}\" is not one of no, always, unless-stopped, on-failure[:N]", field, text));
  if (colon == std::string_view::npos) return policy;
  if (policy.name != "on-failure")
    return invalid(fmt::format("{}: \"{}\": only on-failure takes a retry count", field, text));
  auto count = text.substr(colon + 1);
  auto n = parse_integer(count, fmt::format("{}: retry count of \"{}\"", field, text), 0);
  if (!n) return std::unexpected(n.error());
  if (*n > INT32_MAX) return invalid(fmt::format("{}: \"{}\": the retry count is too large", field, text));
  policy.max_retries = static_cast<int>(*n);
  return policy;
}

Result<void> apply_log_option(LogConfig& log, std::string_view text, std::string_view field) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos)
    return invalid(fmt::format("{}: \"{}\" is not KEY=VALUE (max-size=SIZE or max-file=N)",
                               field, text));
  auto key = text.substr(0, eq);
  auto value = text.substr(eq + 1);
  if (key == "max-size") {
    auto size = parse_size(value, fmt::format("{} max-size", field));
    if (!size) return std::unexpected(size.error());
    if (*size <= 0)
      return invalid(fmt::format("{}: max-size \"{}\" must be more than 0", field, value));
    log.max_size_bytes = *size;
    return {};
  }
  if (key == "max-file") {
    auto n = parse_integer(value, fmt::format("{} max-file", field), 1, 1000);
    if (!n) return std::unexpected(n.error());
    log.max_file = static_cast<int>(*n);
    return {};
  }
  return invalid(fmt::format("{}: unknown option \"{}\" (max-size or max-file)", field, key));
}

}  // namespace berth
