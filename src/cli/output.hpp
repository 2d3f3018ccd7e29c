// What the CLI prints: aligned tables, JSON documents, help, and the human forms of states and
// times. Streamed output goes straight to the fd (unbuffered); tables and JSON through stdio.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "berth/status.hpp"
#include "cli/args.hpp"

namespace berth::cli {

// "--format json|table"; the flag every printing command takes.
extern const FlagSpec format_flag;
extern const FlagSpec help_flag;
// true for json, false for table (the default); an error for anything else.
Result<bool> wants_json(const ParsedArgs& args);

// Writes all of `data` to fd, retrying short writes and EINTR (unbuffered, for streams).
void write_fd(int fd, std::string_view data);
// One JSON document, indented (lists are arrays).
void print_json(const nlohmann::json& json);
// One JSON object on one line, written at once (for streams: logs, events, stats).
void print_json_line(const nlohmann::json& json);
// Rows as aligned columns; the first row is the header.
void print_table(const std::vector<std::vector<std::string>>& rows);
// "usage: berth NAME SYNOPSIS" and a line per flag.
void print_help(std::string_view name, std::string_view synopsis,
                const std::vector<FlagSpec>& flags);

// "running", "exited (0)", "exited (signal 9)", "oom-killed", "failed".
std::string state_text(const WorkloadStatus& status);
// "Less than a second ago", "5 seconds ago", "About a minute ago", "3 hours ago", ... as docker.
std::string time_ago(TimePoint then, TimePoint now);
// The argv as one quoted line, shortened to `width`.
std::string command_text(const std::vector<std::string>& args, std::size_t width = 40);

}  // namespace berth::cli
