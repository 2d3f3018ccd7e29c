// ps, inspect, logs, exec, stats, events: looking at workloads.
#include <algorithm>
#include <fmt/format.h>
#include <future>
#include <thread>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/terminal.hpp"
#include "cli/workload_flags.hpp"
#include "common/time.hpp"
#include "common/units.hpp"
#include "runtime/json.hpp"

namespace berth::cli {

namespace {

using namespace std::chrono_literals;

// A time as RFC 3339 (or Unix seconds), or a duration meaning that long ago ("10m").
Result<TimePoint> parse_when(const std::string& text, std::string_view field) {
  bool plain_number = text.find_first_not_of("0123456789.") == std::string::npos;
  if (!plain_number)
    if (auto d = parse_duration(text)) return Clock::now() - *d;
  auto t = parse_rfc3339(text);
  if (!t) return std::unexpected(t.error().with_context(field));
  return *t;
}

Result<LogOptions> log_options(const ParsedArgs& p) {
  LogOptions options;
  options.follow = p.has("follow");
  if (auto t = p.last("tail"); t && *t != "all") {
    auto n = parse_integer(*t, "tail", 0);
    if (!n) return std::unexpected(n.error());
    options.tail = static_cast<std::size_t>(*n);
  }
  for (auto [field, out] : {std::pair{"since", &options.since}, std::pair{"until", &options.until}}) {
    if (auto v = p.last(field)) {
      auto t = parse_when(*v, field);
      if (!t) return std::unexpected(t.error());
      *out = *t;
    }
  }
  if (p.has("stdout-only") && p.has("stderr-only"))
    return fail(ErrorCode::invalid_spec, "logs: --stdout-only and --stderr-only exclude each other");
  options.include_stdout = !p.has("stderr-only");
  options.include_stderr = !p.has("stdout-only");
  return options;
}

// One row of `stats`, or the JSON of it.
struct Sample {
  std::string name;
  Result<ResourceStats> stats;
};

// Samples every workload at once: each sample measures CPU over a short window.
std::vector<Sample> sample_all(Runtime& runtime, const std::vector<std::string>& names) {
  std::vector<std::future<Result<ResourceStats>>> pending;
  for (auto& name : names)
    pending.push_back(std::async(std::launch::async, [&runtime, &name] { return runtime.stats(name); }));
  std::vector<Sample> out;
  for (std::size_t i = 0; i < names.size(); ++i) out.push_back({names[i], pending[i].get()});
  return out;
}

std::vector<std::string> stats_row(const std::string& name, const ResourceStats& s) {
  std::string limit = s.memory_limit_bytes ? format_size(*s.memory_limit_bytes) : "-";
  std::string net = s.net_rx_bytes ? fmt::format("{} / {}", format_size(*s.net_rx_bytes),
                                                 format_size(s.net_tx_bytes.value_or(0)))
                                   : "-";
  return {name, fmt::format("{:.2f}%", s.cpu_percent),
          fmt::format("{} / {}", format_size(s.memory_bytes), limit), std::to_string(s.pids), net};
}

}  // namespace

CommandResult cmd_ps(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args,
                         {help_flag, {"all", 'a', false, {}, "also workloads that are not running"},
                          {"quiet", 'q', false, {}, "only ids"}, format_flag},
                         "ps", "[-a] [-q] [--format json|table]");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
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
    print_json(out);
    return 0;
  }
  auto now = Clock::now();
  std::vector<std::vector<std::string>> rows{{"ID", "NAME", "KIND", "STATE", "PID", "CREATED", "COMMAND"}};
  for (auto& w : *list)
    rows.push_back({w.status.id.substr(0, 12), w.status.name, std::string(to_string(w.status.kind)),
                    state_text(w.status), w.status.pid ? std::to_string(*w.status.pid) : "-",
                    time_ago(w.status.created_at, now), command_text(w.spec.args)});
  print_table(rows);
  return 0;
}

// JSON always, an array as docker prints it; a name not found is a "berth: ..." line and exit
// 125 after the others are printed.
CommandResult cmd_inspect(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args, {help_flag, format_flag}, "inspect", "NAME...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
  if (auto json = wants_json(**p); !json) return std::unexpected(json.error());
  if ((*p)->positionals.empty()) return fail(ErrorCode::invalid_spec, "inspect: name at least one workload");
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  nlohmann::json out = nlohmann::json::array();
  std::vector<Error> errors;
  for (auto& name : (*p)->positionals) {
    auto info = (*runtime)->inspect(name);
    if (info) out.push_back(to_json(*info));
    else errors.push_back(info.error());
  }
  print_json(out);
  for (auto& e : errors) fmt::print(stderr, "berth: {}\n", e.message);
  return errors.empty() ? 0 : exit_berth_error;
}

CommandResult cmd_logs(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args,
                         {help_flag,
                          {"follow", 'f', false, {}, "keep printing until the workload exits"},
                          {"tail", 'n', true, "N|all", "only the last N lines"},
                          {"since", 0, true, "TIME", "only from then: RFC 3339, or 10m for 10 minutes ago"},
                          {"until", 0, true, "TIME", "only until then: RFC 3339, or 10m for 10 minutes ago"},
                          {"timestamps", 't', false, {}, "start each line with its time"},
                          {"stdout-only", 0, false, {}, "only standard output"},
                          {"stderr-only", 0, false, {}, "only standard error"},
                          format_flag},
                         "logs", "[-f] [--tail N] [--since T] [--until T] [-t] NAME");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  if ((*p)->positionals.size() != 1) return fail(ErrorCode::invalid_spec, "logs: name one workload");
  auto options = log_options(**p);
  if (!options) return std::unexpected(options.error());
  bool timestamps = (*p)->has("timestamps");
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto reader = (*runtime)->logs((*p)->positionals[0], *options);
  if (!reader) return std::unexpected(reader.error());
  bool mid_line[2] = {false, false};  // per stream: the last chunk was partial
  for (;;) {
    auto chunk = (*reader)->next(1s);
    if (!chunk) {
      if (chunk.error().code == ErrorCode::timeout) continue;
      return std::unexpected(chunk.error());
    }
    if (!*chunk) {
      // What the log could not keep is missing above: say so, where a pipe on stdout still
      // shows it.
      auto status = (*runtime)->status((*p)->positionals[0]);
      if (status && status->log_dropped_lines > 0)
        fmt::print(stderr, "berth: {} log lines ({}) of {} could not be written (disk full?) and are missing\n",
                   status->log_dropped_lines, format_size(status->log_dropped_bytes), status->name);
      return 0;
    }
    auto& c = **chunk;
    if (*json) {
      print_json_line(to_json(c));
      continue;
    }
    int fd = c.stream == LogStream::stdout_stream ? 1 : 2;
    if (timestamps && !mid_line[fd - 1]) write_fd(fd, format_rfc3339_nano(c.time) + " ");
    write_fd(fd, c.bytes);
    mid_line[fd - 1] = c.partial;
  }
}

CommandResult cmd_exec(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args,
                         {help_flag,
                          {"env", 'e', true, "K=V", "add an environment variable (K alone: take it from here)"},
                          {"workdir", 'w', true, "DIR", "working directory"},
                          {"user", 'u', true, "USER[:GROUP]", "run as this user"},
                          {"interactive", 'i', false, {}, "give the command this terminal's stdin"},
                          {"tty", 't', false, {}, "give the command a terminal"},
                          {"timeout", 0, true, "DURATION", "kill it after this long (default: none)"}},
                         "exec", "[FLAGS] NAME [--] COMMAND [ARGS...]", 1);
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
  auto& pos = (*p)->positionals;
  if (pos.size() < 2) return fail(ErrorCode::invalid_spec, "exec: name a workload and a command");
  ExecOptions options;
  for (auto& e : (*p)->all("env"))
    if (auto added = add_env(options.env, e, "env"); !added) return std::unexpected(added.error());
  options.working_dir = (*p)->last("workdir").value_or("");
  options.user = (*p)->last("user").value_or("");
  options.timeout = std::chrono::hours(24 * 365);
  if (auto t = (*p)->last("timeout")) {
    auto d = parse_duration(*t);
    if (!d) return std::unexpected(d.error().with_context("timeout"));
    options.timeout = *d;
  }
  auto runtime = ctx.runtime((*p)->has("tty") || (*p)->has("interactive"));
  if (!runtime) return std::unexpected(runtime.error());
  std::vector<std::string> argv(pos.begin() + 1, pos.end());
  if ((*p)->has("tty")) {
    auto status = (*runtime)->status(pos[0]);
    if (!status) return std::unexpected(status.error());
    auto pty = open_pty(0, status->kind == WorkloadKind::container ? status->pid : std::nullopt);
    if (!pty) return std::unexpected(pty.error());
    options.stdio = std::array<int, 3>{pty->slave.get(), pty->slave.get(), pty->slave.get()};
    options.tty = true;
    std::optional<RawTerminal> raw;
    if ((*p)->has("interactive")) raw.emplace(0);
    // Without -i the command's input is the pty alone: nothing of ours reaches it.
    PtyRelay relay(pty->master.get(), (*p)->has("interactive"));
    auto result = (*runtime)->exec(pos[0], argv, options);
    pty->slave.reset();
    relay.finish();
    if (!result) return std::unexpected(result.error());
    return result->exit_code;
  }
  if ((*p)->has("interactive")) options.stdio = std::array<int, 3>{0, 1, 2};
  auto result = (*runtime)->exec(pos[0], argv, options);
  if (!result) return std::unexpected(result.error());
  write_fd(1, result->stdout_data);
  write_fd(2, result->stderr_data);
  return result->exit_code;
}

// Without names: every active workload, re-listed at each refresh; one that ends meanwhile is
// left out. Named workloads that cannot be sampled are errors.
CommandResult cmd_stats(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args,
                         {help_flag, {"no-stream", 0, false, {}, "print once instead of every second"},
                          format_flag},
                         "stats", "[--no-stream] [--format json|table] [NAME...]");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  bool stream = !(*p)->has("no-stream");
  bool named = !(*p)->positionals.empty();
  auto next_refresh = std::chrono::steady_clock::now();
  for (;;) {
    std::vector<std::string> names = (*p)->positionals;
    if (!named) {
      auto list = (*runtime)->list({.all = false});
      if (!list) return std::unexpected(list.error());
      for (auto& w : *list) names.push_back(w.status.name);
      std::sort(names.begin(), names.end());
    }
    nlohmann::json out = nlohmann::json::array();
    std::vector<std::vector<std::string>> rows{{"NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS", "NET I/O"}};
    for (auto& [name, stats] : sample_all(**runtime, names)) {
      if (!stats) {
        if (!named) continue;  // it ended between list and stats
        return std::unexpected(stats.error());
      }
      if (*json) {
        auto j = to_json(*stats);
        j["name"] = name;
        out.push_back(std::move(j));
      } else {
        rows.push_back(stats_row(name, *stats));
      }
    }
    if (*json && stream) print_json_line(out);
    else if (*json) print_json(out);
    else {
      if (stream) fmt::print("\033[2J\033[H");  // a fresh screen each second, as docker
      print_table(rows);
    }
    if (!stream) return 0;
    next_refresh += 1s;
    std::this_thread::sleep_until(std::max(next_refresh, std::chrono::steady_clock::now()));
  }
}

CommandResult cmd_events(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args,
                         {help_flag, {"since", 0, true, "SEQ", "only events after this sequence number"},
                          {"follow", 0, false, {}, "keep printing new events, across berthd restarts (the default)"},
                          {"no-follow", 0, false, {}, "print the events so far and exit"}, format_flag},
                         "events", "[--since SEQ] [--no-follow] [--format json|table]");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  std::uint64_t since = 0;
  if (auto s = (*p)->last("since")) {
    auto n = parse_integer(*s, "since", 0);
    if (!n) return std::unexpected(n.error());
    since = static_cast<std::uint64_t>(*n);
  }
  bool follow = !(*p)->has("no-follow");
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto reader = (*runtime)->watch(since);
  if (!reader) return std::unexpected(reader.error());
  for (;;) {
    // Stored events come at once; a short wait with nothing new means the replay is done.
    auto e = (*reader)->next(follow ? 1s : 50ms);
    if (!e) {
      if (e.error().code != ErrorCode::timeout) return std::unexpected(e.error());
      if (!follow) return 0;
      continue;
    }
    if (!*e) return 0;
    auto& ev = **e;
    // Following, losing berthd is an event like the others and the reader reconnects by itself;
    // printing what there is so far, it is the error it always was.
    if (!follow && ev.type == event_type::backend_disconnected)
      return fail(ErrorCode::unavailable, ev.attributes["reason"]);
    if (*json) {
      print_json_line(to_json(ev));
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
