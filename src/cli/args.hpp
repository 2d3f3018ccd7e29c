// A small table-driven flag parser: long and short flags, "--flag=value" and "--flag value",
// repeatable flags, bool flags, combined short flags ("-dt", "-de K=V"), "--" ending flags,
// and commands whose first positional starts an argv.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "berth/error.hpp"
#include "common/numbers.hpp"

namespace berth::cli {

struct FlagSpec {
  std::string name;               // long name without dashes: "memory"
  char short_name = 0;            // 'm', or 0
  bool takes_value = false;       // false: a bool flag
  std::string_view value_name{};  // shown in help: "SIZE"
  std::string_view help{};        // one line for --help
};

struct ParsedArgs {
  // Every value a flag was given, in order (repeatable flags); bool flags hold "true".
  std::map<std::string, std::vector<std::string>> values;
  std::vector<std::string> positionals;

  bool has(const std::string& name) const { return values.contains(name); }
  // The value given last (a flag given twice: the last one wins, as in docker).
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

// `command` names the command in errors. With `positionals_before_argv` >= 0, everything after
// that many positionals (from the next positional on) is taken as-is, flags included: the
// workload's argv. "--" always ends flags.
Result<ParsedArgs> parse_args(const std::vector<std::string>& args,
                              const std::vector<FlagSpec>& flags, std::string_view command,
                              int positionals_before_argv = -1);

}  // namespace berth::cli
