// berth-oci's operations on a container that exists, beyond the lifecycle (runc's pause, resume,
// ps and update): all of them act on the container's cgroup, found through its state.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "berth/error.hpp"
#include "berth/spec.hpp"
#include "oci/config.hpp"
#include "oci/container.hpp"

namespace berth::oci {

// Freezes a running container's cgroup (v1 freezer, v2 cgroup.freeze); its state says "paused".
Result<void> pause_container(const RuntimeOptions& options, const std::string& id);
// Thaws a paused container; its state says "running" again.
Result<void> resume_container(const RuntimeOptions& options, const std::string& id);

// The host pids in the container's cgroup (a created, running or paused container), sorted.
Result<std::vector<pid_t>> container_pids(const RuntimeOptions& options, const std::string& id);
// Runs `ps ps_args` (host ps; "-ef" when empty) and keeps its header and the rows whose PID
// column is one of `pids`, as runc ps does.
Result<std::string> ps_table(const std::vector<pid_t>& pids, const std::vector<std::string>& ps_args);

// The limits `update` was asked for: --resources FILE|- (linux.resources JSON; "-" is stdin) or
// the flags memory, memory-swap, memory-reservation, cpu-shares, cpu-quota, cpu-period,
// cpu-burst, cpu-rt-period, cpu-rt-runtime, cpuset-cpus, cpuset-mems, pids-limit, blkio-weight
// (not both). Numbers are whole and not negative (memory-swap may be -1: unlimited;
// memory and memory-swap take k, m, g, t suffixes, powers of 1024, as runc). invalid_spec
// names the flag at fault.
Result<ResourceLimits> update_request(const std::map<std::string, std::string>& flags);
// Writes the limits into the container's cgroup. Nothing is written when any of them cannot be
// applied on this host (bounds, controllers the container's cgroup lacks).
// Warnings (of the --resources JSON, or of the cgroup) go to options.warn.
Result<void> update_container(const RuntimeOptions& options, const std::string& id, const ResourceLimits& limits);

}  // namespace berth::oci
