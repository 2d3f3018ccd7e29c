#include "runtime/spec_validation.hpp"

#include <fmt/format.h>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>

#include "common/fs.hpp"
#include "common/numbers.hpp"
#include "linux/capabilities.hpp"
#include "linux/cgroup.hpp"
#include "runtime/container_launch.hpp"
#include "runtime/health_target.hpp"
#include "runtime/network_attach.hpp"
#include "wasm/engines.hpp"
#include "wasm/module_file.hpp"
#include "wasm/net/peer_allow_list.hpp"
#include "wasm/runner/command.hpp"

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
  if (s.log.max_size_bytes <= 0) return invalid("log.max_size_bytes: must be more than 0");
  if (s.log.max_file < 1 || s.log.max_file > 1000)
    return invalid(fmt::format("log.max_file: {} is not 1 to 1000", s.log.max_file));
  auto& rp = s.restart_policy.name;
  if (rp != "no" && rp != "always" && rp != "unless-stopped" && rp != "on-failure")
    return invalid(fmt::format(
        "restart_policy: \"{}\" is not one of no, always, unless-stopped, on-failure", rp));
  return {};
}

Result<void> validate_health_check(const HealthCheck& h);
Result<void> validate_restart_policy(const RestartPolicy& p);

// `network` is a mode (host, none, "" for the kind's default) or a bridge network's name; further
// networks are names, each once, after a first one.
Result<void> validate_networks(const WorkloadSpec& s) {
  if (!s.network.empty() && s.network != "host" && s.network != "none" && !is_valid_workload_name(s.network))
    return invalid(fmt::format(
        "network: \"{}\" is not host, none, a network's name, or empty for the default", s.network));
  if (s.network == "host" && s.namespaces.net)
    return invalid("network: \"host\" conflicts with a new network namespace");
  if (s.additional_networks.empty()) return {};
  if (!is_network_name(s.network))
    return invalid(fmt::format("additional_networks: a workload on network \"{}\" joins no further networks",
                               s.network.empty() ? "(default)" : s.network));
  auto joined = joined_networks(s);
  if (joined.size() > max_networks_per_workload)
    return invalid(fmt::format("additional_networks: {} networks in all, at most {}", joined.size(), max_networks_per_workload));
  for (std::size_t i = 0; i < s.additional_networks.size(); ++i) {
    const auto& name = s.additional_networks[i];
    if (!is_network_name(name) || !is_valid_workload_name(name))
      return invalid(fmt::format("additional_networks[{}]: \"{}\" is not a network's name", i, name));
    if (std::count(joined.begin(), joined.end(), name) > 1)
      return invalid(fmt::format("additional_networks[{}]: network {} is joined twice", i, name));
  }
  return {};
}

// Fields every kind shares, and those whose backends are not built yet: refused rather than
// silently ignored.
Result<void> validate_supervision_and_refuse_unbuilt(const WorkloadSpec& s) {
  if (s.health_check)
    if (auto r = validate_health_check(*s.health_check); !r) return r;
  if (auto r = validate_restart_policy(s.restart_policy); !r) return r;
  if (auto r = validate_networks(s); !r) return r;
  for (std::size_t i = 0; i < s.ports.size(); ++i) {
    const auto& p = s.ports[i];
    if (s.kind == WorkloadKind::process && !is_network_name(s.network))
      return invalid(fmt::format("ports[{}]: a process publishes ports only from a bridge network (on the host's it binds them itself)", i));
    if (p.container_port == 0) return invalid(fmt::format("ports[{}]: the container port must be 1-65535", i));
    if (p.protocol != "tcp" && p.protocol != "udp")
      return invalid(fmt::format("ports[{}]: protocol \"{}\" is not tcp or udp", i, p.protocol));
    if (s.network == "host" || s.network == "none")
      return invalid(fmt::format("ports[{}]: a container with network {} publishes no ports", i, s.network));
  }
  for (std::size_t i = 0; i < s.aliases.size(); ++i) {
    if (!is_network_name(s.network))
      return invalid(fmt::format("aliases[{}]: only a workload on a network has aliases", i));
    if (!is_valid_workload_name(s.aliases[i]))
      return invalid(fmt::format("aliases[{}]: \"{}\" is not a valid name", i, s.aliases[i]));
  }
  return {};
}

Result<void> validate_health_check(const HealthCheck& h) {
  if (h.type == "exec") {
    if (h.command.empty() || h.command[0].empty())
      return invalid("health_check.command: an exec health check needs a command");
  } else if (h.type == "http" || h.type == "tcp") {
    if (auto target = parse_probe_target(h.target); !target) return std::unexpected(target.error());
  } else {
    return invalid(fmt::format("health_check.type: \"{}\" is not exec, http or tcp", h.type));
  }
  if (h.interval.count() <= 0) return invalid("health_check.interval: must be more than 0");
  if (h.timeout.count() <= 0) return invalid("health_check.timeout: must be more than 0");
  if (h.start_period.count() < 0) return invalid("health_check.start_period: must not be negative");
  if (h.retries < 1) return invalid(fmt::format("health_check.retries: {} is not at least 1", h.retries));
  return {};
}

Result<void> validate_restart_policy(const RestartPolicy& p) {
  if (p.name != "no" && p.name != "always" && p.name != "unless-stopped" && p.name != "on-failure")
    return invalid(fmt::format("restart_policy: \"{}\" is not no, always, unless-stopped or on-failure[:N]", p.name));
  if (p.max_retries < 0) return invalid(fmt::format("restart_policy: {} retries is negative", p.max_retries));
  if (p.max_retries > 0 && p.name != "on-failure")
    return invalid(fmt::format("restart_policy: a retry count goes only with on-failure, not {}", p.name));
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
  if (!s.container.empty()) return not_for_process("container");
  if (!s.resources.cpuset_cpus.empty() || !s.resources.cpuset_mems.empty())
    return invalid("resources.cpuset: only containers take a cpuset");
  if (auto r = validate_supervision_and_refuse_unbuilt(s); !r) return r;
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

bool is_absolute_clean(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (path.substr(start, end == std::string::npos ? std::string::npos : end - start) == "..") return false;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return path.find('\0') == std::string::npos;
}

bool is_valid_volume_name(const std::string& name) {
  return is_valid_workload_name(name);
}

Result<void> validate_container(const WorkloadSpec& s) {
  if (s.image.empty() == s.rootfs.empty())
    return invalid("image: a container needs exactly one of image and rootfs");
  if (!s.rootfs.empty()) {
    if (s.rootfs[0] != '/') return invalid(fmt::format("rootfs: \"{}\" must be an absolute path", s.rootfs));
    struct stat st;
    if (::stat(s.rootfs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return fail(ErrorCode::not_found, fmt::format("rootfs: \"{}\" is not a directory", s.rootfs));
  }
  if (!s.module.empty()) return invalid("module: not valid for a container");
  if (!s.wasm.empty()) return invalid("wasm: not valid for a container");
  if (auto r = validate_supervision_and_refuse_unbuilt(s); !r) return r;
  if (!s.working_dir.empty() && !is_absolute_clean(s.working_dir))
    return invalid(fmt::format("working_dir: \"{}\" must be an absolute path without \"..\"", s.working_dir));
  if (s.user.find_first_of(" \t\n\0") != std::string::npos || std::count(s.user.begin(), s.user.end(), ':') > 1)
    return invalid(fmt::format("user: \"{}\" is not USER[:GROUP]", s.user));
  for (std::size_t i = 0; i < s.mounts.size(); ++i) {
    auto& m = s.mounts[i];
    auto field = fmt::format("mounts[{}]", i);
    if (!is_absolute_clean(m.target))
      return invalid(fmt::format("{}.target: \"{}\" must be an absolute path without \"..\"", field, m.target));
    if (m.type == "bind") {
      if (m.source.empty() || m.source[0] != '/')
        return invalid(fmt::format("{}.source: \"{}\" must be an absolute host path", field, m.source));
      if (!path_exists(m.source))
        return fail(ErrorCode::not_found, fmt::format("{}.source: \"{}\" does not exist", field, m.source));
    } else if (m.type == "volume") {
      if (!is_valid_volume_name(m.source))
        return invalid(fmt::format("{}.source: \"{}\" is not a volume name", field, m.source));
    } else if (m.type == "tmpfs") {
      if (!m.source.empty()) return invalid(fmt::format("{}.source: a tmpfs mount has no source", field));
    } else {
      return invalid(fmt::format("{}.type: \"{}\" is not bind, volume or tmpfs", field, m.type));
    }
    if (auto r = validate_mount_options(m, i); !r) return r;
  }
  auto& c = s.container;
  if (!c.image_id.empty() || !c.image_layers.empty())
    return invalid("container.image_id: set by berth from the image, not by callers");
  if (c.hostname.size() > 63) return invalid("container.hostname: longer than 63 characters");
  if (auto caps = linux::resolve_capabilities(linux::default_container_capabilities(), c.cap_add, c.cap_drop); !caps)
    return std::unexpected(caps.error());
  for (std::size_t i = 0; i < c.rlimits.size(); ++i) {
    if (!rlimit_resource(c.rlimits[i].type))
      return invalid(fmt::format("container.rlimits[{}].type: \"{}\" is not a resource limit", i, c.rlimits[i].type));
    if (c.rlimits[i].soft > c.rlimits[i].hard)
      return invalid(fmt::format("container.rlimits[{}]: soft limit above hard limit", i));
  }
  for (auto [name, map] : {std::pair{"uid_map", &c.uid_map}, std::pair{"gid_map", &c.gid_map}})
    for (std::size_t i = 0; i < map->size(); ++i)
      if ((*map)[i].size == 0) return invalid(fmt::format("container.{}[{}].size: must be positive", name, i));
  if (c.uid_map.empty() && !c.gid_map.empty()) return invalid("container.gid_map: needs a uid_map too");
  return {};
}

// A wasm workload is its module, run by berth-wasm under WASI: what the module may reach is its
// preopened directories, so the process-level fields (namespaces, user, networks) are refused.
Result<void> validate_wasm(const WorkloadSpec& s) {
  auto not_for_wasm = [](std::string_view field) {
    return invalid(fmt::format("{}: not valid for a wasm workload", field));
  };
  if (!s.image.empty()) return not_for_wasm("image");
  if (!s.rootfs.empty()) return not_for_wasm("rootfs");
  if (!s.mounts.empty()) return not_for_wasm("mounts (give the module directories with wasm.preopened_dirs)");
  if (!s.container.empty()) return not_for_wasm("container");
  if (!s.working_dir.empty()) return not_for_wasm("working_dir");
  if (!s.user.empty()) return not_for_wasm("user");
  if (s.namespaces.any()) return not_for_wasm("namespaces");
  if (!s.network.empty() || !s.additional_networks.empty() || !s.ports.empty() || !s.aliases.empty())
    return not_for_wasm("network (a module reaches only the peers of wasm.allowed_peers)");
  if (s.health_check) return not_for_wasm("health_check (a module has nothing to exec or listen on yet)");
  if (!s.resources.cpuset_cpus.empty() || !s.resources.cpuset_mems.empty())
    return invalid("resources.cpuset: only containers take a cpuset");
  const auto& w = s.wasm;
  if (auto peers = wasm::net::PeerAllowList::parse(w.allowed_peers); !peers)
    return std::unexpected(peers.error().with_context("wasm"));
  if (w.kv_max_entries && *w.kv_max_entries <= 0) return invalid("wasm.kv_max_entries: must be positive");
  if (w.kv_max_value_bytes && *w.kv_max_value_bytes <= 0) return invalid("wasm.kv_max_value_bytes: must be positive");
  if (w.pool_size && w.http_listen.empty())
    return invalid("wasm.pool_size: only an HTTP trigger (wasm.http_listen) runs a pool of instances");
  if (w.pool_size && *w.pool_size <= 0) return invalid("wasm.pool_size: must be positive");
  if (!w.http_route.empty() && w.http_listen.empty()) return invalid("wasm.http_route: needs wasm.http_listen");
  if (!w.http_route.empty() && w.http_route[0] != '/')
    return invalid(fmt::format("wasm.http_route: \"{}\" must start with /", w.http_route));
  if (!w.http_listen.empty()) {
    auto colon = w.http_listen.rfind(':');
    if (colon == std::string::npos || colon == 0 ||
        !parse_port_number(std::string_view(w.http_listen).substr(colon + 1)))
      return invalid(fmt::format("wasm.http_listen: \"{}\" is not HOST:PORT", w.http_listen));
  }
  if (w.memory_limit_bytes && *w.memory_limit_bytes <= 0) return invalid("wasm.memory_limit_bytes: must be positive");
  if (w.execution_time_limit && w.execution_time_limit->count() <= 0)
    return invalid("wasm.execution_time_limit: must be positive");
  if (w.fuel && *w.fuel == 0) return invalid("wasm.fuel: must be positive");
  if (auto r = wasm::check_engine(w.engine); !r) return std::unexpected(r.error().with_context("wasm"));
  if (w.fuel && wasm::effective_engine(w.engine) != "interp")
    return invalid("wasm.fuel: only the interp engine counts instructions (use engine interp)");
  for (std::size_t i = 0; i < w.preopened_dirs.size(); ++i) {
    auto field = fmt::format("wasm.preopened_dirs[{}]", i);
    auto dir = wasm::parse_dir_mapping(w.preopened_dirs[i]);
    if (!dir) return std::unexpected(dir.error().with_context(field));
    if (dir->host[0] != '/') return invalid(fmt::format("{}: \"{}\" must be an absolute host path", field, dir->host));
    struct stat st;
    if (::stat(dir->host.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return fail(ErrorCode::not_found, fmt::format("{}: \"{}\" is not a directory", field, dir->host));
  }
  if (auto r = validate_supervision_and_refuse_unbuilt(s); !r) return r;
  if (s.module.empty()) return invalid("module: a wasm workload needs a module (.wasm or .wat)");
  if (s.module[0] != '/') return invalid(fmt::format("module: \"{}\" must be an absolute path", s.module));
  // Read and validated now, so a bad module fails create rather than every start. (The AOT
  // engine's compile is create's next step, into the state root's cache.)
  auto module = wasm::read_module_any(s.module);
  if (!module) return std::unexpected(module.error());
  if (!module->info.has_start_export())
    return invalid(fmt::format(
        "module {}: exports no _start, so it is not a WASI command (reactors are for the function pool, not built yet)",
        s.module));
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
      return validate_container(spec);
    case WorkloadKind::wasm:
      return validate_wasm(spec);
  }
  return {};
}

}  // namespace berth
