#pragma once

#include <string>

namespace berth::shim {

// Starts the workload `id`, reports to fd 3, then owns its stdio, logs, limits and exit until
// it ends. Returns the shim's exit code.
int run_monitor(const std::string& root, const std::string& id);

}  // namespace berth::shim
