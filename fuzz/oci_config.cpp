// An OCI bundle's config.json into berth-oci's launch plan, and the two parts of it that come
// alone (`update --resources`, `exec --process`). Parsing only: nothing is created or run. The
// parser stats root.path and mount sources (read-only look-ups); "/" is a bundle that exists.
#include <cstdint>
#include <string>

#include "oci/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)berth::oci::parse_bundle_config(text, "/");
  (void)berth::oci::parse_linux_resources(text);
  (void)berth::oci::parse_process_config(text);
  return 0;
}
