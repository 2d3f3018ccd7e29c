// Host (Linux) errno values as WASI errno values.
#pragma once

#include "wasm/wasi/abi.hpp"

namespace berth::wasm::wasi {

// Every errno Linux can return maps to the WASI value of the same meaning; the few without one
// (ESTRPIPE, EREMOTEIO, ...) become io.
Errno errno_from_host(int host_errno);

}  // namespace berth::wasm::wasi
