// What the json_*.cpp files share to write and read the JSON forms declared in json.hpp;
// not for use elsewhere.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "berth/error.hpp"
#include "berth/status.hpp"
#include "common/time.hpp"

namespace berth::json_detail {

using nlohmann::json;

inline json time_or_null(const std::optional<TimePoint>& t) {
  return t ? json(format_rfc3339_nano(*t)) : json(nullptr);
}

template <typename T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

template <typename T>
inline constexpr bool is_vector = false;
template <typename T>
inline constexpr bool is_vector<std::vector<T>> = true;
template <typename T>
inline constexpr bool is_string_map = false;
template <typename T>
inline constexpr bool is_string_map<std::map<std::string, T>> = true;

// `j` as a T, without nlohmann's lenient conversions: true or 1.5 is not an int, -1 is not
// unsigned, 70000 is not a uint16. On a mismatch returns false and sets `where` to the path
// below `j` at fault ("[2]", ".key"), empty when it is `j` itself.
template <typename T>
bool decode(const json& j, T& out, std::string& where) {  // `out` changes only on success
  if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) return false;
    out = j.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    if (j.is_number_unsigned()) {
      auto v = j.get<std::uint64_t>();
      if (!std::in_range<T>(v)) return false;
      out = static_cast<T>(v);
    } else if (j.is_number_integer()) {
      auto v = j.get<std::int64_t>();
      if (!std::in_range<T>(v)) return false;
      out = static_cast<T>(v);
    } else {
      return false;
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!j.is_number()) return false;
    out = j.get<T>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!j.is_string()) return false;
    out = j.get_ref<const std::string&>();
  } else if constexpr (is_vector<T>) {
    if (!j.is_array()) return false;
    T values;
    for (std::size_t i = 0; i < j.size(); ++i) {
      typename T::value_type v{};
      if (!decode(j[i], v, where)) {
        where = fmt::format("[{}]{}", i, where);
        return false;
      }
      values.push_back(std::move(v));
    }
    out = std::move(values);
  } else if constexpr (is_string_map<T>) {
    if (!j.is_object()) return false;
    T values;
    for (auto& [key, value] : j.items()) {
      typename T::mapped_type v{};
      if (!decode(value, v, where)) {
        where = fmt::format(".{}{}", key, where);
        return false;
      }
      values.emplace(key, std::move(v));
    }
    out = std::move(values);
  } else {
    static_assert(std::is_same_v<T, void>, "no JSON decoding for this type");
  }
  return true;
}

// Reads an object field by field, remembering the first problem and rejecting unknown keys,
// so a typo in a stored or posted document is an error instead of a silently ignored setting.
// An absent or null key leaves its field as it was (the type's default). Errors are
// invalid_spec and name the key's path: "resources.memroy_bytes: unknown field".
class Reader {
 public:
  // `path` is where the object is ("ports[2]"); empty for a document's root, which `root`
  // names in errors about the object itself ("spec: must be an object").
  Reader(const json& object, std::string path, std::string_view root = "value")
      : object_(object), path_(std::move(path)) {
    if (!object_.is_object())
      fail_with(path_.empty() ? std::string(root) : path_, "must be an object");
  }

  // `out` is left as it was when the key is absent or null, or on an error.
  template <typename T>
  void get(const char* key, T& out) {
    const json* value = child(key);
    if (!value) return;
    std::string where;
    if (!decode(*value, out, where)) fail_with(field(key) + where, "has the wrong type");
  }

  template <typename T>
  void get_opt(const char* key, std::optional<T>& out) {
    if (!child(key)) return;
    T v{};
    get(key, v);
    if (!error_) out = std::move(v);
  }

  void get_ms(const char* key, std::chrono::milliseconds& out) {
    std::optional<std::int64_t> ms;
    get_opt(key, ms);
    if (ms) out = std::chrono::milliseconds(*ms);
  }
  void get_ms_opt(const char* key, std::optional<std::chrono::milliseconds>& out) {
    std::optional<std::int64_t> ms;
    get_opt(key, ms);
    if (ms) out = std::chrono::milliseconds(*ms);
  }

  // A time as format_rfc3339_nano writes it (parse_rfc3339 takes the other forms too).
  void get_time(const char* key, TimePoint& out) {
    std::optional<TimePoint> t;
    get_time_opt(key, t);
    if (t) out = *t;
  }
  void get_time_opt(const char* key, std::optional<TimePoint>& out) {
    std::optional<std::string> text;
    get_opt(key, text);
    if (!text) return;
    if (auto t = parse_rfc3339(*text))
      out = *t;
    else
      fail_with(field(key), t.error().message);
  }

  // An enum by its name: `parse` is one of the parse_* functions of the public headers, `names`
  // lists the valid names for the error.
  template <typename E, typename Parse>
  void get_enum(const char* key, E& out, Parse parse, std::string_view names) {
    std::optional<std::string> text;
    get_opt(key, text);
    if (!text) return;
    if (auto e = parse(*text))
      out = *e;
    else
      fail_with(field(key), fmt::format("unknown value \"{}\" ({})", *text, names));
  }

  // A nested object: `read(Reader&)` reads its fields. Returns whether it was there.
  template <typename F>
  bool get_object(const char* key, F&& read) {
    const json* value = child(key);
    if (!value) return false;
    Reader nested(*value, field(key));
    read(nested);
    adopt(nested.finish());
    return true;
  }

  // An array of objects: `read(Reader&, T&)` reads one element.
  template <typename T, typename F>
  void get_objects(const char* key, std::vector<T>& out, F&& read) {
    const json* array = child(key);
    if (!array) return;
    if (!array->is_array()) return fail_with(field(key), "must be an array");
    for (std::size_t i = 0; i < array->size(); ++i) {
      Reader element((*array)[i], fmt::format("{}[{}]", field(key), i));
      T value{};
      read(element, value);
      adopt(element.finish());
      out.push_back(std::move(value));
    }
  }

  // The value at `key`, or null when it is absent or null (or an error came first).
  const json* child(const char* key) {
    seen_.insert(key);
    if (error_ || !object_.is_object()) return nullptr;
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  std::string field(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }

  void fail_with(const std::string& field, std::string_view what) {
    if (!error_) error_ = Error{ErrorCode::invalid_spec, fmt::format("{}: {}", field, what)};
  }
  void adopt(const std::optional<Error>& e) {
    if (e && !error_) error_ = e;
  }

  // The first problem, checking for unknown keys last.
  std::optional<Error> finish() {
    if (!error_ && object_.is_object())
      for (auto& [key, value] : object_.items())
        if (!seen_.contains(key)) fail_with(field(key), "unknown field");
    return error_;
  }

  // `value`, or the first problem.
  template <typename T>
  Result<T> result(T value) {
    if (auto e = finish()) return std::unexpected(*e);
    return value;
  }

 private:
  const json& object_;
  std::string path_;
  std::set<std::string, std::less<>> seen_;
  std::optional<Error> error_;
};

// Runs a from_json body, turning an exception nlohmann throws (it should not: Reader checks
// types first) into an error instead of letting it cross the API.
template <typename F>
auto guarded(std::string_view what, F&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const nlohmann::json::exception& e) {
    return fail(ErrorCode::invalid_spec, fmt::format("{}: {}", what, e.what()));
  }
}

// The fields of a spec, for spec_from_json and for the "spec" of a WorkloadInfo.
void read_spec(Reader& r, WorkloadSpec& s);

}  // namespace berth::json_detail
