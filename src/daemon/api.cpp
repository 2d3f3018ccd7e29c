#include "daemon/api.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/numbers.hpp"
#include "common/time.hpp"
#include "image/image_config.hpp"
#include "runtime/json.hpp"
#include "supervisor/stack_runner.hpp"

namespace berth::daemon {

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using Params = std::map<std::string, std::string>;

struct Call {
  const http::Request& request;
  http::ResponseWriter& writer;
  Params params;  // {ref}, {name}, ... from the path
  Runtime& runtime;
  supervisor::Supervisor& supervisor;
};

using Handler = Result<void> (*)(Call&);

// -- helpers -------------------------------------------------------------------------------

Result<void> send_json(Call& c, int status, const json& body) {
  http::Response response;
  response.status = status;
  response.headers = {{"Content-Type", "application/json"}};
  response.body = dump_json(body) + "\n";
  return c.writer.send(response);
}

Result<void> send_ok(Call& c, const json& body) { return send_json(c, 200, body); }

std::optional<std::string> query(const Call& c, const std::string& key) {
  auto it = c.request.query.find(key);
  if (it == c.request.query.end()) return std::nullopt;
  return it->second;
}

Result<bool> query_bool(const Call& c, const std::string& key, bool fallback) {
  auto v = query(c, key);
  if (!v) return fallback;
  if (*v == "true" || *v == "1" || v->empty()) return true;
  if (*v == "false" || *v == "0") return false;
  return fail(ErrorCode::invalid_spec, fmt::format("query {}: \"{}\" is not true or false", key, *v));
}

Result<std::optional<std::int64_t>> query_int(const Call& c, const std::string& key, std::int64_t min,
                                              std::int64_t max) {
  auto v = query(c, key);
  if (!v) return std::optional<std::int64_t>();
  auto n = parse_integer(*v, "query " + key, min, max);
  if (!n) return std::unexpected(n.error());
  return std::optional<std::int64_t>(*n);
}

Result<std::optional<std::chrono::milliseconds>> query_grace(const Call& c) {
  auto ms = query_int(c, "grace_ms", 0, 365LL * 24 * 3600 * 1000);
  if (!ms) return std::unexpected(ms.error());
  if (!*ms) return std::optional<std::chrono::milliseconds>();
  return std::optional<std::chrono::milliseconds>(std::chrono::milliseconds(**ms));
}

Result<json> body_json(const Call& c) {
  auto body = json::parse(c.request.body, nullptr, false);
  if (body.is_discarded()) return fail(ErrorCode::invalid_spec, "request body: not valid JSON");
  return body;
}

// Streams JSON lines until the reader ends, the client goes or the server stops.
template <typename Reader, typename Encode>
Result<void> stream_lines(Call& c, Reader& reader, Encode encode, bool end_when_idle) {
  if (auto r = c.writer.begin_stream(200, "application/x-ndjson"); !r) return r;
  auto stop = c.writer.stop_token();
  for (;;) {
    auto next = reader.next(end_when_idle ? 100ms : 500ms, stop);
    if (!next) {
      if (next.error().code == ErrorCode::timeout && !end_when_idle) {
        if (c.writer.peer_closed()) return {};
        continue;
      }
      break;
    }
    if (!*next) break;
    if (auto w = c.writer.write(encode(**next)); !w) return {};  // the client went away
  }
  return c.writer.end();
}

// -- workloads -----------------------------------------------------------------------------

Result<void> list_workloads(Call& c) {
  auto all = query_bool(c, "all", true);
  if (!all) return std::unexpected(all.error());
  auto list = c.runtime.list({.all = *all});
  if (!list) return std::unexpected(list.error());
  json out = json::array();
  for (const auto& info : *list) out.push_back(to_json(info));
  return send_ok(c, out);
}

Result<void> create_workload(Call& c) {
  auto body = body_json(c);
  if (!body) return std::unexpected(body.error());
  auto spec = spec_from_json(*body);
  if (!spec) return std::unexpected(spec.error());
  auto start = query_bool(c, "start", false);
  if (!start) return std::unexpected(start.error());
  auto handle = c.runtime.create(*spec);
  if (!handle) return std::unexpected(handle.error());
  if (*start) {
    if (auto r = c.runtime.start(handle->id); !r) {
      (void)c.runtime.remove(handle->id, true);  // nothing half-made left behind
      return r;
    }
  }
  return send_json(c, 201, {{"id", handle->id}, {"name", handle->name}});
}

Result<void> inspect_workload(Call& c) {
  auto info = c.runtime.inspect(c.params["ref"]);
  if (!info) return std::unexpected(info.error());
  return send_ok(c, to_json(*info));
}

Result<void> workload_status(Call& c) {
  auto status = c.runtime.status(c.params["ref"]);
  if (!status) return std::unexpected(status.error());
  return send_ok(c, to_json(*status));
}

Result<void> start_workload(Call& c) {
  if (auto r = c.runtime.start(c.params["ref"]); !r) return r;
  return send_ok(c, {{"started", true}});
}

Result<void> stop_workload(Call& c) {
  auto grace = query_grace(c);
  if (!grace) return std::unexpected(grace.error());
  auto exit = c.runtime.stop(c.params["ref"], *grace);
  if (!exit) return std::unexpected(exit.error());
  return send_ok(c, to_json(*exit));
}

Result<void> restart_workload(Call& c) {
  auto grace = query_grace(c);
  if (!grace) return std::unexpected(grace.error());
  if (auto r = c.runtime.restart(c.params["ref"], *grace); !r) return r;
  return send_ok(c, {{"restarted", true}});
}

Result<void> kill_workload(Call& c) {
  auto signal = query_int(c, "signal", 1, 64);
  if (!signal) return std::unexpected(signal.error());
  if (auto r = c.runtime.kill(c.params["ref"], static_cast<int>(signal->value_or(9))); !r) return r;
  return send_ok(c, {{"signalled", true}});
}

Result<void> remove_workload(Call& c) {
  auto force = query_bool(c, "force", false);
  if (!force) return std::unexpected(force.error());
  auto report = c.runtime.remove(c.params["ref"], *force);
  if (!report) return std::unexpected(report.error());
  return send_ok(c, to_json(*report));
}

Result<void> wait_workload(Call& c) {
  auto timeout = query_int(c, "timeout_ms", 0, 365LL * 24 * 3600 * 1000);
  if (!timeout) return std::unexpected(timeout.error());
  auto exit = c.runtime.wait(c.params["ref"], std::chrono::milliseconds(timeout->value_or(30000)),
                             c.writer.stop_token());
  if (!exit) return std::unexpected(exit.error());
  return send_ok(c, to_json(*exit));
}

Result<void> workload_logs(Call& c) {
  LogOptions options;
  auto follow = query_bool(c, "follow", false);
  auto out = query_bool(c, "stdout", true);
  auto err = query_bool(c, "stderr", true);
  auto tail = query_int(c, "tail", 0, INT64_MAX);
  for (auto* r : {&follow, &out, &err})
    if (!*r) return std::unexpected(r->error());
  if (!tail) return std::unexpected(tail.error());
  options.follow = *follow;
  options.include_stdout = *out;
  options.include_stderr = *err;
  if (*tail) options.tail = static_cast<std::size_t>(**tail);
  for (auto [key, field] : {std::pair{"since", &options.since}, std::pair{"until", &options.until}}) {
    if (auto v = query(c, key)) {
      auto t = parse_rfc3339(*v);
      if (!t) return std::unexpected(t.error().with_context(std::string("query ") + key));
      *field = *t;
    }
  }
  auto reader = c.runtime.logs(c.params["ref"], options);
  if (!reader) return std::unexpected(reader.error());
  return stream_lines(c, **reader, [](const LogChunk& chunk) { return dump_json(to_json(chunk)) + "\n"; },
                      false);
}

Result<void> exec_in_workload(Call& c) {
  auto body = body_json(c);
  if (!body) return std::unexpected(body.error());
  if (!body->is_object() || !body->contains("argv") || !(*body)["argv"].is_array())
    return fail(ErrorCode::invalid_spec, "request body: {\"argv\": [...], \"options\": {...}} expected");
  std::vector<std::string> argv;
  for (const auto& a : (*body)["argv"]) {
    if (!a.is_string()) return fail(ErrorCode::invalid_spec, "argv: every item must be a string");
    argv.push_back(a.get<std::string>());
  }
  ExecOptions options;
  if (body->contains("options")) {
    auto parsed = exec_options_from_json((*body)["options"]);
    if (!parsed) return std::unexpected(parsed.error());
    options = *parsed;
  }
  auto result = c.runtime.exec(c.params["ref"], argv, options);
  if (!result) return std::unexpected(result.error());
  return send_ok(c, to_json(*result));
}

Result<void> workload_stats(Call& c) {
  auto stats = c.runtime.stats(c.params["ref"]);
  if (!stats) return std::unexpected(stats.error());
  return send_ok(c, to_json(*stats));
}

Result<void> workload_port(Call& c) {
  auto port = parse_integer(c.params["port"], "port", 1, 65535);
  if (!port) return std::unexpected(port.error());
  auto host_port = c.runtime.resolve_host_port(c.params["ref"], static_cast<std::uint16_t>(*port));
  if (!host_port) return std::unexpected(host_port.error());
  return send_ok(c, {{"container_port", *port}, {"host_port", *host_port}});
}

Result<void> workload_address(Call& c) {
  auto port = query_int(c, "port", 0, 65535);
  if (!port) return std::unexpected(port.error());
  auto address = c.runtime.resolve_address(c.params["ref"], static_cast<std::uint16_t>(port->value_or(0)),
                                           query(c, "network").value_or(""));
  if (!address) return std::unexpected(address.error());
  return send_ok(c, {{"address", *address}});
}

// -- events --------------------------------------------------------------------------------

// CloudEvents 1.0, JSON format.
json cloud_event(const Event& e) {
  static const std::string host = [] {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    return std::string(name);
  }();
  json data = e.attributes;
  data["workload_id"] = e.workload_id;
  data["workload_name"] = e.workload_name;
  bool stack = e.workload_id.empty();
  return {{"specversion", "1.0"},
          {"id", std::to_string(e.seq)},
          {"source", fmt::format("berth://{}/{}", host, stack ? "stacks" : "workloads")},
          {"type", fmt::format("dev.berth.{}.{}", stack ? "stack" : "workload", e.type)},
          {"subject", stack ? e.workload_name : e.workload_id},
          {"time", format_rfc3339_nano(e.time)},
          {"datacontenttype", "application/json"},
          {"data", data}};
}

Result<void> events(Call& c) {
  auto since = query_int(c, "since", 0, INT64_MAX);
  if (!since) return std::unexpected(since.error());
  std::uint64_t from = static_cast<std::uint64_t>(since->value_or(0));
  // Server-sent events resume from the Last-Event-ID the browser or client sends.
  bool sse = c.request.header("accept").value_or("").find("text/event-stream") != std::string::npos;
  if (auto last = c.request.header("last-event-id")) {
    auto n = parse_integer(*last, "Last-Event-ID", 0);
    if (!n) return std::unexpected(n.error());
    from = static_cast<std::uint64_t>(*n);
  }
  auto follow = query_bool(c, "follow", true);
  if (!follow) return std::unexpected(follow.error());
  auto format = query(c, "format").value_or("json");
  if (format != "json" && format != "cloudevents")
    return fail(ErrorCode::invalid_spec, fmt::format("query format: \"{}\" is not json or cloudevents", format));
  bool cloud = format == "cloudevents";
  std::uint64_t until = UINT64_MAX;
  if (!*follow) {
    auto last = c.runtime.last_event_seq();
    if (!last) return std::unexpected(last.error());
    until = *last;
  }
  auto reader = c.runtime.watch(from);
  if (!reader) return std::unexpected(reader.error());
  if (auto r = c.writer.begin_stream(200, sse ? "text/event-stream" : cloud ? "application/cloudevents-json-seq" : "application/x-ndjson"); !r)
    return r;
  auto stop = c.writer.stop_token();
  for (;;) {
    auto next = (*reader)->next(500ms, stop);
    if (!next) {
      if (next.error().code != ErrorCode::timeout) break;
      if (!*follow || c.writer.peer_closed()) break;
      continue;
    }
    if (!*next) break;
    const Event& e = **next;
    if (e.seq > until) break;
    json body = cloud ? cloud_event(e) : to_json(e);
    std::string line = sse ? fmt::format("id: {}\nevent: {}\ndata: {}\n\n", e.seq, e.type, dump_json(body))
                           : dump_json(body) + "\n";
    if (!c.writer.write(line)) return {};
    if (e.seq == until) break;
  }
  return c.writer.end();
}

// -- stacks --------------------------------------------------------------------------------

// {"file": "/abs/berth.toml"} or {"toml": "...", "path": "/abs/dir/berth.toml"}, with an
// optional "env" the file's ${env.X} read (the caller's environment, not the daemon's).
Result<stack::StackFile> stack_from_body(const json& body) {
  if (!body.is_object()) return fail(ErrorCode::invalid_spec, "request body: a JSON object expected");
  std::map<std::string, std::string> env;
  if (body.contains("env")) {
    if (!body["env"].is_object()) return fail(ErrorCode::invalid_spec, "env: an object of strings expected");
    for (auto& [k, v] : body["env"].items()) {
      if (!v.is_string()) return fail(ErrorCode::invalid_spec, fmt::format("env.{}: not a string", k));
      env[k] = v.get<std::string>();
    }
  }
  if (body.contains("toml")) {
    if (!body["toml"].is_string() || !body.contains("path") || !body["path"].is_string())
      return fail(ErrorCode::invalid_spec, "toml and path: strings expected");
    return stack::parse_stack(body["toml"].get<std::string>(), body["path"].get<std::string>(), env);
  }
  if (body.contains("file") && body["file"].is_string())
    return stack::load_stack_file(body["file"].get<std::string>(), env);
  return fail(ErrorCode::invalid_spec, "request body: \"file\" or \"toml\" and \"path\" expected");
}

Result<void> stack_up(Call& c) {
  auto body = body_json(c);
  if (!body) return std::unexpected(body.error());
  auto file = stack_from_body(*body);
  if (!file) return std::unexpected(file.error());
  auto report = stack::stack_up(c.supervisor, *file, c.writer.stop_token());
  if (!report) return std::unexpected(report.error());
  return send_ok(c, {{"stack", report->stack},
                     {"created", report->created},
                     {"started", report->started},
                     {"unchanged", report->unchanged},
                     {"took_ms", report->took.count()}});
}

Result<void> stack_validate(Call& c) {
  auto body = body_json(c);
  if (!body) return std::unexpected(body.error());
  if (!body->is_object() || !body->contains("toml") || !(*body)["toml"].is_string())
    return fail(ErrorCode::invalid_spec, "request body: {\"toml\": \"...\", \"path\": \"...\"} expected");
  std::map<std::string, std::string> env;
  if (body->contains("env") && (*body)["env"].is_object())
    for (auto& [k, v] : (*body)["env"].items())
      if (v.is_string()) env[k] = v.get<std::string>();
  auto problems = stack::validate_stack((*body)["toml"].get<std::string>(), body->value("path", "berth.toml"), env);
  json list = json::array();
  for (const auto& p : problems)
    list.push_back({{"file", p.file}, {"line", p.line}, {"column", p.column}, {"message", p.message}});
  return send_ok(c, {{"valid", problems.empty()}, {"problems", list}});
}

Result<void> list_stacks(Call& c) {
  auto names = stack::stack_names(c.runtime);
  if (!names) return std::unexpected(names.error());
  json out = json::array();
  for (const auto& name : *names) {
    auto members = stack::stack_workloads(c.runtime, name);
    if (!members) return std::unexpected(members.error());
    json workloads = json::array();
    for (const auto& m : *members) workloads.push_back(m.status.name);
    out.push_back({{"name", name}, {"workloads", workloads}});
  }
  return send_ok(c, out);
}

Result<void> inspect_stack(Call& c) {
  auto members = stack::stack_workloads(c.runtime, c.params["name"]);
  if (!members) return std::unexpected(members.error());
  if (members->empty()) return fail(ErrorCode::not_found, fmt::format("no stack named \"{}\"", c.params["name"]));
  json workloads = json::array();
  for (const auto& m : *members) workloads.push_back(to_json(m));
  return send_ok(c, {{"name", c.params["name"]}, {"workloads", workloads}});
}

Result<void> stack_down(Call& c) {
  auto grace = query_grace(c);
  if (!grace) return std::unexpected(grace.error());
  auto report = stack::stack_down(c.runtime, c.params["name"], *grace);
  if (!report) return std::unexpected(report.error());
  json removed = json::array();
  for (const auto& r : report->removed) removed.push_back(to_json(r));
  return send_ok(c, {{"stack", report->stack}, {"removed", removed}});
}

// -- networks ------------------------------------------------------------------------------

Result<void> create_network(Call& c) {
  auto body = body_json(c);
  if (!body) return std::unexpected(body.error());
  auto spec = network_spec_from_json(*body);
  if (!spec) return std::unexpected(spec.error());
  auto info = c.runtime.create_network(*spec);
  if (!info) return std::unexpected(info.error());
  return send_json(c, 201, to_json(*info));
}

Result<void> list_networks(Call& c) {
  auto all = c.runtime.list_networks();
  if (!all) return std::unexpected(all.error());
  json out = json::array();
  for (const auto& n : *all) out.push_back(to_json(n));
  return send_ok(c, out);
}

Result<void> inspect_network(Call& c) {
  auto info = c.runtime.inspect_network(c.params["name"]);
  if (!info) return std::unexpected(info.error());
  return send_ok(c, to_json(*info));
}

Result<void> remove_network(Call& c) {
  auto released = c.runtime.remove_network(c.params["name"]);
  if (!released) return std::unexpected(released.error());
  return send_ok(c, {{"released", *released}});
}

Result<void> prune_networks(Call& c) {
  auto removed = c.runtime.prune_networks();
  if (!removed) return std::unexpected(removed.error());
  return send_ok(c, {{"removed", *removed}});
}

// -- volumes -------------------------------------------------------------------------------

Result<void> list_volumes(Call& c) {
  auto all = c.runtime.list_volumes();
  if (!all) return std::unexpected(all.error());
  json out = json::array();
  for (const auto& v : *all) out.push_back(to_json(v));
  return send_ok(c, out);
}

Result<void> inspect_volume(Call& c) {
  auto info = c.runtime.inspect_volume(c.params["name"]);
  if (!info) return std::unexpected(info.error());
  return send_ok(c, to_json(*info));
}

Result<void> remove_volume(Call& c) {
  if (auto r = c.runtime.remove_volume(c.params["name"]); !r) return std::unexpected(r.error());
  return send_ok(c, {{"removed", c.params["name"]}});
}

Result<void> prune_volumes(Call& c) {
  auto removed = c.runtime.prune_volumes();
  if (!removed) return std::unexpected(removed.error());
  return send_ok(c, {{"removed", *removed}});
}

// -- stack records ---------------------------------------------------------------------------

Result<void> list_stack_records(Call& c) {
  auto all = c.runtime.stack_records();
  if (!all) return std::unexpected(all.error());
  json out = json::array();
  for (const auto& r : *all) out.push_back(to_json(r));
  return send_ok(c, out);
}

Result<void> put_stack_record(Call& c) {
  auto body = body_json(c);
  if (!body) return std::unexpected(body.error());
  auto record = stack_record_from_json(*body);
  if (!record) return std::unexpected(record.error());
  if (record->name != c.params["name"])
    return fail(ErrorCode::invalid_spec, fmt::format("stack record: name \"{}\" is not the path's \"{}\"",
                                                     record->name, c.params["name"]));
  if (auto r = c.runtime.record_stack(*record); !r) return std::unexpected(r.error());
  return send_ok(c, to_json(*record));
}

Result<void> delete_stack_record(Call& c) {
  if (auto r = c.runtime.forget_stack(c.params["name"]); !r) return std::unexpected(r.error());
  return send_ok(c, {{"removed", c.params["name"]}});
}

// -- images and the daemon -----------------------------------------------------------------

Result<void> list_images(Call& c) {
  auto images = c.runtime.list_images();
  if (!images) return std::unexpected(images.error());
  json out = json::array();
  for (const auto& i : *images) out.push_back(image::image_info_to_json(i));
  return send_ok(c, out);
}

Result<void> inspect_image(Call& c) {
  auto image = c.runtime.inspect_image(c.params["ref"]);
  if (!image) return std::unexpected(image.error());
  return send_ok(c, image::image_info_to_json(*image));
}

Result<void> import_image(Call& c) {
  auto body = body_json(c);
  if (!body) return std::unexpected(body.error());
  if (!body->is_object() || !body->contains("path") || !(*body)["path"].is_string())
    return fail(ErrorCode::invalid_spec, "request body: {\"path\": \"...\", \"reference\": \"name[:tag]\"} expected");
  ImageImportOptions options;
  options.reference = body->value("reference", "");
  for (auto [key, out] : {std::pair{"max_layer_size", &options.max_layer_size},
                          std::pair{"max_entry_size", &options.max_entry_size}}) {
    auto it = body->find(key);
    if (it == body->end() || it->is_null()) continue;
    if (!it->is_number_integer() || it->get<std::int64_t>() <= 0)
      return fail(ErrorCode::invalid_spec, fmt::format("request body: \"{}\" is not a positive number of bytes", key));
    *out = it->get<std::int64_t>();
  }
  auto image = c.runtime.import_image((*body)["path"].get<std::string>(), options);
  if (!image) return std::unexpected(image.error());
  return send_json(c, 201, image::image_info_to_json(*image));
}

Result<void> remove_image(Call& c) {
  auto force = query_bool(c, "force", false);
  if (!force) return std::unexpected(force.error());
  auto removed = c.runtime.remove_image(c.params["ref"], *force);
  if (!removed) return std::unexpected(removed.error());
  return send_ok(c, {{"removed", *removed}});
}

Result<void> version(Call& c) {
  auto seq = c.runtime.last_event_seq();
  return send_ok(c, {{"version", std::string(berth::version())},
                     {"api", "v1"},
                     {"last_event_seq", seq.value_or(0)},
                     {"supervised", c.supervisor.watched()}});
}

struct Entry {
  Route route;
  Handler handler;
};

const std::vector<Entry>& entries() {
  static const std::vector<Entry> table = {
      {{"GET", "/v1/version", "berthd's version and state"}, version},
      {{"GET", "/v1/workloads", "list workloads (all=false: only running ones)"}, list_workloads},
      {{"POST", "/v1/workloads", "create a workload from a spec (start=true: and start it)"}, create_workload},
      {{"GET", "/v1/workloads/{ref}", "a workload's spec and status"}, inspect_workload},
      {{"DELETE", "/v1/workloads/{ref}", "remove a workload (force=true: even running)"}, remove_workload},
      {{"GET", "/v1/workloads/{ref}/status", "a workload's status"}, workload_status},
      {{"POST", "/v1/workloads/{ref}/start", "start a workload"}, start_workload},
      {{"POST", "/v1/workloads/{ref}/stop", "stop a workload (grace_ms)"}, stop_workload},
      {{"POST", "/v1/workloads/{ref}/restart", "stop, then start a workload (grace_ms)"}, restart_workload},
      {{"POST", "/v1/workloads/{ref}/kill", "send a signal (signal: number, default 9)"}, kill_workload},
      {{"POST", "/v1/workloads/{ref}/wait", "wait for the workload to exit (timeout_ms)"}, wait_workload},
      {{"GET", "/v1/workloads/{ref}/logs", "output as JSON lines (follow, tail, since, until, stdout, stderr)"}, workload_logs},
      {{"POST", "/v1/workloads/{ref}/exec", "run a command inside the workload"}, exec_in_workload},
      {{"GET", "/v1/workloads/{ref}/stats", "resource usage"}, workload_stats},
      {{"GET", "/v1/workloads/{ref}/ports/{port}", "the host port a container port is published on"}, workload_port},
      {{"GET", "/v1/workloads/{ref}/address", "the workload's address (port, network)"}, workload_address},
      {{"GET", "/v1/events", "events as JSON lines or server-sent events (since, follow, format)"}, events},
      {{"GET", "/v1/stacks", "stacks and their workloads"}, list_stacks},
      {{"POST", "/v1/stacks", "bring a stack up (file, or toml and path; env)"}, stack_up},
      {{"POST", "/v1/stacks/validate", "every problem of a stack file"}, stack_validate},
      {{"GET", "/v1/stacks/{name}", "a stack's workloads in start order"}, inspect_stack},
      {{"DELETE", "/v1/stacks/{name}", "take a stack down (grace_ms)"}, stack_down},
      {{"GET", "/v1/networks", "bridge networks and what is attached"}, list_networks},
      {{"POST", "/v1/networks", "create a bridge network (name, subnet, gateway, labels)"}, create_network},
      {{"POST", "/v1/networks/prune", "remove every network nothing is attached to"}, prune_networks},
      {{"GET", "/v1/networks/{name}", "a network"}, inspect_network},
      {{"DELETE", "/v1/networks/{name}", "remove a network (refused while in use)"}, remove_network},
      {{"GET", "/v1/stack-records", "what each stack's latest up set out to run, and whether it finished"}, list_stack_records},
      {{"PUT", "/v1/stack-records/{name}", "record a stack's up (name, workloads, complete)"}, put_stack_record},
      {{"DELETE", "/v1/stack-records/{name}", "forget a stack's record"}, delete_stack_record},
      {{"GET", "/v1/volumes", "named volumes and the workloads that mount them"}, list_volumes},
      {{"POST", "/v1/volumes/prune", "remove every volume no workload mounts"}, prune_volumes},
      {{"GET", "/v1/volumes/{name}", "a volume"}, inspect_volume},
      {{"DELETE", "/v1/volumes/{name}", "remove a volume (refused while a workload mounts it)"}, remove_volume},
      {{"GET", "/v1/images", "local images"}, list_images},
      {{"POST", "/v1/images", "import an image from a path on the daemon's host"}, import_image},
      {{"GET", "/v1/images/{ref}", "an image"}, inspect_image},
      {{"DELETE", "/v1/images/{ref}", "remove an image (force=true: even in use)"}, remove_image},
  };
  return table;
}

std::vector<std::string> segments(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) out.emplace_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// The route's parameters when `path` matches `pattern`.
std::optional<Params> match(const std::string& pattern, const std::vector<std::string>& path) {
  auto parts = segments(pattern);
  if (parts.size() != path.size()) return std::nullopt;
  Params params;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].front() == '{') params[parts[i].substr(1, parts[i].size() - 2)] = path[i];
    else if (parts[i] != path[i]) return std::nullopt;
  }
  return params;
}

}  // namespace

const std::vector<Route>& api_routes() {
  static const std::vector<Route> routes = [] {
    std::vector<Route> out;
    for (const auto& e : entries()) out.push_back(e.route);
    return out;
  }();
  return routes;
}

int http_status(ErrorCode code) {
  switch (code) {
    case ErrorCode::not_found: return 404;
    case ErrorCode::invalid_spec: return 400;
    case ErrorCode::conflict: return 409;
    case ErrorCode::unavailable: return 503;
    case ErrorCode::timeout: return 504;
    case ErrorCode::limit_exceeded: return 429;
    case ErrorCode::permission_denied: return 403;
    case ErrorCode::internal: return 500;
  }
  return 500;
}

void Api::handle(const http::Request& request, http::ResponseWriter& writer) {
  auto path = segments(request.path);
  bool path_known = false;
  Result<void> result;
  const Entry* found = nullptr;
  Params params;
  for (const auto& e : entries()) {
    auto p = match(e.route.pattern, path);
    if (!p) continue;
    path_known = true;
    if (e.route.method == request.method) {
      found = &e;
      params = std::move(*p);
      break;
    }
  }
  Call call{request, writer, std::move(params), runtime_, supervisor_};
  if (!found) {
    int status = path_known ? 405 : 404;
    std::string message = path_known ? fmt::format("{} is not allowed on {}", request.method, request.path)
                                     : fmt::format("no such endpoint: {}", request.path);
    (void)send_json(call, status, {{"code", path_known ? "invalid_spec" : "not_found"}, {"message", message}});
    return;
  }
  try {
    result = found->handler(call);
  } catch (const std::exception& e) {
    result = fail(ErrorCode::internal, e.what());
  }
  if (!result) (void)send_json(call, http_status(result.error().code), to_json(result.error()));
}

}  // namespace berth::daemon
