// What the shim tells the process that started it, over the report pipe (fd 3 in the shim):
// exactly one line, "ok PID" once the workload runs and the store says so, or
// "error CODE MESSAGE" when it could not start. EOF without a line means the shim died.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "berth/error.hpp"

namespace berth::shim_protocol {

inline constexpr int report_fd = 3;

std::string encode_started(pid_t pid);
std::string encode_failed(const Error& error);
// The workload's pid, or the error the shim reported (or one describing a garbled report).
Result<pid_t> decode(std::string_view line);

}  // namespace berth::shim_protocol
