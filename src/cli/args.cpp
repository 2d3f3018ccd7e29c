#include "cli/args.hpp"

#include <fmt/format.h>

namespace berth::cli {

Result<ParsedArgs> parse_args(const std::vector<std::string>& args, const std::vector<FlagSpec>& flags,
                              const std::string& command, int positionals_before_argv) {
  ParsedArgs out;
  auto find_long = [&](std::string_view name) -> const FlagSpec* {
    for (auto& f : flags)
      if (f.name == name) return &f;
    return nullptr;
  };
  auto find_short = [&](char c) -> const FlagSpec* {
    for (auto& f : flags)
      if (f.short_name && f.short_name == c) return &f;
    return nullptr;
  };
  bool rest_is_argv = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (rest_is_argv) {
      out.positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      rest_is_argv = true;
      continue;
    }
    if (arg.size() > 1 && arg[0] == '-') {
      const FlagSpec* spec = nullptr;
      std::optional<std::string> inline_value;
      std::string shown = arg;
      if (arg[1] == '-') {
        std::string name = arg.substr(2);
        if (auto eq = name.find('='); eq != std::string::npos) {
          inline_value = name.substr(eq + 1);
          name = name.substr(0, eq);
          shown = "--" + name;
        }
        spec = find_long(name);
      } else {
        // -d, -dt (bool group), -eK=V / -e K=V
        spec = find_short(arg[1]);
        if (spec && !spec->takes_value && arg.size() > 2) {
          for (char c : arg.substr(1)) {
            auto* s = find_short(c);
            if (!s || s->takes_value)
              return fail(ErrorCode::invalid_spec, fmt::format("unknown flag \"-{}\" for \"{}\"", c, command));
            out.values[s->name].push_back("true");
          }
          continue;
        }
        if (spec && arg.size() > 2) inline_value = arg.substr(2);
        shown = arg.substr(0, 2);
      }
      if (!spec) return fail(ErrorCode::invalid_spec, fmt::format("unknown flag \"{}\" for \"{}\"", shown, command));
      if (spec->takes_value) {
        if (!inline_value) {
          if (i + 1 >= args.size())
            return fail(ErrorCode::invalid_spec, fmt::format("flag \"{}\" needs a value", shown));
          inline_value = args[++i];
        }
        out.values[spec->name].push_back(*inline_value);
      } else {
        if (inline_value && *inline_value != "true" && *inline_value != "false")
          return fail(ErrorCode::invalid_spec, fmt::format("flag \"{}\" takes no value", shown));
        if (!inline_value || *inline_value == "true") out.values[spec->name].push_back("true");
      }
      continue;
    }
    out.positionals.push_back(arg);
    if (positionals_before_argv >= 0 &&
        static_cast<int>(out.positionals.size()) > positionals_before_argv)
      rest_is_argv = true;
  }
  return out;
}

}  // namespace berth::cli
