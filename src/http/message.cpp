#include "http/message.hpp"

#include <fmt/format.h>

namespace berth::http {

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<std::string> Request::header(std::string_view name) const {
  auto wanted = lower(name);
  for (const auto& [k, v] : headers)
    if (k == wanted) return v;
  return std::nullopt;
}

bool Request::keep_alive() const {
  auto connection = lower(header("connection").value_or(""));
  if (minor_version == 0) return connection.find("keep-alive") != std::string::npos;
  return connection.find("close") == std::string::npos;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else if (plus_is_space && text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start < query.size()) {
    auto end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    auto pair = query.substr(start, end - start);
    if (!pair.empty()) {
      auto eq = pair.find('=');
      auto key = percent_decode(pair.substr(0, eq), true);
      auto value = eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true);
      out[key] = value;
    }
    start = end + 1;
  }
  return out;
}

Result<Request> parse_request_head(std::string_view head) {
  auto bad = [](std::string message) { return fail(ErrorCode::invalid_spec, std::move(message)); };
  Request r;
  auto line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos)
    return bad(fmt::format("request line \"{}\" is not METHOD TARGET HTTP/1.x", line));
  r.method = std::string(line.substr(0, sp1));
  r.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  auto version = line.substr(sp2 + 1);
  if (version == "HTTP/1.1") r.minor_version = 1;
  else if (version == "HTTP/1.0") r.minor_version = 0;
  else return bad(fmt::format("version \"{}\" is not HTTP/1.0 or HTTP/1.1", version));
  for (char c : r.method)
    if (c < 'A' || c > 'Z') return bad(fmt::format("method \"{}\" is not a token", r.method));
  if (r.method.empty() || r.target.empty() || r.target[0] != '/')
    return bad(fmt::format("target \"{}\" is not an absolute path", r.target));
  auto q = r.target.find('?');
  r.path = percent_decode(std::string_view(r.target).substr(0, q), false);
  if (q != std::string::npos) r.query = parse_query(std::string_view(r.target).substr(q + 1));
  std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    auto end = head.find("\r\n", pos);
    if (end == std::string_view::npos) end = head.size();
    auto field = head.substr(pos, end - pos);
    pos = end + 2;
    if (field.empty()) continue;
    auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0 || field[0] == ' ' || field[0] == '\t')
      return bad(fmt::format("header line \"{}\" is not NAME: VALUE", field));
    auto value = field.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    r.headers.emplace_back(lower(field.substr(0, colon)), std::string(value));
  }
  return r;
}

}  // namespace berth::http
