// The flags of `run` and `create` that make a container (--image or --rootfs) and the container
// part of the WorkloadSpec they describe, parsed as Docker parses them.
#pragma once

#include <vector>

#include "berth/spec.hpp"
#include "cli/args.hpp"

namespace berth::cli {

const std::vector<FlagSpec>& container_flags();

// True when the flags ask for a container (--image or --rootfs).
bool wants_container(const ParsedArgs& args);

// Fills the container fields of `spec` (kind already container). Every error names the flag.
Result<void> container_spec_from_flags(const ParsedArgs& args, WorkloadSpec& spec);

// The -v, --tmpfs and --ulimit forms are read by runtime/spec_text.hpp, shared with stack files.

// "--uidmap CONTAINER:HOST:SIZE".
Result<IdMapping> parse_id_mapping(std::string_view text, std::string_view flag);

}  // namespace berth::cli
