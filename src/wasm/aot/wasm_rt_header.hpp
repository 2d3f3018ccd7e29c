#pragma once

namespace berth::wasm::aot {

// The text of berth's wasm-rt.h (see wasm_rt_header.cpp).
extern const char* const kWasmRtHeader;

}  // namespace berth::wasm::aot
