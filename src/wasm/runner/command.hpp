// Runs a WASI command module (one with `_start`) to its end: what `berth-wasm` (and so every
// wasm workload) does, as a library function so tests run guests through the same code.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <berth/error.hpp>

#include "wasm/engine.hpp"
#include "wasm/wasi/context.hpp"

namespace berth::wasm {

// The exit code of a command that trapped (wasmtime's too: 128 + SIGABRT, as an aborted
// native program). A guest may exit 134 itself; the trap line and reason file tell them apart.
inline constexpr int trap_exit_code = 134;
// The exit code when the module could not be run at all (unreadable, invalid, no `_start`,
// an import berth does not provide, a preopen that cannot be opened): nothing of it ran.
inline constexpr int setup_failure_exit_code = 125;

struct DirMapping {
  std::string host;
  std::string guest;
};

// "HOST", "HOST::GUEST" (as wasmtime's --dir) or "HOST:GUEST" (as stack files store it); GUEST
// defaults to HOST.
Result<DirMapping> parse_dir_mapping(std::string_view text);

struct CommandOptions {
  std::string module_path;  // .wasm or .wat
  std::string engine;       // empty: the default engine
  std::string aot_cache_dir;  // empty: aot::default_cache_dir()
  std::vector<std::string> args;  // args[0] is what the guest sees as its program name
  std::vector<std::string> env;   // K=V, exactly the guest's environment
  std::vector<DirMapping> dirs;
  int stdin_fd = 0, stdout_fd = 1, stderr_fd = 2;  // duplicated; -1 is /dev/null
  std::optional<std::uint64_t> memory_limit_bytes;
  std::optional<std::chrono::nanoseconds> timeout;  // the deadline of the call to `_start`
  std::optional<std::uint64_t> fuel;
  // The peers berth.tcp_connect may reach (wasm/net/peer_allow_list.hpp); empty: no network.
  std::vector<std::string> allowed_peers;
  // More host functions the guest may import (berth-wasm adds the `berth` module's).
  std::vector<HostFunction> extra_imports;
  // Told the size of the guest's linear memory once it is instantiated and then whenever a WASI
  // call sees it changed (cheap: no thread, no polling).
  std::function<void(std::uint64_t)> on_memory_size;
};

struct CommandOutcome {
  int exit_code = 0;        // proc_exit's code, 0 if `_start` returned, trap_exit_code on a trap
  std::optional<Trap> trap;  // set when it trapped (never for proc_exit)
};

// Errors are setup failures (nothing of the guest ran, or its start function trapped while
// instantiating); a trap in `_start` is an outcome, not an error.
Result<CommandOutcome> run_command(const CommandOptions& options);
// The same with the module already loaded (options.module_path then only names it in errors):
// berth-oci's Wasm handler loads it before the container's root is set up.
Result<CommandOutcome> run_loaded_command(CompiledModule& module, const CommandOptions& options);

// One line naming a trap, for stderr and for the workload's status: "wasm trap: <kind>".
std::string describe_trap(const Trap& trap);

}  // namespace berth::wasm
