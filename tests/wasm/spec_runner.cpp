#include "wasm/spec_runner.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>
#include <fstream>
#include <map>
#include <sstream>

#include "wasm/module_reader.hpp"

namespace berth::wasm::spec {
namespace {

using nlohmann::json;

constexpr std::string_view kSpectest = R"((module
  (import "host" "print" (func $print))
  (import "host" "print_i32" (func $print_i32 (param i32)))
  (import "host" "print_i64" (func $print_i64 (param i64)))
  (import "host" "print_f32" (func $print_f32 (param f32)))
  (import "host" "print_f64" (func $print_f64 (param f64)))
  (import "host" "print_i32_f32" (func $print_i32_f32 (param i32 f32)))
  (import "host" "print_f64_f64" (func $print_f64_f64 (param f64 f64)))
  (func (export "print") call $print)
  (func (export "print_i32") (param i32) local.get 0 call $print_i32)
  (func (export "print_i64") (param i64) local.get 0 call $print_i64)
  (func (export "print_f32") (param f32) local.get 0 call $print_f32)
  (func (export "print_f64") (param f64) local.get 0 call $print_f64)
  (func (export "print_i32_f32") (param i32 f32) local.get 0 local.get 1 call $print_i32_f32)
  (func (export "print_f64_f64") (param f64 f64) local.get 0 local.get 1 call $print_f64_f64)
  (global (export "global_i32") i32 (i32.const 666))
  (global (export "global_i64") i64 (i64.const 666))
  (global (export "global_f32") f32 (f32.const 666.6))
  (global (export "global_f64") f64 (f64.const 666.6))
  (table (export "table") 10 20 funcref)
  (memory (export "memory") 1 2)
))";

std::vector<HostFunction> print_functions() {
  std::vector<HostFunction> out;
  auto add = [&](const char* name, std::vector<ValueType> params) {
    out.push_back(HostFunction{"host", name, FunctionType{std::move(params), {}},
                               [](HostCall&, std::span<const Value>, std::span<Value>) -> CallResult<void> { return {}; }});
  };
  using enum ValueType;
  add("print", {});
  add("print_i32", {i32});
  add("print_i64", {i64});
  add("print_f32", {f32});
  add("print_f64", {f64});
  add("print_i32_f32", {i32, f32});
  add("print_f64_f64", {f64, f64});
  return out;
}

std::optional<ValueType> type_named(const std::string& name) {
  if (name == "i32") return ValueType::i32;
  if (name == "i64") return ValueType::i64;
  if (name == "f32") return ValueType::f32;
  if (name == "f64") return ValueType::f64;
  if (name == "externref") return ValueType::externref;
  if (name == "funcref") return ValueType::funcref;
  return std::nullopt;  // v128 and the rest: not judged
}

// An argument value; nullopt when the runner cannot express it.
std::optional<Value> parse_value(const json& v) {
  auto type = type_named(v.at("type").get<std::string>());
  if (!type) return std::nullopt;
  if (!v.contains("value")) return std::nullopt;
  const std::string text = v.at("value").is_string() ? v.at("value").get<std::string>() : "";
  if (*type == ValueType::externref || *type == ValueType::funcref) {
    if (text == "null") return Value{*type, 0, 0, true};
    return Value{*type, std::strtoull(text.c_str(), nullptr, 10)};
  }
  if (text.starts_with("nan:")) return std::nullopt;
  return Value{*type, std::strtoull(text.c_str(), nullptr, 10)};
}

bool matches(const json& expected, const Value& actual) {
  auto type = type_named(expected.at("type").get<std::string>());
  if (!type || *type != actual.type) return false;
  const std::string text = expected.contains("value") ? expected.at("value").get<std::string>() : "";
  if (*type == ValueType::externref || *type == ValueType::funcref) {
    if (text == "null") return actual.is_null;
    if (actual.is_null) return false;
    return *type == ValueType::funcref || actual.bits == std::strtoull(text.c_str(), nullptr, 10);
  }
  if (*type == ValueType::f32 && text.starts_with("nan:")) {
    auto bits = static_cast<std::uint32_t>(actual.bits);
    if ((bits & 0x7f800000u) != 0x7f800000u) return false;
    return text == "nan:canonical" ? (bits & 0x7fffffffu) == 0x7fc00000u : (bits & 0x00400000u) != 0;
  }
  if (*type == ValueType::f64 && text.starts_with("nan:")) {
    std::uint64_t bits = actual.bits;
    if ((bits & 0x7ff0000000000000ull) != 0x7ff0000000000000ull) return false;
    return text == "nan:canonical" ? (bits & 0x7fffffffffffffffull) == 0x7ff8000000000000ull
                                   : (bits & 0x0008000000000000ull) != 0;
  }
  std::uint64_t want = std::strtoull(text.c_str(), nullptr, 10);
  std::uint64_t got = *type == ValueType::i32 || *type == ValueType::f32 ? actual.bits & 0xffffffffu : actual.bits;
  return want == got;
}

std::string describe(const Value& v) {
  if (v.is_null) return fmt::format("{}:null", to_string(v.type));
  return fmt::format("{}:{}", to_string(v.type), v.bits);
}

std::optional<std::vector<std::uint8_t>> read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  return std::vector<std::uint8_t>(text.begin(), text.end());
}

class Runner {
 public:
  Runner(const ModuleFactory& factory, std::filesystem::path dir, FileResult& result)
      : factory_(factory), dir_(std::move(dir)), result_(result) {}

  void run(const json& script) {
    if (!setup_spectest()) return;
    for (const json& command : script.at("commands")) {
      line_ = command.value("line", 0);
      if (std::getenv("BERTH_SPEC_VERBOSE")) std::fprintf(stderr, "  line %d: %s\n", line_, command.at("type").get<std::string>().c_str());
      try {
        step(command);
      } catch (const std::exception& e) {
        fail_with(fmt::format("runner error: {}", e.what()));
      }
    }
  }

 private:
  struct Live {
    std::shared_ptr<CompiledModule> module;
    std::unique_ptr<Instance> instance;
  };

  void pass() { ++result_.passed; }
  void fail_with(const std::string& what) {
    ++result_.failed;
    if (result_.failures.size() < 20) result_.failures.push_back(fmt::format("line {}: {}", line_, what));
  }
  void skip() { ++result_.skipped; }

  bool setup_spectest() {
    auto loaded = read_wat(kSpectest, "spectest.wat");
    if (!loaded) {
      fail_with("spectest: " + loaded.error().message);
      return false;
    }
    auto module = factory_(loaded->bytes);
    if (!module) {
      fail_with("spectest: " + module.error().message);
      return false;
    }
    Imports imports;
    imports.functions = print_functions();
    InstanceLimits limits;
    limits.poison_on_trap = false;
    auto instance = (*module)->instantiate(imports, limits);
    if (!instance) {
      fail_with("spectest: " + instance.error().message);
      return false;
    }
    live_.push_back(std::make_unique<Live>(Live{*module, std::move(*instance)}));
    registered_["spectest"] = live_.back()->instance.get();
    return true;
  }

  Result<std::unique_ptr<Instance>> instantiate(const std::string& filename, std::shared_ptr<CompiledModule>* out) {
    auto bytes = read_bytes(dir_ / filename);
    if (!bytes) return fail(ErrorCode::not_found, filename + " is missing");
    auto module = factory_(*bytes);
    if (!module) return std::unexpected(module.error());
    Imports imports;
    for (const ImportInfo& import : (*module)->info().imports) {
      auto it = registered_.find(import.module);
      if (it != registered_.end()) imports.exports.push_back(LinkedExport{import.module, import.name, it->second, import.name});
    }
    *out = *module;
    // Kept loaded to the end of the file: a failed instantiation may already have written
    // references to its functions into linked tables.
    keep_loaded_.push_back(*module);
    InstanceLimits limits;
    limits.poison_on_trap = false;  // the suite calls on after traps
    return (*module)->instantiate(imports, limits);
  }

  Instance* target(const json& action) {
    if (action.contains("module")) {
      auto it = named_.find(action.at("module").get<std::string>());
      return it == named_.end() ? nullptr : it->second;
    }
    return current_;
  }

  // Runs an action; nullopt result means "not judged" (unsupported values).
  std::optional<CallResult<std::vector<Value>>> perform(const json& action) {
    Instance* instance = target(action);
    if (instance == nullptr) return CallResult<std::vector<Value>>(std::unexpected(Trap{TrapKind::host_error, "no module"}));
    const std::string field = action.at("field").get<std::string>();
    if (action.at("type") == "get") {
      auto value = instance->global(field);
      if (!value) return CallResult<std::vector<Value>>(std::unexpected(Trap{TrapKind::host_error, "no global " + field}));
      return CallResult<std::vector<Value>>(std::vector<Value>{*value});
    }
    std::vector<Value> args;
    for (const json& arg : action.at("args")) {
      auto value = parse_value(arg);
      if (!value) return std::nullopt;
      args.push_back(*value);
    }
    return instance->call(field, args);
  }

  void step(const json& command) {
    const std::string type = command.at("type").get<std::string>();
    if (type == "module") {
      std::shared_ptr<CompiledModule> module;
      auto instance = instantiate(command.at("filename").get<std::string>(), &module);
      if (!instance) {
        current_ = nullptr;
        fail_with("module: " + instance.error().message);
        return;
      }
      live_.push_back(std::make_unique<Live>(Live{module, std::move(*instance)}));
      current_ = live_.back()->instance.get();
      if (command.contains("name")) named_[command.at("name").get<std::string>()] = current_;
      pass();
    } else if (type == "register") {
      Instance* instance = command.contains("name") ? named_[command.at("name").get<std::string>()] : current_;
      if (instance == nullptr) return fail_with("register: no module");
      registered_[command.at("as").get<std::string>()] = instance;
    } else if (type == "action") {
      auto result = perform(command.at("action"));
      if (!result) return skip();
      if (!*result) return fail_with("action trapped: " + result->error().message);
      pass();
    } else if (type == "assert_return") {
      for (const json& e : command.at("expected"))
        if (!type_named(e.at("type").get<std::string>())) return skip();
      auto result = perform(command.at("action"));
      if (!result) return skip();
      if (!*result) return fail_with("assert_return: trapped: " + result->error().message);
      const json& expected = command.at("expected");
      if ((*result)->size() != expected.size()) return fail_with("assert_return: wrong result count");
      for (std::size_t i = 0; i < expected.size(); ++i)
        if (!matches(expected[i], (**result)[i]))
          return fail_with(fmt::format("assert_return {}: got {}, want {}", command.at("action").at("field").get<std::string>(),
                                       describe((**result)[i]), expected[i].dump()));
      pass();
    } else if (type == "assert_trap" || type == "assert_exhaustion") {
      auto result = perform(command.at("action"));
      if (!result) return skip();
      if (*result) return fail_with(type + ": returned, want trap \"" + command.value("text", "") + "\"");
      if (type == "assert_exhaustion" && result->error().kind != TrapKind::call_stack_exhausted)
        return fail_with("assert_exhaustion: trapped with " + result->error().message);
      pass();
    } else if (type == "assert_invalid" || type == "assert_malformed") {
      if (command.value("module_type", "binary") != "binary") return skip();
      auto bytes = read_bytes(dir_ / command.at("filename").get<std::string>());
      if (!bytes) return fail_with("missing module file");
      auto module = factory_(*bytes);
      if (module) return fail_with(type + ": accepted, want \"" + command.value("text", "") + "\"");
      pass();
    } else if (type == "assert_unlinkable" || type == "assert_uninstantiable") {
      std::shared_ptr<CompiledModule> module;
      auto instance = instantiate(command.at("filename").get<std::string>(), &module);
      if (instance) {
        // Keep it alive: a failed assertion may still have written into linked memories.
        live_.push_back(std::make_unique<Live>(Live{module, std::move(*instance)}));
        return fail_with(type + ": instantiated, want \"" + command.value("text", "") + "\"");
      }
      pass();
    } else {
      skip();
    }
  }

  const ModuleFactory& factory_;
  std::filesystem::path dir_;
  FileResult& result_;
  int line_ = 0;
  std::vector<std::shared_ptr<CompiledModule>> keep_loaded_;
  std::vector<std::unique_ptr<Live>> live_;
  Instance* current_ = nullptr;
  std::map<std::string, Instance*> named_;
  std::map<std::string, Instance*> registered_;
};

}  // namespace

std::filesystem::path testsuite_dir() {
  std::filesystem::path dir = std::filesystem::path(BERTH_SOURCE_DIR) / ".." / "shared" / "wasm-testsuite";
  std::error_code ec;
  return std::filesystem::is_directory(dir, ec) ? dir : std::filesystem::path();
}

FileResult run_file(const std::filesystem::path& wast, const ModuleFactory& factory,
                    const std::filesystem::path& work_dir) {
  FileResult result;
  result.file = wast.filename().string();
  std::filesystem::create_directories(work_dir);
  auto json_path = work_dir / (wast.stem().string() + ".json");
  std::string command = fmt::format("wast2json --enable-all '{}' -o '{}' 2>&1", wast.string(), json_path.string());
  if (std::system(command.c_str()) != 0) {
    result.failed = 1;
    result.failures.push_back("wast2json failed: " + command);
    return result;
  }
  std::ifstream in(json_path);
  json script = json::parse(in, nullptr, false);
  if (script.is_discarded()) {
    result.failed = 1;
    result.failures.push_back("cannot parse " + json_path.string());
    return result;
  }
  Runner runner(factory, work_dir, result);
  runner.run(script);
  return result;
}

void run_suite(const ModuleFactory& factory, const SuiteOptions& options) {
  auto dir = testsuite_dir();
  if (dir.empty()) GTEST_SKIP() << "the spec test suite is not at " << BERTH_SOURCE_DIR << "/../shared/wasm-testsuite";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.path().extension() == ".wast") files.push_back(entry.path());
  if (const char* only = std::getenv("BERTH_SPEC_ONLY"))
    std::erase_if(files, [&](const auto& f) { return f.filename() != only; });
  std::sort(files.begin(), files.end());

  std::string work = (std::filesystem::temp_directory_path() / "berth-spec-XXXXXX").string();
  ASSERT_NE(::mkdtemp(work.data()), nullptr);
  std::vector<FileResult> results(files.size());
  std::vector<bool> ran(files.size(), false);
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next++) < files.size();) {
      std::string name = files[i].filename().string();
      results[i].file = name;
      if (options.not_run && options.not_run(name)) continue;
      if (std::getenv("BERTH_SPEC_VERBOSE")) std::fprintf(stderr, "spec %s: running %s\n", options.engine.c_str(), name.c_str());
      results[i] = run_file(files[i], factory, std::filesystem::path(work) / files[i].stem());
      ran[i] = true;
    }
  };
  std::vector<std::thread> workers;
  for (int i = 0; i < std::max(1, options.threads); ++i) workers.emplace_back(worker);
  for (auto& w : workers) w.join();
  std::filesystem::remove_all(work);

  int passed = 0, failed = 0, skipped = 0, not_run = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (!ran[i]) {
      ++not_run;
      continue;
    }
    passed += r.passed;
    failed += r.failed;
    skipped += r.skipped;
    std::printf("spec %s %-32s passed %5d failed %4d skipped %4d\n", options.engine.c_str(), r.file.c_str(), r.passed,
                r.failed, r.skipped);
    auto it = options.expected.find(r.file);
    int allowed = it == options.expected.end() ? 0 : it->second.failures;
    EXPECT_LE(r.failed, allowed) << r.file << (it == options.expected.end() ? "" : " (" + it->second.reason + ")");
    if (r.failed > allowed)
      for (const auto& f : r.failures) ADD_FAILURE() << r.file << " " << f;
  }
  std::printf("spec %s total: %zu files, commands passed %d failed %d skipped %d; %d files not run%s%s\n",
              options.engine.c_str(), files.size(), passed, failed, skipped, not_run,
              not_run ? ": " : "", not_run ? options.not_run_reason.c_str() : "");
}

}  // namespace berth::wasm::spec
