// Local OCI images: what `berth image import` stores and a container's defaults come from.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "berth/spec.hpp"
#include "berth/status.hpp"

namespace berth {

// The parts of an image config (OCI image-spec "config" object) that become a container's
// defaults, as Docker applies them. Empty/nullopt: the image says nothing.
struct ImageDefaults {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // K=V
  std::string working_dir;
  std::string user;                         // as written: name, uid, name:group, uid:gid
  std::vector<std::string> exposed_ports;   // "8080/tcp", sorted
  std::string stop_signal;                  // as written: "SIGTERM", "15", ...
  std::optional<HealthCheck> health_check;  // from Healthcheck (Test CMD/CMD-SHELL -> exec)
  std::map<std::string, std::string> labels;
};

struct ImageInfo {
  std::string id;                    // "sha256:<hex>" of the config blob
  std::vector<std::string> names;    // "name:tag" references, sorted
  std::string manifest_digest;       // "sha256:<hex>"
  std::vector<std::string> diff_ids; // uncompressed layer digests, bottom layer first
  std::string architecture;
  std::string os;
  std::int64_t size = 0;             // bytes of unpacked layers
  TimePoint created;                 // from the config ("created"), epoch if absent
  TimePoint imported;
  ImageDefaults defaults;
};

enum class ImageFormat { automatic, oci_layout, oci_archive, docker_archive };

struct ImageImportOptions {
  ImageFormat format = ImageFormat::automatic;  // automatic: directory -> OCI layout; tar with
                                                // index.json -> OCI archive; with manifest.json
                                                // -> docker-archive
  std::string reference;  // "name[:tag]" to give the image; empty: the name the archive carries
  // Caps on what a layer unpacks to, in bytes (a sparse entry counts at its full size).
  // 0: BERTH_MAX_LAYER_SIZE / BERTH_MAX_ENTRY_SIZE from the environment, else 64 GiB for a
  // layer and the layer cap for one entry.
  std::int64_t max_layer_size = 0;
  std::int64_t max_entry_size = 0;
};

}  // namespace berth
