#include "runtime/shim_protocol.hpp"

#include <fmt/format.h>

#include <charconv>

namespace berth::shim_protocol {

std::string encode_started(pid_t pid) { return fmt::format("ok {}\n", pid); }

std::string encode_failed(const Error& error) {
  std::string message = error.message;
  for (char& c : message)
    if (c == '\n') c = ' ';
  return fmt::format("error {} {}\n", to_string(error.code), message);
}

Result<pid_t> decode(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) return fail(ErrorCode::internal, "shim exited before reporting a start");
  if (line.starts_with("ok ")) {
    pid_t pid = 0;
    auto rest = line.substr(3);
    auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), pid);
    if (ec == std::errc() && p == rest.data() + rest.size() && pid > 0) return pid;
  } else if (line.starts_with("error ")) {
    auto rest = line.substr(6);
    auto space = rest.find(' ');
    auto code_text = rest.substr(0, space);
    std::string message(space == std::string_view::npos ? "" : rest.substr(space + 1));
    for (auto code : {ErrorCode::not_found, ErrorCode::invalid_spec, ErrorCode::conflict,
                      ErrorCode::unavailable, ErrorCode::timeout, ErrorCode::limit_exceeded,
                      ErrorCode::permission_denied, ErrorCode::internal})
      if (to_string(code) == code_text) return fail(code, std::move(message));
  }
  return fail(ErrorCode::internal, fmt::format("shim sent a garbled report: \"{}\"", line));
}

}  // namespace berth::shim_protocol
