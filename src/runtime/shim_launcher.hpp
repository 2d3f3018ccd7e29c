// Starts berth-shim detached from the caller (setsid + double fork), so the workload outlives
// the CLI or daemon that started it, and waits for the shim's one-line report.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "berth/error.hpp"

namespace berth {

// Finds the shim binary: `configured`, then $BERTH_SHIM, then beside the running executable,
// then the build tree, then the install location.
Result<std::string> find_shim(const std::string& configured);

// Runs `shim_path --root ROOT --id ID` detached and returns the workload's pid once the shim
// reports it running (or, with create_only, set up and waiting for start), or the error it
// reported.
Result<pid_t> launch_shim(const std::string& shim_path, const std::string& root,
                          const std::string& id, std::chrono::milliseconds timeout,
                          bool create_only);

}  // namespace berth
