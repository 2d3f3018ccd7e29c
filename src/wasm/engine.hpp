// The seam between berth's two Wasm engines (AOT through wasm2c, and wabt's interpreter) and
// everything that uses them: WASI, the spec-test runner, the wasm workload, the function pool.
// Each engine implements CompiledModule and Instance; callers see only these types.
#pragma once

#include <berth/error.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace berth::wasm {

enum class ValueType : std::uint8_t { i32, i64, f32, f64, v128, funcref, externref };
std::string_view to_string(ValueType type);

// One Wasm value. Floats are carried as their bit patterns so NaN payloads survive the trip.
struct Value {
  ValueType type = ValueType::i32;
  std::uint64_t bits = 0;       // i32 (zero-extended), i64, f32 bits, f64 bits
  std::uint64_t high_bits = 0;  // upper half of a v128
  // A reference is null when bits == 0 and is_null; otherwise engine-defined.
  bool is_null = false;

  static Value i32(std::uint32_t v) { return {ValueType::i32, v}; }
  static Value i64(std::uint64_t v) { return {ValueType::i64, v}; }
  static Value f32_bits(std::uint32_t v) { return {ValueType::f32, v}; }
  static Value f64_bits(std::uint64_t v) { return {ValueType::f64, v}; }
  std::uint32_t as_i32() const { return static_cast<std::uint32_t>(bits); }
  std::uint64_t as_i64() const { return bits; }
  bool operator==(const Value&) const = default;
};

struct FunctionType {
  std::vector<ValueType> params;
  std::vector<ValueType> results;
  bool operator==(const FunctionType&) const = default;
};

enum class TrapKind {
  unreachable,
  memory_out_of_bounds,
  table_out_of_bounds,
  integer_divide_by_zero,
  integer_overflow,
  invalid_conversion,
  indirect_call_type_mismatch,
  uninitialized_element,
  call_stack_exhausted,
  deadline_exceeded,  // the per-call execution deadline passed
  fuel_exhausted,     // the interpreter's instruction budget ran out
  memory_limit,       // memory.grow past the instance's limit is not a trap (it returns -1);
                      // this is for instantiation needing more than the limit
  host_error,         // a host function failed in a way the guest cannot see as an errno
  exit,               // WASI proc_exit: not an error, exit_code says how it ended
};
std::string_view to_string(TrapKind kind);

struct Trap {
  TrapKind kind = TrapKind::unreachable;
  std::string message;
  int exit_code = 0;  // for TrapKind::exit
};

template <typename T>
using CallResult = std::expected<T, Trap>;

// A guest's linear memory as the host sees it during a call. The base may move when the guest
// grows its memory, so host code re-reads data()/size() after anything that can call back.
class GuestMemory {
 public:
  virtual ~GuestMemory() = default;
  virtual std::uint8_t* data() = 0;
  virtual std::uint64_t size() const = 0;  // bytes
  // Checked view of [offset, offset + length): nullopt when any byte is outside the memory.
  std::optional<std::span<std::uint8_t>> view(std::uint64_t offset, std::uint64_t length) {
    if (offset > size() || length > size() - offset) return std::nullopt;
    return std::span<std::uint8_t>(data() + offset, length);
  }
};

// What a host function gets besides its arguments: the calling instance's memory (its export
// named "memory", if any) and the per-call host context the embedder attached.
struct HostCall {
  GuestMemory* memory = nullptr;
  void* context = nullptr;
  // When the running call's execution deadline passes (none without one): a host function that
  // blocks (berth.tcp_connect) waits no longer than this.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

using HostFunctionBody =
    std::function<CallResult<void>(HostCall& call, std::span<const Value> args, std::span<Value> results)>;

struct HostFunction {
  std::string module;  // import module name, e.g. "wasi_snapshot_preview1"
  std::string name;    // import field name, e.g. "fd_write"
  FunctionType type;
  HostFunctionBody body;
};

struct ImportInfo {
  std::string module;
  std::string name;
  enum class Kind { function, table, memory, global, tag } kind = Kind::function;
  std::optional<FunctionType> function_type;  // for functions
};

struct ExportInfo {
  std::string name;
  ImportInfo::Kind kind = ImportInfo::Kind::function;
  std::optional<FunctionType> function_type;  // for functions
};

struct MemoryInfo {
  std::uint64_t initial_pages = 0;
  std::optional<std::uint64_t> maximum_pages;
};

// What `berth wasm inspect` shows and what callers check before instantiating.
struct ModuleInfo {
  std::vector<ImportInfo> imports;
  std::vector<ExportInfo> exports;
  std::optional<MemoryInfo> memory;  // the module's own (not imported) memory 0
  std::uint64_t size_bytes = 0;
  bool has_start_export() const;       // "_start": a WASI command
  bool has_initialize_export() const;  // "_initialize": a WASI reactor
};

struct InstanceLimits {
  std::uint64_t memory_bytes = 4ull << 30;  // linear memory ceiling per instance
  std::optional<std::chrono::nanoseconds> deadline;  // per call
  std::optional<std::uint64_t> fuel;                 // interpreter only: instructions per call
  // A trap poisons the instance (berth's policy). The spec tests turn this off: in Wasm
  // semantics an instance stays usable after a trap, and the suite relies on that.
  bool poison_on_trap = true;
};

class Instance {
 public:
  virtual ~Instance() = default;
  // Calls an exported function. Arguments are checked against its type (an error names the
  // export and the mismatch). A trap, deadline or fuel exhaustion poisons the instance.
  virtual CallResult<std::vector<Value>> call(std::string_view export_name, std::span<const Value> args) = 0;
  virtual std::optional<Value> global(std::string_view export_name) = 0;
  virtual GuestMemory* memory() = 0;  // the export "memory", or null
  virtual bool poisoned() const = 0;
  virtual void set_host_context(void* context) = 0;  // passed to host functions as HostCall::context
  // Instructions the last call executed (its fuel use), for engines that count them.
  virtual std::optional<std::uint64_t> fuel_used() const { return std::nullopt; }
};

// An export of one instance that satisfies another module's import (module, name): how the
// spec tests' `register` works and how the `spectest` host module (itself a small Wasm module
// whose functions call host functions) is linked in. Functions, memories, tables and globals
// can be linked this way; an engine links only instances of its own kind, and the exporting
// instance must outlive the importing one.
struct LinkedExport {
  std::string module;
  std::string name;
  Instance* instance = nullptr;
  std::string export_name;
};

struct Imports {
  std::vector<HostFunction> functions;
  std::vector<LinkedExport> exports;
};

class CompiledModule {
 public:
  virtual ~CompiledModule() = default;
  virtual const ModuleInfo& info() const = 0;
  // Every import must be satisfied by `imports`, or this fails naming the first unresolved one.
  // Instantiation runs the module's start function (if any); a trap there is an error.
  virtual Result<std::unique_ptr<Instance>> instantiate(const Imports& imports,
                                                        const InstanceLimits& limits) = 0;
};

}  // namespace berth::wasm
