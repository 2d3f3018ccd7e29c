// A stack file (berth.toml): named workloads that the supervisor starts in dependency order.
// Reading one finds every problem in it at once, each with its line and column, so a user
// fixes a file in one pass rather than one error per run. The format: docs/stack-file.md.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "berth/error.hpp"
#include "berth/spec.hpp"

namespace berth::stack {

struct StackWorkload {
  std::string name;     // the key in [workloads.NAME]: [a-z0-9][a-z0-9_.-]*
  WorkloadSpec spec;    // spec.name empty (the supervisor names it "<stack>-<name>")
  std::vector<std::string> depends_on;  // explicit depends_on plus those implied by ${workloads.X.*}; sorted, unique
  int line = 0;         // where [workloads.NAME] starts
};

struct StackFile {
  std::string name;  // [stack] name, default: the name of the file's directory (made a valid name)
  std::string path;  // absolute path of the file
  bool rollback = true;                            // [stack] rollback: remove what a failed up started
  std::chrono::milliseconds start_timeout{60000};  // [stack] start_timeout: per workload, to be running/healthy
  std::vector<StackWorkload> workloads;            // in start order: dependencies first, ties by name
};

struct Problem {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
};

// "berth.toml:12:3: workloads.web.ports[0]: \"80:80:80\" is not [HOST_IP:]HOST_PORT:CONTAINER_PORT (...)"
std::string format(const Problem& problem);

// Reads, interpolates ${env.*} and validates. On any problem: an invalid_spec error whose message
// lists every problem (one a line, formatted as above, by line). A file that cannot be read is
// not_found (or permission_denied). Problems name the file as `path` was given.
Result<StackFile> load_stack_file(const std::string& path, const std::map<std::string, std::string>& environment);
// As load_stack_file, for text already read; `path` places relative paths and names the file.
Result<StackFile> parse_stack(std::string_view toml_text, const std::string& path,
                              const std::map<std::string, std::string>& environment);
// Every problem as a value (for `berth stack validate --format json`), by line; empty when valid.
std::vector<Problem> validate_stack(std::string_view toml_text, const std::string& path,
                                    const std::map<std::string, std::string>& environment);

// ${workloads.X.KEY} references left in a workload's strings (command, entrypoint, env values,
// labels, health command and target) are resolved by the supervisor just before it creates the
// workload, through lookup(X, KEY) (KEY: "address", "name", "id" or "host_port.PORT"). Returns
// the spec with every reference replaced and "$$" made "$" in those strings. The error names
// the field and the reference.
Result<WorkloadSpec> resolve_workload_references(
    const StackWorkload& workload,
    const std::function<Result<std::string>(std::string_view workload, std::string_view key)>& lookup);

// [a-z0-9][a-z0-9_.-]*: the names of stacks and of their workloads.
bool is_valid_stack_name(std::string_view name);

}  // namespace berth::stack
