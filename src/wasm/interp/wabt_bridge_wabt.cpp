// wabt's interpreter behind wabt_bridge.hpp. Compiled as C++17 (wabt 1.0.32's headers need it).
#include "wasm/interp/wabt_bridge.hpp"

#include <wabt/binary-reader.h>
#include <wabt/error.h>
#include <wabt/feature.h>
#include <wabt/interp/binary-reader-interp.h>
#include <wabt/interp/interp.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>

namespace berth::wasm::wabt_interp {

namespace wi = wabt::interp;

// --- Access to private members of wabt::interp::Thread and Store ---------------------------------
//
// wabt's public Func::Call runs a function to completion; exact fuel needs berth to drive the
// thread one instruction at a time and count. Thread::Run(n) steps n instructions but does not
// say how many it used when the function returned early, so berth pushes the call and steps
// itself (StepInternal is what Run calls; the cost per instruction is the same). Explicit
// instantiation may name private members; this is the standard-conforming way to reach them.
template <typename Tag, typename Tag::type Member>
struct Expose {
  friend typename Tag::type get(Tag) { return Member; }
};

struct StepTag {
  using type = wi::RunResult (wi::Thread::*)(wi::Trap::Ptr*);
  friend type get(StepTag);
};
struct PushCallTag {
  using type = wi::RunResult (wi::Thread::*)(const wi::DefinedFunc&, wi::Trap::Ptr*);
  friend type get(PushCallTag);
};
struct PushValuesTag {
  using type = void (wi::Thread::*)(const wi::ValueTypes&, const wi::Values&);
  friend type get(PushValuesTag);
};
struct PopValuesTag {
  using type = void (wi::Thread::*)(const wi::ValueTypes&, wi::Values*);
  friend type get(PopValuesTag);
};
struct RefsTag {
  using type = std::vector<wi::u32> wi::Thread::*;
  friend type get(RefsTag);
};

template struct Expose<StepTag, &wi::Thread::StepInternal>;
template struct Expose<PushCallTag, &wi::Thread::PushCall>;
template struct Expose<PushValuesTag, &wi::Thread::PushValues>;
template struct Expose<PopValuesTag, &wi::Thread::PopValues>;
template struct Expose<RefsTag, &wi::Thread::refs_>;
struct ValuesTag {
  using type = std::vector<wi::Value> wi::Thread::*;
  friend type get(ValuesTag);
};
template struct Expose<ValuesTag, &wi::Thread::values_>;

// And one of Store: Store::IsValid does not bounds-check, so a reference from the host is checked
// against the size of the store's object list first.
struct ObjectsTag {
  using type = wi::Store::ObjectList wi::Store::*;
  friend type get(ObjectsTag);
};
template struct Expose<ObjectsTag, &wi::Store::objects_>;

// --- Types and values -----------------------------------------------------------------------

namespace {

// WebAssembly 2.0: mutable globals, sign extension, saturating conversions, multi-value, bulk
// memory, reference types and SIMD are wabt 1.0.32's defaults; the rest stay off.
wabt::Features features() { return wabt::Features{}; }

bool to_kind(wabt::Type type, Kind* out) {
  switch (static_cast<wabt::Type::Enum>(type)) {
    case wabt::Type::I32: *out = Kind::i32; return true;
    case wabt::Type::I64: *out = Kind::i64; return true;
    case wabt::Type::F32: *out = Kind::f32; return true;
    case wabt::Type::F64: *out = Kind::f64; return true;
    case wabt::Type::V128: *out = Kind::v128; return true;
    case wabt::Type::FuncRef: *out = Kind::funcref; return true;
    case wabt::Type::ExternRef: *out = Kind::externref; return true;
    default: return false;
  }
}

Kind kind_of(wabt::Type type) {
  Kind kind = Kind::i32;
  to_kind(type, &kind);  // validation admits only the types above
  return kind;
}

Signature signature_of(const wi::FuncType& type) {
  Signature sig;
  for (auto t : type.params) sig.params.push_back(kind_of(t));
  for (auto t : type.results) sig.results.push_back(kind_of(t));
  return sig;
}

wabt::Type type_of(Kind kind) {
  switch (kind) {
    case Kind::i32: return wabt::Type::I32;
    case Kind::i64: return wabt::Type::I64;
    case Kind::f32: return wabt::Type::F32;
    case Kind::f64: return wabt::Type::F64;
    case Kind::v128: return wabt::Type::V128;
    case Kind::funcref: return wabt::Type::FuncRef;
    case Kind::externref: return wabt::Type::ExternRef;
  }
  return wabt::Type::I32;
}

wi::FuncType func_type_of(const Signature& sig) {
  wi::ValueTypes params, results;
  for (auto k : sig.params) params.push_back(type_of(k));
  for (auto k : sig.results) results.push_back(type_of(k));
  return wi::FuncType(params, results);
}

ExternKind extern_kind_of(wabt::ExternalKind kind) {
  switch (kind) {
    case wabt::ExternalKind::Func: return ExternKind::function;
    case wabt::ExternalKind::Table: return ExternKind::table;
    case wabt::ExternalKind::Memory: return ExternKind::memory;
    case wabt::ExternalKind::Global: return ExternKind::global;
    case wabt::ExternalKind::Tag: return ExternKind::tag;
  }
  return ExternKind::function;
}

Val to_val(const wi::Value& value, wabt::Type type) {
  Val out;
  out.kind = kind_of(type);
  switch (out.kind) {
    case Kind::i32: out.bits = value.Get<wabt::interp::u32>(); break;
    case Kind::i64: out.bits = value.Get<wabt::interp::u64>(); break;
    case Kind::f32: {
      float f = value.Get<float>();
      std::uint32_t bits;
      std::memcpy(&bits, &f, sizeof bits);
      out.bits = bits;
      break;
    }
    case Kind::f64: {
      double d = value.Get<double>();
      std::memcpy(&out.bits, &d, sizeof out.bits);
      break;
    }
    case Kind::v128: {
      ::v128 v = value.Get<::v128>();
      out.bits = v.u64(0);
      out.high_bits = v.u64(1);
      break;
    }
    case Kind::funcref:
    case Kind::externref: {
      wi::Ref ref = value.Get<wi::Ref>();
      out.is_null = ref == wi::Ref::Null;
      out.bits = out.is_null ? 0 : ref.index;
      break;
    }
  }
  return out;
}

// A reference from the host must be null or name a live object of the store.
bool to_value(const Val& val, wi::Store& store, wi::Value* out, std::string* error) {
  switch (val.kind) {
    case Kind::i32: *out = wi::Value::Make(static_cast<wi::u32>(val.bits)); return true;
    case Kind::i64: *out = wi::Value::Make(static_cast<wi::u64>(val.bits)); return true;
    case Kind::f32: {
      std::uint32_t bits = static_cast<std::uint32_t>(val.bits);
      float f;
      std::memcpy(&f, &bits, sizeof f);
      *out = wi::Value::Make(f);
      return true;
    }
    case Kind::f64: {
      double d;
      std::memcpy(&d, &val.bits, sizeof d);
      *out = wi::Value::Make(d);
      return true;
    }
    case Kind::v128: {
      ::v128 v;
      v.set_u64(0, val.bits);
      v.set_u64(1, val.high_bits);
      *out = wi::Value::Make(v);
      return true;
    }
    case Kind::funcref:
    case Kind::externref: {
      if (val.is_null) {
        *out = wi::Value::Make(wi::Ref::Null);
        return true;
      }
      static const auto objects = get(ObjectsTag{});
      wi::Ref ref(static_cast<std::size_t>(val.bits));
      if (val.bits >= (store.*objects).size() || !store.IsValid(ref) || ref == wi::Ref::Null ||
          (val.kind == Kind::funcref && !store.Is<wi::Func>(ref))) {
        *error = "reference " + std::to_string(val.bits) + " is not an object of this instance's store";
        return false;
      }
      *out = wi::Value::Make(ref);
      return true;
    }
  }
  return false;
}

}  // namespace

// --- Loading --------------------------------------------------------------------------------

struct Code {
  wi::ModuleDesc desc;  // with no start function: see start
  std::optional<wi::Index> start;
};

Loaded load(const std::uint8_t* data, std::size_t size) {
  Loaded loaded;
  auto code = std::make_shared<Code>();
  wabt::Errors errors;
  wabt::ReadBinaryOptions options(features(), nullptr, /*read_debug_names=*/false,
                                  /*stop_on_first_error=*/true,
                                  /*fail_on_custom_section_error=*/true);
  if (wabt::Failed(wi::ReadBinaryInterp("module", data, size, options, &errors, &code->desc))) {
    for (const auto& e : errors) {
      if (!loaded.error.empty()) loaded.error += "; ";
      char offset[48];
      std::snprintf(offset, sizeof offset, "at byte offset %zu (0x%zx): ", e.loc.offset, e.loc.offset);
      loaded.error += offset + e.message;
    }
    if (loaded.error.empty()) loaded.error = "not a valid WebAssembly module";
    return loaded;
  }
  auto& desc = code->desc;
  // wabt allocates a function's locals in one step on its value stack, and the binary format
  // allows billions of them: beyond V8's limit, refuse the module rather than the allocation.
  constexpr std::uint32_t kMaxLocals = 50000;
  for (std::size_t i = 0; i < desc.funcs.size(); ++i) {
    const auto& locals = desc.funcs[i].locals;
    const std::uint64_t count = locals.empty() ? 0 : locals.back().end;
    if (count > kMaxLocals) {
      loaded.error = "function " + std::to_string(i) + " declares " + std::to_string(count) +
                     " locals, more than the limit of " + std::to_string(kMaxLocals);
      return loaded;
    }
  }
  if (!desc.starts.empty()) code->start = desc.starts.front().func_index;
  desc.starts.clear();

  for (const auto& import : desc.imports) {
    ImportDecl decl;
    decl.module = import.type.module;
    decl.name = import.type.name;
    decl.kind = extern_kind_of(import.type.type->kind);
    if (auto* func = wabt::dyn_cast<wi::FuncType>(import.type.type.get())) decl.signature = signature_of(*func);
    loaded.imports.push_back(std::move(decl));
  }
  for (const auto& exp : desc.exports) {
    ExportDecl decl;
    decl.name = exp.type.name;
    decl.kind = extern_kind_of(exp.type.type->kind);
    if (auto* func = wabt::dyn_cast<wi::FuncType>(exp.type.type.get())) decl.signature = signature_of(*func);
    loaded.exports.push_back(std::move(decl));
  }
  if (!desc.memories.empty()) {
    const auto& limits = desc.memories.front().type.limits;
    loaded.has_memory = true;
    loaded.initial_pages = limits.initial;
    if (limits.has_max) loaded.maximum_pages = limits.max;
  }
  loaded.code = std::move(code);
  return loaded;
}

// --- Stores and instances -------------------------------------------------------------------

class Store {
 public:
  Store() : store(features()) {}
  wi::Store store;
  mutable std::recursive_mutex mutex;
  void* call_context = nullptr;  // of the outermost call running on this store
};

std::shared_ptr<Store> new_store() { return std::make_shared<Store>(); }

struct Instance::Impl {
  std::shared_ptr<Store> store;  // first: outlives every wabt reference below
  std::shared_ptr<const Code> code;
  wi::Instance::Ptr instance;
  std::unique_ptr<wi::Thread> thread;
  std::vector<wi::Func::Ptr> export_funcs;      // by export index; empty if not a function
  std::vector<wi::Global::Ptr> export_globals;  // likewise
  std::vector<wi::Memory*> export_memories;     // kept alive by `instance`
  bool in_call = false;

  Outcome run(const wi::Func::Ptr& func, const wi::Values& params, const RunLimits& limits);
};

Instance::Instance(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Instance::~Instance() {
  std::shared_ptr<Store> store = impl_->store;
  std::lock_guard<std::recursive_mutex> lock(store->mutex);
  impl_.reset();
  // A store shared by linked instances outlives this one: free what only this one used.
  if (store.use_count() > 1) store->store.Collect();
}

const std::shared_ptr<Store>& Instance::store() const { return impl_->store; }

std::unique_ptr<Instance> Instance::create(std::shared_ptr<Store> store, std::shared_ptr<const Code> code,
                                           const std::vector<ImportBinding>& imports,
                                           std::uint64_t memory_limit_pages, InstantiateStatus* status,
                                           std::string* error) {
  std::lock_guard<std::recursive_mutex> lock(store->mutex);
  wi::Store& s = store->store;

  wi::ModuleDesc desc = code->desc;
  for (std::size_t i = 0; i < desc.memories.size(); ++i) {
    auto& limits = desc.memories[i].type.limits;
    if (limits.initial > memory_limit_pages) {
      *status = InstantiateStatus::memory_limit;
      char text[200];
      std::snprintf(text, sizeof text,
                    "memory %zu needs %" PRIu64 " pages (%" PRIu64 " bytes) initially, more than the limit of %" PRIu64
                    " pages",
                    i, limits.initial, limits.initial * WABT_PAGE_SIZE, memory_limit_pages);
      *error = text;
      return nullptr;
    }
    // memory.grow checks the maximum: lowering it makes growth past the limit return -1.
    // has_max stays as it was, so import matching sees the module's own declaration.
    limits.max = std::min<std::uint64_t>(limits.max, memory_limit_pages);
  }
  wi::Module::Ptr module = wi::Module::New(s, std::move(desc));

  if (imports.size() != module->desc().imports.size()) {
    *status = InstantiateStatus::link_error;
    *error = "expected " + std::to_string(module->desc().imports.size()) + " imports, got " +
             std::to_string(imports.size());
    return nullptr;
  }
  std::vector<wi::Extern::Ptr> keep;  // roots for the import objects until the instance holds them
  wi::RefVec refs;
  for (std::size_t i = 0; i < imports.size(); ++i) {
    const ImportBinding& binding = imports[i];
    const auto& import_type = module->desc().imports[i].type;
    if (binding.instance != nullptr) {
      if (binding.instance->impl_->store != store) {
        *status = InstantiateStatus::link_error;
        *error = "import \"" + import_type.module + "." + import_type.name +
                 "\": the exporting instance is in another store";
        return nullptr;
      }
      const auto& exports = binding.instance->impl_->instance->exports();
      if (binding.export_index >= exports.size()) {
        *status = InstantiateStatus::link_error;
        *error = "import \"" + import_type.module + "." + import_type.name + "\": no such export";
        return nullptr;
      }
      refs.push_back(exports[binding.export_index]);
      continue;
    }
    Store* raw_store = store.get();
    HostCallback callback = binding.host;
    Signature sig = binding.host_signature;
    auto host = wi::HostFunc::New(
        s, func_type_of(sig),
        [raw_store, callback, sig](wi::Thread& thread, const wi::Values& params, wi::Values& results,
                                   wi::Trap::Ptr* out_trap) -> wabt::Result {
          std::vector<Val> args;
          args.reserve(params.size());
          for (std::size_t k = 0; k < params.size(); ++k) args.push_back(to_val(params[k], type_of(sig.params[k])));
          std::vector<Val> outs(sig.results.size());
          for (std::size_t k = 0; k < outs.size(); ++k) outs[k].kind = sig.results[k];
          std::string message;
          if (!callback(raw_store->call_context, args, outs, message)) {
            *out_trap = wi::Trap::New(thread.store(), message);
            return wabt::Result::Error;
          }
          for (std::size_t k = 0; k < outs.size(); ++k) {
            outs[k].kind = sig.results[k];
            if (!to_value(outs[k], thread.store(), &results[k], &message)) {
              *out_trap = wi::Trap::New(thread.store(), "host function result " + std::to_string(k) + ": " + message);
              return wabt::Result::Error;
            }
          }
          return wabt::Result::Ok;
        });
    refs.push_back(host.ref());
    keep.push_back(host);
  }

  wi::Trap::Ptr trap;
  wi::Instance::Ptr instance = wi::Instance::Instantiate(s, module.ref(), refs, &trap);
  if (!instance) {
    std::string message = trap ? trap->message() : "instantiation failed";
    // Segment initialisation out of bounds is a trap; anything else is a mismatched import.
    bool is_trap = message.rfind("out of bounds", 0) == 0;
    *status = is_trap ? InstantiateStatus::trap : InstantiateStatus::link_error;
    *error = message;
    return nullptr;
  }

  auto impl = std::make_unique<Impl>();
  impl->store = store;
  impl->code = std::move(code);
  impl->instance = instance;
  impl->thread = std::make_unique<wi::Thread>(s);
  const auto& exports = instance->exports();
  impl->export_funcs.resize(exports.size());
  impl->export_globals.resize(exports.size());
  impl->export_memories.resize(exports.size(), nullptr);
  for (std::size_t i = 0; i < exports.size(); ++i) {
    switch (module->desc().exports[i].type.type->kind) {
      case wabt::ExternalKind::Func: impl->export_funcs[i] = wi::Func::Ptr(s, exports[i]); break;
      case wabt::ExternalKind::Global: impl->export_globals[i] = wi::Global::Ptr(s, exports[i]); break;
      case wabt::ExternalKind::Memory: impl->export_memories[i] = wi::Memory::Ptr(s, exports[i]).get(); break;
      default: break;
    }
  }
  *status = InstantiateStatus::ok;
  return std::unique_ptr<Instance>(new Instance(std::move(impl)));
}

bool Instance::has_start() const { return impl_->code->start.has_value(); }

namespace {

// Sets the store's call context and marks the instance busy for one call.
class CallScope {
 public:
  CallScope(Store& store, bool& in_call, void* context)
      : store_(store), in_call_(in_call), saved_(store.call_context) {
    store_.call_context = context;
    in_call_ = true;
  }
  ~CallScope() {
    store_.call_context = saved_;
    in_call_ = false;
  }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  Store& store_;
  bool& in_call_;
  void* saved_;
};

Outcome invalid(std::string message) {
  Outcome out;
  out.status = Status::invalid_argument;
  out.message = std::move(message);
  return out;
}

}  // namespace

Outcome Instance::run_start(const RunLimits& limits, void* call_context) {
  std::lock_guard<std::recursive_mutex> lock(impl_->store->mutex);
  if (!impl_->code->start) return Outcome{};
  if (impl_->in_call) return invalid("the instance is already running a call");
  CallScope scope(*impl_->store, impl_->in_call, call_context);
  wi::Func::Ptr func(impl_->store->store, impl_->instance->funcs()[*impl_->code->start]);
  return impl_->run(func, {}, limits);
}

Outcome Instance::call(std::size_t export_index, const std::vector<Val>& args, const RunLimits& limits,
                       void* call_context) {
  std::lock_guard<std::recursive_mutex> lock(impl_->store->mutex);
  if (export_index >= impl_->export_funcs.size() || !impl_->export_funcs[export_index]) {
    return invalid("export " + std::to_string(export_index) + " is not a function");
  }
  if (impl_->in_call) return invalid("the instance is already running a call");
  const wi::Func::Ptr& func = impl_->export_funcs[export_index];
  const auto& param_types = func->type().params;
  if (args.size() != param_types.size()) return invalid("wrong number of arguments");
  wi::Values params(args.size());
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string error;
    if (args[i].kind != kind_of(param_types[i])) return invalid("argument " + std::to_string(i) + " has the wrong type");
    if (!to_value(args[i], impl_->store->store, &params[i], &error)) {
      return invalid("argument " + std::to_string(i) + ": " + error);
    }
  }
  CallScope scope(*impl_->store, impl_->in_call, call_context);
  return impl_->run(func, params, limits);
}

Outcome Instance::Impl::run(const wi::Func::Ptr& func, const wi::Values& params, const RunLimits& limits) {
  static const auto step = get(StepTag{});
  static const auto push_call = get(PushCallTag{});
  static const auto push_values = get(PushValuesTag{});
  static const auto pop_values = get(PopValuesTag{});
  static const auto refs = get(RefsTag{});
  static const auto values = get(ValuesTag{});
  // wabt bounds the call stack but lets the value stack grow without end: cap it at 16 MiB.
  constexpr std::size_t kMaxValues = std::size_t{1} << 20;

  Outcome out;
  wi::Trap::Ptr trap;
  wi::Thread& t = *thread;
  const auto& type = func->type();

  auto finish_trap = [&](std::string message) {
    out.status = Status::trap;
    out.message = std::move(message);
    // The thread's stacks hold the abandoned call: start the next call on a clean one.
    thread = std::make_unique<wi::Thread>(store->store);
    return out;
  };
  auto finish_limit = [&](Status status) {
    out.status = status;
    out.message = status == Status::fuel_exhausted ? "fuel exhausted" : "deadline exceeded";
    thread = std::make_unique<wi::Thread>(store->store);
    return out;
  };
  auto finish_results = [&](const wi::Values& values) {
    out.results.reserve(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) out.results.push_back(to_val(values[i], type.results[i]));
    return out;
  };

  if (!wabt::isa<wi::DefinedFunc>(func.get())) {
    // A host function re-exported: call it directly; it runs no Wasm instructions.
    wi::Values results(type.results.size());
    if (wabt::Failed(func->Call(t, params, results, &trap))) {
      return finish_trap(trap ? trap->message() : "host function failed");
    }
    return finish_results(results);
  }

  if (limits.deadline && std::chrono::steady_clock::now() >= *limits.deadline) {
    return finish_limit(Status::deadline_exceeded);
  }
  (t.*push_values)(type.params, params);
  if ((t.*push_call)(*wabt::cast<wi::DefinedFunc>(func.get()), &trap) == wi::RunResult::Trap) {
    return finish_trap(trap->message());
  }

  // Between batches the deadline is checked; a batch is short enough (well under a millisecond)
  // for a timely deadline and long enough that the clock costs nothing measurable.
  constexpr std::uint64_t kBatch = std::uint64_t{1} << 16;
  const std::uint64_t budget = limits.fuel.value_or(std::numeric_limits<std::uint64_t>::max());
  std::uint64_t& steps = out.steps;
  const std::vector<wi::Value>& value_stack = t.*values;
  for (;;) {
    if (steps == budget) return finish_limit(Status::fuel_exhausted);
    const std::uint64_t batch = std::min(kBatch, budget - steps);
    for (std::uint64_t i = 0; i < batch; ++i) {
      wi::RunResult result = (t.*step)(&trap);
      // wabt 1.0.32 reports "call stack exhausted" on a Wasm-to-Wasm call by setting the trap
      // but returning Ok, so the trap is checked as well as the result.
      if (result == wi::RunResult::Ok && !trap && value_stack.size() <= kMaxValues) continue;
      steps += i + 1;
      if (trap) return finish_trap(trap->message());
      if (result == wi::RunResult::Ok) return finish_trap("call stack exhausted: the value stack is full");
      if (result == wi::RunResult::Exception) return finish_trap("uncaught exception");
      wi::Values results;
      (t.*pop_values)(type.results, &results);
      // PopValues leaves the thread's list of reference slots behind (a GC would read stale
      // slots); the outermost call has returned, so the value stack is empty and so is that list.
      (t.*refs).clear();
      return finish_results(results);
    }
    steps += batch;
    if (limits.deadline && std::chrono::steady_clock::now() >= *limits.deadline) {
      return finish_limit(Status::deadline_exceeded);
    }
  }
}

std::optional<Val> Instance::global(std::size_t export_index) const {
  std::lock_guard<std::recursive_mutex> lock(impl_->store->mutex);
  if (export_index >= impl_->export_globals.size() || !impl_->export_globals[export_index]) return std::nullopt;
  const auto& global = impl_->export_globals[export_index];
  return to_val(global->Get(), global->type().type);
}

std::uint8_t* Instance::memory_data(std::size_t export_index) const {
  if (export_index >= impl_->export_memories.size() || !impl_->export_memories[export_index]) return nullptr;
  return impl_->export_memories[export_index]->UnsafeData();
}

std::uint64_t Instance::memory_size(std::size_t export_index) const {
  if (export_index >= impl_->export_memories.size() || !impl_->export_memories[export_index]) return 0;
  return impl_->export_memories[export_index]->ByteSize();
}

}  // namespace berth::wasm::wabt_interp
