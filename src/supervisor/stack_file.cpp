#include "supervisor/stack_file.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <numeric>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "common/numbers.hpp"
#include "runtime/health_target.hpp"
#include "common/signal_names.hpp"
#include "common/time.hpp"
#include "common/units.hpp"
#include "linux/capabilities.hpp"
#include "runtime/container_launch.hpp"
#include "runtime/spec_text.hpp"
#include "runtime/spec_validation.hpp"
#include "supervisor/stack_graph.hpp"
#include "supervisor/stack_interpolation.hpp"
#include "supervisor/stack_runner.hpp"

namespace berth::stack {

namespace {

namespace fs = std::filesystem;
using Environment = std::map<std::string, std::string>;
using Keys = std::vector<std::string_view>;

const Keys top_keys = {"stack", "workloads"};
const Keys stack_keys = {"name", "rollback", "start_timeout"};
const Keys workload_keys = {
    "kind", "command", "image", "rootfs", "module", "entrypoint", "env", "working_dir", "user", "labels",
    "annotations", "ports", "mounts", "network", "aliases", "depends_on", "restart", "stop_signal",
    "stop_grace", "time_to_live", "namespaces", "hostname", "read_only", "cap_add", "cap_drop", "seccomp",
    "no_new_privileges", "ulimits", "group_add", "resources", "health", "wasm", "log"};
// Keys only a container honours; a process or wasm workload naming one is a problem.
const Keys container_only_keys = {"entrypoint", "mounts", "hostname", "read_only", "cap_add", "cap_drop",
                                  "seccomp", "no_new_privileges", "ulimits", "group_add"};
const Keys resources_keys = {"memory", "memory_swap", "cpus", "cpu_shares", "pids", "cpuset_cpus", "cpuset_mems"};
const Keys log_keys = {"max_size", "max_file"};
const Keys health_keys = {"type", "command", "target", "interval", "timeout", "retries", "start_period"};
const Keys wasm_keys = {"engine", "memory", "timeout", "fuel", "dirs", "allow", "pool_size",
                        "kv_max_entries", "kv_max_value_bytes", "http", "route"};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string_view type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::string sanitised_name(std::string_view text) {
  std::string out;
  for (char c : text) {
    char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    bool ok = (lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9') || lower == '_' ||
              lower == '.' || lower == '-';
    if (out.empty() && !((lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9'))) continue;
    out += ok ? lower : '-';
  }
  return out.empty() ? "stack" : out;
}

// A workload as read, with what the checks across workloads need: where each dependency and
// reference was written.
struct ReadWorkload {
  StackWorkload workload;
  struct Dependency {
    std::string name;
    int line = 0;
    int column = 0;
    bool from_reference = false;
  };
  std::vector<Dependency> dependencies;
};

// Reads one stack file, collecting every problem rather than stopping at the first.
class Reader {
 public:
  Reader(std::string file, fs::path directory, const Environment& environment)
      : file_(std::move(file)), directory_(std::move(directory)), environment_(environment) {}

  std::vector<Problem> problems;

  void report(const toml::source_region& at, std::string message) {
    problems.push_back(Problem{file_, static_cast<int>(at.begin.line), static_cast<int>(at.begin.column),
                               std::move(message)});
  }
  void report(const toml::node& at, std::string_view field, std::string_view message) {
    report(at.source(), fmt::format("{}: {}", field, message));
  }

  // Reports every key of `table` not in `known`, with the closest known key when one is near.
  void check_keys(const toml::table& table, std::string_view prefix, const Keys& known) {
    for (auto&& [key, node] : table) {
      if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
      std::string_view best;
      std::size_t best_distance = 3;
      for (auto candidate : known)
        if (auto d = edit_distance(key.str(), candidate); d < best_distance && d < candidate.size()) {
          best = candidate;
          best_distance = d;
        }
      auto field = prefix.empty() ? std::string(key.str()) : fmt::format("{}.{}", prefix, key.str());
      auto where = key.source().begin.line ? key.source() : node.source();
      report(where, best.empty() ? fmt::format("{}: unknown key", field)
                                 : fmt::format("{}: unknown key (did you mean \"{}\"?)", field, best));
    }
  }

  bool expect(const toml::node& node, std::string_view field, toml::node_type type) {
    if (node.type() == type) return true;
    report(node, field, fmt::format("expected {}, not {}", type_name(type), type_name(node.type())));
    return false;
  }

  // A string with ${env.*} replaced. ${workloads.*} references are allowed only where the
  // supervisor resolves them (`references` given); they are recorded there as dependencies.
  std::optional<std::string> string(const toml::node& node, std::string_view field,
                                    std::vector<ReadWorkload::Dependency>* references = nullptr) {
    if (!expect(node, field, toml::node_type::string)) return std::nullopt;
    return interpolated(node, field, node.as_string()->get(), references);
  }

  std::optional<std::string> interpolated(const toml::node& node, std::string_view field, std::string_view text,
                                          std::vector<ReadWorkload::Dependency>* references) {
    auto result = interpolate(text, environment_);
    for (auto& problem : result.problems) report(node, field, problem);
    if (!result.references.empty() && !references)
      report(node, field,
             "${workloads.*} is resolved only in command, entrypoint, env, labels and health");
    if (references)
      for (auto& ref : result.references)
        references->push_back({ref.workload, static_cast<int>(node.source().begin.line),
                               static_cast<int>(node.source().begin.column), true});
    if (!result.problems.empty()) return std::nullopt;
    return std::move(result.text);
  }

  // A string, or a number or boolean written as its TOML text (for env values and ports).
  std::optional<std::string> scalar_text(const toml::node& node, std::string_view field,
                                         std::vector<ReadWorkload::Dependency>* references = nullptr) {
    if (auto i = node.as_integer()) return std::to_string(i->get());
    if (auto b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
    if (node.is_string()) return string(node, field, references);
    report(node, field, fmt::format("expected a string, not {}", type_name(node.type())));
    return std::nullopt;
  }

  std::optional<bool> boolean(const toml::node& node, std::string_view field) {
    if (!expect(node, field, toml::node_type::boolean)) return std::nullopt;
    return node.as_boolean()->get();
  }

  std::optional<std::int64_t> integer(const toml::node& node, std::string_view field, std::int64_t min,
                                      std::int64_t max = INT64_MAX) {
    if (!expect(node, field, toml::node_type::integer)) return std::nullopt;
    auto value = node.as_integer()->get();
    if (value < min || value > max) {
      report(node, field,
             max == INT64_MAX ? fmt::format("{} is not at least {}", value, min)
                              : fmt::format("{} is not in [{}, {}]", value, min, max));
      return std::nullopt;
    }
    return value;
  }

  // Each element through `read`; nullopt when the node is not an array or any element is bad.
  template <typename T, typename Read>
  std::optional<std::vector<T>> array(const toml::node& node, std::string_view field, Read read) {
    if (!expect(node, field, toml::node_type::array)) return std::nullopt;
    std::vector<T> out;
    bool ok = true;
    auto& items = *node.as_array();
    for (std::size_t i = 0; i < items.size(); ++i) {
      std::optional<T> value = read(items[i], fmt::format("{}[{}]", field, i));
      if (value) out.push_back(std::move(*value));
      else ok = false;
    }
    if (!ok) return std::nullopt;
    return out;
  }

  std::optional<std::vector<std::string>> strings(const toml::node& node, std::string_view field,
                                                  std::vector<ReadWorkload::Dependency>* references = nullptr) {
    return array<std::string>(node, field, [&](const toml::node& item, const std::string& f) {
      return string(item, f, references);
    });
  }

  // argv: an array as it is, or a string run by /bin/sh -c.
  std::optional<std::vector<std::string>> command(const toml::node& node, std::string_view field,
                                                  std::vector<ReadWorkload::Dependency>* references) {
    if (node.is_string()) {
      auto text = string(node, field, references);
      if (!text) return std::nullopt;
      return std::vector<std::string>{"/bin/sh", "-c", *text};
    }
    if (!node.is_array()) {
      report(node, field, fmt::format("expected an array or a string, not {}", type_name(node.type())));
      return std::nullopt;
    }
    return strings(node, field, references);
  }

  // "10s", "1m30s", "250ms" or a number of seconds.
  std::optional<std::chrono::milliseconds> duration(const toml::node& node, std::string_view field) {
    if (auto seconds = node.as_integer()) {
      if (seconds->get() < 0) {
        report(node, field, fmt::format("{} is negative", seconds->get()));
        return std::nullopt;
      }
      return std::chrono::seconds(seconds->get());
    }
    if (!node.is_string()) {
      report(node, field, fmt::format("expected a duration such as \"10s\", not {}", type_name(node.type())));
      return std::nullopt;
    }
    auto text = string(node, field);
    if (!text) return std::nullopt;
    auto d = parse_duration(*text);
    if (!d) {
      report(node, field, d.error().message);
      return std::nullopt;
    }
    return *d;
  }

  // "256m", "1g" or a number of bytes.
  std::optional<std::int64_t> size(const toml::node& node, std::string_view field) {
    if (auto bytes = node.as_integer()) return bytes->get();
    if (!node.is_string()) {
      report(node, field, fmt::format("expected a size such as \"64m\", not {}", type_name(node.type())));
      return std::nullopt;
    }
    auto text = string(node, field);
    if (!text) return std::nullopt;
    auto bytes = parse_size(*text, field);
    if (!bytes) {
      report(node.source(), bytes.error().message);
      return std::nullopt;
    }
    return *bytes;
  }

  // A Result from a berth parser whose message already names the field.
  template <typename T>
  std::optional<T> checked(const toml::node& node, Result<T> result) {
    if (result) return std::move(*result);
    report(node.source(), result.error().message);
    return std::nullopt;
  }

  // Relative host paths are relative to the stack file's directory, not to where berth runs.
  std::string host_path(std::string_view path) const {
    fs::path p(path);
    return (p.is_absolute() ? p : directory_ / p).lexically_normal().string();
  }

  void read_stack(const toml::table& table, StackFile& stack);
  std::optional<ReadWorkload> read_workload(std::string_view name, const toml::node& node);

 private:
  void read_resources(const toml::table& table, std::string_view prefix, Resources& r);
  void read_health(const toml::table& table, std::string_view prefix, ReadWorkload& w);
  void read_wasm(const toml::table& table, std::string_view prefix, WasmSettings& wasm);
  void read_log(const toml::table& table, std::string_view prefix, LogConfig& log);
  void read_env(const toml::node& node, std::string_view field, ReadWorkload& w);
  void read_string_map(const toml::node& node, std::string_view field, std::map<std::string, std::string>& out,
                       std::vector<ReadWorkload::Dependency>* references);

  std::string file_;
  fs::path directory_;
  const Environment& environment_;
};

void Reader::read_stack(const toml::table& table, StackFile& stack) {
  check_keys(table, "stack", stack_keys);
  if (auto node = table.get("name")) {
    if (auto name = string(*node, "stack.name")) {
      if (is_valid_stack_name(*name)) stack.name = *name;
      else report(*node, "stack.name", fmt::format("\"{}\" is not a valid name ([a-z0-9][a-z0-9_.-]*)", *name));
    }
  }
  if (auto node = table.get("rollback"))
    if (auto v = boolean(*node, "stack.rollback")) stack.rollback = *v;
  if (auto node = table.get("start_timeout")) {
    if (auto v = duration(*node, "stack.start_timeout")) {
      if (v->count() > 0) stack.start_timeout = *v;
      else report(*node, "stack.start_timeout", "must be positive");
    }
  }
}

void Reader::read_string_map(const toml::node& node, std::string_view field, std::map<std::string, std::string>& out,
                             std::vector<ReadWorkload::Dependency>* references) {
  if (!expect(node, field, toml::node_type::table)) return;
  for (auto&& [key, value] : *node.as_table())
    if (auto text = scalar_text(value, fmt::format("{}.{}", field, key.str()), references))
      out[std::string(key.str())] = *text;
}

void Reader::read_env(const toml::node& node, std::string_view field, ReadWorkload& w) {
  auto& env = w.workload.spec.env;
  if (auto table = node.as_table()) {
    std::map<std::string, std::string> values;  // sorted by key: one order for one file
    read_string_map(node, field, values, &w.dependencies);
    for (auto& [key, value] : values) {
      if (key.empty() || key.find_first_of("= \t\n") != std::string::npos) {
        report(*table->get(key), field, fmt::format("\"{}\" is not an environment variable name", key));
        continue;
      }
      // A template keeps its literal dollars doubled, the key's as well.
      std::string written_key = key;
      if (is_template(value)) {
        written_key.clear();
        for (char c : key) written_key += c == '$' ? std::string("$$") : std::string(1, c);
      }
      env.push_back(written_key + "=" + value);
    }
    return;
  }
  if (!node.is_array()) {
    report(node, field, fmt::format("expected a table or an array of \"K=V\", not {}", type_name(node.type())));
    return;
  }
  auto& items = *node.as_array();
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto item_field = fmt::format("{}[{}]", field, i);
    auto entry = string(items[i], item_field, &w.dependencies);
    if (!entry) continue;
    auto eq = entry->find('=');
    if (eq == 0 || eq == std::string::npos || entry->substr(0, eq).find_first_of(" \t\n") != std::string::npos)
      report(items[i], item_field, fmt::format("\"{}\" is not KEY=VALUE", *entry));
    else
      env.push_back(*entry);
  }
}

void Reader::read_resources(const toml::table& table, std::string_view prefix, Resources& r) {
  check_keys(table, prefix, resources_keys);
  auto field = [&](std::string_view key) { return fmt::format("{}.{}", prefix, key); };
  if (auto node = table.get("memory"))
    if (auto v = size(*node, field("memory"))) {
      if (*v >= 4096) r.memory_bytes = *v;
      else report(*node, field("memory"), fmt::format("{} bytes is below the minimum of 4096", *v));
    }
  if (auto node = table.get("memory_swap")) {
    // -1: unlimited swap, as Docker writes it.
    bool unlimited = (node->as_integer() && node->as_integer()->get() == -1) ||
                     (node->as_string() && node->as_string()->get() == "-1");
    if (unlimited) r.memory_swap_bytes = -1;
    else if (auto v = size(*node, field("memory_swap"))) r.memory_swap_bytes = *v;
    if (r.memory_swap_bytes && !table.get("memory"))
      report(*node, field("memory_swap"), "needs a memory limit as well");
    else if (r.memory_swap_bytes && r.memory_bytes && *r.memory_swap_bytes != -1 &&
             *r.memory_swap_bytes < *r.memory_bytes)
      report(*node, field("memory_swap"), "is below the memory limit (-1 for unlimited swap)");
  }
  if (auto node = table.get("cpus")) {
    std::optional<double> cpus;
    if (auto f = node->as_floating_point()) cpus = f->get();
    else if (auto i = node->as_integer()) cpus = static_cast<double>(i->get());
    else report(*node, field("cpus"), fmt::format("expected a number, not {}", type_name(node->type())));
    if (cpus && !(*cpus > 0 && *cpus <= 1024)) report(*node, field("cpus"), fmt::format("{} is not in (0, 1024]", *cpus));
    else if (cpus) r.cpus = cpus;
  }
  if (auto node = table.get("cpu_shares"))
    if (auto v = integer(*node, field("cpu_shares"), 2, 262144)) r.cpu_shares = *v;
  if (auto node = table.get("pids"))
    if (auto v = integer(*node, field("pids"), 1)) r.pids_limit = *v;
  if (auto node = table.get("cpuset_cpus"))
    if (auto v = string(*node, field("cpuset_cpus"))) r.cpuset_cpus = *v;
  if (auto node = table.get("cpuset_mems"))
    if (auto v = string(*node, field("cpuset_mems"))) r.cpuset_mems = *v;
}

void Reader::read_health(const toml::table& table, std::string_view prefix, ReadWorkload& w) {
  check_keys(table, prefix, health_keys);
  auto field = [&](std::string_view key) { return fmt::format("{}.{}", prefix, key); };
  HealthCheck h;
  auto type_node = table.get("type");
  if (!type_node) {
    report(table.source(), fmt::format("{}: type is missing (exec, http or tcp)", prefix));
  } else if (auto type = string(*type_node, field("type"))) {
    if (*type == "exec" || *type == "http" || *type == "tcp") h.type = *type;
    else report(*type_node, field("type"), fmt::format("\"{}\" is not exec, http or tcp", *type));
  }
  auto command_node = table.get("command");
  auto target_node = table.get("target");
  if (command_node)
    if (auto c = command(*command_node, field("command"), &w.dependencies)) h.command = *c;
  if (target_node)
    if (auto t = string(*target_node, field("target"), &w.dependencies)) h.target = *t;
  if (h.type == "exec") {
    if (!command_node) report(table.source(), fmt::format("{}: an exec check needs a command", prefix));
    if (target_node) report(*target_node, field("target"), "only http and tcp checks take a target");
  } else if (!h.type.empty()) {
    if (command_node) report(*command_node, field("command"), "only an exec check takes a command");
    if (!target_node) {
      report(table.source(), fmt::format("{}: an {} check needs a target ({})", prefix, h.type,
                                         h.type == "http" ? "\"8080/healthz\" or \"http://HOST:PORT/PATH\""
                                                          : "a port, or HOST:PORT"));
    } else if (!h.target.empty() && !is_template(h.target)) {
      // What the prober will read (runtime/health_target.hpp).
      bool ok = parse_probe_target(h.target).has_value();
      if (!ok)
        report(*target_node, field("target"),
               fmt::format("\"{}\" is not {}", h.target,
                           h.type == "http" ? "PORT[/PATH] or http://HOST:PORT/PATH" : "PORT or HOST:PORT"));
    }
  }
  if (auto node = table.get("interval"))
    if (auto v = duration(*node, field("interval"))) h.interval = *v;
  if (auto node = table.get("timeout"))
    if (auto v = duration(*node, field("timeout"))) h.timeout = *v;
  if (auto node = table.get("start_period"))
    if (auto v = duration(*node, field("start_period"))) h.start_period = *v;
  if (auto node = table.get("retries"))
    if (auto v = integer(*node, field("retries"), 1, 1000000)) h.retries = static_cast<int>(*v);
  w.workload.spec.health_check = std::move(h);
}

void Reader::read_log(const toml::table& table, std::string_view prefix, LogConfig& log) {
  check_keys(table, prefix, log_keys);
  auto field = [&](std::string_view key) { return fmt::format("{}.{}", prefix, key); };
  if (auto node = table.get("max_size"))
    if (auto v = size(*node, field("max_size"))) {
      if (*v > 0) log.max_size_bytes = *v;
      else report(*node, field("max_size"), "must be more than 0");
    }
  if (auto node = table.get("max_file"))
    if (auto v = integer(*node, field("max_file"), 1, 1000)) log.max_file = static_cast<int>(*v);
}

void Reader::read_wasm(const toml::table& table, std::string_view prefix, WasmSettings& wasm) {
  check_keys(table, prefix, wasm_keys);
  auto field = [&](std::string_view key) { return fmt::format("{}.{}", prefix, key); };
  if (auto node = table.get("engine"))
    if (auto v = string(*node, field("engine"))) {
      if (*v == "aot" || *v == "interp") wasm.engine = *v;
      else report(*node, field("engine"), fmt::format("\"{}\" is not aot or interp", *v));
    }
  if (auto node = table.get("memory"))
    if (auto v = size(*node, field("memory"))) wasm.memory_limit_bytes = *v;
  if (auto node = table.get("timeout"))
    if (auto v = duration(*node, field("timeout"))) wasm.execution_time_limit = *v;
  if (auto node = table.get("fuel"))
    if (auto v = integer(*node, field("fuel"), 1)) wasm.fuel = static_cast<std::uint64_t>(*v);
  if (auto node = table.get("pool_size"))
    if (auto v = integer(*node, field("pool_size"), 1, 1 << 16)) wasm.pool_size = static_cast<int>(*v);
  if (auto node = table.get("kv_max_entries"))
    if (auto v = integer(*node, field("kv_max_entries"), 0)) wasm.kv_max_entries = *v;
  if (auto node = table.get("kv_max_value_bytes"))
    if (auto v = size(*node, field("kv_max_value_bytes"))) wasm.kv_max_value_bytes = *v;
  if (auto node = table.get("allow"))
    if (auto v = strings(*node, field("allow"))) wasm.allowed_peers = *v;
  if (auto node = table.get("http")) {
    if (auto v = node->value<std::string>()) wasm.http_listen = *v;
    else report(*node, field("http"), "must be a string (HOST:PORT)");
  }
  if (auto node = table.get("route")) {
    if (auto v = node->value<std::string>()) wasm.http_route = *v;
    else report(*node, field("route"), "must be a string");
  }
  if (auto node = table.get("dirs")) {
    auto dirs = array<std::string>(*node, field("dirs"), [&](const toml::node& item, const std::string& f)
                                                             -> std::optional<std::string> {
      auto text = string(item, f);
      if (!text) return std::nullopt;
      // HOST, HOST:GUEST, or wasmtime's HOST::GUEST; kept as HOST[:GUEST] with HOST absolute.
      auto sep = text->find("::");
      std::size_t guest_at = sep == std::string::npos ? std::string::npos : sep + 2;
      if (sep == std::string::npos) {
        sep = text->find(':');
        guest_at = sep == std::string::npos ? sep : sep + 1;
      }
      std::string host = text->substr(0, sep);
      if (host.empty()) {
        report(item, f, fmt::format("\"{}\" is not HOST[:GUEST]", *text));
        return std::nullopt;
      }
      auto out = host_path(host);
      if (guest_at != std::string::npos) out += ":" + text->substr(guest_at);
      return out;
    });
    if (dirs) wasm.preopened_dirs = *dirs;
  }
}

std::optional<ReadWorkload> Reader::read_workload(std::string_view name, const toml::node& node) {
  auto prefix = fmt::format("workloads.{}", name);
  if (!expect(node, prefix, toml::node_type::table)) return std::nullopt;
  auto& table = *node.as_table();
  ReadWorkload w;
  w.workload.name = std::string(name);
  w.workload.line = static_cast<int>(table.source().begin.line);
  auto& spec = w.workload.spec;
  auto& c = spec.container;
  check_keys(table, prefix, workload_keys);
  auto field = [&](std::string_view key) { return fmt::format("{}.{}", prefix, key); };
  auto get = [&](std::string_view key) { return table.get(key); };
  auto refs = &w.dependencies;

  if (auto n = get("command"))
    if (auto v = command(*n, field("command"), refs)) spec.args = *v;
  if (auto n = get("image"))
    if (auto v = string(*n, field("image"))) spec.image = *v;
  if (auto n = get("rootfs"))
    if (auto v = string(*n, field("rootfs"))) spec.rootfs = host_path(*v);
  if (auto n = get("module"))
    if (auto v = string(*n, field("module"))) spec.module = host_path(*v);
  if (auto n = get("entrypoint"))
    if (auto v = strings(*n, field("entrypoint"), refs)) c.entrypoint = *v;
  if (auto n = get("env")) read_env(*n, field("env"), w);
  if (auto n = get("working_dir"))
    if (auto v = string(*n, field("working_dir"))) spec.working_dir = *v;
  if (auto n = get("user"))
    if (auto v = string(*n, field("user"))) spec.user = *v;
  if (auto n = get("labels")) read_string_map(*n, field("labels"), spec.labels, refs);
  if (auto n = get("annotations")) read_string_map(*n, field("annotations"), spec.annotations, nullptr);
  if (auto n = get("ports"))
    if (auto v = array<PortMapping>(*n, field("ports"), [&](const toml::node& item, const std::string& f)
                                                            -> std::optional<PortMapping> {
          auto text = scalar_text(item, f);
          if (!text) return std::nullopt;
          return checked(item, parse_port_mapping(*text, f));
        }))
      spec.ports = *v;
  if (auto n = get("mounts"))
    if (auto v = array<Mount>(*n, field("mounts"), [&](const toml::node& item, const std::string& f)
                                                       -> std::optional<Mount> {
          auto text = string(item, f);
          if (!text) return std::nullopt;
          auto m = text->starts_with("tmpfs:") ? checked(item, parse_tmpfs(text->substr(6), f))
                                               : checked(item, parse_volume(*text, f));
          if (!m) return std::nullopt;
          if (m->type == "bind") m->source = host_path(m->source);
          if (!m->target.starts_with('/')) {
            report(item, f, fmt::format("target \"{}\" is not an absolute path", m->target));
            return std::nullopt;
          }
          return m;
        }))
      spec.mounts = *v;
  // One network (or mode), or a list of networks: the first holds the default route.
  if (auto n = get("network")) {
    if (n->is_array()) {
      if (auto v = strings(*n, field("network")); v && !v->empty()) {
        spec.network = v->front();
        spec.additional_networks.assign(v->begin() + 1, v->end());
      }
    } else if (auto v = string(*n, field("network"))) {
      spec.network = *v;
    }
  }
  if (auto n = get("aliases"))
    if (auto v = strings(*n, field("aliases"))) spec.aliases = *v;
  if (auto n = get("depends_on")) {
    if (expect(*n, field("depends_on"), toml::node_type::array)) {
      auto& items = *n->as_array();
      for (std::size_t i = 0; i < items.size(); ++i)
        if (auto dep = string(items[i], fmt::format("{}[{}]", field("depends_on"), i)))
          w.dependencies.push_back({*dep, static_cast<int>(items[i].source().begin.line),
                                    static_cast<int>(items[i].source().begin.column), false});
    }
  }
  if (auto n = get("restart"))
    if (auto v = string(*n, field("restart")))
      if (auto p = checked(*n, parse_restart_policy(*v, field("restart")))) spec.restart_policy = *p;
  if (auto n = get("stop_signal")) {
    if (auto v = scalar_text(*n, field("stop_signal")))
      if (auto sig = checked(*n, parse_signal(*v, field("stop_signal")))) spec.stop_signal = *sig;
  }
  if (auto n = get("stop_grace"))
    if (auto v = duration(*n, field("stop_grace"))) spec.stop_grace = *v;
  if (auto n = get("time_to_live"))
    if (auto v = duration(*n, field("time_to_live"))) {
      if (v->count() > 0) spec.time_to_live = *v;
      else report(*n, field("time_to_live"), "must be positive");
    }
  if (auto n = get("namespaces"))
    if (auto v = strings(*n, field("namespaces"))) {
      for (auto& ns : *v) {
        if (ns == "pid") spec.namespaces.pid = true;
        else if (ns == "ipc") spec.namespaces.ipc = true;
        else if (ns == "uts") spec.namespaces.uts = true;
        else if (ns == "mount") spec.namespaces.mount = true;
        else if (ns == "net") spec.namespaces.net = true;
        else report(*n, field("namespaces"), fmt::format("\"{}\" is not pid, ipc, uts, mount or net", ns));
      }
    }
  if (auto n = get("hostname"))
    if (auto v = string(*n, field("hostname"))) {
      if (v->size() <= 63) c.hostname = *v;
      else report(*n, field("hostname"), "longer than 63 characters");
    }
  if (auto n = get("read_only"))
    if (auto v = boolean(*n, field("read_only"))) c.read_only_rootfs = *v;
  if (auto n = get("no_new_privileges"))
    if (auto v = boolean(*n, field("no_new_privileges"))) c.no_new_privileges = *v;
  for (auto [key, out] : {std::pair{"cap_add", &c.cap_add}, std::pair{"cap_drop", &c.cap_drop}})
    if (auto n = get(key))
      if (auto v = strings(*n, field(key))) {
        for (auto& cap : *v)
          if (auto known = linux::resolve_capabilities(linux::default_container_capabilities(), {cap}, {}); !known)
            report(*n, field(key), known.error().message);
        *out = *v;
      }
  if (auto n = get("seccomp"))
    if (auto v = string(*n, field("seccomp")))
      c.seccomp = (*v == "unconfined" || v->empty()) ? *v : host_path(*v);
  if (auto n = get("ulimits"))
    if (auto v = array<Rlimit>(*n, field("ulimits"), [&](const toml::node& item, const std::string& f)
                                                         -> std::optional<Rlimit> {
          auto text = string(item, f);
          if (!text) return std::nullopt;
          auto l = checked(item, parse_ulimit(*text, f));
          if (l && !rlimit_resource(l->type)) {
            report(item, f, fmt::format("\"{}\" is not a resource limit (nofile, nproc, core, ...)", l->type));
            return std::nullopt;
          }
          if (l && l->soft > l->hard) {
            report(item, f, fmt::format("\"{}\": the soft limit is above the hard one", *text));
            return std::nullopt;
          }
          return l;
        }))
      c.rlimits = *v;
  if (auto n = get("group_add"))
    if (auto v = strings(*n, field("group_add"))) c.group_add = *v;
  if (auto n = get("resources"))
    if (expect(*n, field("resources"), toml::node_type::table))
      read_resources(*n->as_table(), field("resources"), spec.resources);
  if (auto n = get("health"))
    if (expect(*n, field("health"), toml::node_type::table)) read_health(*n->as_table(), field("health"), w);
  if (auto n = get("wasm"))
    if (expect(*n, field("wasm"), toml::node_type::table)) read_wasm(*n->as_table(), field("wasm"), spec.wasm);
  if (auto n = get("log"))
    if (expect(*n, field("log"), toml::node_type::table)) read_log(*n->as_table(), field("log"), spec.log);

  // The kind, and the fields it cannot honour.
  auto kind_node = get("kind");
  std::optional<WorkloadKind> kind;
  if (kind_node) {
    if (auto text = string(*kind_node, field("kind"))) {
      kind = parse_workload_kind(*text);
      if (!kind) report(*kind_node, field("kind"), fmt::format("\"{}\" is not process, container or wasm", *text));
    }
  } else {
    kind = (get("image") || get("rootfs")) ? WorkloadKind::container
           : get("module")                 ? WorkloadKind::wasm
                                           : WorkloadKind::process;
  }
  if (!kind) return w;
  spec.kind = *kind;
  auto kind_name = to_string(*kind);
  auto only_for = [&](std::string_view key, std::string_view kinds) {
    if (auto n = get(key))
      report(*n, field(key), fmt::format("only {} take this (the kind is {})", kinds, kind_name));
  };
  if (*kind != WorkloadKind::container) {
    for (auto key : {"image", "rootfs"}) only_for(key, "containers");
    for (auto key : container_only_keys) only_for(key, "containers");
  }
  if (*kind != WorkloadKind::wasm)
    for (auto key : {"module", "wasm"}) only_for(key, "wasm workloads");
  if (*kind != WorkloadKind::process) only_for("namespaces", "process workloads");
  switch (*kind) {
    case WorkloadKind::container:
      if (get("image") && get("rootfs"))
        report(*get("rootfs"), field("rootfs"), "a container takes image or rootfs, not both");
      else if (!get("image") && !get("rootfs"))
        report(table.source(), fmt::format("{}: a container needs image or rootfs", prefix));
      break;
    case WorkloadKind::wasm:
      if (!get("module")) report(table.source(), fmt::format("{}: a wasm workload needs a module", prefix));
      break;
    case WorkloadKind::process:
      if (!get("command")) report(table.source(), fmt::format("{}: a process workload needs a command", prefix));
      break;
  }
  return w;
}

struct ReadResult {
  StackFile stack;
  std::vector<Problem> problems;
};

ReadResult read(std::string_view text, const std::string& path, const Environment& environment) {
  ReadResult result;
  auto& stack = result.stack;
  std::error_code ec;
  auto absolute = fs::absolute(path, ec);
  if (ec) absolute = fs::path(path);
  absolute = absolute.lexically_normal();
  stack.path = absolute.string();
  auto directory = absolute.parent_path();
  stack.name = sanitised_name(directory.filename().string());
  Reader reader(path, directory, environment);

  toml::table root;
  try {
    root = toml::parse(text, std::string_view(path));
  } catch (const toml::parse_error& e) {
    reader.report(e.source(), std::string(e.description()));
    result.problems = std::move(reader.problems);
    return result;
  }

  reader.check_keys(root, "", top_keys);
  if (auto node = root.get("stack"))
    if (reader.expect(*node, "stack", toml::node_type::table)) reader.read_stack(*node->as_table(), stack);

  std::vector<ReadWorkload> workloads;
  auto workloads_node = root.get("workloads");
  if (!workloads_node) {
    reader.report(toml::source_region{{1, 1}, {1, 1}, nullptr}, "workloads: the stack has no workloads ([workloads.NAME])");
  } else if (reader.expect(*workloads_node, "workloads", toml::node_type::table)) {
    auto& table = *workloads_node->as_table();
    if (table.empty()) reader.report(*workloads_node, "workloads", "the stack has no workloads ([workloads.NAME])");
    for (auto&& [key, node] : table) {
      if (!is_valid_stack_name(key.str())) {
        reader.report(key.source().begin.line ? key.source() : node.source(),
                      fmt::format("workloads.{}: \"{}\" is not a valid workload name ([a-z0-9][a-z0-9_.-]*)",
                                  key.str(), key.str()));
        continue;
      }
      if (auto w = reader.read_workload(key.str(), node)) workloads.push_back(std::move(*w));
    }
  }

  // Dependencies: each must name another workload of the stack.
  std::set<std::string> names;
  for (auto& w : workloads) names.insert(w.workload.name);
  std::vector<DependencyNode> graph;
  for (auto& w : workloads) {
    std::set<std::string> deps;
    std::set<std::string> reported;
    for (auto& dep : w.dependencies) {
      toml::source_region at{{static_cast<toml::source_index>(dep.line), static_cast<toml::source_index>(dep.column)},
                             {},
                             nullptr};
      if (dep.name == w.workload.name) {
        if (reported.insert(dep.name).second)
          reader.report(at, fmt::format("workloads.{}: depends on itself", w.workload.name));
      } else if (!names.contains(dep.name)) {
        if (reported.insert(dep.name).second)
          reader.report(at, fmt::format("workloads.{}: {} \"{}\", which is not a workload of this stack",
                                        w.workload.name, dep.from_reference ? "refers to" : "depends on", dep.name));
      } else {
        deps.insert(dep.name);
      }
    }
    w.workload.depends_on.assign(deps.begin(), deps.end());
    graph.push_back({w.workload.name, w.workload.depends_on});
  }
  auto order = start_order(graph);
  std::map<std::string, ReadWorkload*> by_name;
  for (auto& w : workloads) by_name[w.workload.name] = &w;
  for (auto& cycle : order.cycles) {
    std::string path_text;
    for (auto& name : cycle) path_text += (path_text.empty() ? "" : " -> ") + name;
    auto& first = by_name[cycle.front()]->workload;
    reader.report(toml::source_region{{static_cast<toml::source_index>(first.line), 1}, {}, nullptr},
                  fmt::format("workloads.{}: dependency cycle: {}", first.name, path_text));
  }
  for (auto& name : order.order) stack.workloads.push_back(std::move(by_name[name]->workload));
  // up names each workload "<stack>-<name>" (member_name): a name the runtime would refuse is
  // this file's problem, found here rather than halfway through up.
  for (auto& w : stack.workloads) {
    std::string composed = member_name(stack.name, w.name);
    if (!is_valid_workload_name(composed))
      reader.report(toml::source_region{{static_cast<toml::source_index>(w.line), 1}, {}, nullptr},
                    fmt::format("workloads.{}: its name in the runtime, \"{}\", is {} characters long, more than "
                                "the 128 a workload name may have: shorten the stack's or the workload's name",
                                w.name, composed, composed.size()));
  }

  // In file order; problems at one place keep the order they were found in. (std::sort with the
  // position found as the last key: libstdc++ 12's std::stable_sort is flagged as deprecated by
  // clang in C++23, which the fuzz build compiles with.)
  std::vector<std::size_t> found_order(reader.problems.size());
  std::iota(found_order.begin(), found_order.end(), std::size_t{0});
  std::sort(found_order.begin(), found_order.end(), [&](std::size_t a, std::size_t b) {
    const auto &pa = reader.problems[a], &pb = reader.problems[b];
    return std::tie(pa.line, pa.column, a) < std::tie(pb.line, pb.column, b);
  });
  for (auto i : found_order) result.problems.push_back(std::move(reader.problems[i]));
  return result;
}

Result<StackFile> problems_or_stack(ReadResult result) {
  if (result.problems.empty()) return std::move(result.stack);
  std::string message;
  for (auto& problem : result.problems) message += (message.empty() ? "" : "\n") + format(problem);
  return fail(ErrorCode::invalid_spec, std::move(message));
}

}  // namespace

bool is_valid_stack_name(std::string_view name) {
  auto lower_or_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || !lower_or_digit(name[0])) return false;
  for (char c : name)
    if (!lower_or_digit(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

std::string format(const Problem& problem) {
  return fmt::format("{}:{}:{}: {}", problem.file, problem.line, problem.column, problem.message);
}

std::vector<Problem> validate_stack(std::string_view toml_text, const std::string& path,
                                    const Environment& environment) {
  return read(toml_text, path, environment).problems;
}

Result<StackFile> parse_stack(std::string_view toml_text, const std::string& path, const Environment& environment) {
  return problems_or_stack(read(toml_text, path, environment));
}

Result<StackFile> load_stack_file(const std::string& path, const Environment& environment) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    auto code = errno == EACCES ? ErrorCode::permission_denied : ErrorCode::not_found;
    return fail(code, fmt::format("stack file \"{}\": cannot read it", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_stack(text.str(), path, environment);
}

Result<WorkloadSpec> resolve_workload_references(
    const StackWorkload& workload,
    const std::function<Result<std::string>(std::string_view workload, std::string_view key)>& lookup) {
  WorkloadSpec spec = workload.spec;
  std::optional<Error> error;
  auto resolve = [&](std::string& text, const std::string& field) {
    if (error) return;
    auto resolved = resolve_references(text, lookup);
    if (resolved) text = std::move(*resolved);
    else error = resolved.error().with_context(fmt::format("workloads.{}.{}", workload.name, field));
  };
  for (std::size_t i = 0; i < spec.args.size(); ++i) resolve(spec.args[i], fmt::format("command[{}]", i));
  if (spec.container.entrypoint)
    for (std::size_t i = 0; i < spec.container.entrypoint->size(); ++i)
      resolve((*spec.container.entrypoint)[i], fmt::format("entrypoint[{}]", i));
  for (auto& entry : spec.env) resolve(entry, fmt::format("env.{}", entry.substr(0, entry.find('='))));
  for (auto& [key, value] : spec.labels) resolve(value, fmt::format("labels.{}", key));
  if (spec.health_check) {
    for (std::size_t i = 0; i < spec.health_check->command.size(); ++i)
      resolve(spec.health_check->command[i], fmt::format("health.command[{}]", i));
    resolve(spec.health_check->target, "health.target");
  }
  if (error) return std::unexpected(*error);
  return spec;
}

}  // namespace berth::stack
