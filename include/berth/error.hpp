// Errors are values: every fallible call returns Result<T>; no exception crosses the public API.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace berth {

enum class ErrorCode {
  not_found,
  invalid_spec,
  conflict,
  unavailable,
  timeout,
  limit_exceeded,
  permission_denied,
  internal,
};

std::string_view to_string(ErrorCode code);
std::optional<ErrorCode> parse_error_code(std::string_view text);

struct Error {
  ErrorCode code = ErrorCode::internal;
  // Names the field, path or id at fault, e.g. "memory: \"12XB\" is not a size".
  std::string message;

  // Prefixes context, keeping the code: "start web: " + message.
  Error with_context(std::string_view context) const {
    return Error{code, std::string(context) + ": " + message};
  }
  bool operator==(const Error&) const = default;
};

template <typename T>
using Result = std::expected<T, Error>;

// Shorthand for `return fail(ErrorCode::not_found, "workload \"x\"")`.
inline std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}

}  // namespace berth
