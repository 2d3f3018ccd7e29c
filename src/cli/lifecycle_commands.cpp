// run, create, start, stop, kill, rm, wait.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>
#include <thread>

#include "cli/command.hpp"
#include "cli/signals.hpp"
#include "common/time.hpp"
#include "common/units.hpp"
#include "runtime/json.hpp"

namespace berth::cli {

namespace {

using namespace std::chrono_literals;

const std::vector<FlagSpec> spec_flags = {
    {"help", 'h'},
    {"name", 0, true},
    {"memory", 'm', true},
    {"memory-swap", 0, true},
    {"cpus", 0, true},
    {"cpu-shares", 'c', true},
    {"pids-limit", 0, true},
    {"env", 'e', true},
    {"env-file", 0, true},
    {"workdir", 'w', true},
    {"user", 'u', true},
    {"label", 'l', true},
    {"stop-signal", 0, true},
    {"stop-timeout", 0, true},
    {"ttl", 0, true},
    {"pid", 0},
    {"ipc", 0},
    {"uts", 0},
    {"mount-ns", 0},
    {"network", 0, true},
    {"rm", 0},
    {"format", 0, true},
};

Result<double> parse_number(const std::string& text, std::string_view field) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0')
    return fail(ErrorCode::invalid_spec, fmt::format("{}: \"{}\" is not a number", field, text));
  return v;
}

Result<std::int64_t> parse_integer(const std::string& text, std::string_view field) {
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0')
    return fail(ErrorCode::invalid_spec, fmt::format("{}: \"{}\" is not a whole number", field, text));
  return v;
}

// -e K=V, or -e K to take K from our own environment (as docker does).
Result<void> add_env(std::vector<std::string>& env, const std::string& entry) {
  if (entry.empty() || entry[0] == '=')
    return fail(ErrorCode::invalid_spec, fmt::format("env: \"{}\" is not KEY=VALUE", entry));
  if (entry.find('=') != std::string::npos) {
    env.push_back(entry);
  } else if (const char* v = std::getenv(entry.c_str())) {
    env.push_back(entry + "=" + v);
  }
  return {};
}

// Builds a process WorkloadSpec from run/create flags; every problem is found before anything
// is created.
Result<WorkloadSpec> spec_from_flags(const ParsedArgs& p) {
  WorkloadSpec spec;
  spec.kind = WorkloadKind::process;
  spec.name = p.last("name").value_or("");
  spec.args = p.positionals;
  if (spec.args.empty()) return fail(ErrorCode::invalid_spec, "a command to run is needed: berth run [FLAGS] -- COMMAND [ARGS]");
  if (auto v = p.last("memory")) {
    auto bytes = parse_size(*v, "memory");
    if (!bytes) return std::unexpected(bytes.error());
    spec.resources.memory_bytes = *bytes;
  }
  if (auto v = p.last("memory-swap")) {
    if (*v == "-1") spec.resources.memory_swap_bytes = -1;
    else {
      auto bytes = parse_size(*v, "memory-swap");
      if (!bytes) return std::unexpected(bytes.error());
      spec.resources.memory_swap_bytes = *bytes;
    }
  }
  if (auto v = p.last("cpus")) {
    auto n = parse_number(*v, "cpus");
    if (!n) return std::unexpected(n.error());
    spec.resources.cpus = *n;
  }
  if (auto v = p.last("cpu-shares")) {
    auto n = parse_integer(*v, "cpu-shares");
    if (!n) return std::unexpected(n.error());
    spec.resources.cpu_shares = *n;
  }
  if (auto v = p.last("pids-limit")) {
    auto n = parse_integer(*v, "pids-limit");
    if (!n) return std::unexpected(n.error());
    spec.resources.pids_limit = *n;
  }
  for (auto& file : p.all("env-file")) {
    std::ifstream in(file);
    if (!in) return fail(ErrorCode::not_found, fmt::format("env-file: cannot read {}", file));
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      if (auto r = add_env(spec.env, line); !r) return std::unexpected(r.error());
    }
  }
  for (auto& e : p.all("env"))
    if (auto r = add_env(spec.env, e); !r) return std::unexpected(r.error());
  spec.working_dir = p.last("workdir").value_or("");
  spec.user = p.last("user").value_or("");
  for (auto& l : p.all("label")) {
    auto eq = l.find('=');
    spec.labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  if (auto v = p.last("stop-signal")) {
    auto sig = parse_signal(*v);
    if (!sig) return std::unexpected(sig.error());
    spec.stop_signal = *sig;
  }
  if (auto v = p.last("stop-timeout")) {
    auto n = parse_integer(*v, "stop-timeout");
    if (!n) return std::unexpected(n.error());
    spec.stop_grace = std::chrono::seconds(*n);
  }
  if (auto v = p.last("ttl")) {
    auto d = parse_duration(*v);
    if (!d) return std::unexpected(d.error().with_context("ttl"));
    spec.time_to_live = *d;
  }
  spec.namespaces.pid = p.has("pid");
  spec.namespaces.ipc = p.has("ipc");
  spec.namespaces.uts = p.has("uts");
  spec.namespaces.mount = p.has("mount-ns");
  spec.network = p.last("network").value_or("");
  spec.auto_remove = p.has("rm");
  return spec;
}

std::atomic<int> forwarded_signal{0};
extern "C" void remember_signal(int sig) { forwarded_signal = sig; }

// Streams the workload's output until it ends, forwarding SIGINT/SIGTERM/SIGHUP to it.
Result<int> attach_until_exit(Runtime& runtime, const std::string& id) {
  struct sigaction sa{};
  sa.sa_handler = remember_signal;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  auto reader = runtime.logs(id, {.follow = true});
  if (!reader) return std::unexpected(reader.error());
  for (;;) {
    if (int sig = forwarded_signal.exchange(0)) (void)runtime.kill(id, sig);
    auto chunk = (*reader)->next(100ms);
    if (!chunk) {
      if (chunk.error().code == ErrorCode::timeout) continue;
      return std::unexpected(chunk.error());
    }
    if (!*chunk) break;
    write_fd((*chunk)->stream == LogStream::stdout_stream ? 1 : 2, (*chunk)->bytes);
  }
  auto exit = runtime.wait(id, std::chrono::hours(24 * 365));
  if (!exit) return std::unexpected(exit.error());
  return exit->shell_code();
}

// Prints a command's help when asked; parse errors come back as errors.
Result<std::optional<ParsedArgs>> parse_command(const std::vector<std::string>& args,
                                                const std::vector<FlagSpec>& flags,
                                                const std::string& name, std::string_view synopsis,
                                                int positionals_before_argv = -1) {
  auto p = parse_args(args, flags, name, positionals_before_argv);
  if (!p) return std::unexpected(p.error());
  if (p->has("help")) {
    fmt::print("usage: berth {} {}\n\nflags:\n", name, synopsis);
    for (auto& f : flags)
      fmt::print("  {}--{}{}\n", f.short_name ? fmt::format("-{}, ", f.short_name) : "    ", f.name,
                 f.takes_value ? " VALUE" : "");
    return std::optional<ParsedArgs>();
  }
  return std::optional<ParsedArgs>(std::move(*p));
}

}  // namespace

Result<std::optional<ParsedArgs>> parse_command_args(const std::vector<std::string>& args,
                                                     const std::vector<FlagSpec>& flags,
                                                     const std::string& name,
                                                     std::string_view synopsis,
                                                     int positionals_before_argv) {
  return parse_command(args, flags, name, synopsis, positionals_before_argv);
}

CommandResult cmd_run(Context& ctx, const std::vector<std::string>& args) {
  auto flags = spec_flags;
  flags.push_back({"detach", 'd'});
  auto p = parse_command(args, flags, "run", "[FLAGS] [--] COMMAND [ARGS...]", 0);
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto spec = spec_from_flags(**p);
  if (!spec) return std::unexpected(spec.error());
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  bool detach = (*p)->has("detach");
  // Detached: the shim removes it on exit. Attached: we remove it once we saw the exit.
  spec->auto_remove = detach && (*p)->has("rm");
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto handle = (*runtime)->create(*spec);
  if (!handle) return std::unexpected(handle.error());
  if (auto started = (*runtime)->start(handle->id); !started) {
    (void)(*runtime)->remove(handle->id, true);  // nothing half-made stays behind
    return std::unexpected(started.error());
  }
  if (detach) {
    if (*json) fmt::print("{}\n", dump_json({{"id", handle->id}, {"name", handle->name}}, 2));
    else fmt::print("{}\n", handle->id);
    return 0;
  }
  auto code = attach_until_exit(**runtime, handle->id);
  if ((*p)->has("rm")) (void)(*runtime)->remove(handle->id, true);
  return code;
}

CommandResult cmd_create(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args, spec_flags, "create", "[FLAGS] [--] COMMAND [ARGS...]", 0);
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto spec = spec_from_flags(**p);
  if (!spec) return std::unexpected(spec.error());
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto handle = (*runtime)->create(*spec);
  if (!handle) return std::unexpected(handle.error());
  if (*json) fmt::print("{}\n", dump_json({{"id", handle->id}, {"name", handle->name}}, 2));
  else fmt::print("{}\n", handle->id);
  return 0;
}

namespace {

// What a per-workload command prints for one workload: a line, or its JSON form.
struct Done {
  std::string line;
  nlohmann::json json;
};

// Runs `fn` on each named workload and prints what each did (a JSON array with --format
// json). The first error ends the command with that error after the others were tried, as
// docker does; later errors are printed as they come.
template <typename F>
CommandResult for_each_workload(const ParsedArgs& p, std::string_view command, F fn) {
  if (p.positionals.empty())
    return fail(ErrorCode::invalid_spec, fmt::format("{}: name at least one workload", command));
  auto json = wants_json(p);
  if (!json) return std::unexpected(json.error());
  std::optional<Error> first;
  nlohmann::json all = nlohmann::json::array();
  for (auto& name : p.positionals) {
    Result<Done> r = fn(name);
    if (!r) {
      if (first) fmt::print(stderr, "berth: {}\n", r.error().message);
      else first = r.error();
      continue;
    }
    if (*json) all.push_back(r->json);
    else fmt::print("{}\n", r->line);
  }
  if (*json) fmt::print("{}\n", dump_json(all, 2));
  if (first) return std::unexpected(*first);
  return 0;
}

const FlagSpec help_flag{"help", 'h'};
const FlagSpec format_flag{"format", 0, true};

}  // namespace

CommandResult cmd_start(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args, {help_flag, format_flag}, "start", "NAME...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
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
  auto p = parse_command(args, {help_flag, {"time", 't', true}, format_flag}, "stop", "[-t SECONDS] NAME...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  std::optional<std::chrono::milliseconds> grace;
  if (auto t = (*p)->last("time")) {
    auto n = parse_integer(*t, "time");
    if (!n) return std::unexpected(n.error());
    grace = std::chrono::seconds(*n);
  }
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  return for_each_workload(**p, "stop", [&](const std::string& name) -> Result<Done> {
    auto exit = (*runtime)->stop(name, grace);
    if (!exit) return std::unexpected(exit.error());
    auto j = to_json(*exit);
    j["name"] = name;
    return Done{name, j};
  });
}

CommandResult cmd_kill(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args, {help_flag, {"signal", 's', true}, format_flag}, "kill", "[-s SIGNAL] NAME...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
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
  auto p = parse_command(args, {help_flag, {"force", 'f'}, format_flag}, "rm", "[-f] NAME...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
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
  if (!*p) return 0;
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  return for_each_workload(**p, "wait", [&](const std::string& name) -> Result<Done> {
    auto exit = (*runtime)->wait(name, std::chrono::hours(24 * 365));
    if (!exit) return std::unexpected(exit.error());
    auto j = to_json(*exit);
    j["name"] = name;
    return Done{std::to_string(exit->shell_code()), j};
  });
}

}  // namespace berth::cli
