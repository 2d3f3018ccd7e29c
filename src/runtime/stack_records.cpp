// Stack records: <root>/stacks/<name>.json, one per stack whose up has started (see
// StackRecord in berth/runtime.hpp). Written atomically, so a reader sees one or the other.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "common/fs.hpp"
#include "runtime/json.hpp"
#include "runtime/local_runtime.hpp"
#include "runtime/spec_validation.hpp"

namespace berth {

namespace {

Result<void> check_stack_name(std::string_view name) {
  if (!is_valid_workload_name(name))
    return fail(ErrorCode::invalid_spec, fmt::format("stack record: \"{}\" is not a valid stack name", name));
  return {};
}

}  // namespace

Result<void> LocalRuntime::record_stack(const StackRecord& record) {
  if (auto r = check_stack_name(record.name); !r) return r;
  if (auto r = make_dirs(layout_.stacks_dir(), 0700); !r) return r;
  return write_file_atomic(layout_.stacks_dir() + "/" + record.name + ".json", to_json(record).dump() + "\n");
}

Result<void> LocalRuntime::forget_stack(std::string_view name) {
  if (auto r = check_stack_name(name); !r) return r;
  std::string path = fmt::format("{}/{}.json", layout_.stacks_dir(), name);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return std::unexpected(errno_error("remove", path, errno));
  return {};
}

Result<std::vector<StackRecord>> LocalRuntime::stack_records() {
  std::vector<StackRecord> out;
  std::string dir = layout_.stacks_dir();
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return std::unexpected(errno_error("open", dir, errno));
  }
  std::vector<std::string> files;
  while (auto* entry = ::readdir(d)) {
    std::string_view name = entry->d_name;
    if (name.ends_with(".json") && is_valid_workload_name(name.substr(0, name.size() - 5))) files.emplace_back(name);
  }
  ::closedir(d);
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    auto text = read_file(dir + "/" + file);
    if (!text) {
      if (text.error().code == ErrorCode::not_found) continue;  // forgotten meanwhile
      return std::unexpected(text.error());
    }
    auto record = stack_record_from_json(nlohmann::json::parse(*text, nullptr, false));
    if (!record) return std::unexpected(record.error().with_context(dir + "/" + file));
    out.push_back(std::move(*record));
  }
  return out;
}

}  // namespace berth
