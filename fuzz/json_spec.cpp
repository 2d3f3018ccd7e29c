// The REST API's JSON -> WorkloadSpec reader (and the other request bodies berthd reads:
// exec options), on any bytes that parse as JSON. The reader promises that no
// exception escapes and that what it accepts writes back to the same JSON form: a spec read,
// written and read again must equal the first reading.
#include <cstdint>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "runtime/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto json = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return 0;
  if (auto spec = berth::spec_from_json(json)) {
    auto written = berth::to_json(*spec);
    auto again = berth::spec_from_json(written);
    if (!again) std::abort();  // what to_json wrote must read back
    if (berth::to_json(*again) != written) std::abort();
  }
  (void)berth::exec_options_from_json(json);
  return 0;
}
