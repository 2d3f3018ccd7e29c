// A close-on-exec pipe with both ends owned.
#pragma once

#include <string_view>

#include "berth/error.hpp"
#include "common/fd.hpp"

namespace berth {

struct Pipe {
  UniqueFd read, write;
};

// pipe2(O_CLOEXEC); `what` names the pipe in the error.
Result<Pipe> make_pipe(std::string_view what);

}  // namespace berth
