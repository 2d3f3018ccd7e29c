// Checks a WorkloadSpec before anything is created: one invalid_spec error naming the field.
#pragma once

#include "berth/error.hpp"
#include "berth/spec.hpp"

namespace berth {

// Fields every kind shares (name, env, resources, signals...), then what the kind allows.
// A field the kind cannot honour is invalid_spec; a kind whose backend is not built is
// unavailable.
Result<void> validate_spec(const WorkloadSpec& spec);

bool is_valid_workload_name(std::string_view name);

}  // namespace berth
