// Image JSON documents: an image config (OCI image-spec config.md) into the defaults a container
// takes, and the store's own image record (meta/<id>.json, `image inspect`). Manifest and index
// parsing live inside image_store.cpp's import, read from files with every blob's digest
// checked, so they are not callable on a buffer; the config and the record are what an image
// archive (the config blob) and a damaged store (the record) put in front of berth.
#include <cstdint>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "image/image_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto json = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return 0;
  if (auto defaults = berth::image::image_defaults_from_config(json)) {
    // The store writes the defaults as its record and reads them back on every run.
    auto record = berth::image::image_defaults_to_json(*defaults);
    if (!berth::image::image_defaults_from_json(record)) std::abort();
  }
  (void)berth::image::image_defaults_from_json(json);
  if (auto info = berth::image::image_info_from_json(json, "fuzz")) {
    auto record = berth::image::image_info_to_json(*info);
    if (!berth::image::image_info_from_json(record, "fuzz")) std::abort();
  }
  return 0;
}
