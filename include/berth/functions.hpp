// Wasm functions: a module loaded (and compiled) once, shared across threads, whose exported
// functions are called from many threads at a high rate, each call on an instance of its own
// from a bounded pool, isolated and limited.
//
//   auto module = berth::functions::FunctionModule::load("/srv/fn.wasm", {});
//   auto sum = (*module)->call("add", {std::int32_t{2}, std::int32_t{3}});   // {5}
//
// Instances: a reactor (exports `_initialize`, or has no `_start`) is initialised once per
// instance and keeps its linear memory and globals across the calls that reuse it; a command
// (exports `_start`) gets a fresh instance for every call. An instance whose call trapped, timed
// out or ran out of fuel is dropped, never reused.
//
// Host functions: the `berth` import module gives a guest its module's key-value store and
// logging (include/berth/guest/berth.h declares them for C guests).
//
// Bytes in, bytes out (call_bytes): the guest exports
//   berth_alloc(i32 size) -> i32 pointer     memory for the input, in the guest's own heap
//   FUNCTION(i32 pointer, i32 length) -> i64 (output pointer << 32) | output length
// berth copies the input in, calls FUNCTION and copies the output out; both pointers are
// checked against the guest's memory.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <berth/error.hpp>

namespace berth::functions {

enum class ValType { i32, i64, f32, f64 };
using Val = std::variant<std::int32_t, std::int64_t, float, double>;
ValType type_of(const Val& value);
std::string_view to_string(ValType type);

struct Signature {
  std::vector<ValType> params;
  std::vector<ValType> results;
};
std::string to_string(const Signature& signature);  // "(i32, i32) -> (i32)"

struct ExportedFunction {
  std::string name;
  Signature signature;
};

// What one module may use. Unset: the server's ceiling.
struct ModuleLimits {
  std::optional<std::uint64_t> memory_bytes;                  // linear memory per instance
  std::optional<std::chrono::milliseconds> execution_time;    // per call
  std::optional<std::uint64_t> fuel;                          // per call, interp engine only
  std::optional<std::size_t> pool_size;                       // instances checked out at once
  std::optional<std::size_t> kv_max_entries;                  // the module's key-value store
  std::optional<std::size_t> kv_max_value_bytes;
};

// The server's ceilings: a module's limits may lower them, never raise them (load refuses a
// module asking for more, naming the limit).
struct Ceilings {
  std::uint64_t memory_bytes = 256ull << 20;
  std::chrono::milliseconds execution_time{10'000};
  std::uint64_t fuel = 10'000'000'000ull;
  std::size_t pool_size = 64;
  std::size_t kv_max_entries = 10'000;
  std::size_t kv_max_value_bytes = 1 << 20;
};

struct LoadOptions {
  // "" (the default): AOT, tiering up when its artifact is not cached yet (below); "tiered" is
  // the same. "aot": AOT only, load waits for the C compiler. "interp": the interpreter only.
  // Tier-up: load starts the AOT compile in a background thread and returns at once; calls run
  // on interpreter instances meanwhile, and once the artifact is ready new checkouts get AOT
  // instances (idle interpreter instances are dropped, busy ones when their call ends: a
  // reactor's state does not carry over between tiers). A failed compile leaves the module on
  // the interpreter, with a warning to `log`. stats() shows the tier and the calls per tier.
  std::string engine;
  bool wait_for_aot = false;            // "" waits for the compiler in load, as "aot" does
  std::filesystem::path aot_cache_dir;  // empty: the default cache
  ModuleLimits limits;
  Ceilings ceilings;
  std::size_t prewarm = 0;  // reactor instances made at load, ready for the first calls
  // How long a call waits for an instance when all pool_size are checked out.
  std::chrono::milliseconds checkout_timeout{5'000};
  std::vector<std::string> env;  // the guest's WASI environment, K=V
  // The key-value store persists here (written after every change, read at load); empty: it
  // lives in memory as long as the module.
  std::filesystem::path kv_persist_path;
  // Where the guest's berth_log lines go (level 0 debug .. 3 error); null: stderr.
  std::function<void(int level, std::string_view message)> log;
  // The peers berth.tcp_connect may reach: "10.0.0.0/8", "::1/128", "127.0.0.1" (any port),
  // "127.0.0.1:8080", "[::1]:8080", "10.0.0.0/8:443", "db.internal", "localhost:5432" (a name is
  // resolved once, here at load; the guest never resolves names). Empty: no network at all.
  // A bad entry fails the load, naming it.
  std::vector<std::string> allowed_peers;
};

struct PoolStats {
  std::size_t idle = 0;     // instances kept for reuse
  std::size_t busy = 0;     // checked out now
  std::uint64_t created = 0;
  std::uint64_t dropped = 0;  // after a trap, timeout or fuel exhaustion (or a command's call)
  std::string tier;           // the engine new instances come from: "aot" or "interp"
  bool compiling = false;     // tier-up: the AOT compile is still running
  std::uint64_t interp_calls = 0;  // calls served by interpreter instances
  std::uint64_t aot_calls = 0;     // calls served by AOT instances
};

class FunctionModule {
 public:
  static Result<std::shared_ptr<FunctionModule>> load(const std::filesystem::path& module, const LoadOptions& options);
  virtual ~FunctionModule() = default;

  virtual const std::vector<ExportedFunction>& exports() const = 0;
  virtual bool is_reactor() const = 0;
  // The limits in force: the module's, or the ceilings where it set none.
  virtual ModuleLimits limits() const = 0;

  // Arguments are checked against the export's signature (invalid_spec naming the export and
  // what differs). A trap is an error naming it (ErrorCode::internal; timeout for the deadline,
  // limit_exceeded for fuel); no instance free within checkout_timeout is ErrorCode::timeout.
  virtual Result<std::vector<Val>> call(std::string_view function, std::span<const Val> args) = 0;
  virtual Result<std::vector<std::uint8_t>> call_bytes(std::string_view function,
                                                       std::span<const std::uint8_t> input) = 0;
  virtual PoolStats stats() const = 0;
};

}  // namespace berth::functions
