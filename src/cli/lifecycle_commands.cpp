// run, create, start, stop, kill, rm, wait: changing workloads.
#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/signals.hpp"
#include "cli/terminal.hpp"
#include "common/fd.hpp"
#include "cli/workload_flags.hpp"
#include "runtime/json.hpp"

namespace berth::cli {

namespace {

using namespace std::chrono_literals;

// Long enough to mean "until it exits".
constexpr std::chrono::milliseconds forever = std::chrono::hours(24 * 365 * 10);

void print_handle(const WorkloadHandle& handle, bool json) {
  if (json) print_json({{"id", handle.id}, {"name", handle.name}});
  else fmt::print("{}\n", handle.id);
}

// Streams the workload's output until it ends (stdout to stdout, stderr to stderr, unbuffered),
// passing on the signals the CLI gets; then its exit code as a shell reports it.
Result<int> attach_until_exit(Runtime& runtime, const std::string& id, CaughtSignals& signals) {
  auto reader = runtime.logs(id, {.follow = true});
  if (!reader) return std::unexpected(reader.error());
  for (;;) {
    while (int sig = signals.take()) (void)runtime.kill(id, sig);  // it may have just exited
    auto chunk = (*reader)->next(100ms);
    if (!chunk) {
      if (chunk.error().code == ErrorCode::timeout) continue;
      return std::unexpected(chunk.error());
    }
    if (!*chunk) break;
    write_fd((*chunk)->stream == LogStream::stdout_stream ? 1 : 2, (*chunk)->bytes);
  }
  auto exit = runtime.wait(id, forever);
  if (!exit) return std::unexpected(exit.error());
  return exit->shell_code();
}

// What a per-workload command did to one workload: a line, or its JSON form.
struct Done {
  std::string line;
  nlohmann::json json;
};

// Runs `fn` on each named workload and prints what each did (a JSON array with --format json).
// Like docker, it goes on past a failure: each failure is one "berth: ..." line on stderr, in
// order, and the command then exits with exit_berth_error.
template <typename F>
CommandResult for_each_workload(const ParsedArgs& p, std::string_view command, F fn) {
  if (p.positionals.empty())
    return fail(ErrorCode::invalid_spec, fmt::format("{}: name at least one workload", command));
  auto json = wants_json(p);
  if (!json) return std::unexpected(json.error());
  bool failed = false;
  nlohmann::json all = nlohmann::json::array();
  for (auto& name : p.positionals) {
    Result<Done> r = fn(name);
    if (!r) {
      std::fflush(stdout);
      fmt::print(stderr, "berth: {}\n", r.error().message);
      failed = true;
    } else if (*json) {
      all.push_back(r->json);
    } else {
      fmt::print("{}\n", r->line);
    }
  }
  if (*json) print_json(all);
  return failed ? exit_berth_error : 0;
}

}  // namespace

CommandResult cmd_run(Context& ctx, const std::vector<std::string>& args) {
  auto flags = workload_flags();
  flags.push_back({"detach", 'd', false, {}, "run in the background and print its id"});
  auto p = parse_command(args, flags, "run", "[FLAGS] [--] COMMAND [ARGS...]", 0);
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
  auto spec = spec_from_flags(**p);
  if (!spec) return std::unexpected(spec.error());
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  bool detach = (*p)->has("detach");
  // Detached, the runtime removes it once it exits; attached, we do, after reading its exit.
  spec->auto_remove = detach && (*p)->has("rm");
  bool interactive = !detach && (spec->container.tty || spec->container.stdin_open);
  auto runtime = ctx.runtime(interactive);
  if (!runtime) return std::unexpected(runtime.error());
  // Caught from before create: a Ctrl-C from here on reaches the workload, not just us.
  std::optional<CaughtSignals> signals;
  if (!detach) signals.emplace();
  auto handle = (*runtime)->create(*spec);
  if (!handle) return std::unexpected(handle.error());
  // -i / -t: attach before start, so nothing the process writes is missed.
  std::optional<UniqueFd> attached;
  if (!detach && (spec->container.tty || spec->container.stdin_open)) {
    auto fd = (*runtime)->attach(handle->id);
    if (!fd) {
      (void)(*runtime)->remove(handle->id, true);
      return std::unexpected(fd.error());
    }
    attached.emplace(*fd);
  }
  if (auto started = (*runtime)->start(handle->id); !started) {
    (void)(*runtime)->remove(handle->id, true);  // nothing half-made stays behind
    return std::unexpected(started.error());
  }
  if (detach) {
    print_handle(*handle, *json);
    return 0;
  }
  CommandResult code = 0;
  if (attached) {
    // Ctrl-C reaches the process through its terminal (raw mode) or is forwarded as before.
    relay_attached(attached->get(), spec->container.stdin_open, spec->container.tty);
    auto exit = (*runtime)->wait(handle->id, std::chrono::hours(24 * 365));
    if (!exit) code = std::unexpected(exit.error());
    else code = exit->shell_code();
  } else {
    code = attach_until_exit(**runtime, handle->id, *signals);
  }
  if ((*p)->has("rm")) {
    auto removed = (*runtime)->remove(handle->id, true);
    if (code && !removed) return std::unexpected(removed.error());
  }
  return code;
}

CommandResult cmd_create(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args, workload_flags(), "create", "[FLAGS] [--] COMMAND [ARGS...]", 0);
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
  auto spec = spec_from_flags(**p);
  if (!spec) return std::unexpected(spec.error());
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto handle = (*runtime)->create(*spec);
  if (!handle) return std::unexpected(handle.error());
  print_handle(*handle, *json);
  return 0;
}

CommandResult cmd_start(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args, {help_flag, format_flag}, "start", "NAME...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  return for_each_workload(**p, "start", [&](const std::string& name) -> Result<Done> {
    if (auto r = (*runtime)->start(name); !r) return std::unexpected(r.error());
    auto status = (*runtime)->status(name);
    if (!status) return std::unexpected(status.error());
    return Done{name, to_json(*status)};
  });
}

CommandResult cmd_stop(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args,
                         {help_flag, {"time", 't', true, "SECONDS", "grace before SIGKILL (default: the workload's)"},
                          format_flag},
                         "stop", "[-t SECONDS] NAME...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
  auto grace = grace_flag(**p);
  if (!grace) return std::unexpected(grace.error());
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  return for_each_workload(**p, "stop", [&](const std::string& name) -> Result<Done> {
    auto exit = (*runtime)->stop(name, *grace);
    if (!exit) return std::unexpected(exit.error());
    auto j = to_json(*exit);
    j["name"] = name;
    return Done{name, j};
  });
}

CommandResult cmd_restart(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args,
                         {help_flag, {"time", 't', true, "SECONDS", "grace before SIGKILL (default: the workload's)"},
                          format_flag},
                         "restart", "[-t SECONDS] NAME...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
  auto grace = grace_flag(**p);
  if (!grace) return std::unexpected(grace.error());
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  return for_each_workload(**p, "restart", [&](const std::string& name) -> Result<Done> {
    if (auto r = (*runtime)->restart(name, *grace); !r) return std::unexpected(r.error());
    return Done{name, nlohmann::json{{"name", name}, {"restarted", true}}};
  });
}

CommandResult cmd_kill(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args,
                         {help_flag, {"signal", 's', true, "SIGNAL", "signal to send (default KILL)"},
                          format_flag},
                         "kill", "[-s SIGNAL] NAME...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
  auto sig = parse_signal((*p)->last("signal").value_or("KILL"));
  if (!sig) return std::unexpected(sig.error());
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  return for_each_workload(**p, "kill", [&](const std::string& name) -> Result<Done> {
    if (auto r = (*runtime)->kill(name, *sig); !r) return std::unexpected(r.error());
    return Done{name, {{"name", name}, {"signal", *sig}}};
  });
}

CommandResult cmd_rm(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args,
                         {help_flag, {"force", 'f', false, {}, "stop running workloads first"}, format_flag},
                         "rm", "[-f] NAME...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  return for_each_workload(**p, "rm", [&](const std::string& name) -> Result<Done> {
    auto report = (*runtime)->remove(name, (*p)->has("force"));
    if (!report) return std::unexpected(report.error());
    return Done{name, to_json(*report)};
  });
}

CommandResult cmd_wait(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args, {help_flag, format_flag}, "wait", "NAME...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;  // --help
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  return for_each_workload(**p, "wait", [&](const std::string& name) -> Result<Done> {
    auto exit = (*runtime)->wait(name, forever);
    if (!exit) return std::unexpected(exit.error());
    auto j = to_json(*exit);
    j["name"] = name;
    return Done{std::to_string(exit->shell_code()), j};
  });
}

}  // namespace berth::cli
