// The narrow interface between berth's interpreter engine (C++23, interp_engine.cpp) and wabt's
// interpreter (wabt_bridge_wabt.cpp). wabt 1.0.32's headers only compile as C++17, so this header
// must stay C++17-clean: no std::expected, no berth headers, no wabt headers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace berth::wasm::wabt_interp {

// Same order as berth::wasm::ValueType.
enum class Kind : std::uint8_t { i32, i64, f32, f64, v128, funcref, externref };

// Same layout of meaning as berth::wasm::Value: floats as bit patterns; a reference is the index
// of an object in the instance's Store (is_null for a null reference).
struct Val {
  Kind kind = Kind::i32;
  std::uint64_t bits = 0;
  std::uint64_t high_bits = 0;
  bool is_null = false;
};

struct Signature {
  std::vector<Kind> params;
  std::vector<Kind> results;
};

// Same order as berth::wasm::ImportInfo::Kind.
enum class ExternKind : std::uint8_t { function, table, memory, global, tag };

struct ImportDecl {
  std::string module;
  std::string name;
  ExternKind kind = ExternKind::function;
  Signature signature;  // for functions
};

struct ExportDecl {
  std::string name;
  ExternKind kind = ExternKind::function;
  Signature signature;  // for functions
};

// A validated module in wabt's compiled form (its ModuleDesc). Immutable once loaded, so one Code
// serves every instance on every thread; each instance re-creates a wabt Module from it in its
// own Store.
struct Code;

struct Loaded {
  std::shared_ptr<const Code> code;  // null when the bytes are not a valid module
  std::string error;                 // then: wabt's messages, each with its byte offset
  std::vector<ImportDecl> imports;
  std::vector<ExportDecl> exports;
  bool has_memory = false;  // a memory of its own (not imported)
  std::uint64_t initial_pages = 0;
  std::optional<std::uint64_t> maximum_pages;
};
Loaded load(const std::uint8_t* data, std::size_t size);

// One wabt Store: the heap of wabt objects (modules, instances, functions, memories...). Instances
// that link to each other's exports must share one; unrelated instances each have their own, so
// they run on different threads without sharing anything. A Store is not thread-safe: every
// operation below takes the Store's (recursive) lock.
class Store;
std::shared_ptr<Store> new_store();

// A host function. `call_context` is what the outermost Instance::call on this Store was given.
// Returns false with a message to trap.
using HostCallback = std::function<bool(void* call_context, const std::vector<Val>& args,
                                        std::vector<Val>& results, std::string& trap_message)>;

class Instance;

// What satisfies one import of a module, in the module's import order: a host function, or an
// export of another instance in the same Store.
struct ImportBinding {
  HostCallback host;
  Signature host_signature;
  const Instance* instance = nullptr;
  std::size_t export_index = 0;
};

struct RunLimits {
  std::optional<std::uint64_t> fuel;  // instructions (wabt's compiled instructions) per call
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

enum class Status { ok, trap, fuel_exhausted, deadline_exceeded, invalid_argument };

struct Outcome {
  Status status = Status::ok;
  std::string message;  // wabt's trap message, or what is wrong with the arguments
  std::vector<Val> results;
  std::uint64_t steps = 0;  // instructions executed
};

enum class InstantiateStatus { ok, link_error, memory_limit, trap };

class Instance {
 public:
  // Instantiates `code` in `store`: imports are matched against the module's import types, data
  // and element segments are applied. The start function is NOT run: run_start does that, under
  // limits. Each of the instance's own memories is capped at memory_limit_pages: memory.grow past
  // it returns -1; a memory whose initial size is larger fails with memory_limit.
  static std::unique_ptr<Instance> create(std::shared_ptr<Store> store, std::shared_ptr<const Code> code,
                                          const std::vector<ImportBinding>& imports,
                                          std::uint64_t memory_limit_pages, InstantiateStatus* status,
                                          std::string* error);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  bool has_start() const;
  Outcome run_start(const RunLimits& limits, void* call_context);
  // Calls the function export `export_index` (arguments already checked against its type).
  Outcome call(std::size_t export_index, const std::vector<Val>& args, const RunLimits& limits,
               void* call_context);
  std::optional<Val> global(std::size_t export_index) const;
  // The memory export `export_index`. No lock: use during a call (from a host function) or when
  // no call runs on this Store.
  std::uint8_t* memory_data(std::size_t export_index) const;
  std::uint64_t memory_size(std::size_t export_index) const;

  const std::shared_ptr<Store>& store() const;

 private:
  struct Impl;
  explicit Instance(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::wasm::wabt_interp
