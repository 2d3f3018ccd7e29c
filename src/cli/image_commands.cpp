// berth image import|ls|inspect|rm: the local image store.
#include <fmt/format.h>

#include <utility>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "common/units.hpp"
#include "image/image_config.hpp"

namespace berth::cli {

namespace {

std::string short_id(const std::string& id) {
  auto hex = id.substr(id.find(':') + 1);
  return hex.substr(0, 12);
}

CommandResult image_import(Context& ctx, const std::vector<std::string>& args) {
  static const std::vector<FlagSpec> flags = {
      help_flag,
      {"format", 0, true, "FORMAT", "oci-layout, oci-archive or docker-archive (default: detected)"},
      {"max-layer-size", 0, true, "SIZE", "refuse a layer that unpacks to more (default: $BERTH_MAX_LAYER_SIZE or 64g)"},
      {"max-entry-size", 0, true, "SIZE", "refuse a file in a layer that is bigger (default: $BERTH_MAX_ENTRY_SIZE or the layer size)"},
  };
  auto p = parse_command(args, flags, "image import", "PATH [NAME[:TAG]]");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto& pos = (*p)->positionals;
  if (pos.empty() || pos.size() > 2)
    return fail(ErrorCode::invalid_spec, "image import: give PATH and optionally NAME[:TAG]");
  ImageImportOptions options;
  if (pos.size() == 2) options.reference = pos[1];
  if (auto f = (*p)->last("format")) {
    if (*f == "oci-layout") options.format = ImageFormat::oci_layout;
    else if (*f == "oci-archive") options.format = ImageFormat::oci_archive;
    else if (*f == "docker-archive") options.format = ImageFormat::docker_archive;
    else
      return fail(ErrorCode::invalid_spec,
                  fmt::format("format: \"{}\" is not oci-layout, oci-archive or docker-archive", *f));
  }
  // Without the flags, the importing process (berth, or berthd) reads BERTH_MAX_*_SIZE.
  for (auto [flag, out] : {std::pair{"max-layer-size", &options.max_layer_size},
                           std::pair{"max-entry-size", &options.max_entry_size}}) {
    auto text = (*p)->last(flag);
    if (!text) continue;
    auto size = parse_size(*text, fmt::format("--{}", flag));
    if (!size) return std::unexpected(size.error());
    if (*size <= 0) return fail(ErrorCode::invalid_spec, fmt::format("--{}: \"{}\" is not a positive size", flag, *text));
    *out = *size;
  }
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto image = (*runtime)->import_image(pos[0], options);
  if (!image) return std::unexpected(image.error());
  fmt::print("{}\n", image->id);
  return 0;
}

CommandResult image_ls(Context& ctx, const std::vector<std::string>& args) {
  static const std::vector<FlagSpec> flags = {help_flag, format_flag,
                                              {"quiet", 'q', false, {}, "ids only"}};
  auto p = parse_command(args, flags, "image ls", "");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  auto json = wants_json(**p);
  if (!json) return std::unexpected(json.error());
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  auto images = (*runtime)->list_images();
  if (!images) return std::unexpected(images.error());
  if (*json) {
    nlohmann::json out = nlohmann::json::array();
    for (auto& i : *images) out.push_back(image::image_info_to_json(i));
    print_json(out);
    return 0;
  }
  if ((*p)->has("quiet")) {
    for (auto& i : *images) fmt::print("{}\n", short_id(i.id));
    return 0;
  }
  std::vector<std::vector<std::string>> rows{{"NAME", "TAG", "IMAGE ID", "CREATED", "SIZE"}};
  auto now = Clock::now();
  for (auto& i : *images) {
    std::vector<std::string> names = i.names.empty() ? std::vector<std::string>{"<none>:<none>"} : i.names;
    for (auto& n : names) {
      auto colon = n.rfind(':');
      rows.push_back({n.substr(0, colon), colon == std::string::npos ? "" : n.substr(colon + 1),
                      short_id(i.id), time_ago(i.created, now), format_size(i.size)});
    }
  }
  print_table(rows);
  return 0;
}

CommandResult image_inspect(Context& ctx, const std::vector<std::string>& args) {
  static const std::vector<FlagSpec> flags = {help_flag};
  auto p = parse_command(args, flags, "image inspect", "IMAGE...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  if ((*p)->positionals.empty()) return fail(ErrorCode::invalid_spec, "image inspect: name an image");
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  nlohmann::json out = nlohmann::json::array();
  for (auto& ref : (*p)->positionals) {
    auto image = (*runtime)->inspect_image(ref);
    if (!image) return std::unexpected(image.error());
    out.push_back(image::image_info_to_json(*image));
  }
  print_json(out);
  return 0;
}

CommandResult image_rm(Context& ctx, const std::vector<std::string>& args) {
  static const std::vector<FlagSpec> flags = {
      help_flag, {"force", 'f', false, {}, "remove even if a container uses it"}};
  auto p = parse_command(args, flags, "image rm", "IMAGE...");
  if (!p) return std::unexpected(p.error());
  if (!*p) return 0;
  if ((*p)->positionals.empty()) return fail(ErrorCode::invalid_spec, "image rm: name an image");
  auto runtime = ctx.runtime();
  if (!runtime) return std::unexpected(runtime.error());
  bool failed = false;
  for (auto& ref : (*p)->positionals) {
    auto removed = (*runtime)->remove_image(ref, (*p)->has("force"));
    if (!removed) {
      fmt::print(stderr, "berth: {}\n", removed.error().message);
      failed = true;
      continue;
    }
    fmt::print("Untagged: {}\n", ref);
    for (auto& id : *removed) fmt::print("Deleted: {}\n", id);
  }
  return failed ? exit_berth_error : 0;
}

}  // namespace

CommandResult cmd_image(Context& ctx, const std::vector<std::string>& args) {
  static constexpr Subcommand subcommands[] = {
      {"import", image_import}, {"ls", image_ls},   {"list", image_ls},
      {"inspect", image_inspect}, {"rm", image_rm}, {"remove", image_rm}};
  return dispatch_subcommand(ctx, args, "image", subcommands,
        "usage: berth image COMMAND\n\n"
        "  import PATH [NAME[:TAG]]  import an OCI layout directory, OCI archive or docker-archive\n"
        "  ls                        list images\n"
        "  inspect IMAGE...          show images as JSON\n"
        "  rm [-f] IMAGE...          remove images (refused while a container uses one, unless -f)\n");
}

}  // namespace berth::cli
