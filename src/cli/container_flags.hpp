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

// "-v SRC:DST[:OPTS]": an absolute SRC is a bind mount, a name is a volume.
Result<Mount> parse_volume(std::string_view text);
// "--tmpfs DST[:OPTS]".
Result<Mount> parse_tmpfs(std::string_view text);
// "--ulimit nofile=1024[:2048]".
Result<Rlimit> parse_ulimit(std::string_view text);
// "--uidmap CONTAINER:HOST:SIZE".
Result<IdMapping> parse_id_mapping(std::string_view text, std::string_view flag);

}  // namespace berth::cli
