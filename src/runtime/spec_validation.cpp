#include "runtime/spec_validation.hpp"

#include <fmt/format.h>

#include <cctype>

#include "linux/cgroup.hpp"

namespace berth {

namespace {

std::unexpected<Error> invalid(std::string message) {
  return fail(ErrorCode::invalid_spec, std::move(message));
}

Result<void> validate_common(const WorkloadSpec& s) {
  if (!s.name.empty() && !is_valid_workload_name(s.name))
    return invalid(fmt::format(
        "name: \"{}\" is not a valid name (letters, digits, '_', '.', '-'; at most 128, "
        "starting with a letter or digit)",
        s.name));
  for (std::size_t i = 0; i < s.env.size(); ++i) {
    auto eq = s.env[i].find('=');
    if (eq == std::string::npos || eq == 0)
      return invalid(fmt::format("env[{}]: \"{}\" is not KEY=VALUE", i, s.env[i]));
    if (s.env[i].find('\0') != std::string::npos)
      return invalid(fmt::format("env[{}]: contains a NUL byte", i));
  }
  for (std::size_t i = 0; i < s.args.size(); ++i)
    if (s.args[i].find('\0') != std::string::npos)
      return invalid(fmt::format("args[{}]: contains a NUL byte", i));
  if (auto r = linux::validate_resources(s.resources); !r) return r;
  if (s.stop_signal < 1 || s.stop_signal > 64)
    return invalid(fmt::format("stop_signal: {} is not a signal number", s.stop_signal));
  if (s.stop_grace.count() < 0) return invalid("stop_grace: must not be negative");
  if (s.time_to_live && s.time_to_live->count() <= 0)
    return invalid("time_to_live: must be positive");
  auto& rp = s.restart_policy.name;
  if (rp != "no" && rp != "always" && rp != "unless-stopped" && rp != "on-failure")
    return invalid(fmt::format(
        "restart_policy: \"{}\" is not one of no, always, unless-stopped, on-failure", rp));
  return {};
}

Result<void> validate_process(const WorkloadSpec& s) {
  auto not_for_process = [](std::string_view field) {
    return invalid(fmt::format("{}: not valid for a process workload", field));
  };
  if (s.args.empty() || s.args[0].empty()) return invalid("args: a process workload needs a command");
  if (!s.image.empty()) return not_for_process("image");
  if (!s.rootfs.empty()) return not_for_process("rootfs");
  if (!s.module.empty()) return not_for_process("module");
  if (!s.wasm.empty()) return not_for_process("wasm");
  if (!s.mounts.empty()) return not_for_process("mounts");
  // Not built yet: rejected rather than silently ignored.
  if (!s.ports.empty()) return invalid("ports: published ports are not supported yet");
  if (!s.aliases.empty()) return invalid("aliases: networks are not supported yet");
  if (s.health_check) return invalid("health_check: health checks are not supported yet");
  if (s.restart_policy.name != "no")
    return invalid("restart_policy: restart policies are not supported yet (only \"no\")");
  if (!s.network.empty() && s.network != "host" && s.network != "none")
    return invalid(fmt::format(
        "network: \"{}\" is not available for a process workload (host or none)", s.network));
  if (s.network == "host" && s.namespaces.net)
    return invalid("network: \"host\" conflicts with a new network namespace");
  if (!s.working_dir.empty() && s.working_dir[0] != '/')
    return invalid(fmt::format("working_dir: \"{}\" must be an absolute path", s.working_dir));
  if (!s.user.empty()) {
    bool ok = true;
    int colons = 0;
    for (char c : s.user) {
      if (c == ':') ++colons;
      else if (!std::isdigit(static_cast<unsigned char>(c))) ok = false;
    }
    if (!ok || colons > 1 || s.user.front() == ':' || s.user.back() == ':')
      return invalid(fmt::format("user: \"{}\" is not UID[:GID] (numbers)", s.user));
  }
  return {};
}

}  // namespace

bool is_valid_workload_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
      return false;
  return true;
}

Result<void> validate_spec(const WorkloadSpec& spec) {
  if (auto r = validate_common(spec); !r) return r;
  switch (spec.kind) {
    case WorkloadKind::process:
      return validate_process(spec);
    case WorkloadKind::container:
    case WorkloadKind::wasm:
      return fail(ErrorCode::unavailable,
                  fmt::format("kind: {} workloads are not supported by this build yet",
                              to_string(spec.kind)));
  }
  return {};
}

}  // namespace berth
