// berth network create|ls|inspect|rm|prune: bridge networks.
#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "runtime/json.hpp"

namespace berth::cli {

namespace {

CommandResult network_create(Context& ctx, const std::vector<std::string>& args) {
  static const std::vector<FlagSpec> flags = {
      help_flag,
      {"subnet", 0, true, "CIDR", "its addresses, e.g. 10.90.3.0/24 (default: the first free 10.89.N.0/24)"},
      {"gateway", 0, true, "IP", "the bridge's address (default: the subnet's first)"},
      {"label", 'l', true, "K=V", "set a label"},
      format_flag,
  };
  auto p = parse_command(args, flags, "network create", "[--subnet CIDR] [--gateway IP] NAME");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  if ((*p)->positionals.size() != 1) return fail(ErrorCode::invalid_spec, "network create: give one NAME");
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  NetworkSpec spec;
  spec.name = (*p)->positionals[0];
  spec.subnet = (*p)->last("subnet").value_or("");
  spec.gateway = (*p)->last("gateway").value_or("");
  for (const auto& l : (*p)->all("label")) {
    auto eq = l.find('=');
    if (eq == 0 || l.empty()) return fail(ErrorCode::invalid_spec, fmt::format("label: \"{}\" is not KEY=VALUE", l));
    spec.labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
  }
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto info = (*runtime)->create_network(spec);
  if (!info) return std::unexpected(info.error());
  if (*json) print_json(to_json(*info));
  else write_fd(1, info->id + "\n");
  return 0;
}

CommandResult network_ls(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args, {help_flag, format_flag}, "network ls", "");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto all = (*runtime)->list_networks();
  if (!all) return std::unexpected(all.error());
  if (*json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& n : *all) list.push_back(to_json(n));
    print_json(list);
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"NETWORK ID", "NAME", "SUBNET", "GATEWAY", "BRIDGE", "ATTACHED"}};
  for (const auto& n : *all)
    rows.push_back({n.id.substr(0, 12), n.name, n.subnet, n.gateway, n.bridge, std::to_string(n.attached.size())});
  print_table(rows);
  return 0;
}

CommandResult network_inspect(Context& ctx, const std::vector<std::string>& args) {
  return print_inspected(ctx, args, "network inspect", "NETWORK",
                         [](Runtime& runtime, const std::string& name) -> Result<nlohmann::json> {
                           auto info = runtime.inspect_network(name);
                           if (!info) return std::unexpected(info.error());
                           return to_json(*info);
                         });
}

CommandResult network_rm(Context& ctx, const std::vector<std::string>& args) {
  return for_each_operand(ctx, args, "network rm", "NETWORK", [](Runtime& runtime, const std::string& name) {
    auto released = runtime.remove_network(name);
    if (!released) return Result<void>(std::unexpected(released.error()));
    write_fd(1, name + "\n");
    return Result<void>();
  });
}

CommandResult network_prune(Context& ctx, const std::vector<std::string>& args) {
  return print_pruned(ctx, args, "network prune", [](Runtime& runtime) { return runtime.prune_networks(); });
}

}  // namespace

// berth port NAME [PORT]: where a container's published ports are on the host.
CommandResult cmd_port(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args, {help_flag}, "port", "NAME [CONTAINER_PORT]");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto& pos = (*p)->positionals;
  if (pos.empty() || pos.size() > 2) return fail(ErrorCode::invalid_spec, "port: give NAME and optionally a CONTAINER_PORT");
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto info = (*runtime)->inspect(pos[0]);
  if (!info) return std::unexpected(info.error());
  std::optional<std::int64_t> only;
  if (pos.size() == 2) {
    auto n = parse_integer(pos[1].substr(0, pos[1].find('/')), "port", 1, 65535);
    if (!n) return std::unexpected(n.error());
    only = *n;
  }
  bool any = false;
  for (const auto& mapping : info->spec.ports) {
    if (only && mapping.container_port != *only) continue;
    auto host_port = (*runtime)->resolve_host_port(pos[0], mapping.container_port);
    if (!host_port) return std::unexpected(host_port.error());
    std::string ip = mapping.host_ip.empty() ? "0.0.0.0" : mapping.host_ip;
    write_fd(1, only ? fmt::format("{}:{}\n", ip, *host_port)
                     : fmt::format("{}/{} -> {}:{}\n", mapping.container_port, mapping.protocol, ip, *host_port));
    any = true;
  }
  if (!any)
    return fail(ErrorCode::not_found, only ? fmt::format("workload {} publishes no port {}", pos[0], *only)
                                           : fmt::format("workload {} publishes no ports", pos[0]));
  return 0;
}

CommandResult cmd_network(Context& ctx, const std::vector<std::string>& args) {
  static constexpr Subcommand subcommands[] = {
      {"create", network_create}, {"ls", network_ls},         {"list", network_ls}, {"inspect", network_inspect},
      {"rm", network_rm},         {"remove", network_rm},     {"prune", network_prune}};
  return dispatch_subcommand(ctx, args, "network", subcommands,
        "usage: berth network COMMAND\n\n"
        "  create [--subnet CIDR] [--gateway IP] NAME   a bridge network with outbound NAT\n"
        "  ls                                          list networks\n"
        "  inspect NETWORK...                          show networks as JSON\n"
        "  rm NETWORK...                               remove networks (refused while in use)\n"
        "  prune                                       remove every network nothing is attached to\n");
}

}  // namespace berth::cli
