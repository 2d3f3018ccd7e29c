// berth volume ls|inspect|rm|prune: named volumes (made by `-v NAME:/path`), in Docker's shapes.
#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "runtime/json.hpp"

namespace berth::cli {

namespace {

CommandResult volume_ls(Context& ctx, const std::vector<std::string>& args) {
  auto p = parse_command(args, {help_flag, {"quiet", 'q', false, {}, "names only"}, format_flag}, "volume ls", "");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto all = (*runtime)->list_volumes();
  if (!all) return std::unexpected(all.error());
  if (*json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& v : *all) list.push_back(to_json(v));
    print_json(list);
    return 0;
  }
  if ((*p)->has("quiet")) {
    for (const auto& v : *all) write_fd(1, v.name + "\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"DRIVER", "VOLUME NAME"}};
  for (const auto& v : *all) rows.push_back({v.driver, v.name});
  print_table(rows);
  return 0;
}

CommandResult volume_inspect(Context& ctx, const std::vector<std::string>& args) {
  return print_inspected(ctx, args, "volume inspect", "VOLUME",
                         [](Runtime& runtime, const std::string& name) -> Result<nlohmann::json> {
                           auto info = runtime.inspect_volume(name);
                           if (!info) return std::unexpected(info.error());
                           return to_json(*info);
                         });
}

CommandResult volume_rm(Context& ctx, const std::vector<std::string>& args) {
  return for_each_operand(ctx, args, "volume rm", "VOLUME", [](Runtime& runtime, const std::string& name) {
    if (auto r = runtime.remove_volume(name); !r) return r;
    write_fd(1, name + "\n");
    return Result<void>();
  });
}

CommandResult volume_prune(Context& ctx, const std::vector<std::string>& args) {
  return print_pruned(ctx, args, "volume prune", [](Runtime& runtime) { return runtime.prune_volumes(); });
}

}  // namespace

CommandResult cmd_volume(Context& ctx, const std::vector<std::string>& args) {
  static constexpr Subcommand subcommands[] = {{"ls", volume_ls},         {"list", volume_ls},
                                               {"inspect", volume_inspect}, {"rm", volume_rm},
                                               {"remove", volume_rm},       {"prune", volume_prune}};
  return dispatch_subcommand(ctx, args, "volume", subcommands,
        "usage: berth volume COMMAND\n\n"
        "  ls [-q] [--format json]   list named volumes\n"
        "  inspect VOLUME...         show volumes as JSON (mountpoint, created_at, used_by)\n"
        "  rm VOLUME...              remove volumes (refused while a workload mounts one)\n"
        "  prune                     remove every volume no workload mounts\n");
}

}  // namespace berth::cli
