// berth: the command-line interface, a thin layer over the Runtime API. Global flags, then a
// command looked up by name in one table.
#include <unistd.h>

#include <cstdlib>

#include <fmt/format.h>

#include <string_view>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "client/remote_runtime.hpp"
#include "http/client.hpp"

namespace berth::cli {

namespace {

constexpr const char* default_daemon_socket = "/run/berth/berth.sock";

}  // namespace

Result<client::RemoteRuntime*> Context::daemon() {
  if (remote_) return remote_;
  std::string where = host.empty() ? std::string("unix://") + default_daemon_socket : host;
  auto endpoint = http::parse_endpoint(where);
  if (!endpoint) return std::unexpected(endpoint.error());
  auto remote = client::RemoteRuntime::connect(*endpoint);
  if (!remote) {
    // The hint to start berthd only when nothing answers: a refusal or a busy berthd is running.
    switch (remote.error().code) {
      case ErrorCode::permission_denied:
        return fail(ErrorCode::permission_denied,
                    fmt::format("cannot use berthd at {}: {}; it serves root and its own user", where,
                                remote.error().message));
      case ErrorCode::limit_exceeded:
        return fail(ErrorCode::unavailable, fmt::format("{}: try again in a moment", remote.error().message));
      default:
        return fail(ErrorCode::unavailable,
                    fmt::format("berthd does not answer at {} ({}): start it with `berthd` (or `systemctl "
                                "start berthd`)", where, remote.error().message));
    }
  }
  remote_ = remote->get();
  runtime_ = std::move(*remote);
  return remote_;
}

Result<Runtime*> Context::runtime(bool local) {
  auto open_local = [&]() -> Result<std::unique_ptr<Runtime>> {
    return open_runtime(RuntimeOptions{root, {}, storage_driver});
  };
  if (local) {
    if (!remote_ && runtime_) return runtime_.get();
    if (!local_) {
      auto opened = open_local();
      if (!opened) return std::unexpected(opened.error());
      local_ = std::move(*opened);
    }
    return local_.get();
  }
  if (runtime_) return runtime_.get();
  if (!host.empty()) {
    auto d = daemon();
    if (!d) return std::unexpected(d.error());
    return runtime_.get();
  }
  // berthd when it runs on this host's default root; a chosen root is worked on directly.
  if (root.empty() && !std::getenv("BERTH_ROOT") && ::access(default_daemon_socket, F_OK) == 0) {
    if (auto d = daemon()) return runtime_.get();
  }
  auto opened = open_local();
  if (!opened) return std::unexpected(opened.error());
  runtime_ = std::move(*opened);
  return runtime_.get();
}

CommandResult dispatch_subcommand(Context& ctx, const std::vector<std::string>& args, std::string_view group,
                                  std::span<const Subcommand> subcommands, std::string_view usage) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    fmt::print("{}", usage);
    return args.empty() ? exit_berth_error : 0;
  }
  for (auto [name, fn] : subcommands)
    if (args[0] == name) return fn(ctx, {args.begin() + 1, args.end()});
  return fail(ErrorCode::invalid_spec, fmt::format("{}: unknown command \"{}\"", group, args[0]));
}

CommandResult for_each_operand(Context& ctx, const std::vector<std::string>& args, std::string_view command,
                               std::string_view operand,
                               const std::function<Result<void>(Runtime&, const std::string&)>& each) {
  auto p = parse_command(args, {help_flag}, command, fmt::format("{}...", operand));
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  if ((*p)->positionals.empty()) return fail(ErrorCode::invalid_spec, fmt::format("{}: give a {}", command, operand));
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  for (const auto& name : (*p)->positionals)
    if (auto r = each(**runtime, name); !r) return std::unexpected(r.error());
  return 0;
}

CommandResult print_inspected(Context& ctx, const std::vector<std::string>& args, std::string_view command,
                              std::string_view operand,
                              const std::function<Result<nlohmann::json>(Runtime&, const std::string&)>& inspect) {
  nlohmann::json list = nlohmann::json::array();
  auto done = for_each_operand(ctx, args, command, operand, [&](Runtime& runtime, const std::string& name) {
    auto info = inspect(runtime, name);
    if (!info) return Result<void>(std::unexpected(info.error()));
    list.push_back(std::move(*info));
    return Result<void>();
  });
  if (done && !list.empty()) print_json(list);
  return done;
}

CommandResult print_pruned(Context& ctx, const std::vector<std::string>& args, std::string_view command,
                           const std::function<Result<std::vector<std::string>>(Runtime&)>& prune) {
  auto p = parse_command(args, {help_flag}, command, "");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto removed = prune(**runtime);
  if (!removed) return std::unexpected(removed.error());
  for (const auto& name : *removed) write_fd(1, name + "\n");
  return 0;
}

Result<std::optional<std::chrono::milliseconds>> grace_flag(const ParsedArgs& args) {
  auto t = args.last("time");
  if (!t) return std::optional<std::chrono::milliseconds>();
  auto secs = parse_integer(*t, "time", 0, 365LL * 24 * 3600);
  if (!secs) return std::unexpected(secs.error());
  return std::optional<std::chrono::milliseconds>(std::chrono::seconds(*secs));
}

Result<std::optional<ParsedArgs>> parse_command(const std::vector<std::string>& args,
                                                const std::vector<FlagSpec>& flags,
                                                std::string_view name, std::string_view synopsis,
                                                int positionals_before_argv) {
  auto parsed = parse_args(args, flags, name, positionals_before_argv);
  if (!parsed) return std::unexpected(parsed.error());
  if (parsed->has("help")) {
    print_help(name, synopsis, flags);
    return std::nullopt;
  }
  return std::optional<ParsedArgs>(std::move(*parsed));
}

namespace {

CommandResult cmd_version(Context&, const std::vector<std::string>&) {
  fmt::print("berth version {}\n", version());
  return 0;
}

CommandResult cmd_help(Context&, const std::vector<std::string>&);

struct CommandEntry {
  std::string_view name;
  CommandFn fn;
  std::string_view summary;
};

constexpr CommandEntry commands[] = {
    {"run", cmd_run, "create and start a workload; stream its output unless -d"},
    {"create", cmd_create, "create a workload without starting it"},
    {"start", cmd_start, "start created or exited workloads"},
    {"stop", cmd_stop, "stop workloads: stop signal, then SIGKILL after -t seconds"},
    {"kill", cmd_kill, "send a signal to workloads"},
    {"rm", cmd_rm, "remove workloads (-f: also running ones)"},
    {"ps", cmd_ps, "list workloads (-a: all, -q: ids only)"},
    {"inspect", cmd_inspect, "show workloads as JSON"},
    {"logs", cmd_logs, "show a workload's output"},
    {"exec", cmd_exec, "run a command inside a running workload"},
    {"stats", cmd_stats, "show resource usage"},
    {"restart", cmd_restart, "stop, then start workloads (-t: grace before SIGKILL)"},
    {"up", cmd_up, "start a stack file's workloads in dependency order (-d: leave them to berthd)"},
    {"down", cmd_down, "stop and remove a stack's workloads, dependents first"},
    {"stack", cmd_stack, "stacks: validate a file, ls, ps, logs"},
    {"wait", cmd_wait, "wait for workloads to exit and print their exit codes"},
    {"events", cmd_events, "show lifecycle events"},
    {"port", cmd_port, "show where a container's published ports are on the host"},
    {"network", cmd_network, "manage bridge networks: create, ls, inspect, rm, prune"},
    {"volume", cmd_volume, "manage named volumes: ls, inspect, rm, prune"},
    {"image", cmd_image, "manage local images: import, ls, inspect, rm"},
    {"wasm", cmd_wasm, "WebAssembly modules: inspect (run one with run --wasm)"},
    {"version", cmd_version, "show berth's version"},
    {"help", cmd_help, "show this help, or a command's (help COMMAND)"},
};

const std::vector<FlagSpec> global_flags = {
    {"root", 0, true, "DIR", "state root (default $BERTH_ROOT, then /var/lib/berth)"},
    {"host", 'H', true, "unix:///PATH|tcp://HOST:PORT", "berthd's API (default $BERTH_HOST, then its socket if it runs)"},
    {"storage-driver", 0, true, "overlay|copy", "how container roots are made (default: overlay where available)"},
    {"version", 'v', false, {}, "show berth's version"},
    help_flag,
};

void usage() {
  fmt::print("usage: berth [--root DIR] COMMAND [FLAGS] [ARGS]\n\ncommands:\n");
  for (auto& c : commands) fmt::print("  {:<9} {}\n", c.name, c.summary);
  fmt::print("\nberth COMMAND --help shows a command's flags.\n");
}

const CommandEntry* find_command(std::string_view name) {
  for (auto& c : commands)
    if (c.name == name) return &c;
  return nullptr;
}

Error unknown_command(std::string_view name) {
  return Error{ErrorCode::invalid_spec,
               fmt::format("unknown command \"{}\" (see berth --help)", name)};
}

CommandResult cmd_help(Context& context, const std::vector<std::string>& args) {
  if (args.empty()) {
    usage();
    return 0;
  }
  const CommandEntry* c = find_command(args[0]);
  if (c == nullptr || c->fn == cmd_help) return std::unexpected(unknown_command(args[0]));
  return c->fn(context, {"--help"});
}

}  // namespace
}  // namespace berth::cli

int main(int argc, char** argv) {
  using namespace berth::cli;
  auto fail = [](const berth::Error& e) {
    fmt::print(stderr, "berth: {}\n", e.message);
    return exit_berth_error;
  };
  // Global flags end at the first positional: the command; the rest is the command's.
  auto global = parse_args(std::vector<std::string>(argv + 1, argv + argc), global_flags, "berth", 0);
  if (!global) return fail(global.error());
  Context context;
  if (global->has("version")) return *cmd_version(context, {});
  if (global->has("help")) return *cmd_help(context, {});
  if (global->positionals.empty()) {
    usage();
    return exit_berth_error;
  }
  if (auto root = global->last("root")) {
    if (root->empty()) return fail({berth::ErrorCode::invalid_spec, "root: an empty path"});
    context.root = *root;
  }
  context.storage_driver = global->last("storage-driver").value_or("");
  if (auto host = global->last("host")) context.host = *host;
  else if (const char* env = std::getenv("BERTH_HOST"); env && *env) context.host = env;
  const std::string& name = global->positionals.front();
  const CommandEntry* command = find_command(name);
  if (command == nullptr) return fail(unknown_command(name));
  auto result = command->fn(context, {global->positionals.begin() + 1, global->positionals.end()});
  if (!result) return fail(result.error());
  return *result;
}
