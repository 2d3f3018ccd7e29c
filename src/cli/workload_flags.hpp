// The flags of `run` and `create`, and the WorkloadSpec they describe.
#pragma once

#include <string_view>
#include <vector>

#include "berth/spec.hpp"
#include "cli/args.hpp"

namespace berth::cli {

// Flags shared by run and create (run adds -d).
const std::vector<FlagSpec>& workload_flags();

// Builds a process WorkloadSpec from parsed run/create flags; positionals are the argv. Every
// problem the CLI can see is found here, before anything is created.
Result<WorkloadSpec> spec_from_flags(const ParsedArgs& args);

// Adds "K=V" to env; a bare "K" takes K's value from the CLI's own environment (and is skipped
// when unset), as docker does.
Result<void> add_env(std::vector<std::string>& env, std::string_view entry, std::string_view field);

}  // namespace berth::cli
