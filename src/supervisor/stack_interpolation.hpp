// The ${...} forms of stack file strings. ${env.X} and ${env.X:-default} are replaced when the
// file is read; ${workloads.X.KEY} names something known only once workload X exists (its
// address, its host port), so it stays in the string until the supervisor resolves it.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "berth/error.hpp"

namespace berth::stack {

struct WorkloadReference {
  std::string workload;  // X of ${workloads.X.KEY}
  std::string key;       // "address", "name", "id" or "host_port.PORT"
};

struct Interpolation {
  // The value with ${env.*} replaced. A string that still holds a reference is a template: its
  // literal dollars stay written "$$" until resolve_references, so a "$${workloads.a.id}" in the
  // file is never taken for a reference. Any other string is final ("$$" already "$").
  std::string text;
  std::vector<std::string> problems;  // each names the bad ${...}; no field prefix
  std::vector<WorkloadReference> references;
};

// `environment` supplies ${env.X}: unset is a problem, and ${env.X:-default} takes the default
// when X is unset or empty. "$$" is a literal "$"; a "$" not followed by "{" or "$" is literal.
Interpolation interpolate(std::string_view text, const std::map<std::string, std::string>& environment);

// True when `text` (from interpolate) is a template holding ${workloads.*} references.
bool is_template(std::string_view text);

using ReferenceLookup = std::function<Result<std::string>(std::string_view workload, std::string_view key)>;

// Replaces each reference of a template through `lookup` and turns "$$" into "$"; a string
// that is not a template comes back as it is. The error names the reference.
Result<std::string> resolve_references(std::string_view text, const ReferenceLookup& lookup);

}  // namespace berth::stack
