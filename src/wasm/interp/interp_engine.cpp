#include "wasm/interp/interp_engine.hpp"

#include "wasm/interp/wabt_bridge.hpp"

#include <fmt/format.h>

#include <chrono>
#include <exception>
#include <string>
#include <unordered_map>
#include <utility>

namespace berth::wasm::interp {

namespace wi = wabt_interp;

namespace {

ValueType to_value_type(wi::Kind kind) { return static_cast<ValueType>(kind); }
wi::Kind to_kind(ValueType type) { return static_cast<wi::Kind>(type); }
ImportInfo::Kind to_import_kind(wi::ExternKind kind) { return static_cast<ImportInfo::Kind>(kind); }

FunctionType to_function_type(const wi::Signature& sig) {
  FunctionType type;
  for (auto k : sig.params) type.params.push_back(to_value_type(k));
  for (auto k : sig.results) type.results.push_back(to_value_type(k));
  return type;
}

wi::Signature to_signature(const FunctionType& type) {
  wi::Signature sig;
  for (auto t : type.params) sig.params.push_back(to_kind(t));
  for (auto t : type.results) sig.results.push_back(to_kind(t));
  return sig;
}

Value to_value(const wi::Val& v) {
  return Value{to_value_type(v.kind), v.bits, v.high_bits, v.is_null};
}

wi::Val to_val(const Value& v) { return wi::Val{to_kind(v.type), v.bits, v.high_bits, v.is_null}; }

std::string describe(const std::vector<ValueType>& types) {
  std::string out = "(";
  for (std::size_t i = 0; i < types.size(); ++i) {
    if (i > 0) out += ' ';
    out += to_string(types[i]);
  }
  return out + ")";
}

std::string describe(const FunctionType& type) {
  return describe(type.params) + " -> " + describe(type.results);
}

std::string_view describe(ImportInfo::Kind kind) {
  switch (kind) {
    case ImportInfo::Kind::function: return "function";
    case ImportInfo::Kind::table: return "table";
    case ImportInfo::Kind::memory: return "memory";
    case ImportInfo::Kind::global: return "global";
    case ImportInfo::Kind::tag: return "tag";
  }
  return "extern";
}

// wabt's trap messages (src/interp/interp.cc, interp-math.h of 1.0.32) to berth's trap kinds.
TrapKind trap_kind_of(std::string_view message) {
  auto starts = [&](std::string_view prefix) { return message.starts_with(prefix); };
  if (starts("unreachable")) return TrapKind::unreachable;
  if (starts("out of bounds memory access") || starts("invalid atomic access")) return TrapKind::memory_out_of_bounds;
  if (starts("out of bounds table access") || starts("undefined table index")) return TrapKind::table_out_of_bounds;
  if (starts("uninitialized table element")) return TrapKind::uninitialized_element;
  if (starts("indirect call signature mismatch")) return TrapKind::indirect_call_type_mismatch;
  if (starts("integer divide by zero")) return TrapKind::integer_divide_by_zero;
  if (starts("integer overflow")) return TrapKind::integer_overflow;
  if (starts("invalid conversion to integer")) return TrapKind::invalid_conversion;
  if (starts("call stack exhausted")) return TrapKind::call_stack_exhausted;
  return TrapKind::host_error;
}

// What one call (or start function) carries to the host functions it reaches.
struct CallContext {
  void* host_context = nullptr;
  std::optional<Trap> host_trap;  // the Trap a host function returned, passed through unchanged
  std::optional<std::chrono::steady_clock::time_point> deadline;  // the running call's
};

// The memory an instance exports as "memory", seen through the bridge. Host functions hold it
// (shared) and may outlive the instance in a linked Store: then it is detached and empty.
class ExportedMemory final : public GuestMemory {
 public:
  std::uint8_t* data() override { return instance_ ? instance_->memory_data(index_) : nullptr; }
  std::uint64_t size() const override { return instance_ ? instance_->memory_size(index_) : 0; }
  void attach(const wi::Instance* instance, std::size_t index) {
    instance_ = instance;
    index_ = index;
  }
  void detach() { instance_ = nullptr; }
  bool attached() const { return instance_ != nullptr; }

 private:
  const wi::Instance* instance_ = nullptr;
  std::size_t index_ = 0;
};

// What instances keep of their module: it may be destroyed before them.
struct ModuleShared {
  ModuleInfo info;
  std::shared_ptr<const wi::Code> code;
  std::unordered_map<std::string, std::size_t> exports;  // name -> export index

  std::optional<std::size_t> export_index(std::string_view name) const {
    auto it = exports.find(std::string(name));
    if (it == exports.end()) return std::nullopt;
    return it->second;
  }
};

class InterpInstance final : public Instance {
 public:
  InterpInstance(std::shared_ptr<const ModuleShared> module, std::unique_ptr<wi::Instance> bridge,
                 std::shared_ptr<ExportedMemory> memory, const InstanceLimits& limits)
      : module_(std::move(module)), bridge_(std::move(bridge)), memory_(std::move(memory)), limits_(limits) {}

  ~InterpInstance() override {
    memory_->detach();
    // The bridge instance goes before the Store it lives in: bridge_ is destroyed here.
  }

  CallResult<std::vector<Value>> call(std::string_view export_name, std::span<const Value> args) override {
    if (poisoned_) {
      return std::unexpected(Trap{poison_->kind, "the instance is poisoned by an earlier trap: " + poison_->message,
                                  poison_->exit_code});
    }
    auto index = module_->export_index(export_name);
    const ExportInfo* info = index ? &module_->info.exports[*index] : nullptr;
    if (!info || info->kind != ImportInfo::Kind::function) {
      return std::unexpected(Trap{TrapKind::host_error, fmt::format("no function export \"{}\"", export_name)});
    }
    const FunctionType& type = *info->function_type;
    bool matches = args.size() == type.params.size();
    for (std::size_t i = 0; matches && i < args.size(); ++i) matches = args[i].type == type.params[i];
    if (!matches) {
      std::vector<ValueType> given;
      for (const auto& a : args) given.push_back(a.type);
      return std::unexpected(Trap{TrapKind::host_error,
                                  fmt::format("export \"{}\" takes {} but was called with {}", export_name,
                                              describe(type.params), describe(given))});
    }
    std::vector<wi::Val> vals;
    vals.reserve(args.size());
    for (const auto& a : args) vals.push_back(to_val(a));

    auto limits = run_limits();
    CallContext context{host_context_, std::nullopt, limits.deadline};
    wi::Outcome outcome = bridge_->call(*index, vals, limits, &context);
    auto done = finish(outcome, context, export_name);
    if (!done) return std::unexpected(std::move(done.error()));
    std::vector<Value> results;
    results.reserve(outcome.results.size());
    for (const auto& r : outcome.results) results.push_back(to_value(r));
    return results;
  }

  // Runs the start function: at instantiation, before the instance is handed out.
  CallResult<void> run_start() {
    auto limits = run_limits();
    CallContext context{host_context_, std::nullopt, limits.deadline};
    wi::Outcome outcome = bridge_->run_start(limits, &context);
    return finish(outcome, context, "start function");
  }

  std::optional<Value> global(std::string_view export_name) override {
    auto index = module_->export_index(export_name);
    if (!index) return std::nullopt;
    auto val = bridge_->global(*index);
    if (!val) return std::nullopt;
    return to_value(*val);
  }

  GuestMemory* memory() override { return memory_->attached() ? memory_.get() : nullptr; }
  bool poisoned() const override { return poisoned_; }
  void set_host_context(void* context) override { host_context_ = context; }
  std::optional<std::uint64_t> fuel_used() const override { return fuel_used_; }

  const wi::Instance& bridge() const { return *bridge_; }
  const ModuleShared& module() const { return *module_; }

 private:
  wi::RunLimits run_limits() const {
    wi::RunLimits run;
    run.fuel = limits_.fuel;
    if (limits_.deadline) run.deadline = std::chrono::steady_clock::now() + *limits_.deadline;
    return run;
  }

  CallResult<void> finish(const wi::Outcome& outcome, CallContext& context, std::string_view what) {
    fuel_used_ = outcome.steps;
    Trap trap;
    switch (outcome.status) {
      case wi::Status::ok: return {};
      case wi::Status::invalid_argument:  // checked above; not the guest's fault: no poison
        return std::unexpected(Trap{TrapKind::host_error, fmt::format("{}: {}", what, outcome.message)});
      case wi::Status::fuel_exhausted:
        trap = Trap{TrapKind::fuel_exhausted,
                    fmt::format("{}: fuel exhausted after {} instructions", what, outcome.steps)};
        break;
      case wi::Status::deadline_exceeded:
        trap = Trap{TrapKind::deadline_exceeded, fmt::format("{}: deadline exceeded after {} instructions", what,
                                                             outcome.steps)};
        break;
      case wi::Status::trap:
        if (context.host_trap) {
          trap = std::move(*context.host_trap);
        } else {
          trap = Trap{trap_kind_of(outcome.message), fmt::format("{}: {}", what, outcome.message)};
        }
        break;
    }
    if (limits_.poison_on_trap) {
      poisoned_ = true;
      poison_ = trap;
    }
    return std::unexpected(std::move(trap));
  }

  std::shared_ptr<const ModuleShared> module_;
  std::unique_ptr<wi::Instance> bridge_;
  std::shared_ptr<ExportedMemory> memory_;
  InstanceLimits limits_;
  void* host_context_ = nullptr;
  bool poisoned_ = false;
  std::optional<Trap> poison_;
  std::uint64_t fuel_used_ = 0;
};

wi::HostCallback bind_host(const HostFunction& function, std::shared_ptr<ExportedMemory> memory) {
  return [memory = std::move(memory), body = function.body, type = function.type](
             void* call_context, const std::vector<wi::Val>& args, std::vector<wi::Val>& results,
             std::string& trap_message) -> bool {
    auto* context = static_cast<CallContext*>(call_context);
    HostCall call{memory->attached() ? memory.get() : nullptr, context ? context->host_context : nullptr,
                  context ? context->deadline : std::nullopt};
    std::vector<Value> in;
    in.reserve(args.size());
    for (const auto& a : args) in.push_back(to_value(a));
    std::vector<Value> out(type.results.size());
    for (std::size_t i = 0; i < out.size(); ++i) out[i].type = type.results[i];
    CallResult<void> result;
    try {
      result = body(call, in, out);
    } catch (const std::exception& e) {
      result = std::unexpected(Trap{TrapKind::host_error, std::string("host function threw: ") + e.what()});
    } catch (...) {
      result = std::unexpected(Trap{TrapKind::host_error, "host function threw"});
    }
    if (!result) {
      trap_message = result.error().message.empty() ? std::string(to_string(result.error().kind))
                                                    : result.error().message;
      if (context) context->host_trap = std::move(result.error());
      return false;
    }
    for (std::size_t i = 0; i < out.size(); ++i) {
      results[i] = to_val(out[i]);
      results[i].kind = to_kind(type.results[i]);  // the declared type wins
    }
    return true;
  };
}

class InterpModuleImpl final : public InterpModule {
 public:
  explicit InterpModuleImpl(std::shared_ptr<const ModuleShared> shared) : shared_(std::move(shared)) {}

  const ModuleInfo& info() const override { return shared_->info; }

  Result<std::unique_ptr<Instance>> instantiate(const Imports& imports, const InstanceLimits& limits) override {
    return instantiate_with(nullptr, imports, limits);
  }

  Result<std::unique_ptr<Instance>> instantiate_in(LinkGroup& group, const Imports& imports,
                                                   const InstanceLimits& limits) override {
    return instantiate_with(group.store(), imports, limits);
  }

  Result<std::unique_ptr<Instance>> instantiate_with(std::shared_ptr<wi::Store> store, const Imports& imports,
                                                     const InstanceLimits& limits) {
    const ModuleInfo& info = shared_->info;
    auto memory = std::make_shared<ExportedMemory>();
    std::vector<wi::ImportBinding> bindings;
    bindings.reserve(info.imports.size());
    for (const ImportInfo& import : info.imports) {
      const std::string where = fmt::format("import \"{}.{}\" ({})", import.module, import.name, describe(import.kind));
      wi::ImportBinding binding;
      bool bound = false;
      if (import.kind == ImportInfo::Kind::function) {
        for (const HostFunction& function : imports.functions) {
          if (function.module != import.module || function.name != import.name) continue;
          if (function.type != *import.function_type) {
            return fail(ErrorCode::invalid_spec,
                        fmt::format("{}: the module imports {} but the host function is {}", where,
                                    describe(*import.function_type), describe(function.type)));
          }
          binding.host = bind_host(function, memory);
          binding.host_signature = to_signature(function.type);
          bound = true;
          break;
        }
      }
      if (!bound) {
        for (const LinkedExport& linked : imports.exports) {
          if (linked.module != import.module || linked.name != import.name) continue;
          auto* other = dynamic_cast<const InterpInstance*>(linked.instance);
          if (!other) {
            return fail(ErrorCode::invalid_spec,
                        fmt::format("{}: linked to an instance that is not an interpreter instance", where));
          }
          auto index = other->module().export_index(linked.export_name);
          if (!index) {
            return fail(ErrorCode::not_found,
                        fmt::format("{}: the linked instance has no export \"{}\"", where, linked.export_name));
          }
          const ExportInfo& exported = other->module().info.exports[*index];
          if (exported.kind != import.kind) {
            return fail(ErrorCode::invalid_spec, fmt::format("{}: the linked export \"{}\" is a {}", where,
                                                             linked.export_name, describe(exported.kind)));
          }
          const auto& other_store = other->bridge().store();
          if (!store) {
            store = other_store;
          } else if (store != other_store) {
            return fail(ErrorCode::conflict,
                        fmt::format("{}: the linked instance is in another store (instances that link to each "
                                    "other must be instantiated in one LinkGroup)",
                                    where));
          }
          binding.instance = &other->bridge();
          binding.export_index = *index;
          bound = true;
          break;
        }
      }
      if (!bound) return fail(ErrorCode::not_found, fmt::format("{} is not provided", where));
      bindings.push_back(std::move(binding));
    }
    if (!store) store = wi::new_store();

    const std::uint64_t limit_pages = limits.memory_bytes / 65536;
    wi::InstantiateStatus status = wi::InstantiateStatus::ok;
    std::string error;
    auto bridge = wi::Instance::create(std::move(store), shared_->code, bindings, limit_pages, &status, &error);
    if (!bridge) {
      switch (status) {
        case wi::InstantiateStatus::memory_limit:
          return fail(ErrorCode::limit_exceeded, fmt::format("instantiate: {} (memory limit {} bytes)", error,
                                                             limits.memory_bytes));
        case wi::InstantiateStatus::trap:
          return fail(ErrorCode::invalid_spec, fmt::format("instantiate: trap: {}", error));
        default: return fail(ErrorCode::invalid_spec, fmt::format("instantiate: {}", error));
      }
    }
    if (auto index = shared_->export_index("memory");
        index && info.exports[*index].kind == ImportInfo::Kind::memory) {
      memory->attach(bridge.get(), *index);
    }
    auto instance = std::make_unique<InterpInstance>(shared_, std::move(bridge), memory, limits);
    if (auto started = instance->run_start(); !started) {
      const Trap& trap = started.error();
      ErrorCode code = trap.kind == TrapKind::fuel_exhausted || trap.kind == TrapKind::memory_limit
                           ? ErrorCode::limit_exceeded
                       : trap.kind == TrapKind::deadline_exceeded ? ErrorCode::timeout
                                                                  : ErrorCode::invalid_spec;
      return fail(code, fmt::format("instantiate: {} trapped ({})", trap.message, to_string(trap.kind)));
    }
    return std::unique_ptr<Instance>(std::move(instance));
  }

 private:
  std::shared_ptr<const ModuleShared> shared_;
};

}  // namespace

LinkGroup::LinkGroup() : store_(wi::new_store()) {}

Result<std::unique_ptr<InterpModule>> load_module(std::span<const std::uint8_t> bytes) {
  wi::Loaded loaded = wi::load(bytes.data(), bytes.size());
  if (!loaded.code) return fail(ErrorCode::invalid_spec, "invalid module: " + loaded.error);
  auto shared = std::make_shared<ModuleShared>();
  shared->code = std::move(loaded.code);
  ModuleInfo& info = shared->info;
  info.size_bytes = bytes.size();
  for (auto& import : loaded.imports) {
    ImportInfo out{std::move(import.module), std::move(import.name), to_import_kind(import.kind), std::nullopt};
    if (out.kind == ImportInfo::Kind::function) out.function_type = to_function_type(import.signature);
    info.imports.push_back(std::move(out));
  }
  for (std::size_t i = 0; i < loaded.exports.size(); ++i) {
    auto& exported = loaded.exports[i];
    ExportInfo out{exported.name, to_import_kind(exported.kind), std::nullopt};
    if (out.kind == ImportInfo::Kind::function) out.function_type = to_function_type(exported.signature);
    shared->exports.emplace(exported.name, i);
    info.exports.push_back(std::move(out));
  }
  if (loaded.has_memory) info.memory = MemoryInfo{loaded.initial_pages, loaded.maximum_pages};
  return std::make_unique<InterpModuleImpl>(std::move(shared));
}

}  // namespace berth::wasm::interp
