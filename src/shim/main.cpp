// berth-shim: the monitor process of one workload. Started detached by the runtime
// (shim_launcher.cpp) as `berth-shim --root ROOT --id ID` with the report pipe on fd 3.
#include <fmt/format.h>

#include <string>
#include <string_view>

#include "shim/monitor.hpp"

int main(int argc, char** argv) {
  std::string root, id;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i];
    if (flag == "--root") root = argv[i + 1];
    else if (flag == "--id") id = argv[i + 1];
  }
  if (root.empty() || id.empty()) {
    fmt::print(stderr, "usage: berth-shim --root ROOT --id ID (started by berth, not by hand)\n");
    return 2;
  }
  return berth::shim::run_monitor(root, id);
}
