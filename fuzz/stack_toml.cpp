// The stack file (berth.toml) reader: TOML, ${env.*} interpolation, every workload's spec and
// the dependency order. Problems are values (validate_stack) or one error (parse_stack); both
// must agree on whether the file is valid.
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "supervisor/stack_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::map<std::string, std::string> environment{{"HOME", "/root"}, {"PORT", "8080"}, {"EMPTY", ""}};
  auto stack = berth::stack::parse_stack(text, "/srv/app/berth.toml", environment);
  auto problems = berth::stack::validate_stack(text, "/srv/app/berth.toml", environment);
  if (stack.has_value() != problems.empty()) std::abort();
  if (stack) {
    // Every reference to another workload resolves through the lookup (the supervisor's path).
    auto lookup = [](std::string_view, std::string_view) -> berth::Result<std::string> { return std::string("10.0.0.2"); };
    for (const auto& workload : stack->workloads) (void)berth::stack::resolve_workload_references(workload, lookup);
  }
  return 0;
}
