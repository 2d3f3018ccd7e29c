#include "cli/workload_flags.hpp"

#include "runtime/spec_text.hpp"

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>

#include "cli/container_flags.hpp"
#include "cli/output.hpp"
#include "cli/signals.hpp"
#include "cli/wasm_flags.hpp"
#include "common/time.hpp"
#include "common/units.hpp"

namespace berth::cli {

namespace {

bool has_space(std::string_view s) { return s.find_first_of(" \t\r\n") != std::string_view::npos; }

Result<void> read_env_file(std::vector<std::string>& env, const std::string& path) {
  std::ifstream in(path);
  if (!in) return fail(ErrorCode::not_found, fmt::format("env-file: cannot read \"{}\"", path));
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string_view entry = line;
    entry.remove_prefix(std::min(entry.find_first_not_of(" \t"), entry.size()));
    if (entry.empty() || entry.front() == '#') continue;
    auto added = add_env(env, entry, fmt::format("env-file: {} line {}", path, number));
    if (!added) return added;
  }
  return {};
}

// Sets `out` from an optional flag through `parse`, which returns Result<T>.
template <typename T, typename Parse>
Result<void> optional_flag(const ParsedArgs& p, const std::string& name, std::optional<T>& out,
                           Parse parse) {
  auto text = p.last(name);
  if (!text) return {};
  auto value = parse(*text);
  if (!value) return std::unexpected(value.error());
  out = static_cast<T>(*value);
  return {};
}

Result<void> resources_from_flags(const ParsedArgs& p, Resources& r) {
  auto size = [](std::string_view field) {
    return [field](const std::string& text) -> Result<std::int64_t> {
      if (field == "memory-swap" && text == "-1") return -1;  // unlimited swap, as docker
      return parse_size(text, field);
    };
  };
  auto integer = [](std::string_view field) {
    return [field](const std::string& text) { return parse_integer(text, field); };
  };
  auto number = [](const std::string& text) { return parse_number(text, "cpus"); };
  // (g++ 12's std::expected has no and_then yet.)
  for (auto result : {optional_flag(p, "memory", r.memory_bytes, size("memory")),
                      optional_flag(p, "memory-swap", r.memory_swap_bytes, size("memory-swap")),
                      optional_flag(p, "cpus", r.cpus, number),
                      optional_flag(p, "cpu-shares", r.cpu_shares, integer("cpu-shares")),
                      optional_flag(p, "pids-limit", r.pids_limit, integer("pids-limit"))})
    if (!result) return result;
  return {};
}

}  // namespace

const std::vector<FlagSpec>& workload_flags() {
  static const std::vector<FlagSpec> flags = {
      help_flag,
      {"name", 0, true, "NAME", "name the workload (default: generated)"},
      {"memory", 'm', true, "SIZE", "memory limit: 512m, 1g, 1.5GiB"},
      {"memory-swap", 0, true, "SIZE", "memory plus swap limit (-1: unlimited swap)"},
      {"cpus", 0, true, "N", "CPU cores, e.g. 0.5"},
      {"cpu-shares", 'c', true, "N", "relative CPU weight"},
      {"pids-limit", 0, true, "N", "most processes at once"},
      {"env", 'e', true, "K=V", "set an environment variable (K alone: take it from here)"},
      {"env-file", 0, true, "FILE", "read K=V lines from FILE"},
      {"workdir", 'w', true, "DIR", "working directory"},
      {"user", 'u', true, "USER[:GROUP]", "run as this user (containers: names from the image too)"},
      {"label", 'l', true, "K=V", "set a label"},
      {"stop-signal", 0, true, "SIGNAL", "signal that asks it to stop (default TERM)"},
      {"stop-timeout", 0, true, "SECONDS", "grace before SIGKILL on stop (default 10)"},
      {"ttl", 0, true, "DURATION", "stop it after this long: 30s, 10m, 1h"},
      {"pid", 0, false, {}, "new PID namespace"},
      {"ipc", 0, false, {}, "new IPC namespace"},
      {"uts", 0, false, {}, "new UTS namespace"},
      {"mount-ns", 0, false, {}, "new mount namespace"},
      {"network", 0, true, "host|none|NAME", "host: the host's network; none: own, loopback only; NAME: a bridge network (\"berth\" is made on first use; repeat to join several)"},
      {"network-alias", 0, true, "NAME", "another name it is reached by on its networks"},
      {"publish", 'p', true, "[IP:]HOST:CONTAINER[/udp]", "publish a port on the host (CONTAINER alone: an ephemeral host port)"},
      {"rm", 0, false, {}, "remove it once it exits"},
      {"log-opt", 0, true, "KEY=VALUE", "log rotation: max-size=SIZE (default 20m), max-file=N (default 5)"},
      {"restart", 0, true, "POLICY", "no, always, unless-stopped, on-failure[:N] (berthd or `berth up` applies it)"},
      {"health-cmd", 0, true, "CMD", "health check: a shell command inside it (exit 0 = healthy)"},
      {"health-http", 0, true, "PORT[/PATH]", "health check: HTTP GET on its loopback (2xx/3xx = healthy)"},
      {"health-tcp", 0, true, "PORT", "health check: a TCP connect on its loopback"},
      {"health-interval", 0, true, "DURATION", "time between health checks (default 30s)"},
      {"health-timeout", 0, true, "DURATION", "longest a health check may take (default 30s)"},
      {"health-retries", 0, true, "N", "failures in a row that make it unhealthy (default 3)"},
      {"health-start-period", 0, true, "DURATION", "failures this long after start do not count"},
      format_flag,
  };
  static const std::vector<FlagSpec> all = [] {
    auto out = flags;
    auto& more = container_flags();
    out.insert(out.end(), more.begin(), more.end());
    auto& wasm = wasm_flags();
    out.insert(out.end(), wasm.begin(), wasm.end());
    return out;
  }();
  return all;
}

Result<void> add_env(std::vector<std::string>& env, std::string_view entry, std::string_view field) {
  auto eq = entry.find('=');
  std::string_view key = entry.substr(0, eq);
  if (key.empty() || has_space(key))
    return fail(ErrorCode::invalid_spec, fmt::format("{}: \"{}\" is not KEY=VALUE", field, entry));
  if (eq != std::string_view::npos) {
    env.emplace_back(entry);
  } else if (const char* value = std::getenv(std::string(key).c_str())) {
    env.push_back(fmt::format("{}={}", key, value));
  }
  return {};
}

namespace {

// Docker's --health-* flags, plus --health-http and --health-tcp for the probes berth runs
// itself. One kind at most. (An image's own HEALTHCHECK applies when none is given.)
Result<void> health_check_from_flags(const ParsedArgs& p, WorkloadSpec& spec) {
  int kinds = p.has("health-cmd") + p.has("health-http") + p.has("health-tcp");
  if (kinds > 1) return fail(ErrorCode::invalid_spec, "health: give one of --health-cmd, --health-http, --health-tcp");
  bool timing = p.has("health-interval") || p.has("health-timeout") || p.has("health-retries") ||
                p.has("health-start-period");
  if (!kinds && !timing) return {};
  HealthCheck check;
  if (auto v = p.last("health-cmd")) {
    check.type = "exec";
    check.command = {"/bin/sh", "-c", *v};
  } else if (auto v = p.last("health-http")) {
    check.type = "http";
    check.target = *v;
  } else if (auto v = p.last("health-tcp")) {
    check.type = "tcp";
    check.target = *v;
  } else {
    return fail(ErrorCode::invalid_spec, "health: the --health-* timings need --health-cmd, --health-http or --health-tcp");
  }
  for (auto [flag, field] : {std::pair{"health-interval", &check.interval}, std::pair{"health-timeout", &check.timeout},
                             std::pair{"health-start-period", &check.start_period}}) {
    if (auto v = p.last(flag)) {
      auto d = parse_duration(*v);
      if (!d) return std::unexpected(d.error().with_context(flag));
      *field = *d;
    }
  }
  if (auto v = p.last("health-retries")) {
    auto n = parse_integer(*v, "health-retries", 1, 1000000);
    if (!n) return std::unexpected(n.error());
    check.retries = static_cast<int>(*n);
  }
  spec.health_check = check;
  return {};
}

}  // namespace

Result<WorkloadSpec> spec_from_flags(const ParsedArgs& p) {
  WorkloadSpec spec;
  spec.kind = wants_container(p) ? WorkloadKind::container : WorkloadKind::process;
  if (wants_wasm(p)) {
    if (spec.kind == WorkloadKind::container)
      return fail(ErrorCode::invalid_spec, "wasm: a module is not run with --image or --rootfs");
    spec.kind = WorkloadKind::wasm;
  }
  spec.name = p.last("name").value_or("");
  spec.args = p.positionals;
  // A container's image may say what to run, a module is what runs; anything else needs a command.
  if (spec.args.empty() && !p.has("image") && spec.kind != WorkloadKind::wasm)
    return fail(ErrorCode::invalid_spec, "a command to run is needed: [FLAGS] [--] COMMAND [ARGS...]");
  for (const auto& flag : wasm_flags())
    if (spec.kind != WorkloadKind::wasm && p.has(flag.name))
      return fail(ErrorCode::invalid_spec, fmt::format("--{} is for wasm modules: give --wasm MODULE too", flag.name));
  if (spec.kind == WorkloadKind::wasm) {
    for (const auto& flag : container_flags())
      if (p.has(flag.name))
        return fail(ErrorCode::invalid_spec, fmt::format("--{} is for containers, not wasm modules", flag.name));
    if (auto r = wasm_spec_from_flags(p, spec); !r) return std::unexpected(r.error());
  } else if (spec.kind == WorkloadKind::container) {
    if (auto r = container_spec_from_flags(p, spec); !r) return std::unexpected(r.error());
  } else {
    for (const auto& flag : container_flags())
      if (p.has(flag.name))
        return fail(ErrorCode::invalid_spec,
                    fmt::format("--{} is for containers: give --image or --rootfs too", flag.name));
  }
  // A module's --memory limits its linear memory (the runner's own RSS is not the guest's).
  std::optional<std::string> memory;
  if (spec.kind == WorkloadKind::wasm) memory = p.last("memory");
  auto resources = resources_from_flags(p, spec.resources);
  if (memory) spec.resources.memory_bytes.reset();
  if (!resources) return std::unexpected(resources.error());
  // docker's order: the files first, then -e, so -e overrides.
  for (auto& file : p.all("env-file"))
    if (auto added = read_env_file(spec.env, file); !added) return std::unexpected(added.error());
  for (auto& e : p.all("env"))
    if (auto added = add_env(spec.env, e, "env"); !added) return std::unexpected(added.error());
  spec.working_dir = p.last("workdir").value_or("");
  spec.user = p.last("user").value_or("");
  for (auto& l : p.all("label")) {
    auto eq = l.find('=');
    if (eq == 0 || l.empty())
      return fail(ErrorCode::invalid_spec, fmt::format("label: \"{}\" is not KEY=VALUE", l));
    spec.labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  if (auto v = p.last("stop-signal")) {
    auto sig = parse_signal(*v, "stop-signal");
    if (!sig) return std::unexpected(sig.error());
    spec.stop_signal = *sig;
  }
  if (auto v = p.last("stop-timeout")) {
    auto secs = parse_integer(*v, "stop-timeout", 0, 365LL * 24 * 3600);
    if (!secs) return std::unexpected(secs.error());
    spec.stop_grace = std::chrono::seconds(*secs);
  }
  if (auto v = p.last("ttl")) {
    auto d = parse_duration(*v);
    if (!d) return std::unexpected(d.error().with_context("ttl"));
    spec.time_to_live = *d;
  }
  spec.namespaces.pid = p.has("pid");
  spec.namespaces.ipc = p.has("ipc");
  spec.namespaces.uts = p.has("uts");
  spec.namespaces.mount = p.has("mount-ns");
  // --network repeats, as Docker's: the first holds the default route, the rest join too.
  if (auto networks = p.all("network"); !networks.empty()) {
    spec.network = networks.front();
    spec.additional_networks.assign(networks.begin() + 1, networks.end());
  }
  for (auto& alias : p.all("network-alias")) spec.aliases.push_back(alias);
  for (auto& text : p.all("publish")) {
    auto port = parse_port_mapping(text, "publish");
    if (!port) return std::unexpected(port.error());
    spec.ports.push_back(*port);
  }
  spec.auto_remove = p.has("rm");
  for (auto& option : p.all("log-opt"))
    if (auto r = apply_log_option(spec.log, option, "log-opt"); !r) return std::unexpected(r.error());
  if (auto v = p.last("restart")) {
    auto policy = parse_restart_policy(*v, "restart");
    if (!policy) return std::unexpected(policy.error());
    spec.restart_policy = *policy;
  }
  if (auto r = health_check_from_flags(p, spec); !r) return std::unexpected(r.error());
  return spec;
}

}  // namespace berth::cli
