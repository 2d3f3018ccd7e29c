// HTTP/1.1 messages as berth's API needs them: requests parsed with limits, responses written
// with a length or chunked. No third-party HTTP library: Debian's packages have none we want.
#pragma once

#include <sys/socket.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "berth/error.hpp"

namespace berth::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;
  std::string target;  // as sent: path and query
  std::string path;    // percent-decoded, without the query
  std::map<std::string, std::string> query;  // percent-decoded ('+' is a space)
  Headers headers;     // names lower-cased
  std::string body;
  std::optional<ucred> peer;  // SO_PEERCRED, on Unix sockets
  bool tcp = false;           // came over TCP
  int minor_version = 1;      // HTTP/1.x

  std::optional<std::string> header(std::string_view name) const;
  // HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless told to keep.
  bool keep_alive() const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;
};

std::string_view reason_phrase(int status);
std::string percent_decode(std::string_view text, bool plus_is_space);
// "a=1&b=x%20y" -> {a: 1, b: "x y"}
std::map<std::string, std::string> parse_query(std::string_view query);

// Parses a request head (request line and headers, without the final empty line). The error
// names what is wrong (a 400 for the server to send).
Result<Request> parse_request_head(std::string_view head);

std::string lower(std::string_view text);

}  // namespace berth::http
