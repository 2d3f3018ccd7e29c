// Splitting text as flags and files write it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace berth {

// Every field between separators, empty ones included: "a::b" -> {"a", "", "b"}.
std::vector<std::string> split(std::string_view text, char sep);

}  // namespace berth
