// WASI preview 1 (wasi_snapshot_preview1) as host functions both engines bind: every function
// of the witx with its exact core-Wasm signature, all working on one WasiContext.
//
// Pointers from the guest go through GuestMemory::view; an out-of-bounds pointer (or a module
// without an exported memory) is Errno::fault, never a host crash. proc_exit returns a Trap of
// kind exit carrying the code (also recorded in the context). proc_raise returns Errno::nosys:
// signals have no meaning inside a sandboxed instance (wasmtime and WAMR don't raise either).
#pragma once

#include <memory>
#include <vector>

#include "wasm/engine.hpp"
#include "wasm/wasi/context.hpp"

namespace berth::wasm {

using wasi::WasiConfig;
using wasi::WasiContext;

std::vector<HostFunction> wasi_imports(std::shared_ptr<WasiContext> context);

}  // namespace berth::wasm
