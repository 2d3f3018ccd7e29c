// A wasm workload runs as a process whose program is berth-wasm (src/wasm/runner/main.cpp):
// the shim turns the spec's module, wasm settings and args into the runner's command line.
#pragma once

#include <string>

#include "berth/error.hpp"
#include "berth/spec.hpp"
#include "runtime/layout.hpp"

namespace berth::shim {

// berth-wasm next to this shim, then in the build tree, then installed.
Result<std::string> find_wasm_runner();

// The process spec that runs `spec` (kind wasm): berth-wasm with its flags, the module and the
// guest's args, and the spec's environment (the runner hands it to the guest exactly).
Result<WorkloadSpec> wasm_runner_spec(const WorkloadSpec& spec, const StateLayout& layout, const std::string& id);

}  // namespace berth::shim
