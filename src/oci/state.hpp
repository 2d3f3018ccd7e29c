// A container's state as the runtime-spec defines it (runtime.md "State"), kept in
// ROOT/ID/state.json and written atomically (temporary file, rename). The file also holds what
// berth needs to find the container again (the init's start time, against pid reuse, and its
// cgroup); `state` prints only the spec's fields and runc's (rootfs, created, owner).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "berth/error.hpp"
#include "common/fd.hpp"

namespace berth::oci {

// paused: running, with its cgroup frozen (runc reports it; runtime-spec allows more states).
enum class Status { creating, created, running, paused, stopped };
std::string_view to_string(Status status);

struct ContainerState {
  std::string oci_version;
  std::string id;
  Status status = Status::creating;
  pid_t pid = 0;
  std::string bundle;
  std::string rootfs;
  std::string created;  // RFC 3339
  std::map<std::string, std::string> annotations;
  // berth's own
  std::uint64_t start_time = 0;  // of pid, /proc/PID/stat field 22
  std::string cgroup_path;       // relative to the cgroup mount root
  bool init_is_child = false;    // not stored
};

// The state as `state` prints it (status as stored; see current_status).
std::string state_json(const ContainerState& state);

// Container ids: letters, digits, "_", "-", "." (not leading), at most 1024 bytes.
Result<void> validate_id(const std::string& id);

class StateDir {
 public:
  // ROOT/ID; `lock` takes an exclusive flock on it for the life of the object.
  static Result<StateDir> open(const std::string& root, const std::string& id);
  // Makes ROOT/ID (conflict when it exists).
  static Result<StateDir> make(const std::string& root, const std::string& id);

  const std::string& path() const { return path_; }
  std::string fifo_path() const { return path_ + "/exec.fifo"; }
  Result<ContainerState> load() const;
  Result<void> save(const ContainerState& state) const;
  Result<void> remove();

 private:
  std::string path_;
  UniqueFd lock_;
};

// The status now: a container whose init has gone (or is a zombie) is stopped.
Status current_status(const ContainerState& state);

// Ids of the containers under ROOT (directories holding a state.json), sorted.
std::vector<std::string> list_ids(const std::string& root);

}  // namespace berth::oci
