#pragma once

#include <string>

namespace berth::shim {

// Starts the workload `id`, reports to fd 3, then owns its stdio, logs, limits and exit until
// it ends. With `create_only` (containers), the workload is set up and left waiting before exec
// until a start request (start_request_signal) arrives. Returns the shim's exit code.
int run_monitor(const std::string& root, const std::string& id, bool create_only);

}  // namespace berth::shim
