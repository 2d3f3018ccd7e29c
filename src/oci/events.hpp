// berth-oci events (runc events): a container's resource usage as runc's JSON events, read from
// its cgroup (v1 or v2, whichever the host has, detected at run time).
//   {"type":"stats","id":ID,"data":{"cpu":{"usage":{"total","percpu","kernel","user"},
//     "throttling":{...}},"memory":{"usage":{"usage","limit","max","failcnt"},"swap":{...},
//     "cache","raw":{memory.stat}},"pids":{"current","limit"},"blkio":{...}}}
//   {"type":"oom","id":ID}   (streaming: the cgroup's OOM kill count went up)
// Numbers are runc's units: nanoseconds of cpu, bytes of memory; a limit that is not set is the
// kernel's "unlimited" value (v1) or 2^64-1 (v2 "max"), as runc reports them.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "berth/error.hpp"
#include "linux/cgroup.hpp"
#include "oci/container.hpp"

namespace berth::oci {

// --stats: one stats event for the container (created, running or paused), then returns.
// Otherwise: a stats event every `interval` (and an oom event whenever the OOM killer struck),
// one JSON object a line on `out`, until the container stops.
Result<void> container_events(const RuntimeOptions& options, const std::string& id, bool stats_only,
                              std::chrono::milliseconds interval, std::FILE* out);

}  // namespace berth::oci
