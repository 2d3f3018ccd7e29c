#include "functions/berth_imports.hpp"

#include <cstring>
#include <fmt/format.h>

namespace berth::functions {
namespace {

using wasm::CallResult;
using wasm::HostCall;
using wasm::Value;
using wasm::ValueType;

constexpr ValueType I32 = ValueType::i32;

std::int32_t code(KvStatus status) { return static_cast<std::int32_t>(status); }

// Guest bytes [offset, offset + length) as a string, or nullopt when outside its memory.
std::optional<std::string> guest_string(HostCall& call, const Value& offset, const Value& length) {
  if (!call.memory) return std::nullopt;
  auto view = call.memory->view(offset.as_i32(), length.as_i32());
  if (!view) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(view->data()), view->size());
}

// Copies `data` to the guest's buffer when it fits; false when the buffer is outside its memory.
bool copy_out(HostCall& call, const Value& buffer, const Value& capacity, std::string_view data) {
  if (data.size() > capacity.as_i32()) return true;  // too small: the caller learns the size and retries
  auto view = call.memory ? call.memory->view(buffer.as_i32(), data.size()) : std::nullopt;
  if (!view) return false;
  std::memcpy(view->data(), data.data(), data.size());
  return true;
}

wasm::HostFunction function(std::string name, std::vector<ValueType> params, std::vector<ValueType> results,
                            wasm::HostFunctionBody body) {
  return wasm::HostFunction{"berth", std::move(name), wasm::FunctionType{std::move(params), std::move(results)},
                            std::move(body)};
}

}  // namespace

std::vector<wasm::HostFunction> berth_imports(std::shared_ptr<KvStore> store, LogSink log) {
  std::vector<wasm::HostFunction> out;
  auto reply = [](std::span<Value> results, std::int32_t value) -> CallResult<void> {
    results[0] = Value::i32(static_cast<std::uint32_t>(value));
    return {};
  };
  out.push_back(function("kv_get", {I32, I32, I32, I32}, {I32}, [store, reply](HostCall& call, auto args, auto results) {
    auto key = guest_string(call, args[0], args[1]);
    if (!key) return reply(results, code(KvStatus::bad_pointer));
    if (key->size() > kKvMaxKeyBytes) return reply(results, code(KvStatus::key_too_long));
    auto value = store->get(*key);
    if (!value) return reply(results, code(KvStatus::not_found));
    std::string_view bytes(reinterpret_cast<const char*>(value->data()), value->size());
    if (!copy_out(call, args[2], args[3], bytes)) return reply(results, code(KvStatus::bad_pointer));
    return reply(results, static_cast<std::int32_t>(value->size()));
  }));
  out.push_back(function("kv_set", {I32, I32, I32, I32}, {I32}, [store, reply](HostCall& call, auto args, auto results) {
    auto key = guest_string(call, args[0], args[1]);
    auto value = guest_string(call, args[2], args[3]);
    if (!key || !value) return reply(results, code(KvStatus::bad_pointer));
    return reply(results, code(store->set(*key, std::vector<std::uint8_t>(value->begin(), value->end()))));
  }));
  out.push_back(function("kv_delete", {I32, I32}, {I32}, [store, reply](HostCall& call, auto args, auto results) {
    auto key = guest_string(call, args[0], args[1]);
    if (!key) return reply(results, code(KvStatus::bad_pointer));
    return reply(results, code(store->remove(*key)));
  }));
  out.push_back(function("kv_exists", {I32, I32}, {I32}, [store, reply](HostCall& call, auto args, auto results) {
    auto key = guest_string(call, args[0], args[1]);
    if (!key) return reply(results, code(KvStatus::bad_pointer));
    return reply(results, store->exists(*key) ? 1 : 0);
  }));
  out.push_back(function("kv_keys", {I32, I32, I32, I32}, {I32}, [store, reply](HostCall& call, auto args, auto results) {
    auto prefix = guest_string(call, args[0], args[1]);
    if (!prefix) return reply(results, code(KvStatus::bad_pointer));
    std::string joined;
    for (const auto& key : store->keys(*prefix)) {
      joined += key;
      joined += '\0';
    }
    if (joined.size() > 0x7fffffff) return reply(results, code(KvStatus::value_too_large));
    if (!copy_out(call, args[2], args[3], joined)) return reply(results, code(KvStatus::bad_pointer));
    return reply(results, static_cast<std::int32_t>(joined.size()));
  }));
  out.push_back(function("kv_count", {}, {I32}, [store, reply](HostCall&, auto, auto results) {
    return reply(results, static_cast<std::int32_t>(store->count()));
  }));
  out.push_back(function("log", {I32, I32, I32}, {}, [log](HostCall& call, auto args, auto) -> CallResult<void> {
    auto message = guest_string(call, args[1], args[2]);
    if (message && log) log(static_cast<int>(args[0].as_i32()), *message);
    return {};
  }));
  return out;
}

void log_to_stderr(int level, std::string_view message) {
  static constexpr std::string_view names[] = {"debug", "info", "warn", "error"};
  fmt::print(stderr, "{}: {}\n", level >= 0 && level < 4 ? names[level] : "log", message);
}

}  // namespace berth::functions
