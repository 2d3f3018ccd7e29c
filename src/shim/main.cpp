// berth-shim: the monitor process of one workload. Started by the runtime (shim_launcher.cpp)
// as `berth-shim --root ROOT --id ID [--mode start|create] --detach` in a session of its own,
// with the report pipe on fd 3; with --detach it forks at once and the first process exits, so
// the shim is reparented away from its caller. In create mode (containers) the shim sets the workload up and holds it, waiting,
// until a start request arrives.
#include <unistd.h>

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "shim/monitor.hpp"

int main(int argc, char** argv) {
  std::string root, id, mode = "start";
  bool detach = false;
  for (int i = 1; i < argc; i += 2) {
    std::string_view flag = argv[i];
    if (flag == "--detach") {
      detach = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) break;
    if (flag == "--root") root = argv[i + 1];
    else if (flag == "--id") id = argv[i + 1];
    else if (flag == "--mode") mode = argv[i + 1];
  }
  if (root.empty() || id.empty() || (mode != "start" && mode != "create")) {
    fmt::print(stderr,
               "usage: berth-shim --root ROOT --id ID [--mode start|create] (started by berth, not by hand)\n");
    return 2;
  }
  if (detach) {
    pid_t pid = ::fork();
    if (pid < 0) return 1;
    if (pid > 0) ::_exit(0);
  }
  return berth::shim::run_monitor(root, id, mode == "create");
}
