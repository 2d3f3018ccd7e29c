#include "daemon/auth.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fs.hpp"

namespace berth::daemon {

namespace {

// Compares without an early exit, so timing tells nothing about how much of a token matched.
bool same(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

Result<void> Access::load_tokens(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return fail(ErrorCode::not_found, fmt::format("token file {}: cannot be read", path));
  if (st.st_mode & 0077)
    return fail(ErrorCode::permission_denied,
                fmt::format("token file {}: readable by others (mode {:o}); chmod 600 it", path, st.st_mode & 0777));
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error().with_context("token file"));
  std::vector<std::string> tokens;
  std::size_t start = 0;
  while (start < text->size()) {
    auto end = text->find('\n', start);
    if (end == std::string::npos) end = text->size();
    std::string line = text->substr(start, end - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && line[0] != '#') tokens.push_back(line);
    start = end + 1;
  }
  if (tokens.empty()) return fail(ErrorCode::invalid_spec, fmt::format("token file {}: no token in it", path));
  std::lock_guard lock(mutex_);
  path_ = path;
  tokens_ = std::move(tokens);
  return {};
}

Result<void> Access::reload() {
  std::string path;
  {
    std::lock_guard lock(mutex_);
    path = path_;
  }
  if (path.empty()) return {};
  return load_tokens(path);
}

Result<void> Access::check(const http::Request& request) const {
  if (!request.tcp) {
    if (!request.peer) return fail(ErrorCode::permission_denied, "peer credentials unknown");
    uid_t uid = request.peer->uid;
    if (uid != 0 && uid != ::geteuid())
      return fail(ErrorCode::permission_denied, fmt::format("uid {} may not use berthd (root only)", uid));
    return {};
  }
  auto header = request.header("authorization").value_or("");
  constexpr std::string_view scheme = "Bearer ";
  if (header.starts_with(scheme)) {
    std::string_view token = std::string_view(header).substr(scheme.size());
    std::lock_guard lock(mutex_);
    for (const auto& t : tokens_)
      if (same(t, token)) return {};
  }
  return fail(ErrorCode::unavailable, "a valid bearer token is needed");
}

std::optional<http::Response> Access::refusal(const http::Request& request) const {
  auto allowed = check(request);
  if (allowed) return std::nullopt;
  http::Response response;
  response.status = allowed.error().code == ErrorCode::permission_denied ? 403 : 401;
  response.headers = {{"Content-Type", "application/json"}};
  if (response.status == 401) response.headers.emplace_back("WWW-Authenticate", "Bearer");
  response.body = nlohmann::json{{"code", "permission_denied"}, {"message", allowed.error().message}}.dump() + "\n";
  return response;
}

}  // namespace berth::daemon
