// Workload ids: 64 hex digits from the kernel's random source, as Docker's.
#pragma once

#include <string>

#include "berth/error.hpp"

namespace berth {

Result<std::string> new_workload_id();

}  // namespace berth
