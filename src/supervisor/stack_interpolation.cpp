#include "supervisor/stack_interpolation.hpp"

#include "common/numbers.hpp"

#include <fmt/format.h>

#include <optional>

namespace berth::stack {

namespace {

constexpr std::string_view workloads_prefix = "workloads.";
constexpr std::string_view env_prefix = "env.";

bool is_env_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name)
    if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
      return false;
  return true;
}

// `body` is what follows "workloads." inside ${...}. Workload names may hold dots, so the key
// is found from the end: "host_port.PORT", or the last dotted part.
Result<WorkloadReference> parse_reference(std::string_view whole, std::string_view body) {
  WorkloadReference ref;
  if (auto at = body.rfind(".host_port."); at != std::string_view::npos) {
    auto port = body.substr(at + 11);
    if (!parse_port_number(port))
      return fail(ErrorCode::invalid_spec,
                  fmt::format("\"{}\": host_port.{} is not a port in 1-65535", whole, port));
    ref.workload = std::string(body.substr(0, at));
    ref.key = std::string(body.substr(at + 1));
  } else {
    auto dot = body.rfind('.');
    std::string_view key = dot == std::string_view::npos ? std::string_view() : body.substr(dot + 1);
    if (key != "address" && key != "name" && key != "id")
      return fail(ErrorCode::invalid_spec,
                  fmt::format("\"{}\" is not ${{workloads.NAME.KEY}} with KEY address, name, id or "
                              "host_port.PORT",
                              whole));
    ref.workload = std::string(body.substr(0, dot));
    ref.key = std::string(key);
  }
  if (ref.workload.empty())
    return fail(ErrorCode::invalid_spec, fmt::format("\"{}\" names no workload", whole));
  return ref;
}

// A value inserted into a template keeps its dollars literal.
std::string escape_dollars(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '$') out += '$';
    out += c;
  }
  return out;
}

}  // namespace

Interpolation interpolate(std::string_view text, const std::map<std::string, std::string>& environment) {
  Interpolation result;
  std::string plain;    // every "$$" already "$"
  std::string escaped;  // "$$" kept, for a template
  auto append = [&](std::string_view value) {
    plain += value;
    escaped += escape_dollars(value);
  };
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '$' || i + 1 >= text.size() || (text[i + 1] != '$' && text[i + 1] != '{')) {
      plain += text[i];
      escaped += text[i];
      ++i;
      continue;
    }
    if (text[i + 1] == '$') {
      plain += '$';
      escaped += "$$";
      i += 2;
      continue;
    }
    auto close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      result.problems.push_back(fmt::format("\"{}\" has no closing \"}}\"", text.substr(i)));
      append(text.substr(i));
      break;
    }
    std::string_view whole = text.substr(i, close + 1 - i);
    std::string_view body = text.substr(i + 2, close - i - 2);
    i = close + 1;
    if (body.starts_with(env_prefix)) {
      body.remove_prefix(env_prefix.size());
      auto dash = body.find(":-");
      std::string_view name = body.substr(0, dash);
      if (!is_env_name(name)) {
        result.problems.push_back(
            fmt::format("\"{}\": \"{}\" is not an environment variable name", whole, name));
        continue;
      }
      auto found = environment.find(std::string(name));
      if (dash != std::string_view::npos) {
        bool unset = found == environment.end() || found->second.empty();
        append(unset ? body.substr(dash + 2) : std::string_view(found->second));
      } else if (found != environment.end()) {
        append(found->second);
      } else {
        result.problems.push_back(fmt::format(
            "${{env.{0}}}: {0} is not set (give a default with ${{env.{0}:-DEFAULT}})", name));
      }
    } else if (body.starts_with(workloads_prefix)) {
      auto ref = parse_reference(whole, body.substr(workloads_prefix.size()));
      if (!ref) {
        result.problems.push_back(ref.error().message);
        continue;
      }
      result.references.push_back(*ref);
      plain += whole;
      escaped += whole;
    } else {
      result.problems.push_back(fmt::format(
          "\"{}\" is not ${{env.NAME}}, ${{env.NAME:-DEFAULT}} or ${{workloads.NAME.KEY}} (write $$ "
          "for a literal $)",
          whole));
    }
  }
  // Only a template keeps "$$": a plain string whose text shows "${workloads." (from a "$$")
  // must stay escaped too, or resolve_references would take it for a reference.
  result.text = result.references.empty() && !is_template(plain) ? std::move(plain) : std::move(escaped);
  return result;
}

bool is_template(std::string_view text) {
  return text.find(fmt::format("${{{}", workloads_prefix)) != std::string_view::npos;
}

Result<std::string> resolve_references(std::string_view text, const ReferenceLookup& lookup) {
  if (!is_template(text)) return std::string(text);
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.substr(i).starts_with("$$")) {
      out += '$';
      i += 2;
      continue;
    }
    if (text.substr(i).starts_with("${")) {
      auto close = text.find('}', i + 2);
      std::string_view body = close == std::string_view::npos ? std::string_view()
                                                              : text.substr(i + 2, close - i - 2);
      if (body.starts_with(workloads_prefix)) {
        std::string_view whole = text.substr(i, close + 1 - i);
        auto ref = parse_reference(whole, body.substr(workloads_prefix.size()));
        if (!ref) return std::unexpected(ref.error());
        auto value = lookup(ref->workload, ref->key);
        if (!value) return std::unexpected(value.error().with_context(whole));
        out += *value;
        i = close + 1;
        continue;
      }
    }
    out += text[i];
    ++i;
  }
  return out;
}

}  // namespace berth::stack
