// ps, inspect, logs, exec, stats, events: looking at workloads.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <thread>

#include "cli/command.hpp"
#include "common/time.hpp"
#include "common/units.hpp"
#include "runtime/json.hpp"

namespace berth::cli {

namespace {

using namespace std::chrono_literals;

std::string state_text(const WorkloadStatus& s) {
  switch (s.state) {
    case WorkloadState::exited:
      if (s.exit_code) return fmt::format("exited ({})", *s.exit_code);
      if (s.exit_signal) return fmt::format("exited (signal {})", *s.exit_signal);
      return "exited";
    case WorkloadState::failed:
      return "failed";
    default:
      return std::string(to_string(s.state));
  }
}

std::string ago(TimePoint t) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t).count();
  if (secs < 2) return "just now";
  if (secs < 120) return fmt::format("{} seconds ago", secs);
  if (secs < 7200) return fmt::format("{} minutes ago", secs / 60);
  if (secs < 172800) return fmt::format("{} hours ago", secs / 3600);
  return fmt::format("{} days ago", secs / 86400);
}

std::string command_text(const WorkloadSpec& spec) {
  std::string out;
  for (auto& a : spec.args) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  if (out.size() > 40) out = out.substr(0, 37) + "...";
  return "\"" + out + "\"";
}

// Prints rows as aligned columns.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  for (auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
    }
    fmt::print("{}\n", line);
  }
}

}  // namespace

Result<bool> wants_json(const ParsedArgs& args) {
  auto format = args.last("format").value_or("table");
  if (format == "json") return true;
  if (format == "table") return false;
  return fail(ErrorCode::invalid_spec, fmt::format("format: \"{}\" is not json or table", format));
}

void write_fd(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

CommandResult cmd_ps(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command_args(args, {{"help", 'h'}, {"all", 'a'}, {"quiet", 'q'}, {"format", 0, true}}, "ps",
                              "[-a] [-q] [--format json]");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto list = (*runtime)->list({.all = (*p)->has("all")});
  if (!list) return std::unexpected(list.error());
  std::sort(list->begin(), list->end(),
            [](auto& a, auto& b) { return a.status.created_at > b.status.created_at; });
  if ((*p)->has("quiet")) {
    for (auto& w : *list) fmt::print("{}\n", w.status.id.substr(0, 12));
    return 0;
  }
  if (*json) {
    nlohmann::json out = nlohmann::json::array();
    for (auto& w : *list) out.push_back(to_json(w));
    fmt::print("{}\n", dump_json(out, 2));
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"ID", "NAME", "KIND", "STATE", "PID", "CREATED", "COMMAND"}};
  for (auto& w : *list)
    rows.push_back({w.status.id.substr(0, 12), w.status.name, std::string(to_string(w.status.kind)),
                    state_text(w.status), w.status.pid ? std::to_string(*w.status.pid) : "-",
                    ago(w.status.created_at), command_text(w.spec)});
  print_table(rows);
  return 0;
}

CommandResult cmd_inspect(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command_args(args, {{"help", 'h'}, {"format", 0, true}}, "inspect", "NAME...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  if (auto json = wants_json(**p); !json) return std::unexpected(json.error());
  if ((*p)->positionals.empty()) return fail(ErrorCode::invalid_spec, "inspect: name at least one workload");
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  nlohmann::json out = nlohmann::json::array();
  for (auto& name : (*p)->positionals) {
    auto info = (*runtime)->inspect(name);
    if (!info) return std::unexpected(info.error());
    out.push_back(to_json(*info));
  }
  fmt::print("{}\n", dump_json(out, 2));
  return 0;
}

CommandResult cmd_logs(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command_args(args,
                              {{"help", 'h'}, {"follow", 'f'}, {"tail", 'n', true}, {"since", 0, true},
                               {"until", 0, true}, {"timestamps", 't'}, {"stdout-only", 0},
                               {"stderr-only", 0}, {"format", 0, true}},
                              "logs", "[-f] [--tail N] [--since T] [--until T] [-t] NAME");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  if ((*p)->positionals.size() != 1) return fail(ErrorCode::invalid_spec, "logs: name one workload");
  LogOptions options;
  options.follow = (*p)->has("follow");
  if (auto t = (*p)->last("tail"); t && *t != "all") {
    char* end = nullptr;
    long n = std::strtol(t->c_str(), &end, 10);
    if (t->empty() || *end || n < 0) return fail(ErrorCode::invalid_spec, fmt::format("tail: \"{}\" is not a count", *t));
    options.tail = static_cast<std::size_t>(n);
  }
  // A time, or a duration meaning that long ago.
  auto when = [](const std::string& text, std::string_view field) -> Result<TimePoint> {
    if (auto d = parse_duration(text); d && text.find_first_not_of("0123456789.") != std::string::npos)
      return Clock::now() - *d;
    auto t = parse_rfc3339(text);
    if (!t) return std::unexpected(t.error().with_context(field));
    return *t;
  };
  for (auto field : {"since", "until"}) {
    if (auto v = (*p)->last(field)) {
      auto t = when(*v, field);
      if (!t) return std::unexpected(t.error());
      (std::string_view(field) == "since" ? options.since : options.until) = *t;
    }
  }
  options.include_stdout = !(*p)->has("stderr-only");
  options.include_stderr = !(*p)->has("stdout-only");
  bool timestamps = (*p)->has("timestamps");
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto reader = (*runtime)->logs((*p)->positionals[0], options);
  if (!reader) return std::unexpected(reader.error());
  for (;;) {
    auto chunk = (*reader)->next(1s);
    if (!chunk) {
      if (chunk.error().code == ErrorCode::timeout) continue;
      return std::unexpected(chunk.error());
    }
    if (!*chunk) return 0;
    auto& c = **chunk;
    if (*json) {
      write_fd(1, dump_json(to_json(c)) + "\n");
      continue;
    }
    int fd = c.stream == LogStream::stdout_stream ? 1 : 2;
    if (timestamps) write_fd(fd, format_rfc3339_nano(c.time) + " ");
    write_fd(fd, c.bytes);
  }
}

CommandResult cmd_exec(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command_args(args,
                              {{"help", 'h'}, {"env", 'e', true}, {"workdir", 'w', true},
                               {"user", 'u', true}, {"timeout", 0, true}},
                              "exec", "[FLAGS] NAME [--] COMMAND [ARGS...]", 1);
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto& pos = (*p)->positionals;
  if (pos.size() < 2) return fail(ErrorCode::invalid_spec, "exec: name a workload and a command");
  ExecOptions options;
  options.env = (*p)->all("env");
  options.working_dir = (*p)->last("workdir").value_or("");
  options.user = (*p)->last("user").value_or("");
  options.timeout = std::chrono::hours(24);
  if (auto t = (*p)->last("timeout")) {
    auto d = parse_duration(*t);
    if (!d) return std::unexpected(d.error().with_context("timeout"));
    options.timeout = *d;
  }
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto result = (*runtime)->exec(pos[0], std::vector<std::string>(pos.begin() + 1, pos.end()), options);
  if (!result) return std::unexpected(result.error());
  write_fd(1, result->stdout_data);
  write_fd(2, result->stderr_data);
  return result->exit_code;
}

CommandResult cmd_stats(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command_args(args, {{"help", 'h'}, {"no-stream", 0}, {"format", 0, true}}, "stats",
                              "[--no-stream] [--format json] [NAME...]");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  bool stream = !(*p)->has("no-stream");
  for (;;) {
    std::vector<std::string> names = (*p)->positionals;
    if (names.empty()) {
      auto list = (*runtime)->list({.all = false});
      if (!list) return std::unexpected(list.error());
      for (auto& w : *list) names.push_back(w.status.name);
    }
    nlohmann::json out = nlohmann::json::array();
    std::vector<std::vector<std::string>> rows{{"NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS", "NET I/O"}};
    for (auto& name : names) {
      auto s = (*runtime)->stats(name);
      if (!s) return std::unexpected(s.error());
      if (*json) {
        auto j = to_json(*s);
        j["name"] = name;
        out.push_back(j);
        continue;
      }
      rows.push_back({name, fmt::format("{:.2f}%", s->cpu_percent),
                      fmt::format("{} / {}", format_size(s->memory_bytes),
                                  s->memory_limit_bytes ? format_size(*s->memory_limit_bytes) : "-"),
                      std::to_string(s->pids),
                      s->net_rx_bytes ? fmt::format("{} / {}", format_size(*s->net_rx_bytes),
                                                    format_size(s->net_tx_bytes.value_or(0)))
                                      : "-"});
    }
    if (*json) fmt::print("{}\n", dump_json(out, stream ? -1 : 2));
    else {
      if (stream) fmt::print("\033[2J\033[H");
      print_table(rows);
    }
    std::fflush(stdout);
    if (!stream) return 0;
    std::this_thread::sleep_for(900ms);
  }
}

CommandResult cmd_events(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command_args(args, {{"help", 'h'}, {"since", 0, true}, {"no-follow", 0}, {"format", 0, true}},
                              "events", "[--since SEQ] [--no-follow] [--format json]");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  std::uint64_t since = 0;
  if (auto s = (*p)->last("since")) {
    char* end = nullptr;
    since = std::strtoull(s->c_str(), &end, 10);
    if (s->empty() || *end) return fail(ErrorCode::invalid_spec, fmt::format("since: \"{}\" is not a sequence number", *s));
  }
  bool follow = !(*p)->has("no-follow");
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto reader = (*runtime)->watch(since);
  if (!reader) return std::unexpected(reader.error());
  for (;;) {
    auto e = (*reader)->next(follow ? 1s : 50ms);
    if (!e) {
      if (e.error().code == ErrorCode::timeout) {
        if (!follow) return 0;
        continue;
      }
      return std::unexpected(e.error());
    }
    if (!*e) return 0;
    auto& ev = **e;
    if (*json) {
      write_fd(1, dump_json(to_json(ev)) + "\n");
      continue;
    }
    std::string attrs;
    for (auto& [k, v] : ev.attributes) attrs += fmt::format("{}{}={}", attrs.empty() ? "" : ", ", k, v);
    write_fd(1, fmt::format("{} {:>6} {} {} ({}){}\n", format_rfc3339_nano(ev.time), ev.seq, ev.type,
                            ev.workload_name, ev.workload_id.substr(0, 12),
                            attrs.empty() ? "" : " " + attrs));
  }
}

}  // namespace berth::cli
