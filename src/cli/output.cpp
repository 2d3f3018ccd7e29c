#include "cli/output.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fmt/format.h>

#include "runtime/json.hpp"
#include "runtime/unsupervised.hpp"

namespace berth::cli {

const FlagSpec format_flag{"format", 0, true, "json|table", "output format (default table)"};
const FlagSpec help_flag{"help", 'h', false, {}, "show this help"};

Result<bool> wants_json(const ParsedArgs& args) {
  auto format = args.last("format").value_or("table");
  if (format == "json") return true;
  if (format == "table") return false;
  return fail(ErrorCode::invalid_spec, fmt::format("format: \"{}\" is not json or table", format));
}

void write_fd(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the reader went away; nothing useful to report
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void print_json(const nlohmann::json& json) {
  fmt::print("{}\n", dump_json(json, 2));
  std::fflush(stdout);
}

void print_json_line(const nlohmann::json& json) {
  std::fflush(stdout);  // keep order with anything printed through stdio before
  write_fd(1, dump_json(json) + "\n");
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  std::string out;
  for (auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
    }
    out += line + "\n";
  }
  fmt::print("{}", out);
  std::fflush(stdout);
}

void print_help(std::string_view name, std::string_view synopsis,
                const std::vector<FlagSpec>& flags) {
  fmt::print("usage: berth {} {}\n\nflags:\n", name, synopsis);
  std::vector<std::pair<std::string, std::string_view>> lines;
  std::size_t width = 0;
  for (auto& f : flags) {
    std::string left = f.short_name ? fmt::format("-{}, --{}", f.short_name, f.name)
                                    : fmt::format("    --{}", f.name);
    if (f.takes_value) left += " " + std::string(f.value_name.empty() ? "VALUE" : f.value_name);
    width = std::max(width, left.size());
    lines.emplace_back(std::move(left), f.help);
  }
  for (auto& [left, help] : lines) fmt::print("  {:<{}}  {}\n", left, width, help);
}

std::string state_text(const WorkloadStatus& s) {
  if (s.state == WorkloadState::exited) {
    if (s.exit_code) return fmt::format("exited ({})", *s.exit_code);
    if (s.exit_signal) return fmt::format("exited (signal {})", *s.exit_signal);
    return "exited";
  }
  if (runs_unsupervised(s)) return fmt::format("{} (unsupervised)", to_string(s.state));
  return std::string(to_string(s.state));
}

std::string time_ago(TimePoint then, TimePoint now) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - then).count();
  auto plural = [](long long n, std::string_view unit) {
    return fmt::format("{} {}{} ago", n, unit, n == 1 ? "" : "s");
  };
  constexpr long long minute = 60, hour = 60 * minute, day = 24 * hour;
  if (secs < 1) return "Less than a second ago";
  if (secs < minute) return plural(secs, "second");
  if (secs < 2 * minute) return "About a minute ago";
  if (secs < hour) return plural(secs / minute, "minute");
  if (secs < 2 * hour) return "About an hour ago";
  if (secs < 2 * day) return plural(secs / hour, "hour");
  if (secs < 14 * day) return plural(secs / day, "day");
  if (secs < 60 * day) return plural(secs / (7 * day), "week");
  if (secs < 730 * day) return plural(secs / (30 * day), "month");
  return plural(secs / (365 * day), "year");
}

std::string command_text(const std::vector<std::string>& args, std::size_t width) {
  std::string out;
  for (auto& a : args) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  if (width > 3 && out.size() > width) out = out.substr(0, width - 3) + "...";
  return "\"" + out + "\"";
}

}  // namespace berth::cli
