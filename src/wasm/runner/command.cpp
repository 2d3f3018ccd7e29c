#include "wasm/runner/command.hpp"

#include <fmt/format.h>

#include <memory>

#include "wasm/module_file.hpp"
#include "wasm/net/tcp_connect.hpp"
#include "wasm/wasi/wasi_imports.hpp"

namespace berth::wasm {

Result<DirMapping> parse_dir_mapping(std::string_view text) {
  // wasmtime's HOST::GUEST first (so a host path may hold single colons), then HOST:GUEST as
  // stack files and mounts write it, then HOST alone.
  DirMapping mapping;
  auto separator = text.find("::");
  auto guest_at = separator == std::string_view::npos ? separator : separator + 2;
  if (separator == std::string_view::npos) {
    separator = text.find(':');
    guest_at = separator == std::string_view::npos ? separator : separator + 1;
  }
  mapping.host = std::string(text.substr(0, separator));
  mapping.guest = guest_at == std::string_view::npos ? mapping.host : std::string(text.substr(guest_at));
  if (mapping.host.empty() || mapping.guest.empty())
    return fail(ErrorCode::invalid_spec, fmt::format("dir: \"{}\" is not HOST, HOST::GUEST or HOST:GUEST", text));
  return mapping;
}

std::string describe_trap(const Trap& trap) { return fmt::format("wasm trap: {}", to_string(trap.kind)); }

namespace {

// Every WASI call first reports the guest's memory size if it changed since the last one.
std::vector<HostFunction> observed(std::vector<HostFunction> functions,
                                   const std::function<void(std::uint64_t)>& observer) {
  if (!observer) return functions;
  auto last = std::make_shared<std::uint64_t>(0);
  for (auto& function : functions) {
    function.body = [inner = std::move(function.body), observer, last](
                        HostCall& call, std::span<const Value> args, std::span<Value> results) {
      if (call.memory && call.memory->size() != *last) {
        *last = call.memory->size();
        observer(*last);
      }
      return inner(call, args, results);
    };
  }
  return functions;
}

}  // namespace

Result<CommandOutcome> run_command(const CommandOptions& options) {
  auto module = load_module_file(options.engine, options.module_path, options.aot_cache_dir);
  if (!module) return std::unexpected(module.error());
  return run_loaded_command(**module, options);
}

Result<CommandOutcome> run_loaded_command(CompiledModule& module, const CommandOptions& options) {
  if (!module.info().has_start_export())
    return fail(ErrorCode::invalid_spec,
                fmt::format("module {}: exports no _start (not a WASI command; reactors are not run as workloads)",
                            options.module_path));

  // Names in the allow-list are resolved here, once, before the guest runs.
  auto peers = net::PeerAllowList::parse(options.allowed_peers);
  if (!peers) return std::unexpected(peers.error());

  WasiConfig config;
  config.args = options.args;
  config.env = options.env;
  for (const auto& dir : options.dirs) config.preopens.push_back({dir.host, dir.guest});
  config.stdin_fd = options.stdin_fd;
  config.stdout_fd = options.stdout_fd;
  config.stderr_fd = options.stderr_fd;
  auto context = WasiContext::create(std::move(config));
  if (!context) return std::unexpected(context.error());

  Imports imports;
  imports.functions = observed(wasi_imports(*context), options.on_memory_size);
  imports.functions.push_back(
      net::tcp_connect_function(std::make_shared<const net::PeerAllowList>(std::move(*peers)), *context));
  imports.functions.insert(imports.functions.end(), options.extra_imports.begin(), options.extra_imports.end());
  InstanceLimits limits;
  if (options.memory_limit_bytes) limits.memory_bytes = *options.memory_limit_bytes;
  limits.deadline = options.timeout;
  limits.fuel = options.fuel;
  auto instance = module.instantiate(imports, limits);
  if (!instance) return std::unexpected(instance.error().with_context(fmt::format("module {}", options.module_path)));
  if (options.on_memory_size && (*instance)->memory()) options.on_memory_size((*instance)->memory()->size());

  CommandOutcome outcome;
  auto result = (*instance)->call("_start", {});
  if (result) return outcome;
  if (result.error().kind == TrapKind::exit) {
    outcome.exit_code = result.error().exit_code;
    return outcome;
  }
  outcome.exit_code = trap_exit_code;
  outcome.trap = result.error();
  return outcome;
}

}  // namespace berth::wasm
