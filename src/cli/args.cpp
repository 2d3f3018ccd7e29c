#include "cli/args.hpp"

#include <fmt/format.h>

namespace berth::cli {

namespace {

const FlagSpec* find_long(const std::vector<FlagSpec>& flags, std::string_view name) {
  for (auto& f : flags)
    if (f.name == name) return &f;
  return nullptr;
}

const FlagSpec* find_short(const std::vector<FlagSpec>& flags, char c) {
  for (auto& f : flags)
    if (f.short_name != 0 && f.short_name == c) return &f;
  return nullptr;
}

std::unexpected<Error> unknown_flag(std::string_view shown, std::string_view command) {
  return fail(ErrorCode::invalid_spec, fmt::format("unknown flag \"{}\" for \"{}\"", shown, command));
}

std::unexpected<Error> needs_value(std::string_view shown, std::string_view command) {
  return fail(ErrorCode::invalid_spec,
              fmt::format("flag \"{}\" for \"{}\" needs a value", shown, command));
}

}  // namespace

Result<ParsedArgs> parse_args(const std::vector<std::string>& args,
                              const std::vector<FlagSpec>& flags, std::string_view command,
                              int positionals_before_argv) {
  ParsedArgs out;
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
    if (arg.starts_with("--")) {
      // --flag, --flag=value, --flag value
      std::string name = arg.substr(2);
      std::optional<std::string> value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
      }
      std::string shown = "--" + name;
      const FlagSpec* spec = find_long(flags, name);
      if (spec == nullptr) return unknown_flag(shown, command);
      if (spec->takes_value) {
        if (!value) {
          if (i + 1 >= args.size()) return needs_value(shown, command);
          value = args[++i];
        }
        out.values[spec->name].push_back(*value);
      } else if (!value || *value == "true") {
        out.values[spec->name].push_back("true");
      } else if (*value == "false") {
        out.values.erase(spec->name);
      } else {
        return fail(ErrorCode::invalid_spec,
                    fmt::format("flag \"{}\" for \"{}\" takes no value (or true|false)", shown, command));
      }
      continue;
    }
    if (arg.size() > 1 && arg[0] == '-') {
      // -d, -dt (bool flags together), -m512m, -e K=V, -de K=V: as getopt reads them.
      for (std::size_t j = 1; j < arg.size(); ++j) {
        std::string shown = fmt::format("-{}", arg[j]);
        const FlagSpec* spec = find_short(flags, arg[j]);
        if (spec == nullptr) return unknown_flag(shown, command);
        if (!spec->takes_value) {
          out.values[spec->name].push_back("true");
          continue;
        }
        std::string value;
        if (j + 1 < arg.size()) {
          value = arg.substr(j + 1);
          if (value.starts_with('=')) value.erase(0, 1);  // -e=K=V as pflag reads it
        } else if (i + 1 < args.size()) {
          value = args[++i];
        } else {
          return needs_value(shown, command);
        }
        out.values[spec->name].push_back(std::move(value));
        break;
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
