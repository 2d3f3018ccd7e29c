// One health probe of a running workload: a command inside it, an HTTP GET or a TCP connect.
#pragma once

#include "berth/runtime.hpp"

namespace berth::supervisor {

// Probes `status.pid`'s workload as `check` says, within check.timeout. HTTP and TCP probes
// connect from inside the workload's network namespace when it has its own (a container's
// private loopback is not reachable from the host). exit_code 0 is a pass; output says what
// was seen or why it failed (at most 4 KiB).
HealthResult run_health_probe(Runtime& runtime, const WorkloadStatus& status, const HealthCheck& check);

}  // namespace berth::supervisor
