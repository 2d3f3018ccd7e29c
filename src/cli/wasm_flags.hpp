// The flags of `run` and `create` that make a wasm workload (--wasm MODULE) and the wasm part of
// the WorkloadSpec they describe, in the manner of wasmtime's (--dir HOST[::GUEST]).
#pragma once

#include <vector>

#include "berth/spec.hpp"
#include "cli/args.hpp"

namespace berth::cli {

const std::vector<FlagSpec>& wasm_flags();

// True when the flags ask for a wasm workload (--wasm).
bool wants_wasm(const ParsedArgs& args);

// Fills the wasm fields of `spec` (kind already wasm): the module and host directories made
// absolute, --memory as the guest's linear memory limit. Every error names the flag.
Result<void> wasm_spec_from_flags(const ParsedArgs& args, WorkloadSpec& spec);

}  // namespace berth::cli
