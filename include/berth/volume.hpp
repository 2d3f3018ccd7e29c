// Named volumes: directories under the state root that containers mount (`-v NAME:/path`).
// A volume is made the first time a container that names it is created, as with Docker.
#pragma once

#include <string>
#include <vector>

#include "berth/status.hpp"

namespace berth {

struct VolumeInfo {
  std::string name;
  std::string driver = "local";  // the only one: a directory on this host
  std::string mountpoint;        // <root>/volumes/<name>/_data
  TimePoint created_at;
  std::vector<std::string> used_by;  // names of the workloads whose spec mounts it, any state
};

}  // namespace berth
