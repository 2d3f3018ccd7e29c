// The HTTP request head parser (request line, headers, target and query decoding) on raw bytes:
// what berthd's API reads from a socket before any handler runs. Invariants checked beyond "no
// crash": a parsed request has a method and a target, header names are lower case, and the
// header lookup agrees with the list.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "http/message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The server hands the parser the head without its final empty line.
  std::string_view head = bytes.substr(0, bytes.find("\r\n\r\n"));
  auto request = berth::http::parse_request_head(head);
  if (request) {
    if (request->method.empty() || request->target.empty()) std::abort();
    for (const auto& [name, value] : request->headers) {
      if (name != berth::http::lower(name)) std::abort();
      if (!request->header(name)) std::abort();
    }
    (void)request->keep_alive();
  }
  // The pieces the parser is built on, on the raw bytes too.
  (void)berth::http::percent_decode(bytes, true);
  (void)berth::http::percent_decode(bytes, false);
  (void)berth::http::parse_query(bytes);
  return 0;
}
