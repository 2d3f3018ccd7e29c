// An image config's "config" object (OCI image-spec config.md) as the defaults a container
// takes, and those defaults in the store's own records.
#pragma once

#include <nlohmann/json.hpp>

#include "berth/error.hpp"
#include "berth/image.hpp"

namespace berth::image {

// `config` is the whole image config document. A field of the wrong type is an error naming it.
Result<ImageDefaults> image_defaults_from_config(const nlohmann::json& config);

nlohmann::json image_defaults_to_json(const ImageDefaults& defaults);
Result<ImageDefaults> image_defaults_from_json(const nlohmann::json& json);

// An image as JSON: the store's record of it and what `image inspect` prints (one form for
// both); `what` names the record in errors.
nlohmann::json image_info_to_json(const ImageInfo& image);
Result<ImageInfo> image_info_from_json(const nlohmann::json& json, const std::string& what);

}  // namespace berth::image
