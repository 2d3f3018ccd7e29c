// JSON forms of the types of berth/streams.hpp: log chunks and events as `logs` and `events`
// print them and the REST API streams them, and the options of a logs request.
#include "runtime/json.hpp"

#include "runtime/json_reader.hpp"

namespace berth {

using namespace json_detail;

json to_json(const Event& e) {
  return {{"seq", e.seq},
          {"time", format_rfc3339_nano(e.time)},
          {"id", e.workload_id},
          {"name", e.workload_name},
          {"type", e.type},
          {"attributes", e.attributes}};
}

Result<Event> event_from_json(const json& j) {
  return guarded("event", [&]() -> Result<Event> {
    Event e;
    Reader r(j, "", "event");
    r.get("seq", e.seq);
    r.get_time("time", e.time);
    r.get("id", e.workload_id);
    r.get("name", e.workload_name);
    r.get("type", e.type);
    r.get("attributes", e.attributes);
    return r.result(std::move(e));
  });
}

json to_json(const LogChunk& c) {
  // Bytes that are not UTF-8 can't be a JSON string as they are: dump with
  // json::error_handler_t::replace (see dump_json) to print them.
  return {{"stream", to_string(c.stream)},
          {"time", format_rfc3339_nano(c.time)},
          {"log", c.bytes},
          {"partial", c.partial}};
}

Result<LogChunk> log_chunk_from_json(const json& j) {
  return guarded("log chunk", [&]() -> Result<LogChunk> {
    LogChunk c;
    Reader r(j, "", "log chunk");
    r.get_enum("stream", c.stream, parse_log_stream, "stdout or stderr");
    r.get_time("time", c.time);
    r.get("log", c.bytes);
    r.get("partial", c.partial);
    return r.result(std::move(c));
  });
}

json to_json(const LogOptions& o) {
  return {{"follow", o.follow},
          {"tail", opt(o.tail)},
          {"since", time_or_null(o.since)},
          {"until", time_or_null(o.until)},
          {"include_stdout", o.include_stdout},
          {"include_stderr", o.include_stderr}};
}

Result<LogOptions> log_options_from_json(const json& j) {
  return guarded("log options", [&]() -> Result<LogOptions> {
    LogOptions o;
    Reader r(j, "", "log options");
    r.get("follow", o.follow);
    r.get_opt("tail", o.tail);
    r.get_time_opt("since", o.since);
    r.get_time_opt("until", o.until);
    r.get("include_stdout", o.include_stdout);
    r.get("include_stderr", o.include_stderr);
    return r.result(std::move(o));
  });
}

}  // namespace berth
