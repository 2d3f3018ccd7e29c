#include "oci/state.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fs.hpp"
#include "linux/process.hpp"

namespace berth::oci {

using nlohmann::json;

std::string_view to_string(Status status) {
  switch (status) {
    case Status::creating: return "creating";
    case Status::created: return "created";
    case Status::running: return "running";
    case Status::paused: return "paused";
    case Status::stopped: return "stopped";
  }
  return "unknown";
}

namespace {

std::optional<Status> parse_status(std::string_view text) {
  for (auto s : {Status::creating, Status::created, Status::running, Status::paused, Status::stopped})
    if (to_string(s) == text) return s;
  return std::nullopt;
}

json public_json(const ContainerState& s) {
  json j = {{"ociVersion", s.oci_version},
            {"id", s.id},
            {"pid", s.status == Status::stopped ? 0 : s.pid},
            {"status", std::string(to_string(s.status))},
            {"bundle", s.bundle},
            {"rootfs", s.rootfs},
            {"created", s.created},
            {"owner", ""}};
  if (!s.annotations.empty()) j["annotations"] = s.annotations;
  return j;
}

}  // namespace

std::string state_json(const ContainerState& state) { return public_json(state).dump(2); }

Result<void> validate_id(const std::string& id) {
  if (id.empty()) return fail(ErrorCode::invalid_spec, "container id: must not be empty");
  if (id.size() > 1024) return fail(ErrorCode::invalid_spec, "container id: longer than 1024 bytes");
  bool ok = id[0] != '.' && std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
  if (!ok)
    return fail(ErrorCode::invalid_spec,
                fmt::format("container id \"{}\": only letters, digits, '_', '-' and '.' (not first) are allowed", id));
  return {};
}

namespace {

// A POSIX (process-owned) lock on DIR/lock: unlike flock, the container's init does not
// inherit it when cloned from create, so `start` can take it while the init waits.
Result<UniqueFd> lock_dir(const std::string& dir) {
  std::string path = dir + "/lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return std::unexpected(errno_error("open", path, errno));
  struct flock lock{};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  while (::fcntl(fd.get(), F_SETLKW, &lock) != 0)
    if (errno != EINTR) return std::unexpected(errno_error("lock", path, errno));
  return fd;
}

}  // namespace

Result<StateDir> StateDir::open(const std::string& root, const std::string& id) {
  if (auto v = validate_id(id); !v) return std::unexpected(v.error());
  StateDir dir;
  dir.path_ = root + "/" + id;
  if (!path_exists(dir.path_ + "/state.json"))
    return fail(ErrorCode::not_found, fmt::format("container \"{}\" does not exist", id));
  auto lock = lock_dir(dir.path_);
  if (!lock) {
    if (lock.error().code == ErrorCode::not_found)
      return fail(ErrorCode::not_found, fmt::format("container \"{}\" does not exist", id));
    return std::unexpected(lock.error());
  }
  dir.lock_ = std::move(*lock);
  // Deleted while we waited for the lock?
  if (!path_exists(dir.path_ + "/state.json"))
    return fail(ErrorCode::not_found, fmt::format("container \"{}\" does not exist", id));
  return dir;
}

Result<StateDir> StateDir::make(const std::string& root, const std::string& id) {
  if (auto v = validate_id(id); !v) return std::unexpected(v.error());
  // As runc's: a new root is owner only, an existing one is left as it is (an engine may have made
  // it); each container's directory is 0700 either way, and state.json (the container's config,
  // its environment included) is 0600 inside it.
  if (auto r = make_dirs(root, 0700); !r) return std::unexpected(r.error());
  StateDir dir;
  dir.path_ = root + "/" + id;
  if (::mkdir(dir.path_.c_str(), 0700) != 0) {
    if (errno == EEXIST) return fail(ErrorCode::conflict, fmt::format("container \"{}\" already exists", id));
    return std::unexpected(errno_error("mkdir", dir.path_, errno));
  }
  auto lock = lock_dir(dir.path_);
  if (!lock) return std::unexpected(lock.error());
  dir.lock_ = std::move(*lock);
  return dir;
}

Result<ContainerState> StateDir::load() const {
  auto text = read_file(path_ + "/state.json");
  if (!text) return std::unexpected(text.error());
  auto j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(ErrorCode::internal, fmt::format("{}/state.json is not a JSON object", path_));
  try {
    ContainerState s;
    s.oci_version = j.at("ociVersion").get<std::string>();
    s.id = j.at("id").get<std::string>();
    auto status = parse_status(j.at("status").get<std::string>());
    if (!status) return fail(ErrorCode::internal, fmt::format("{}/state.json: unknown status", path_));
    s.status = *status;
    s.pid = j.at("pid").get<pid_t>();
    s.bundle = j.at("bundle").get<std::string>();
    s.rootfs = j.value("rootfs", "");
    s.created = j.value("created", "");
    if (j.contains("annotations")) s.annotations = j["annotations"].get<std::map<std::string, std::string>>();
    const auto& b = j.at("berth");
    s.start_time = b.at("startTime").get<std::uint64_t>();
    s.cgroup_path = b.at("cgroupPath").get<std::string>();
    return s;
  } catch (const json::exception& e) {
    return fail(ErrorCode::internal, fmt::format("{}/state.json: {}", path_, e.what()));
  }
}

Result<void> StateDir::save(const ContainerState& state) const {
  json j = public_json(state);
  j["pid"] = state.pid;
  j["berth"] = {{"startTime", state.start_time}, {"cgroupPath", state.cgroup_path}};
  return write_file_atomic(path_ + "/state.json", j.dump());
}

Result<void> StateDir::remove() {
  // state.json goes first: from then on the container does not exist for anyone.
  if (::unlink((path_ + "/state.json").c_str()) != 0 && errno != ENOENT)
    return std::unexpected(errno_error("unlink", path_ + "/state.json", errno));
  lock_.reset();
  return remove_tree(path_);
}

Status current_status(const ContainerState& state) {
  if (state.status == Status::stopped) return Status::stopped;
  if (state.pid <= 0) return Status::stopped;
  if (!linux::process_matches(state.pid, state.start_time)) return Status::stopped;
  return state.status;
}

std::vector<std::string> list_ids(const std::string& root) {
  std::vector<std::string> ids;
  DIR* d = ::opendir(root.c_str());
  if (!d) return ids;
  while (auto* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (path_exists(root + "/" + name + "/state.json")) ids.push_back(name);
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace berth::oci
