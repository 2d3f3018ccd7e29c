// berth up, down and stack: a stack file's workloads as one unit. `up` supervises in the
// foreground (Ctrl-C takes the stack down); `up -d` hands the stack to berthd.
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/signals.hpp"
#include "client/remote_runtime.hpp"
#include "common/fs.hpp"
#include "runtime/json.hpp"
#include "supervisor/stack_runner.hpp"

extern char** environ;

namespace berth::cli {

namespace {

using namespace std::chrono_literals;

const FlagSpec file_flag{"file", 'f', true, "FILE", "the stack file (default ./berth.toml)"};
const FlagSpec stack_flag{"stack", 0, true, "NAME", "the stack's name (default: from the stack file)"};

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string_view::npos) env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

std::string stack_file_path(const ParsedArgs& p) { return p.last("file").value_or("berth.toml"); }

Result<stack::StackFile> load(const ParsedArgs& p) {
  return stack::load_stack_file(stack_file_path(p), environment());
}

// --stack NAME, a positional NAME, or the name in the stack file.
Result<std::string> stack_name(const ParsedArgs& p) {
  if (auto s = p.last("stack")) return *s;
  if (!p.positionals.empty()) return p.positionals[0];
  auto file = load(p);
  if (!file) return std::unexpected(file.error());
  return file->name;
}

// Follows every member's output, each line prefixed with its workload's name, until `stop`.
void follow_stack_logs(Runtime& runtime, const std::vector<WorkloadInfo>& members, std::stop_token stop,
                       bool follow, std::optional<std::size_t> tail) {
  std::size_t width = 0;
  for (const auto& m : members) width = std::max(width, m.status.name.size());
  std::mutex output;
  std::vector<std::jthread> readers;
  for (const auto& m : members) {
    readers.emplace_back([&, name = m.status.name] {
      LogOptions options;
      options.follow = follow;
      options.tail = tail;
      auto reader = runtime.logs(name, options);
      if (!reader) return;
      bool at_line_start = true;
      for (;;) {
        auto chunk = (*reader)->next(250ms, stop);
        if (!chunk) {
          if (chunk.error().code == ErrorCode::timeout && !stop.stop_requested()) continue;
          return;
        }
        if (!*chunk) return;
        std::lock_guard lock(output);
        int fd = (*chunk)->stream == LogStream::stderr_stream ? 2 : 1;
        if (at_line_start) write_fd(fd, fmt::format("{:<{}} | ", name, width));
        write_fd(fd, (*chunk)->bytes);
        at_line_start = !(*chunk)->partial;
        if (at_line_start && !(*chunk)->bytes.ends_with('\n')) write_fd(fd, "\n");
      }
    });
  }
}

// While alive, Ctrl-C (SIGINT, SIGTERM, SIGHUP) stops token() instead of ending the CLI.
class StopOnSignal {
 public:
  StopOnSignal()
      : watcher_([this](std::stop_token done) {
          while (!done.stop_requested()) {
            if (signals_.take()) {
              source_.request_stop();
              return;
            }
            std::this_thread::sleep_for(50ms);
          }
        }) {}
  std::stop_token token() const { return source_.get_token(); }
  void wait() const {
    while (!source_.stop_requested()) std::this_thread::sleep_for(50ms);
  }

 private:
  CaughtSignals signals_;
  std::stop_source source_;
  std::jthread watcher_;  // last: it starts once the others exist
};

void print_up_report(const stack::UpReport& report, bool json) {
  if (json) {
    print_json({{"stack", report.stack},
                {"created", report.created},
                {"started", report.started},
                {"unchanged", report.unchanged},
                {"took_ms", report.took.count()}});
    return;
  }
  write_fd(1, fmt::format("stack {} is up in {} ms: {} created, {} started, {} unchanged\n", report.stack,
                          report.took.count(), report.created.size(), report.started.size(),
                          report.unchanged.size()));
}

}  // namespace

// berthd reads the file itself (it is on this host) with the caller's environment.
CommandResult stack_up_detached(Context& ctx, const stack::StackFile& file, bool json) {
  auto daemon = ctx.daemon();
  if (!daemon)
    return fail(ErrorCode::unavailable,
                fmt::format("berth up -d needs berthd, which keeps the stack up. {}; or run `berth up` "
                            "without -d to supervise in the foreground", daemon.error().message));
  nlohmann::json env = nlohmann::json::object();
  for (const auto& [k, v] : environment()) env[k] = v;
  auto answer = (*daemon)->call("POST", "/v1/stacks", nlohmann::json{{"file", file.path}, {"env", env}});
  if (!answer) return std::unexpected(answer.error());
  stack::UpReport report;
  report.stack = answer->value("stack", file.name);
  report.created = answer->value("created", std::vector<std::string>{});
  report.started = answer->value("started", std::vector<std::string>{});
  report.unchanged = answer->value("unchanged", std::vector<std::string>{});
  report.took = std::chrono::milliseconds(answer->value("took_ms", 0));
  print_up_report(report, json);
  return 0;
}

// berthd supervises; this shows the stack's output until Ctrl-C, then takes it down.
CommandResult stack_up_attached_to_daemon(Context& ctx, Runtime& runtime, const stack::StackFile& file, bool json) {
  StopOnSignal stopping;
  if (auto r = stack_up_detached(ctx, file, json); !r || *r != 0) return r;
  auto members = stack::stack_workloads(runtime, file.name);
  if (members) follow_stack_logs(runtime, *members, stopping.token(), true, std::nullopt);
  stopping.wait();
  auto down = (*ctx.daemon())->call("DELETE", fmt::format("/v1/stacks/{}", client::url_encode(file.name)));
  if (!down && down.error().code != ErrorCode::not_found) return std::unexpected(down.error());
  write_fd(2, fmt::format("berth: stack {} is down\n", file.name));
  return 0;
}

CommandResult cmd_up(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args,
                         {help_flag, file_flag,
                          {"detach", 'd', false, {}, "leave it to berthd, which keeps it up, and return"},
                          format_flag},
                         "up", "[-f FILE] [-d]");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  auto file = load(**p);
  if (!file) return std::unexpected(file.error());
  if ((*p)->has("detach")) return stack_up_detached(ctx, *file, *json);

  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  if (ctx.via_daemon()) return stack_up_attached_to_daemon(ctx, **runtime, *file, *json);
  StopOnSignal stopping;
  supervisor::SupervisorOptions options;
  options.log = [](std::string_view line) { write_fd(2, fmt::format("berth: {}\n", line)); };
  auto supervisor = supervisor::Supervisor::start(**runtime, options);
  if (!supervisor) return std::unexpected(supervisor.error());
  auto up = stack::stack_up(**supervisor, *file, stopping.token());
  if (!up) return std::unexpected(up.error());
  print_up_report(*up, *json);
  write_fd(2, "berth: supervising in the foreground; Ctrl-C takes the stack down (berth up -d leaves it to berthd)\n");
  auto members = stack::stack_workloads(**runtime, file->name);
  if (members) follow_stack_logs(**runtime, *members, stopping.token(), true, std::nullopt);
  // The log readers end once the stack's workloads have all exited (and none restarts).
  stopping.wait();
  supervisor->reset();
  auto down = stack::stack_down(**runtime, file->name);
  if (!down && down.error().code != ErrorCode::not_found) return std::unexpected(down.error());
  write_fd(2, fmt::format("berth: stack {} is down\n", file->name));
  return 0;
}

CommandResult cmd_down(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args,
                         {help_flag, file_flag, stack_flag,
                          {"time", 't', true, "SECONDS", "grace before SIGKILL (default: each workload's)"},
                          format_flag},
                         "down", "[-f FILE | --stack NAME] [-t SECONDS]");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  auto grace = grace_flag(**p);
  if (!grace) return std::unexpected(grace.error());
  auto name = stack_name(**p);
  if (!name) return std::unexpected(name.error());
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  Result<stack::DownReport> down;
  if (ctx.via_daemon()) {  // berthd takes it down, so its stack events are published
    auto answer = (*ctx.daemon())->call(
        "DELETE", fmt::format("/v1/stacks/{}{}", client::url_encode(*name),
                              *grace ? fmt::format("?grace_ms={}", (*grace)->count()) : ""));
    if (!answer) return std::unexpected(answer.error());
    down = stack::DownReport{*name, {}};
    for (const auto& r : (*answer)["removed"]) {
      auto report = report_from_json(r);
      if (!report) return std::unexpected(report.error());
      down->removed.push_back(std::move(*report));
    }
  } else {
    down = stack::stack_down(**runtime, *name, *grace);
  }
  if (!down) return std::unexpected(down.error());
  if (*json) {
    nlohmann::json removed = nlohmann::json::array();
    for (const auto& r : down->removed) removed.push_back(to_json(r));
    print_json({{"stack", down->stack}, {"removed", removed}});
  } else {
    for (const auto& r : down->removed) write_fd(1, r.name + "\n");
  }
  return 0;
}

CommandResult cmd_stack(Context& ctx, const std::vector<std::string>& args) {
  static const std::string synopsis = "validate [-f FILE] | ls | ps [NAME | -f FILE] | logs [NAME | -f FILE] [--follow]";
  if (args.empty()) return fail(ErrorCode::invalid_spec, "stack: a subcommand is needed: validate, ls, ps or logs");
  if (args[0] == "-h" || args[0] == "--help") {
    print_help("stack", synopsis, {help_flag});
    return 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  const std::string& sub = args[0];
  if (sub == "validate") {
    auto p = parse_command(rest, {help_flag, file_flag, format_flag}, "stack validate", "[-f FILE]");
    if (!p) return std::unexpected(p.error());
    if (!*p) return 0;
    auto json = wants_json(**p);
    if (!json) return std::unexpected(json.error());
    auto path = stack_file_path(**p);
    auto text = read_file(path);
    if (!text) return std::unexpected(text.error().with_context("stack file"));
    auto problems = stack::validate_stack(*text, path, environment());
    if (*json) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& problem : problems)
        list.push_back({{"file", problem.file}, {"line", problem.line}, {"column", problem.column},
                        {"message", problem.message}});
      print_json({{"file", path}, {"valid", problems.empty()}, {"problems", list}});
    } else if (problems.empty()) {
      write_fd(1, fmt::format("{}: valid\n", path));
    } else {
      for (const auto& problem : problems) write_fd(2, stack::format(problem) + "\n");
    }
    return problems.empty() ? 0 : 1;
  }
  if (sub == "ls") {
    auto p = parse_command(rest, {help_flag, format_flag}, "stack ls", "");
    if (!p) return std::unexpected(p.error());
    if (!*p) return 0;
    auto json = wants_json(**p);
    if (!json) return std::unexpected(json.error());
    auto runtime = ctx.runtime();
    if (!runtime) return std::unexpected(runtime.error());
    auto names = stack::stack_names(**runtime);
    if (!names) return std::unexpected(names.error());
    auto records = (*runtime)->stack_records();
    if (!records) return std::unexpected(records.error());
    std::vector<std::vector<std::string>> rows{{"STACK", "WORKLOADS", "RUNNING", "UP"}};
    nlohmann::json list = nlohmann::json::array();
    for (const auto& name : *names) {
      auto members = stack::stack_workloads(**runtime, name);
      if (!members) return std::unexpected(members.error());
      auto running = std::count_if(members->begin(), members->end(),
                                   [](const WorkloadInfo& m) { return is_active(m.status.state); });
      // "incomplete": its latest up has not finished (running still, or cut short); up again completes it.
      auto record = std::find_if(records->begin(), records->end(), [&](const StackRecord& r) { return r.name == name; });
      bool complete = record == records->end() || record->complete;
      rows.push_back({name, std::to_string(members->size()), std::to_string(running), complete ? "complete" : "incomplete"});
      nlohmann::json entry = {{"name", name}, {"workloads", members->size()}, {"running", running}, {"complete", complete}};
      if (record != records->end()) entry["desired"] = record->workloads;
      list.push_back(std::move(entry));
    }
    if (*json) print_json(list);
    else print_table(rows);
    return 0;
  }
  if (sub == "ps") {
    auto p = parse_command(rest, {help_flag, file_flag, format_flag}, "stack ps", "[NAME | -f FILE]");
    if (!p) return std::unexpected(p.error());
    if (!*p) return 0;
    auto json = wants_json(**p);
    if (!json) return std::unexpected(json.error());
    auto name = stack_name(**p);
    if (!name) return std::unexpected(name.error());
    auto runtime = ctx.runtime();
    if (!runtime) return std::unexpected(runtime.error());
    auto members = stack::stack_workloads(**runtime, *name);
    if (!members) return std::unexpected(members.error());
    if (*json) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& m : *members) list.push_back(to_json(m));
      print_json(list);
      return 0;
    }
    std::vector<std::vector<std::string>> rows{{"NAME", "KIND", "STATE", "RESTARTS", "HEALTH", "PID"}};
    for (const auto& m : *members) {
      std::string health = "-";
      if (!m.status.health.empty())
        health = m.status.health.back().exit_code == 0 ? "passing" : "failing";
      rows.push_back({m.status.name, std::string(to_string(m.status.kind)), state_text(m.status),
                      std::to_string(m.status.restart_count), health,
                      m.status.pid ? std::to_string(*m.status.pid) : "-"});
    }
    print_table(rows);
    return 0;
  }
  if (sub == "logs") {
    auto p = parse_command(rest,
                           {help_flag, file_flag, {"follow", 0, false, {}, "keep printing new output"},
                            {"tail", 'n', true, "N", "only the last N lines of each"}},
                           "stack logs", "[NAME | -f FILE] [--follow]");
    if (!p) return std::unexpected(p.error());
    if (!*p) return 0;
    std::optional<std::size_t> tail;
    if (auto t = (*p)->last("tail")) {
      auto n = parse_integer(*t, "tail", 0);
      if (!n) return std::unexpected(n.error());
      tail = static_cast<std::size_t>(*n);
    }
    auto name = stack_name(**p);
    if (!name) return std::unexpected(name.error());
    auto runtime = ctx.runtime();
    if (!runtime) return std::unexpected(runtime.error());
    auto members = stack::stack_workloads(**runtime, *name);
    if (!members) return std::unexpected(members.error());
    if (members->empty()) return fail(ErrorCode::not_found, fmt::format("no stack named \"{}\"", *name));
    StopOnSignal stopping;
    follow_stack_logs(**runtime, *members, stopping.token(), (*p)->has("follow"), tail);
    return 0;
  }
  return fail(ErrorCode::invalid_spec, fmt::format("stack: unknown subcommand \"{}\" ({})", sub, synopsis));
}

}  // namespace berth::cli
