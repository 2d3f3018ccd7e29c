// What every CLI command gets, and the commands themselves (one short function each).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "berth/runtime.hpp"
#include "cli/args.hpp"

namespace berth::cli {

struct Context {
  std::string root;  // --root, or empty for BERTH_ROOT / the default
  // Opened on first use, so `berth --version` needs no state root.
  Result<Runtime*> runtime();

 private:
  std::unique_ptr<Runtime> runtime_;
};

// A command's exit code (0, the workload's code, ...) or an error printed as "berth: ...".
using CommandResult = Result<int>;
using CommandFn = CommandResult (*)(Context&, const std::vector<std::string>& args);

CommandResult cmd_run(Context&, const std::vector<std::string>&);
CommandResult cmd_create(Context&, const std::vector<std::string>&);
CommandResult cmd_start(Context&, const std::vector<std::string>&);
CommandResult cmd_stop(Context&, const std::vector<std::string>&);
CommandResult cmd_kill(Context&, const std::vector<std::string>&);
CommandResult cmd_rm(Context&, const std::vector<std::string>&);
CommandResult cmd_wait(Context&, const std::vector<std::string>&);
CommandResult cmd_ps(Context&, const std::vector<std::string>&);
CommandResult cmd_inspect(Context&, const std::vector<std::string>&);
CommandResult cmd_logs(Context&, const std::vector<std::string>&);
CommandResult cmd_exec(Context&, const std::vector<std::string>&);
CommandResult cmd_stats(Context&, const std::vector<std::string>&);
CommandResult cmd_events(Context&, const std::vector<std::string>&);

// Parses a command's flags; prints its help and returns std::nullopt for -h/--help.
Result<std::optional<ParsedArgs>> parse_command_args(const std::vector<std::string>& args,
                                                     const std::vector<FlagSpec>& flags,
                                                     const std::string& name,
                                                     std::string_view synopsis,
                                                     int positionals_before_argv = -1);

// Shared by commands: "--format json|table".
Result<bool> wants_json(const ParsedArgs& args);
// Writes all of `data` to fd (unbuffered, for streamed output).
void write_fd(int fd, std::string_view data);

}  // namespace berth::cli
