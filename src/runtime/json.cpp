// The JSON form of an error, and dumping. The other types are in json_spec.cpp,
// json_status.cpp and json_streams.cpp, one file per public header.
#include "runtime/json.hpp"

#include "runtime/json_reader.hpp"

namespace berth {

using namespace json_detail;

json to_json(const Error& e) {
  return {{"code", to_string(e.code)}, {"message", e.message}};
}

Result<Error> error_from_json(const json& j) {
  return guarded("error", [&]() -> Result<Error> {
    Error e;
    Reader r(j, "", "error");
    r.get_enum("code", e.code, parse_error_code,
               "not_found, invalid_spec, conflict, unavailable, timeout, limit_exceeded, "
               "permission_denied or internal");
    r.get("message", e.message);
    return r.result(std::move(e));
  });
}

std::string dump_json(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace berth
