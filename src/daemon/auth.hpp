// Who may use berthd's API: on the Unix socket, root or berthd's own user (SO_PEERCRED); on
// TCP, a client with one of the bearer tokens of the token file.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "berth/error.hpp"
#include "http/server.hpp"

namespace berth::daemon {

class Access {
 public:
  // Reads tokens (one a line; blank lines and # comments skipped). The file must not be
  // readable by others.
  Result<void> load_tokens(const std::string& path);
  Result<void> reload();
  // permission_denied (403) for a Unix peer that is not allowed; unavailable (401) for a TCP
  // request without a valid token.
  Result<void> check(const http::Request& request) const;
  // check() as the server's gate (http::Gate): the 401 or 403 to answer, nothing when allowed.
  // It sees only the request line and headers: no body is read for a client refused here.
  std::optional<http::Response> refusal(const http::Request& request) const;

 private:
  mutable std::mutex mutex_;
  std::string path_;
  std::vector<std::string> tokens_;
};

}  // namespace berth::daemon
