#include "cli/container_flags.hpp"

#include <fmt/format.h>
#include "common/text.hpp"

#include <filesystem>

#include "runtime/spec_text.hpp"

namespace berth::cli {

namespace {

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
    // "-v ./data:/data" is relative to where the command runs, as in Docker 23 and later.
    if (m->type == "bind") {
      std::error_code ec;
      auto absolute = std::filesystem::absolute(m->source, ec);
      if (ec) return invalid(fmt::format("volume: \"{}\": {}", m->source, ec.message()));
      m->source = absolute.lexically_normal().string();
    }
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
