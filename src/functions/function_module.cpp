// FunctionModule: one compiled module and its pool of instances (include/berth/functions.hpp).
#include <berth/functions.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <atomic>
#include <bit>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "functions/berth_imports.hpp"
#include "wasm/aot/aot_engine.hpp"
#include "wasm/engines.hpp"
#include "wasm/module_file.hpp"
#include "wasm/net/tcp_connect.hpp"
#include "wasm/wasi/context.hpp"
#include "wasm/wasi/wasi_imports.hpp"

namespace berth::functions {

ValType type_of(const Val& value) { return static_cast<ValType>(value.index()); }

std::string_view to_string(ValType type) {
  switch (type) {
    case ValType::i32: return "i32";
    case ValType::i64: return "i64";
    case ValType::f32: return "f32";
    case ValType::f64: return "f64";
  }
  return "?";
}

namespace {

// "i32, i64"
std::string type_list(const std::vector<ValType>& types) {
  std::vector<std::string_view> names;
  for (auto t : types) names.push_back(to_string(t));
  return fmt::format("{}", fmt::join(names, ", "));
}

}  // namespace

std::string to_string(const Signature& signature) {
  return fmt::format("({}) -> ({})", type_list(signature.params), type_list(signature.results));
}

namespace {

std::optional<ValType> from_engine(wasm::ValueType type) {
  switch (type) {
    case wasm::ValueType::i32: return ValType::i32;
    case wasm::ValueType::i64: return ValType::i64;
    case wasm::ValueType::f32: return ValType::f32;
    case wasm::ValueType::f64: return ValType::f64;
    default: return std::nullopt;  // v128 and references: not callable through this API
  }
}

wasm::Value to_engine(const Val& v) {
  switch (type_of(v)) {
    case ValType::i32: return wasm::Value::i32(static_cast<std::uint32_t>(std::get<std::int32_t>(v)));
    case ValType::i64: return wasm::Value::i64(static_cast<std::uint64_t>(std::get<std::int64_t>(v)));
    case ValType::f32: return wasm::Value::f32_bits(std::bit_cast<std::uint32_t>(std::get<float>(v)));
    case ValType::f64: return wasm::Value::f64_bits(std::bit_cast<std::uint64_t>(std::get<double>(v)));
  }
  return {};
}

Val from_engine(const wasm::Value& v) {
  switch (v.type) {
    case wasm::ValueType::i64: return static_cast<std::int64_t>(v.bits);
    case wasm::ValueType::f32: return std::bit_cast<float>(static_cast<std::uint32_t>(v.bits));
    case wasm::ValueType::f64: return std::bit_cast<double>(v.bits);
    default: return static_cast<std::int32_t>(static_cast<std::uint32_t>(v.bits));
  }
}

Error trap_error(std::string_view function, const wasm::Trap& trap) {
  auto message = fmt::format("{}: wasm trap: {}", function, wasm::to_string(trap.kind));
  if (!trap.message.empty() && trap.message != wasm::to_string(trap.kind)) message += " (" + trap.message + ")";
  switch (trap.kind) {
    case wasm::TrapKind::deadline_exceeded: return Error{ErrorCode::timeout, message};
    case wasm::TrapKind::fuel_exhausted:
    case wasm::TrapKind::memory_limit: return Error{ErrorCode::limit_exceeded, message};
    case wasm::TrapKind::exit:
      return Error{ErrorCode::internal, fmt::format("{}: the guest exited with code {}", function, trap.exit_code)};
    default: return Error{ErrorCode::internal, message};
  }
}

// Resolves the module's limits against the ceilings: unset takes the ceiling, above is refused.
Result<ModuleLimits> resolve_limits(const LoadOptions& options, std::string_view engine) {
  const auto& asked = options.limits;
  const auto& most = options.ceilings;
  ModuleLimits limits;
  if (asked.memory_bytes && *asked.memory_bytes > most.memory_bytes)
    return fail(ErrorCode::limit_exceeded, fmt::format("limits.memory_bytes: {} is above the ceiling of {}",
                                                       *asked.memory_bytes, most.memory_bytes));
  if (asked.execution_time && *asked.execution_time > most.execution_time)
    return fail(ErrorCode::limit_exceeded, fmt::format("limits.execution_time: {} ms is above the ceiling of {} ms",
                                                       asked.execution_time->count(), most.execution_time.count()));
  if (asked.fuel && *asked.fuel > most.fuel)
    return fail(ErrorCode::limit_exceeded,
                fmt::format("limits.fuel: {} is above the ceiling of {}", *asked.fuel, most.fuel));
  if (asked.pool_size && *asked.pool_size > most.pool_size)
    return fail(ErrorCode::limit_exceeded,
                fmt::format("limits.pool_size: {} is above the ceiling of {}", *asked.pool_size, most.pool_size));
  if (asked.kv_max_entries && *asked.kv_max_entries > most.kv_max_entries)
    return fail(ErrorCode::limit_exceeded, fmt::format("limits.kv_max_entries: {} is above the ceiling of {}",
                                                       *asked.kv_max_entries, most.kv_max_entries));
  if (asked.kv_max_value_bytes && *asked.kv_max_value_bytes > most.kv_max_value_bytes)
    return fail(ErrorCode::limit_exceeded, fmt::format("limits.kv_max_value_bytes: {} is above the ceiling of {}",
                                                       *asked.kv_max_value_bytes, most.kv_max_value_bytes));
  if ((asked.memory_bytes && *asked.memory_bytes == 0) || (asked.pool_size && *asked.pool_size == 0) ||
      (asked.fuel && *asked.fuel == 0) || (asked.execution_time && asked.execution_time->count() <= 0))
    return fail(ErrorCode::invalid_spec, "limits: every limit must be positive");
  if (asked.fuel && engine != "interp")
    return fail(ErrorCode::invalid_spec, "limits.fuel: only the interp engine counts instructions");
  limits.memory_bytes = asked.memory_bytes.value_or(most.memory_bytes);
  limits.execution_time = asked.execution_time.value_or(most.execution_time);
  if (engine == "interp") limits.fuel = asked.fuel.value_or(most.fuel);
  limits.pool_size = asked.pool_size.value_or(most.pool_size);
  limits.kv_max_entries = asked.kv_max_entries.value_or(most.kv_max_entries);
  limits.kv_max_value_bytes = asked.kv_max_value_bytes.value_or(most.kv_max_value_bytes);
  return limits;
}

// Which engine made an instance.
enum class Tier { interp, aot };

class PooledModule final : public FunctionModule {
 public:
  PooledModule(std::shared_ptr<wasm::CompiledModule> compiled, Tier tier, ModuleLimits limits, LoadOptions options,
               std::vector<ExportedFunction> exports, std::shared_ptr<const wasm::net::PeerAllowList> peers)
      : compiled_(std::move(compiled)),
        tier_(tier),
        limits_(limits),
        options_(std::move(options)),
        exports_(std::move(exports)),
        peers_(std::move(peers)) {
    const auto& info = compiled_->info();
    reactor_ = info.has_initialize_export() || !info.has_start_export();
    bool uses_berth = false;
    for (const auto& import : info.imports) {
      uses_wasi_ |= import.module == "wasi_snapshot_preview1";
      uses_berth |= import.module == "berth";
    }
    uses_connect_ = wasm::net::imports_tcp_connect(info);
    store_ = std::make_shared<KvStore>(*limits_.kv_max_entries, *limits_.kv_max_value_bytes,
                                       options_.kv_persist_path.string());
    LogSink log = options_.log ? options_.log : LogSink(log_to_stderr);
    log_ = log;
    if (uses_berth) berth_functions_ = berth_imports(store_, std::move(log));
  }

  // Tier-up: compiles `module` for the AOT engine in the background; once loaded, new
  // checkouts get AOT instances and the idle interpreter instances are dropped.
  void start_tier_up(wasm::LoadedModule module, std::filesystem::path cache_dir, std::string what) {
    {
      std::lock_guard lock(mutex_);
      compiling_ = true;
    }
    compiler_ = std::jthread([this, module = std::move(module), cache_dir = std::move(cache_dir),
                              what = std::move(what)](std::stop_token stop) {
      wasm::aot::CompileOptions options;
      options.cache_dir = cache_dir;
      auto compiled = wasm::aot::compile(module, options);
      std::vector<Pooled> retired;
      {
        std::lock_guard lock(mutex_);
        compiling_ = false;
        if (compiled && !stop.stop_requested()) {
          compiled_ = std::move(*compiled);
          tier_ = Tier::aot;
          retired.swap(idle_);  // the interpreter's idle instances: new checkouts make AOT ones
        }
      }
      cv_.notify_all();
      if (!compiled)
        log_(2, fmt::format("{}: the AOT compile failed, calls stay on the interpreter: {}", what,
                            compiled.error().message));
    });
  }

  Result<void> load_store() { return store_->load(); }

  const std::vector<ExportedFunction>& exports() const override { return exports_; }
  bool is_reactor() const override { return reactor_; }
  ModuleLimits limits() const override { return limits_; }

  PoolStats stats() const override {
    std::lock_guard lock(mutex_);
    return PoolStats{idle_.size(), busy_,       created_,
                     dropped_,     tier_ == Tier::aot ? "aot" : "interp", compiling_,
                     calls_[0],    calls_[1]};
  }

  Result<void> prewarm(std::size_t count) {
    count = std::min(count, *limits_.pool_size);
    if (!reactor_) return {};
    for (std::size_t i = 0; i < count; ++i) {
      auto instance = make_instance();
      if (!instance) return std::unexpected(instance.error());
      std::lock_guard lock(mutex_);
      idle_.push_back(std::move(*instance));
    }
    return {};
  }

  Result<std::vector<Val>> call(std::string_view function, std::span<const Val> args) override {
    if (auto checked = check_arguments(function, args); !checked) return std::unexpected(checked.error());
    auto lease = checkout();
    if (!lease) return std::unexpected(lease.error());
    std::vector<wasm::Value> values;
    for (const auto& a : args) values.push_back(to_engine(a));
    auto out = lease->instance().call(function, values);
    if (!out) return std::unexpected(trap_error(function, out.error()));
    std::vector<Val> results;
    for (const auto& v : *out) results.push_back(from_engine(v));
    return results;
  }

  Result<std::vector<std::uint8_t>> call_bytes(std::string_view function, std::span<const std::uint8_t> input) override {
    static const Signature alloc_type{{ValType::i32}, {ValType::i32}};
    static const Signature bytes_type{{ValType::i32, ValType::i32}, {ValType::i64}};
    if (auto r = expect_signature("berth_alloc", alloc_type); !r) return std::unexpected(r.error());
    if (auto r = expect_signature(function, bytes_type); !r) return std::unexpected(r.error());
    if (input.size() > 0x7fffffff) return fail(ErrorCode::limit_exceeded, "call_bytes: the input is over 2 GiB");
    auto lease = checkout();
    if (!lease) return std::unexpected(lease.error());
    auto& instance = lease->instance();
    auto size = wasm::Value::i32(static_cast<std::uint32_t>(input.size()));
    auto pointer = instance.call("berth_alloc", std::span(&size, 1));
    if (!pointer) return std::unexpected(trap_error("berth_alloc", pointer.error()));
    auto* memory = instance.memory();
    if (!memory) return fail(ErrorCode::invalid_spec, "call_bytes: the module exports no memory");
    auto in = memory->view((*pointer)[0].as_i32(), input.size());
    if (!in) return fail(ErrorCode::invalid_spec, "call_bytes: berth_alloc returned memory outside the guest's");
    std::copy(input.begin(), input.end(), in->begin());
    wasm::Value args[2] = {(*pointer)[0], size};
    auto out = instance.call(function, args);
    if (!out) return std::unexpected(trap_error(function, out.error()));
    std::uint64_t packed = (*out)[0].as_i64();
    auto result = memory->view(packed >> 32, packed & 0xffffffffu);
    if (!result)
      return fail(ErrorCode::invalid_spec, fmt::format("{}: returned output outside the guest's memory", function));
    return std::vector<std::uint8_t>(result->begin(), result->end());
  }

 private:
  // An instance and its WASI context (null when the module imports no WASI).
  struct Pooled {
    std::unique_ptr<wasm::Instance> instance;
    std::shared_ptr<wasm::WasiContext> wasi;
    Tier tier = Tier::aot;
  };

  // An instance checked out of the pool; back to it (or dropped) when the lease ends.
  struct Lease {
    PooledModule* pool;
    Pooled pooled;
    Lease(PooledModule* p, Pooled i) : pool(p), pooled(std::move(i)) {}
    Lease(Lease&& other) noexcept : pool(std::exchange(other.pool, nullptr)), pooled(std::move(other.pooled)) {}
    wasm::Instance& instance() const { return *pooled.instance; }
    Lease(const Lease&) = delete;
    ~Lease() {
      if (pool) pool->release(std::move(pooled));
    }
  };

  Result<Pooled> make_instance() {
    wasm::Imports imports;
    Pooled made;
    std::shared_ptr<wasm::CompiledModule> compiled;
    {
      std::lock_guard lock(mutex_);
      compiled = compiled_;
      made.tier = tier_;
    }
    // A WASI context opens descriptors: only for modules that import WASI (or tcp_connect,
    // whose connections are WASI descriptors).
    if (uses_wasi_ || uses_connect_) {
      wasm::WasiConfig config;
      config.args = {"function"};
      config.env = options_.env;
      config.stdin_fd = -1;
      config.stdout_fd = -1;  // a function's output is its results; stray prints go nowhere
      config.stderr_fd = 2;
      auto context = wasm::WasiContext::create(std::move(config));
      if (!context) return std::unexpected(context.error());
      made.wasi = *context;
      if (uses_wasi_) imports.functions = wasm::wasi_imports(made.wasi);
      if (uses_connect_) imports.functions.push_back(wasm::net::tcp_connect_function(peers_, made.wasi));
    }
    imports.functions.insert(imports.functions.end(), berth_functions_.begin(), berth_functions_.end());
    wasm::InstanceLimits limits;
    limits.memory_bytes = *limits_.memory_bytes;
    limits.deadline = *limits_.execution_time;
    limits.fuel = limits_.fuel;
    auto instance = compiled->instantiate(imports, limits);
    if (!instance) return std::unexpected(instance.error());
    if (reactor_ && compiled->info().has_initialize_export())
      if (auto init = (*instance)->call("_initialize", {}); !init)
        return std::unexpected(trap_error("_initialize", init.error()));
    {
      std::lock_guard lock(mutex_);
      ++created_;
    }
    made.instance = std::move(*instance);
    return made;
  }

  Result<Lease> checkout() {
    {
      std::unique_lock lock(mutex_);
      bool free = cv_.wait_for(lock, options_.checkout_timeout,
                               [&] { return !idle_.empty() || busy_ < *limits_.pool_size; });
      if (!free)
        return fail(ErrorCode::timeout, fmt::format("no instance free within {} ms (pool of {}, all busy)",
                                                    options_.checkout_timeout.count(), *limits_.pool_size));
      ++busy_;
      if (!idle_.empty()) {
        auto instance = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(instance));
      }
    }
    auto instance = make_instance();  // outside the lock: instantiation may take a while
    if (!instance) {
      std::lock_guard lock(mutex_);
      --busy_;
      cv_.notify_one();
      return std::unexpected(instance.error());
    }
    return Lease(this, std::move(*instance));
  }

  void release(Pooled pooled) {
    bool keep = pooled.instance && reactor_ && !pooled.instance->poisoned();
    bool retire = false;  // from the tier before the switch: dropped, not counted as a failure
    if (keep) pooled.instance->set_host_context(nullptr);
    // A connection lives for the call that opened it: a kept instance's are closed now.
    if (keep && pooled.wasi) pooled.wasi->fds().close_guest_connections();
    Pooled dropped;
    {
      std::lock_guard lock(mutex_);
      --busy_;
      ++calls_[pooled.tier == Tier::aot ? 1 : 0];
      retire = keep && pooled.tier != tier_;
      if (keep && !retire) {
        idle_.push_back(std::move(pooled));
      } else {
        dropped = std::move(pooled);
        if (!retire) ++dropped_;
      }
    }
    cv_.notify_one();
  }

  Result<void> check_arguments(std::string_view function, std::span<const Val> args) const {
    const ExportedFunction* found = find(function);
    if (!found) return fail(ErrorCode::not_found, fmt::format("{}: no exported function of that name", function));
    std::vector<ValType> given;
    for (const auto& a : args) given.push_back(type_of(a));
    if (given != found->signature.params)
      return fail(ErrorCode::invalid_spec,
                  fmt::format("{}: takes {}, given ({})", function, to_string(found->signature), type_list(given)));
    return {};
  }

  Result<void> expect_signature(std::string_view function, const Signature& wanted) const {
    const ExportedFunction* found = find(function);
    if (!found) return fail(ErrorCode::not_found, fmt::format("{}: no exported function of that name", function));
    if (found->signature.params != wanted.params || found->signature.results != wanted.results)
      return fail(ErrorCode::invalid_spec,
                  fmt::format("{}: is {}, the bytes convention needs {}", function, to_string(found->signature),
                              to_string(wanted)));
    return {};
  }

  const ExportedFunction* find(std::string_view name) const {
    for (const auto& e : exports_)
      if (e.name == name) return &e;
    return nullptr;
  }

  std::shared_ptr<wasm::CompiledModule> compiled_;  // new instances' (guarded by mutex_: tier-up swaps it)
  Tier tier_;
  ModuleLimits limits_;
  LoadOptions options_;
  std::vector<ExportedFunction> exports_;
  bool reactor_ = true;
  bool uses_wasi_ = false;
  std::shared_ptr<KvStore> store_;  // the module's, shared by its instances
  std::vector<wasm::HostFunction> berth_functions_;
  std::shared_ptr<const wasm::net::PeerAllowList> peers_;
  bool uses_connect_ = false;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Pooled> idle_;
  std::size_t busy_ = 0;
  std::uint64_t created_ = 0, dropped_ = 0;
  std::uint64_t calls_[2] = {0, 0};  // interp, aot
  bool compiling_ = false;
  LogSink log_;
  // Last: on destruction it is asked to stop and joined (waiting for a compile in progress; the
  // C compiler is not interrupted) before the members it uses go.
  std::jthread compiler_;
};

}  // namespace

Result<std::shared_ptr<FunctionModule>> FunctionModule::load(const std::filesystem::path& path,
                                                             const LoadOptions& options) {
  // "" and "tiered" tier up (unless waiting for the compiler); otherwise the engine named.
  bool tiered = options.engine == "tiered" || (options.engine.empty() && !options.wait_for_aot);
  std::string engine = tiered ? "aot" : std::string(wasm::effective_engine(options.engine));
  if (auto r = wasm::check_engine(engine); !r) return std::unexpected(r.error());
  auto limits = resolve_limits(options, engine);
  if (!limits) return std::unexpected(limits.error().with_context(fmt::format("module {}", path.string())));
  auto peers = wasm::net::PeerAllowList::parse(options.allowed_peers);
  if (!peers) return std::unexpected(peers.error().with_context(fmt::format("module {}", path.string())));
  Result<std::shared_ptr<wasm::CompiledModule>> compiled;
  Tier tier = engine == "interp" ? Tier::interp : Tier::aot;
  std::optional<wasm::LoadedModule> to_compile;  // tier-up: compiled in the background
  if (tiered && !wasm::is_artifact_file(path)) {
    auto read = wasm::read_module_any(path);
    if (!read) return std::unexpected(read.error());
    wasm::aot::CompileOptions compile_options;
    compile_options.cache_dir = options.aot_cache_dir;
    if (auto cached = wasm::aot::find_cached(*read, compile_options)) {
      compiled = wasm::aot::load(*cached);
    } else {
      compiled = wasm::load_module("interp", *read);
      tier = Tier::interp;
      to_compile = std::move(*read);
    }
    if (!compiled) return std::unexpected(compiled.error().with_context(fmt::format("module {}", path.string())));
  } else {
    compiled = wasm::load_module_file(engine, path, options.aot_cache_dir);
    if (!compiled) return std::unexpected(compiled.error());
  }
  const auto& info = (*compiled)->info();
  if (info.memory && info.memory->initial_pages * 65536 > *limits->memory_bytes)
    return fail(ErrorCode::limit_exceeded,
                fmt::format("module {}: its memory starts at {} pages, above the memory limit of {} bytes",
                            path.string(), info.memory->initial_pages, *limits->memory_bytes));
  std::vector<ExportedFunction> exports;
  for (const auto& e : info.exports) {
    if (e.kind != wasm::ImportInfo::Kind::function || !e.function_type) continue;
    ExportedFunction f{e.name, {}};
    bool callable = true;
    for (auto t : e.function_type->params) {
      auto v = from_engine(t);
      callable &= v.has_value();
      if (v) f.signature.params.push_back(*v);
    }
    for (auto t : e.function_type->results) {
      auto v = from_engine(t);
      callable &= v.has_value();
      if (v) f.signature.results.push_back(*v);
    }
    if (callable) exports.push_back(std::move(f));
  }
  auto module = std::make_shared<PooledModule>(std::move(*compiled), tier, *limits, options, std::move(exports),
                                               std::make_shared<const wasm::net::PeerAllowList>(std::move(*peers)));
  if (auto r = module->load_store(); !r) return std::unexpected(r.error().with_context(fmt::format("module {}", path.string())));
  if (to_compile) module->start_tier_up(std::move(*to_compile), options.aot_cache_dir, path.string());
  if (auto r = module->prewarm(options.prewarm); !r)
    return std::unexpected(r.error().with_context(fmt::format("module {}", path.string())));
  return module;
}

}  // namespace berth::functions
