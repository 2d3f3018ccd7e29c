#include "cli/container_flags.hpp"

#include <sys/resource.h>

#include <fmt/format.h>

namespace berth::cli {

namespace {

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = text.find(sep, start);
    out.emplace_back(text.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

std::unexpected<Error> invalid(std::string message) {
  return fail(ErrorCode::invalid_spec, std::move(message));
}

}  // namespace

const std::vector<FlagSpec>& container_flags() {
  static const std::vector<FlagSpec> flags = {
      {"image", 0, true, "IMAGE", "run a container of this image (name[:tag] or id)"},
      {"rootfs", 0, true, "DIR", "run a container of this directory as its root"},
      {"volume", 'v', true, "SRC:DST[:OPTS]", "bind mount a host path, or a named volume (opts: ro, rw, rprivate...)"},
      {"tmpfs", 0, true, "DST[:OPTS]", "mount a tmpfs (opts: size=64m, mode=1777, ro, noexec...)"},
      {"hostname", 0, true, "NAME", "container host name (default: its name)"},
      {"read-only", 0, false, {}, "mount the container's root read-only"},
      {"entrypoint", 0, true, "CMD", "replace the image's entrypoint (\"\" for none)"},
      {"cap-add", 0, true, "CAP", "add a capability (ALL for every one)"},
      {"cap-drop", 0, true, "CAP", "drop a capability (ALL for every one)"},
      {"security-opt", 0, true, "OPT", "seccomp=FILE|unconfined, no-new-privileges[=false]"},
      {"ulimit", 0, true, "TYPE=SOFT[:HARD]", "resource limit: nofile=1024:2048"},
      {"group-add", 0, true, "GROUP", "another group for the process (name or number)"},
      {"cpuset-cpus", 0, true, "CPUS", "CPUs it may use: 0-1,3"},
      {"cpuset-mems", 0, true, "NODES", "memory nodes it may use"},
      {"uidmap", 0, true, "C:H:N", "user namespace: container uids C.. are host uids H.. (N of them)"},
      {"interactive", 'i', false, {}, "keep stdin open: what you type goes to the container"},
      {"tty", 't', false, {}, "give the container a terminal"},
      {"gidmap", 0, true, "C:H:N", "user namespace gid mapping (default: as --uidmap)"},
  };
  return flags;
}

bool wants_container(const ParsedArgs& args) { return args.has("image") || args.has("rootfs"); }

Result<Mount> parse_volume(std::string_view text) {
  auto parts = split(text, ':');
  if (parts.size() < 2 || parts.size() > 3 || parts[0].empty() || parts[1].empty())
    return invalid(fmt::format("volume: \"{}\" is not SRC:DST[:OPTIONS]", text));
  Mount m;
  m.type = parts[0][0] == '/' ? "bind" : "volume";
  m.source = parts[0];
  m.target = parts[1];
  if (parts.size() == 3)
    for (auto& option : split(parts[2], ',')) {
      if (option.empty()) return invalid(fmt::format("volume: \"{}\" has an empty option", text));
      if (option == "ro") m.read_only = true;
      else if (option != "rw") m.options.push_back(option);
    }
  return m;
}

Result<Mount> parse_tmpfs(std::string_view text) {
  auto colon = text.find(':');
  Mount m;
  m.type = "tmpfs";
  m.target = std::string(text.substr(0, colon));
  if (m.target.empty()) return invalid(fmt::format("tmpfs: \"{}\" is not DST[:OPTIONS]", text));
  if (colon != std::string_view::npos)
    for (auto& option : split(text.substr(colon + 1), ',')) {
      if (option == "ro") m.read_only = true;
      else if (option != "rw" && !option.empty()) m.options.push_back(option);
    }
  return m;
}

Result<Rlimit> parse_ulimit(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return invalid(fmt::format("ulimit: \"{}\" is not TYPE=SOFT[:HARD]", text));
  Rlimit l;
  l.type = std::string(text.substr(0, eq));
  auto values = split(text.substr(eq + 1), ':');
  if (values.size() > 2) return invalid(fmt::format("ulimit: \"{}\" is not TYPE=SOFT[:HARD]", text));
  auto value = [&](const std::string& v) -> Result<std::uint64_t> {
    if (v == "-1" || v == "unlimited") return RLIM_INFINITY;
    auto n = parse_integer(v, "ulimit", 0);
    if (!n) return std::unexpected(n.error());
    return static_cast<std::uint64_t>(*n);
  };
  auto soft = value(values[0]);
  if (!soft) return std::unexpected(soft.error());
  auto hard = values.size() == 2 ? value(values[1]) : soft;
  if (!hard) return std::unexpected(hard.error());
  l.soft = *soft;
  l.hard = *hard;
  return l;
}

Result<IdMapping> parse_id_mapping(std::string_view text, std::string_view flag) {
  auto parts = split(text, ':');
  if (parts.size() != 3) return invalid(fmt::format("{}: \"{}\" is not CONTAINER:HOST:SIZE", flag, text));
  IdMapping m;
  std::uint32_t* fields[] = {&m.container_id, &m.host_id, &m.size};
  for (int i = 0; i < 3; ++i) {
    auto n = parse_integer(parts[static_cast<std::size_t>(i)], flag, i == 2 ? 1 : 0, UINT32_MAX);
    if (!n) return std::unexpected(n.error());
    *fields[i] = static_cast<std::uint32_t>(*n);
  }
  return m;
}

Result<void> container_spec_from_flags(const ParsedArgs& p, WorkloadSpec& spec) {
  spec.image = p.last("image").value_or("");
  spec.rootfs = p.last("rootfs").value_or("");
  auto& c = spec.container;
  for (auto& v : p.all("volume")) {
    auto m = parse_volume(v);
    if (!m) return std::unexpected(m.error());
    spec.mounts.push_back(*m);
  }
  for (auto& v : p.all("tmpfs")) {
    auto m = parse_tmpfs(v);
    if (!m) return std::unexpected(m.error());
    spec.mounts.push_back(*m);
  }
  c.hostname = p.last("hostname").value_or("");
  c.read_only_rootfs = p.has("read-only");
  if (auto e = p.last("entrypoint")) {
    c.entrypoint = std::vector<std::string>{};
    if (!e->empty()) c.entrypoint->push_back(*e);
  }
  c.cap_add = p.all("cap-add");
  c.cap_drop = p.all("cap-drop");
  for (auto& opt : p.all("security-opt")) {
    auto eq = opt.find_first_of("=:");
    std::string key = opt.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : opt.substr(eq + 1);
    if (key == "seccomp" && !value.empty()) {
      c.seccomp = value;
    } else if (key == "no-new-privileges" && (value.empty() || value == "true" || value == "false")) {
      c.no_new_privileges = value != "false";
    } else {
      return invalid(fmt::format(
          "security-opt: \"{}\" is not seccomp=FILE|unconfined or no-new-privileges[=true|false]", opt));
    }
  }
  for (auto& u : p.all("ulimit")) {
    auto l = parse_ulimit(u);
    if (!l) return std::unexpected(l.error());
    c.rlimits.push_back(*l);
  }
  c.group_add = p.all("group-add");
  c.tty = p.has("tty");
  c.stdin_open = p.has("interactive");
  spec.resources.cpuset_cpus = p.last("cpuset-cpus").value_or("");
  spec.resources.cpuset_mems = p.last("cpuset-mems").value_or("");
  for (auto [flag, out] : {std::pair{"uidmap", &c.uid_map}, std::pair{"gidmap", &c.gid_map}})
    for (auto& v : p.all(flag)) {
      auto m = parse_id_mapping(v, flag);
      if (!m) return std::unexpected(m.error());
      out->push_back(*m);
    }
  return {};
}

}  // namespace berth::cli
