// What the shim tells the process that started it, over the report pipe (fd 3 in the shim):
// exactly one line, "ok PID" once the workload runs and the store says so, or
// "error CODE MESSAGE" when it could not start. EOF without a line means the shim died.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <string_view>

#include "berth/error.hpp"

namespace berth::shim_protocol {

inline constexpr int report_fd = 3;

// Queued to the shim (sigqueue) with the signal to pass on as its value: the shim forwards it
// through the workload's pidfd, which cannot hit a recycled pid.
inline int forward_signal() { return SIGRTMIN; }
// Start after create: a create-mode shim holds `start.fifo` (in the workload's directory) open
// for reading. A starter opens `started.fifo` for reading, writes one byte to `start.fifo`, and
// waits for `started.fifo` to turn readable (a byte, or every writer gone): by then the shim has
// let the workload exec and recorded it running (or its exit, if the exec failed).
inline constexpr const char* start_fifo = "start.fifo";
inline constexpr const char* started_fifo = "started.fifo";

std::string encode_started(pid_t pid);
std::string encode_failed(const Error& error);
// The workload's pid, or the error the shim reported (or one describing a garbled report).
Result<pid_t> decode(std::string_view line);

}  // namespace berth::shim_protocol
