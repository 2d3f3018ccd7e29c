// How the kernel schedules a process: its CPU scheduling policy (sched_setattr(2)), its I/O
// priority (ioprio_set(2)) and the CPUs it may run on (sched_setaffinity(2)). The names are
// the OCI runtime-spec's (process.scheduler, process.ioPriority, process.execCPUAffinity),
// which are the kernel's own constants. The *_in_child calls run between fork and exec: they
// allocate nothing and return 0 or an errno.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "berth/error.hpp"

namespace berth::linux {

// struct sched_attr's fields (glibc has no wrapper for sched_setattr).
struct SchedulerAttributes {
  std::uint32_t policy = 0;  // SCHED_OTHER
  std::uint64_t flags = 0;   // SCHED_FLAG_*
  std::int32_t nice = 0;
  std::uint32_t priority = 0;  // SCHED_FIFO, SCHED_RR: 1..99
  std::uint64_t runtime = 0, deadline = 0, period = 0;  // SCHED_DEADLINE, in ns
};

// "SCHED_FIFO" -> 1; nullopt for a name that is not a policy.
std::optional<std::uint32_t> scheduling_policy(std::string_view name);
// "SCHED_FLAG_RESET_ON_FORK" -> 0x01; nullopt for a name that is not a flag.
std::optional<std::uint64_t> scheduling_flag(std::string_view name);
bool is_realtime_policy(std::uint32_t policy);  // SCHED_FIFO or SCHED_RR
inline constexpr std::uint32_t sched_deadline_policy = 6;
// Reserved in the kernel's uapi and implemented by no mainline kernel (the spec lists it).
inline constexpr std::uint32_t sched_iso_policy = 4;

// sched_setattr(0, attributes, 0) on the calling thread.
int set_scheduler_in_child(const SchedulerAttributes& attributes);

// "IOPRIO_CLASS_BE" -> 2; nullopt for a name that is not a class.
std::optional<int> io_priority_class(std::string_view name);
// ioprio_set(IOPRIO_WHO_PROCESS, 0, (class << 13) | level): the calling process; its children
// inherit it.
int set_io_priority_in_child(int io_class, int level);
// ioprio_get(IOPRIO_WHO_PROCESS, pid): (class << 13) | level, or -1 with errno.
int io_priority_of(int pid);

// A CPU mask as sched_setaffinity(2) takes it: bit N of the words is CPU N.
struct CpuSet {
  std::vector<unsigned long> words;
};
// A list as the kernel writes one ("0-3,7"); spaces around elements and empty elements are
// allowed (as runc allows them). Errors say what is wrong with the text, without naming a field.
Result<CpuSet> parse_cpu_list(std::string_view text);
// The calling thread's affinity.
int set_cpu_affinity_in_child(const CpuSet& cpus);
// Every CPU (the kernel narrows the mask to the cpuset the process is in), so that a process
// does not keep the affinity of whoever started it.
int reset_cpu_affinity_in_child();

}  // namespace berth::linux
