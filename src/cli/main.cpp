// berth: the command-line interface, a thin layer over the Runtime API.
#include <fmt/format.h>

#include <cstring>
#include <string_view>

#include "cli/command.hpp"

namespace berth::cli {

Result<Runtime*> Context::runtime() {
  if (!runtime_) {
    auto opened = open_runtime(RuntimeOptions{root, {}});
    if (!opened) return std::unexpected(opened.error());
    runtime_ = std::move(*opened);
  }
  return runtime_.get();
}

namespace {

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
    {"wait", cmd_wait, "wait for workloads to exit and print their exit codes"},
    {"events", cmd_events, "show lifecycle events"},
};

void usage() {
  fmt::print("usage: berth [--root DIR] COMMAND [FLAGS] [ARGS]\n\ncommands:\n");
  for (auto& c : commands) fmt::print("  {:<9} {}\n", c.name, c.summary);
  fmt::print("\nberth COMMAND --help shows a command's flags. BERTH_ROOT sets the state root.\n");
}

}  // namespace
}  // namespace berth::cli

int main(int argc, char** argv) {
  using namespace berth::cli;
  Context context;
  int i = 1;
  for (; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--root" && i + 1 < argc) {
      context.root = argv[++i];
    } else if (arg.starts_with("--root=")) {
      context.root = std::string(arg.substr(7));
    } else if (arg == "--version" || arg == "version") {
      fmt::print("berth version {}\n", berth::version());
      return 0;
    } else if (arg == "-h" || arg == "--help" || arg == "help") {
      usage();
      return 0;
    } else if (arg.starts_with("-")) {
      fmt::print(stderr, "berth: unknown flag \"{}\"\n", arg);
      return 125;
    } else {
      break;
    }
  }
  if (i >= argc) {
    usage();
    return 125;
  }
  std::string_view name = argv[i];
  std::vector<std::string> args(argv + i + 1, argv + argc);
  for (auto& c : commands) {
    if (c.name != name) continue;
    auto result = c.fn(context, args);
    if (!result) {
      fmt::print(stderr, "berth: {}\n", result.error().message);
      return 125;
    }
    return *result;
  }
  fmt::print(stderr, "berth: unknown command \"{}\" (see berth --help)\n", name);
  return 125;
}
