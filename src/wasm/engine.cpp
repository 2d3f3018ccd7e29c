#include "wasm/engine.hpp"

#include <algorithm>

namespace berth::wasm {

std::string_view to_string(ValueType type) {
  switch (type) {
    case ValueType::i32: return "i32";
    case ValueType::i64: return "i64";
    case ValueType::f32: return "f32";
    case ValueType::f64: return "f64";
    case ValueType::v128: return "v128";
    case ValueType::funcref: return "funcref";
    case ValueType::externref: return "externref";
  }
  return "unknown";
}

std::string_view to_string(TrapKind kind) {
  switch (kind) {
    case TrapKind::unreachable: return "unreachable";
    case TrapKind::memory_out_of_bounds: return "out of bounds memory access";
    case TrapKind::table_out_of_bounds: return "out of bounds table access";
    case TrapKind::integer_divide_by_zero: return "integer divide by zero";
    case TrapKind::integer_overflow: return "integer overflow";
    case TrapKind::invalid_conversion: return "invalid conversion to integer";
    case TrapKind::indirect_call_type_mismatch: return "indirect call type mismatch";
    case TrapKind::uninitialized_element: return "uninitialized element";
    case TrapKind::call_stack_exhausted: return "call stack exhausted";
    case TrapKind::deadline_exceeded: return "deadline exceeded";
    case TrapKind::fuel_exhausted: return "fuel exhausted";
    case TrapKind::memory_limit: return "memory limit exceeded";
    case TrapKind::host_error: return "host error";
    case TrapKind::exit: return "exit";
  }
  return "unknown";
}

static bool exports_function(const ModuleInfo& info, std::string_view name) {
  return std::ranges::any_of(info.exports, [&](const ExportInfo& e) {
    return e.name == name && e.kind == ImportInfo::Kind::function;
  });
}

bool ModuleInfo::has_start_export() const { return exports_function(*this, "_start"); }
bool ModuleInfo::has_initialize_export() const { return exports_function(*this, "_initialize"); }

}  // namespace berth::wasm
