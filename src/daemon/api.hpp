// berthd's REST API: JSON over HTTP/1.1, mirroring the Runtime interface and the stack
// commands. The route table is the API's one definition: the server dispatches on it, and a
// test holds docs/openapi.json to it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "berth/runtime.hpp"
#include "http/server.hpp"
#include "supervisor/supervisor.hpp"

namespace berth::daemon {

inline constexpr std::string_view api_prefix = "/v1";

struct Route {
  std::string method;   // GET, POST, DELETE
  std::string pattern;  // "/v1/workloads/{ref}/logs": {x} matches one path segment
  std::string summary;
};

// Every route the API serves.
const std::vector<Route>& api_routes();

// HTTP status for an error code: not_found 404, invalid_spec 400, conflict 409, timeout 504,
// unavailable 503, limit_exceeded 429, permission_denied 403, internal 500.
int http_status(ErrorCode code);

class Api {
 public:
  Api(Runtime& runtime, supervisor::Supervisor& supervisor) : runtime_(runtime), supervisor_(supervisor) {}
  // Answers one request (streams included); never throws.
  void handle(const http::Request& request, http::ResponseWriter& writer);

 private:
  Runtime& runtime_;
  supervisor::Supervisor& supervisor_;
};

}  // namespace berth::daemon
