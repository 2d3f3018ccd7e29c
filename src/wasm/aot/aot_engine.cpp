#include "wasm/aot/aot_engine.hpp"

#include "common/fd.hpp"
#include "wasm/aot/glue.hpp"
#include "wasm/aot/runtime.hpp"

#define WASM_RT_MEMCHECK_SIGNAL_HANDLER 1
#define WASM_RT_USE_STACK_DEPTH_COUNT 0
#include <wasm-rt.h>

#include <dlfcn.h>
#include <sys/mman.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <cstdlib>
#include <cstring>

namespace berth::wasm::aot {
namespace {

// A loaded shared object: held open by the module and every instance of it.
class Library {
 public:
  Library(UniqueFd fd, void* handle) : fd_(std::move(fd)), handle_(handle) {}
  ~Library() {
    dlclose(handle_);  // before the memfd closes: its /proc/self/fd name stays unique meanwhile
  }
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
  void* symbol(const char* name) const { return dlsym(handle_, name); }

  GuestEntry instantiate = nullptr;
  GuestEntry free_instance = nullptr;
  const GuestEntry* export_calls = nullptr;
  using PointerFn = void* (*)(void*);
  const PointerFn* export_pointers = nullptr;
  std::size_t instance_size = 0;

 private:
  UniqueFd fd_;
  void* handle_;
};

std::uint64_t to_slot(const Value& v) {
  switch (v.type) {
    case ValueType::i32: return v.bits & 0xffffffffu;
    case ValueType::f32: return v.bits & 0xffffffffu;
    case ValueType::externref: return v.is_null ? 0 : v.bits + 1;
    case ValueType::funcref: return v.is_null ? 0 : v.bits;
    default: return v.bits;
  }
}

Value from_slot(ValueType type, std::uint64_t slot) {
  switch (type) {
    case ValueType::i32:
    case ValueType::f32: return Value{type, slot & 0xffffffffu};
    case ValueType::externref:
    case ValueType::funcref:
      if (slot == 0) return Value{type, 0, 0, true};
      return Value{type, type == ValueType::externref ? slot - 1 : slot};
    default: return Value{type, slot};
  }
}

class AotMemory final : public GuestMemory {
 public:
  explicit AotMemory(wasm_rt_memory_t* memory) : memory_(memory) {}
  std::uint8_t* data() override { return memory_->data; }
  std::uint64_t size() const override { return std::uint64_t{memory_->pages} * 65536; }

 private:
  wasm_rt_memory_t* memory_;
};

class AotModule;

class AotInstance final : public Instance {
 public:
  struct Binding {
    const HostFunction* host = nullptr;
    AotInstance* linked = nullptr;
    std::size_t export_index = 0;
    FunctionType type;
  };

  AotInstance(std::shared_ptr<const LoadedModule> module, std::shared_ptr<Library> library,
              const InstanceLimits& limits, std::vector<HostFunction> hosts)
      : module_(std::move(module)), library_(std::move(library)), limits_(limits), hosts_(std::move(hosts)) {}

  ~AotInstance() override {
    if (raw_ != nullptr) {
      if (instantiated_) library_->free_instance(raw_, nullptr);
      std::free(raw_);
    }
  }

  Result<void> start(const Imports& imports) {
    const ModuleInfo& info = module_->info;
    pointers_.assign(info.imports.size(), nullptr);
    bindings_.resize(info.imports.size());
    for (std::size_t i = 0; i < info.imports.size(); ++i) {
      const ImportInfo& import = info.imports[i];
      auto described = fmt::format("import \"{}\" \"{}\"", import.module, import.name);
      bool done = false;
      if (import.kind == ImportInfo::Kind::function) {
        for (const HostFunction& host : hosts_) {
          if (host.module != import.module || host.name != import.name) continue;
          if (host.type != *import.function_type)
            return fail(ErrorCode::invalid_spec, described + ": the host function's type does not match");
          bindings_[i] = Binding{&host, nullptr, 0, host.type};
          done = true;
          break;
        }
      }
      if (!done) {
        for (const LinkedExport& link : imports.exports) {
          if (link.module != import.module || link.name != import.name) continue;
          auto* other = dynamic_cast<AotInstance*>(link.instance);
          if (other == nullptr) return fail(ErrorCode::invalid_spec, described + ": linked instance is not an AOT instance");
          auto index = other->find_export(link.export_name, import.kind);
          if (!index)
            return fail(ErrorCode::not_found, fmt::format("{}: the linked instance exports no {} \"{}\"", described,
                                                          import.kind == ImportInfo::Kind::function ? "function" : "such item",
                                                          link.export_name));
          if (import.kind == ImportInfo::Kind::function) {
            const ExportInfo& e = other->module_->info.exports[*index];
            if (*e.function_type != *import.function_type)
              return fail(ErrorCode::invalid_spec, described + ": the linked function's type does not match");
            bindings_[i] = Binding{nullptr, other, *index, *e.function_type};
          } else {
            if (import.kind == ImportInfo::Kind::global) {
              const auto& theirs = other->module_->export_globals[*index];
              const auto& ours = module_->import_globals[i];
              if (!theirs || !ours || theirs->type != ours->type || theirs->is_mutable != ours->is_mutable)
                return fail(ErrorCode::invalid_spec, described + ": the linked global's type does not match");
            }
            pointers_[i] = other->library_->export_pointers[*index](other->raw_);
          }
          done = true;
          break;
        }
      }
      if (!done) return fail(ErrorCode::not_found, described + " is not satisfied");
    }
    if (info.memory && info.memory->initial_pages * 65536 > limits_.memory_bytes)
      return fail(ErrorCode::limit_exceeded,
                  fmt::format("the module's memory needs {} pages, more than the limit of {} bytes",
                              info.memory->initial_pages, limits_.memory_bytes));

    raw_ = std::calloc(1, std::max<std::size_t>(library_->instance_size, 1));
    if (raw_ == nullptr) return fail(ErrorCode::limit_exceeded, "cannot allocate the instance");
    context_ = ImportContext{kImportContextMagic, &AotInstance::trampoline, this, pointers_.data()};
    std::uint64_t slots[1] = {reinterpret_cast<std::uintptr_t>(&context_)};
    int code = 0;
    if (limits_.deadline) call_deadline_ = std::chrono::steady_clock::now() + *limits_.deadline;
    {
      MemoryLimitScope scope(limits_.memory_bytes);
      code = invoke(library_->instantiate, raw_, slots, limits_.deadline);
    }
    instantiated_ = true;  // partly, after a trap: free releases what was allocated
    if (code != 0) {
      poisoned_ = true;
      Trap trap = trap_from_code(code);
      return fail(trap.kind == TrapKind::memory_limit ? ErrorCode::limit_exceeded : ErrorCode::invalid_spec,
                  "instantiation trapped: " + trap.message);
    }
    for (std::size_t i = 0; i < module_->info.exports.size(); ++i) {
      const ExportInfo& e = module_->info.exports[i];
      if (e.name == "memory" && e.kind == ImportInfo::Kind::memory)
        memory_.emplace(static_cast<wasm_rt_memory_t*>(library_->export_pointers[i](raw_)));
    }
    return {};
  }

  CallResult<std::vector<Value>> call(std::string_view name, std::span<const Value> args) override {
    if (poisoned_) return std::unexpected(Trap{TrapKind::host_error, "the instance is poisoned by an earlier trap"});
    auto index = find_export(name, ImportInfo::Kind::function);
    if (!index) return std::unexpected(Trap{TrapKind::host_error, fmt::format("no exported function \"{}\"", name)});
    const FunctionType& type = *module_->info.exports[*index].function_type;
    if (args.size() != type.params.size())
      return std::unexpected(Trap{TrapKind::host_error, fmt::format("\"{}\" takes {} arguments, got {}", name,
                                                                    type.params.size(), args.size())});
    for (std::size_t i = 0; i < args.size(); ++i)
      if (args[i].type != type.params[i])
        return std::unexpected(Trap{TrapKind::host_error,
                                    fmt::format("\"{}\" argument {} is {}, got {}", name, i,
                                                to_string(type.params[i]), to_string(args[i].type))});
    std::vector<std::uint64_t> slots(std::max<std::size_t>({type.params.size(), type.results.size(), 1}));
    for (std::size_t i = 0; i < args.size(); ++i) slots[i] = to_slot(args[i]);
    call_deadline_.reset();
    if (limits_.deadline) call_deadline_ = std::chrono::steady_clock::now() + *limits_.deadline;
    int code = call_raw(*index, slots.data());
    if (code != 0) return std::unexpected(trap_from_code(code));
    std::vector<Value> results;
    for (std::size_t i = 0; i < type.results.size(); ++i) results.push_back(from_slot(type.results[i], slots[i]));
    return results;
  }

  std::optional<Value> global(std::string_view name) override {
    auto index = find_export(name, ImportInfo::Kind::global);
    if (!index || !instantiated_) return std::nullopt;
    const GlobalType& type = *module_->export_globals[*index];
    void* p = library_->export_pointers[*index](raw_);
    switch (type.type) {
      case ValueType::i32: return Value::i32(*static_cast<std::uint32_t*>(p));
      case ValueType::f32: return Value::f32_bits(*static_cast<std::uint32_t*>(p));
      case ValueType::i64: return Value::i64(*static_cast<std::uint64_t*>(p));
      case ValueType::f64: return Value::f64_bits(*static_cast<std::uint64_t*>(p));
      case ValueType::externref: {
        auto ref = reinterpret_cast<std::uintptr_t>(*static_cast<void**>(p));
        return from_slot(ValueType::externref, ref);
      }
      case ValueType::funcref: {
        auto* ref = static_cast<wasm_rt_funcref_t*>(p);
        return from_slot(ValueType::funcref, reinterpret_cast<std::uintptr_t>(ref->func));
      }
      default: return std::nullopt;
    }
  }

  GuestMemory* memory() override { return memory_ ? &*memory_ : nullptr; }
  bool poisoned() const override { return poisoned_; }
  void set_host_context(void* context) override { host_context_ = context; }

 private:
  std::optional<std::size_t> find_export(std::string_view name, ImportInfo::Kind kind) const {
    const auto& exports = module_->info.exports;
    for (std::size_t i = 0; i < exports.size(); ++i)
      if (exports[i].name == name && exports[i].kind == kind) return i;
    return std::nullopt;
  }

  // Runs export `index` on slots; returns 0 or a trap code (and poisons on a trap).
  int call_raw(std::size_t index, std::uint64_t* slots) {
    if (poisoned_) return kTrapHost;
    int code = invoke(library_->export_calls[index], raw_, slots, limits_.deadline);
    if (code != 0 && limits_.poison_on_trap) poisoned_ = true;
    return code;
  }

  static int trampoline(void* host, std::uint32_t index, std::uint64_t* slots) {
    auto* self = static_cast<AotInstance*>(host);
    const Binding& binding = self->bindings_[index];
    HostScope scope;
    if (binding.linked != nullptr) {
      if (binding.linked->poisoned_)
        stash_host_trap(Trap{TrapKind::host_error, "the linked instance is poisoned by an earlier trap"});
      int code = binding.linked->call_raw(binding.export_index, slots);
      if (code != 0) return code;
      return scope.pending_trap();
    }
    std::vector<Value> args;
    args.reserve(binding.type.params.size());
    for (std::size_t i = 0; i < binding.type.params.size(); ++i) args.push_back(from_slot(binding.type.params[i], slots[i]));
    std::vector<Value> results(binding.type.results.size());
    for (std::size_t i = 0; i < results.size(); ++i) results[i].type = binding.type.results[i];
    HostCall call{self->memory(), self->host_context_, self->call_deadline_};
    CallResult<void> result = [&]() -> CallResult<void> {
      try {
        return binding.host->body(call, args, results);
      } catch (const std::exception& e) {
        return std::unexpected(Trap{TrapKind::host_error, fmt::format("host function {}.{} threw: {}",
                                                                       binding.host->module, binding.host->name, e.what())});
      } catch (...) {
        return std::unexpected(Trap{TrapKind::host_error, "host function threw"});
      }
    }();
    if (!result) {
      stash_host_trap(std::move(result.error()));
      return kTrapHost;
    }
    for (std::size_t i = 0; i < results.size(); ++i) slots[i] = to_slot(results[i]);
    return scope.pending_trap();
  }

  std::shared_ptr<const LoadedModule> module_;
  std::shared_ptr<Library> library_;
  InstanceLimits limits_;
  std::vector<HostFunction> hosts_;  // copies: the instance outlives the Imports it was given
  std::vector<Binding> bindings_;
  std::vector<void*> pointers_;
  ImportContext context_{};
  void* raw_ = nullptr;
  bool instantiated_ = false;
  bool poisoned_ = false;
  void* host_context_ = nullptr;
  std::optional<std::chrono::steady_clock::time_point> call_deadline_;  // of the running call
  std::optional<AotMemory> memory_;
};

class AotModule final : public CompiledModule {
 public:
  AotModule(std::shared_ptr<const LoadedModule> module, std::shared_ptr<Library> library)
      : module_(std::move(module)), library_(std::move(library)) {}
  const ModuleInfo& info() const override { return module_->info; }
  Result<std::unique_ptr<Instance>> instantiate(const Imports& imports, const InstanceLimits& limits) override {
    // Native code counts no instructions: a fuel limit would silently mean nothing.
    if (limits.fuel)
      return fail(ErrorCode::invalid_spec, "fuel: the aot engine counts no instructions (fuel needs --engine interp)");
    std::vector<HostFunction> hosts;
    for (const HostFunction& host : imports.functions)
      for (const ImportInfo& import : module_->info.imports)
        if (import.kind == ImportInfo::Kind::function && import.module == host.module && import.name == host.name) {
          hosts.push_back(host);
          break;
        }
    auto instance = std::make_unique<AotInstance>(module_, library_, limits, std::move(hosts));
    if (auto started = instance->start(imports); !started) {
      // A failed instantiation may already have put references to its functions (closed over
      // this instance) into an imported table: such an instance lives as long as the module.
      bool imports_table = std::ranges::any_of(module_->info.imports, [](const ImportInfo& i) {
        return i.kind == ImportInfo::Kind::table;
      });
      if (imports_table) {
        std::lock_guard lock(failed_mutex_);
        failed_.push_back(std::move(instance));
      }
      return std::unexpected(started.error());
    }
    return instance;
  }

 private:
  std::shared_ptr<const LoadedModule> module_;
  std::shared_ptr<Library> library_;
  std::mutex failed_mutex_;
  std::vector<std::unique_ptr<Instance>> failed_;
};

Result<std::shared_ptr<Library>> open_library(const std::string& object) {
  ensure_runtime();
  UniqueFd fd(memfd_create("berth-wasm-module", MFD_CLOEXEC));
  if (!fd) return fail(ErrorCode::internal, std::string("memfd_create: ") + std::strerror(errno));
  std::size_t written = 0;
  while (written < object.size()) {
    ssize_t n = ::write(fd.get(), object.data() + written, object.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(ErrorCode::internal, std::string("write memfd: ") + std::strerror(errno));
    written += static_cast<std::size_t>(n);
  }
  std::string path = fmt::format("/proc/self/fd/{}", fd.get());
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) return fail(ErrorCode::invalid_spec, fmt::format("dlopen: {}", dlerror()));
  auto library = std::make_shared<Library>(std::move(fd), handle);
  auto* abi = static_cast<const std::uint32_t*>(library->symbol("berth_abi_version"));
  if (abi == nullptr || *abi != kGlueAbiVersion)
    return fail(ErrorCode::invalid_spec, "the shared object was built for another glue ABI");
  auto* size = static_cast<const std::size_t*>(library->symbol("berth_instance_size"));
  library->instantiate = reinterpret_cast<GuestEntry>(library->symbol("berth_instantiate"));
  library->free_instance = reinterpret_cast<GuestEntry>(library->symbol("berth_free"));
  library->export_calls = static_cast<const GuestEntry*>(library->symbol("berth_export_calls"));
  library->export_pointers = static_cast<const Library::PointerFn*>(library->symbol("berth_export_pointers"));
  auto init = reinterpret_cast<void (*)()>(library->symbol("berth_init_module"));
  if (size == nullptr || library->instantiate == nullptr || library->free_instance == nullptr ||
      library->export_calls == nullptr || library->export_pointers == nullptr || init == nullptr)
    return fail(ErrorCode::invalid_spec, "the shared object lacks berth's glue symbols");
  library->instance_size = *size;
  init();
  return library;
}

}  // namespace

Result<std::shared_ptr<CompiledModule>> load(const Artifact& artifact) {
  auto module = read_module_bytes(artifact.module);
  if (!module) return std::unexpected(module.error());
  auto library = open_library(artifact.shared_object);
  if (!library) return std::unexpected(library.error());
  return std::make_shared<AotModule>(std::make_shared<const LoadedModule>(std::move(*module)), std::move(*library));
}

Result<std::shared_ptr<CompiledModule>> load_file(const std::filesystem::path& bwasm) {
  auto artifact = read_artifact_file(bwasm);
  if (!artifact) return std::unexpected(artifact.error());
  return load(*artifact);
}

Result<std::shared_ptr<CompiledModule>> compile(const LoadedModule& module, const CompileOptions& options) {
  auto artifact = compile_cached(module, options);
  if (!artifact) return std::unexpected(artifact.error());
  auto library = open_library(artifact->shared_object);
  if (!library) return std::unexpected(library.error());
  return std::make_shared<AotModule>(std::make_shared<const LoadedModule>(module), std::move(*library));
}

Result<void> compile_file(const std::filesystem::path& input, const std::filesystem::path& output,
                          const CompileOptions& options) {
  auto module = read_module_file(input);
  if (!module) return std::unexpected(module.error());
  auto artifact = compile_artifact(*module, options);
  if (!artifact) return std::unexpected(artifact.error());
  return write_artifact_file(*artifact, output);
}

}  // namespace berth::wasm::aot
