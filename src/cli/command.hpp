// What every CLI command gets, and the commands themselves (one short function each),
// dispatched by name from the table in main.cpp.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "berth/runtime.hpp"
#include "cli/args.hpp"

namespace berth::client {
class RemoteRuntime;
}

namespace berth::cli {

struct Context {
  std::string root;  // --root, or empty for BERTH_ROOT / the default
  std::string storage_driver;  // --storage-driver, or empty: overlay where available
  std::string host;  // --host, or BERTH_HOST: berthd's API (unix:///PATH, tcp://HOST:PORT)
  // Opened on first use, so `berth --version` and bad flags need no state root. berthd's API
  // when --host or BERTH_HOST names it, or when it answers on its default socket and no state
  // root was chosen; else the state store directly. `local`: a terminal or stdin is passed on,
  // which needs the store (and this host) itself.
  Result<Runtime*> runtime(bool local = false);
  // berthd, when runtime() reached it (or can), else unavailable with how to start it.
  Result<client::RemoteRuntime*> daemon();
  bool via_daemon() const { return remote_ != nullptr; }

 private:
  std::unique_ptr<Runtime> runtime_;
  client::RemoteRuntime* remote_ = nullptr;  // runtime_, when it is berthd's
  std::unique_ptr<Runtime> local_;
};

// The exit code for berth's own errors (bad flags, unknown workloads, ...), as docker's 125.
inline constexpr int exit_berth_error = 125;

// A command's exit code (0, the workload's code, ...) or an error printed as "berth: ...".
using CommandResult = Result<int>;
using CommandFn = CommandResult (*)(Context&, const std::vector<std::string>& args);

// lifecycle_commands.cpp
CommandResult cmd_run(Context&, const std::vector<std::string>&);
CommandResult cmd_create(Context&, const std::vector<std::string>&);
CommandResult cmd_start(Context&, const std::vector<std::string>&);
CommandResult cmd_stop(Context&, const std::vector<std::string>&);
CommandResult cmd_kill(Context&, const std::vector<std::string>&);
CommandResult cmd_rm(Context&, const std::vector<std::string>&);
CommandResult cmd_wait(Context&, const std::vector<std::string>&);
// observe_commands.cpp
CommandResult cmd_ps(Context&, const std::vector<std::string>&);
CommandResult cmd_inspect(Context&, const std::vector<std::string>&);
CommandResult cmd_logs(Context&, const std::vector<std::string>&);
CommandResult cmd_exec(Context&, const std::vector<std::string>&);
CommandResult cmd_stats(Context&, const std::vector<std::string>&);
CommandResult cmd_events(Context&, const std::vector<std::string>&);
CommandResult cmd_restart(Context&, const std::vector<std::string>&);
// stack_commands.cpp
CommandResult cmd_up(Context&, const std::vector<std::string>&);
CommandResult cmd_down(Context&, const std::vector<std::string>&);
CommandResult cmd_stack(Context&, const std::vector<std::string>&);
// network_commands.cpp
CommandResult cmd_network(Context&, const std::vector<std::string>&);
CommandResult cmd_port(Context&, const std::vector<std::string>&);
// volume_commands.cpp
CommandResult cmd_volume(Context&, const std::vector<std::string>&);
// image_commands.cpp
CommandResult cmd_image(Context&, const std::vector<std::string>&);
// wasm_commands.cpp
CommandResult cmd_wasm(Context&, const std::vector<std::string>&);

// `berth GROUP SUBCOMMAND ...`: runs the subcommand args[0] names; with no arguments (an
// error) or --help, prints `usage`.
using Subcommand = std::pair<std::string_view, CommandFn>;
CommandResult dispatch_subcommand(Context& ctx, const std::vector<std::string>& args, std::string_view group,
                                  std::span<const Subcommand> subcommands, std::string_view usage);

// `berth GROUP inspect|rm NAME...` (`command` is "network rm"): calls `each` for every NAME in
// order and stops at the first error; `operand` names them in the synopsis and the error
// ("NETWORK"). --help prints the command's help and calls nothing.
CommandResult for_each_operand(Context& ctx, const std::vector<std::string>& args, std::string_view command,
                               std::string_view operand,
                               const std::function<Result<void>(Runtime&, const std::string&)>& each);

// `berth GROUP inspect NAME...` (`command` is "network inspect"): prints the JSON array of what
// `inspect` returns for every NAME, or the first error.
CommandResult print_inspected(Context& ctx, const std::vector<std::string>& args, std::string_view command,
                              std::string_view operand,
                              const std::function<Result<nlohmann::json>(Runtime&, const std::string&)>& inspect);

// `berth GROUP prune` (`command` is "network prune"): calls `prune` and prints each name it
// removed, one a line. --help prints the command's help and calls nothing.
CommandResult print_pruned(Context& ctx, const std::vector<std::string>& args, std::string_view command,
                           const std::function<Result<std::vector<std::string>>(Runtime&)>& prune);

// -t/--time SECONDS: a stop's grace before SIGKILL; nothing when not given.
Result<std::optional<std::chrono::milliseconds>> grace_flag(const ParsedArgs& args);

// Parses a command's flags; for -h/--help prints the command's help and returns std::nullopt
// (the command then exits 0).
Result<std::optional<ParsedArgs>> parse_command(const std::vector<std::string>& args,
                                                const std::vector<FlagSpec>& flags,
                                                std::string_view name, std::string_view synopsis,
                                                int positionals_before_argv = -1);

}  // namespace berth::cli
