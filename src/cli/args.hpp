// A small table-driven flag parser: long and short flags, "--flag=value" and "--flag value",
// repeatable flags, "--" ending flags, and commands whose first positional starts an argv.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "berth/error.hpp"

namespace berth::cli {

struct FlagSpec {
  std::string name;        // long name without dashes: "memory"
  char short_name = 0;     // 'm', or 0
  bool takes_value = false;
};

struct ParsedArgs {
  std::map<std::string, std::vector<std::string>> values;  // bool flags hold "true"
  std::vector<std::string> positionals;

  bool has(const std::string& name) const { return values.contains(name); }
  std::optional<std::string> last(const std::string& name) const {
    auto it = values.find(name);
    if (it == values.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
  }
  std::vector<std::string> all(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  }
};

// `command` names the command in errors. With `argv_after_positional`, everything from the
// first positional on (after `positionals_before_argv` of them) is taken as-is.
Result<ParsedArgs> parse_args(const std::vector<std::string>& args, const std::vector<FlagSpec>& flags,
                              const std::string& command, int positionals_before_argv = -1);

}  // namespace berth::cli
