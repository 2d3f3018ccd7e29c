#include "runtime/health_target.hpp"

#include <fmt/format.h>

#include "common/numbers.hpp"

namespace berth {

Result<ProbeTarget> parse_probe_target(std::string_view text) {
  ProbeTarget target;
  std::string_view rest = text;
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  auto slash = rest.find('/');
  if (slash != std::string_view::npos) {
    target.path = std::string(rest.substr(slash));
    rest = rest.substr(0, slash);
  }
  auto colon = rest.rfind(':');
  std::string_view port_text = rest;
  if (colon != std::string_view::npos) {
    auto host = rest.substr(0, colon);
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    if (!host.empty()) target.host = std::string(host == "localhost" ? "127.0.0.1" : host);
    port_text = rest.substr(colon + 1);
  }
  auto port = parse_port_number(port_text);
  if (!port)
    return fail(ErrorCode::invalid_spec,
                fmt::format("health target: \"{}\" names no port (PORT[/PATH], HOST:PORT[/PATH] or http://HOST:PORT/PATH)", text));
  target.port = *port;
  return target;
}

}  // namespace berth
