// berth-oci: the OCI runtime command line (runtime-tools docs/command-line-interface.md) with the
// runc flags engines pass. Errors go to stderr and, with --log, to the log file as runc writes
// them (text "time=... level=error msg=..." or JSON lines), where containerd and Podman look.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/fs.hpp"
#include "common/signal_names.hpp"
#include "common/time.hpp"
#include "oci/container.hpp"
#include "oci/events.hpp"
#include "oci/operations.hpp"
#include "oci/exec.hpp"
#include "oci/templates.hpp"

namespace {

using namespace berth;

struct Log {
  std::string path;
  bool json = false;
  bool debug = false;
  void write(const char* level, const std::string& message) const {
    if (path.empty()) return;
    std::string time = format_rfc3339_nano(std::chrono::system_clock::now());
    std::string line = json ? nlohmann::json{{"level", level}, {"msg", message}, {"time", time}}.dump() + "\n"
                            : fmt::format("time=\"{}\" level={} msg={}\n", time, level, nlohmann::json(message).dump());
    if (FILE* f = std::fopen(path.c_str(), "ae")) {
      std::fputs(line.c_str(), f);
      std::fclose(f);
    }
  }
};

Log g_log;

int die(const std::string& message, int code = 1) {
  g_log.write("error", message);
  std::fprintf(stderr, "berth-oci: %s\n", message.c_str());
  return code;
}

int usage() {
  std::fputs(
      "usage: berth-oci [--root DIR] [--log FILE] [--log-format text|json] [--debug] [--systemd-cgroup] COMMAND\n"
      "commands:\n"
      "  create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK] [--preserve-fds N] [--no-pivot]\n"
      "         [--no-new-keyring] ID\n"
      "  start ID | state ID | kill [--all] ID [SIGNAL] | delete [--force] ID\n"
      "  run [create's flags] [--detach|-d] ID   create + start in the foreground (exits with the container's\n"
      "         code), or with -d returns once it runs\n"
      "  exec [--process FILE] [--tty|-t] [--console-socket SOCK] [--detach|-d] [--pid-file FILE] [--cwd DIR]\n"
      "       [--preserve-fds N]\n"
      "       [--env|-e K=V]... [--user|-u UID[:GID]] [--additional-gids|-g GID]... [--cap CAP]... [--no-new-privs]\n"
      "       ID [COMMAND [ARGS...]]   a new process in a running container; exits with its code\n"
      "  list [--format table|json] [--quiet] | spec [--bundle DIR] | features | --version\n"
      "  pause ID | resume ID | ps [--format table|json] ID [PS_ARGS...]\n"
      "  events [--stats] [--interval 5s] ID   JSON stats (and oom) events, one a line, until it stops\n"
      "  update [--resources FILE|-] [--memory N] [--memory-swap N] [--cpu-shares N] [--cpu-quota N]\n"
      "         [--cpu-period N] [--cpuset-cpus S] [--cpuset-mems S] [--pids-limit N] [--blkio-weight N]\n"
      "         [--memory-reservation N] [--cpu-burst N] [--cpu-rt-period N] [--cpu-rt-runtime N] ID\n",
      stderr);
  return 2;
}

// Flags as runc takes them: "--name value", "--name=value", "-name"; booleans take no value.
struct Args {
  std::vector<std::string> items;
  std::size_t pos = 0;
  bool done() const { return pos >= items.size(); }
  const std::string& peek() const { return items[pos]; }
};

struct Flag {
  std::string name;   // without dashes
  std::optional<std::string> inline_value;
};
std::optional<Flag> as_flag(const std::string& arg) {
  if (arg.size() < 2 || arg[0] != '-' || arg == "--") return std::nullopt;
  std::string body = arg.substr(arg[1] == '-' ? 2 : 1);
  auto eq = body.find('=');
  if (eq == std::string::npos) return Flag{body, std::nullopt};
  return Flag{body.substr(0, eq), body.substr(eq + 1)};
}

// Parses the command's flags; `booleans` take no value, `valued` do. Positional arguments go to
// `positional`. Returns an error message or "".
std::string parse_flags(Args& args, const std::vector<std::string>& booleans, const std::vector<std::string>& valued,
                        std::map<std::string, std::string>& values, std::vector<std::string>& positional) {
  bool only_positional = false;
  while (!args.done()) {
    std::string arg = args.items[args.pos++];
    if (!only_positional && arg == "--") {
      only_positional = true;
      continue;
    }
    auto flag = only_positional ? std::nullopt : as_flag(arg);
    if (!flag || positional.size() > 0) {
      // runc stops at the first positional argument only for the signal of kill ("-9" is not
      // a flag there).
      if (flag && positional.size() > 0) {
        positional.push_back(arg);
        continue;
      }
      positional.push_back(arg);
      continue;
    }
    if (std::find(booleans.begin(), booleans.end(), flag->name) != booleans.end()) {
      values[flag->name] = flag->inline_value.value_or("true");
      continue;
    }
    if (std::find(valued.begin(), valued.end(), flag->name) != valued.end()) {
      if (flag->inline_value) values[flag->name] = *flag->inline_value;
      else if (args.done()) return fmt::format("flag --{} needs a value", flag->name);
      else values[flag->name] = args.items[args.pos++];
      continue;
    }
    return fmt::format("unknown flag --{}", flag->name);
  }
  return "";
}

bool truthy(const std::map<std::string, std::string>& v, const std::string& key) {
  auto it = v.find(key);
  return it != v.end() && it->second != "false";
}

Result<oci::CreateOptions> create_options(const std::map<std::string, std::string>& v) {
  oci::CreateOptions o;
  if (auto it = v.find("bundle"); it != v.end()) o.bundle = it->second;
  if (auto it = v.find("b"); it != v.end()) o.bundle = it->second;
  if (auto it = v.find("pid-file"); it != v.end()) o.pid_file = it->second;
  if (auto it = v.find("console-socket"); it != v.end()) o.console_socket = it->second;
  if (auto it = v.find("preserve-fds"); it != v.end()) {
    try {
      o.preserve_fds = std::stoi(it->second);
    } catch (...) {
      return fail(ErrorCode::invalid_spec, fmt::format("--preserve-fds: \"{}\" is not a number", it->second));
    }
  }
  o.no_pivot = truthy(v, "no-pivot");
  o.no_new_keyring = truthy(v, "no-new-keyring");
  return o;
}

const std::vector<std::string> create_booleans = {"no-pivot", "no-new-keyring", "detach", "d", "no-subreaper",
                                                  "keep"};
const std::vector<std::string> create_valued = {"bundle", "b", "pid-file", "console-socket", "preserve-fds"};

int one_id(const std::vector<std::string>& positional, const char* command) {
  if (positional.size() != 1) {
    die(fmt::format("{}: needs exactly one container id", command), 2);
    return -1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) args.items.emplace_back(argv[i]);
  oci::RuntimeOptions options;
  options.warn = [](const std::string& w) {
    g_log.write("warning", w);
    std::fprintf(stderr, "berth-oci: warning: %s\n", w.c_str());
  };
  // Global flags, before the command.
  while (!args.done()) {
    auto flag = as_flag(args.peek());
    if (!flag) break;
    ++args.pos;
    auto value = [&]() -> std::optional<std::string> {
      if (flag->inline_value) return flag->inline_value;
      if (args.done()) return std::nullopt;
      return args.items[args.pos++];
    };
    if (flag->name == "version" || flag->name == "v") {
      std::printf("berth-oci version %s\nspec: %s\n", BERTH_VERSION, oci::oci_version);
      return 0;
    } else if (flag->name == "help" || flag->name == "h") {
      usage();
      return 0;
    } else if (flag->name == "debug") {
      g_log.debug = true;
    } else if (flag->name == "systemd-cgroup") {
      options.systemd_cgroup = true;
    } else if (flag->name == "rootless") {
      auto v = value();
      if (v && *v == "true") return die("--rootless: berth-oci runs as root only");
    } else if (flag->name == "root" || flag->name == "log" || flag->name == "log-format" || flag->name == "criu") {
      auto v = value();
      if (!v) return die(fmt::format("flag --{} needs a value", flag->name), 2);
      if (flag->name == "root") options.root = *v;
      else if (flag->name == "log") g_log.path = *v;
      else if (flag->name == "log-format") {
        if (*v != "text" && *v != "json") return die("--log-format: must be text or json", 2);
        g_log.json = *v == "json";
      }
    } else {
      return die(fmt::format("unknown global flag --{}", flag->name), 2);
    }
  }
  if (args.done()) return usage();
  std::string command = args.items[args.pos++];
  std::map<std::string, std::string> v;
  std::vector<std::string> pos;
  auto parse = [&](const std::vector<std::string>& booleans, const std::vector<std::string>& valued) {
    auto error = parse_flags(args, booleans, valued, v, pos);
    if (!error.empty()) {
      die(fmt::format("{}: {}", command, error), 2);
      return false;
    }
    return true;
  };
  if (g_log.debug) g_log.write("debug", fmt::format("command {}", command));

  if (command == "create" || command == "run") {
    if (!parse(create_booleans, create_valued)) return 2;
    if (one_id(pos, command.c_str()) < 0) return 2;
    auto o = create_options(v);
    if (!o) return die(o.error().message, 2);
    if (command == "run" && (truthy(v, "detach") || truthy(v, "d"))) {
      if (auto r = oci::run_detached(options, pos[0], *o); !r) return die(r.error().message);
      return 0;
    }
    if (command == "create") {
      auto created = oci::create_container(options, pos[0], *o);
      if (!created) return die(created.error().message);
      return 0;
    }
    auto code = oci::run_container(options, pos[0], *o);
    if (!code) return die(code.error().message);
    return *code;
  }
  if (command == "exec") {
    auto o = oci::parse_exec_args(std::vector<std::string>(args.items.begin() + static_cast<std::ptrdiff_t>(args.pos),
                                                           args.items.end()));
    if (!o) return die(o.error().message, 2);
    auto code = oci::exec_container(options, *o);
    if (!code) return die(code.error().message);
    return *code;
  }
  if (command == "start") {
    if (!parse({}, {}) || one_id(pos, "start") < 0) return 2;
    if (auto r = oci::start_container(options, pos[0]); !r) return die(r.error().message);
    return 0;
  }
  if (command == "state") {
    if (!parse({}, {}) || one_id(pos, "state") < 0) return 2;
    auto state = oci::container_state(options, pos[0]);
    if (!state) return die(state.error().message);
    std::printf("%s\n", oci::state_json(*state).c_str());
    return 0;
  }
  if (command == "kill") {
    if (!parse({"all", "a"}, {}) ) return 2;
    if (pos.empty() || pos.size() > 2) return die("kill: usage: kill [--all] ID [SIGNAL]", 2);
    auto sig = parse_signal(pos.size() == 2 ? pos[1] : "SIGTERM");
    if (!sig) return die(sig.error().message, 2);
    if (auto r = oci::kill_container(options, pos[0], *sig, truthy(v, "all") || truthy(v, "a")); !r)
      return die(r.error().message);
    return 0;
  }
  if (command == "delete") {
    if (!parse({"force", "f"}, {}) || one_id(pos, "delete") < 0) return 2;
    if (auto r = oci::delete_container(options, pos[0], truthy(v, "force") || truthy(v, "f")); !r)
      return die(r.error().message);
    return 0;
  }
  if (command == "list") {
    if (!parse({"quiet", "q"}, {"format", "f"})) return 2;
    std::string format = v.count("format") ? v["format"] : v.count("f") ? v["f"] : "table";
    auto containers = oci::list_containers(options);
    if (format == "json") {
      nlohmann::json out = nlohmann::json::array();
      for (auto& c : containers) out.push_back(nlohmann::json::parse(oci::state_json(c)));
      std::printf("%s\n", out.dump().c_str());
    } else if (truthy(v, "quiet") || truthy(v, "q")) {
      for (auto& c : containers) std::printf("%s\n", c.id.c_str());
    } else {
      std::printf("%-20s %-8s %-10s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
      for (auto& c : containers)
        std::printf("%-20s %-8d %-10s %-40s %-32s %s\n", c.id.c_str(), c.status == oci::Status::stopped ? 0 : c.pid,
                    std::string(oci::to_string(c.status)).c_str(), c.bundle.c_str(), c.created.c_str(), "root");
    }
    return 0;
  }
  if (command == "spec") {
    if (!parse({"rootless"}, {"bundle", "b"})) return 2;
    std::string bundle = v.count("bundle") ? v["bundle"] : v.count("b") ? v["b"] : ".";
    std::string path = bundle + "/config.json";
    if (path_exists(path)) return die(fmt::format("spec: {} already exists", path));
    if (auto r = write_file(path, oci::default_config_json(), 0644); !r) return die(r.error().message);
    return 0;
  }
  if (command == "features") {
    std::printf("%s", oci::features_json().c_str());
    return 0;
  }
  if (command == "pause" || command == "resume") {
    if (!parse({}, {}) || one_id(pos, command.c_str()) < 0) return 2;
    auto r = command == "pause" ? oci::pause_container(options, pos[0]) : oci::resume_container(options, pos[0]);
    if (!r) return die(r.error().message);
    return 0;
  }
  if (command == "ps") {
    if (!parse({}, {"format", "f"})) return 2;
    if (pos.empty()) return die("ps: usage: ps [--format table|json] ID [PS_ARGS...]", 2);
    std::string format = v.count("format") ? v["format"] : v.count("f") ? v["f"] : "table";
    if (format != "table" && format != "json") return die(fmt::format("ps: --format: \"{}\" is not table or json", format), 2);
    auto pids = oci::container_pids(options, pos[0]);
    if (!pids) return die(pids.error().message);
    if (format == "json") {
      std::printf("%s\n", nlohmann::json(*pids).dump().c_str());
      return 0;
    }
    auto table = oci::ps_table(*pids, std::vector<std::string>(pos.begin() + 1, pos.end()));
    if (!table) return die(table.error().message);
    std::fputs(table->c_str(), stdout);
    return 0;
  }
  if (command == "update") {
    if (!parse({}, {"resources", "r", "memory", "memory-swap", "cpu-shares", "cpu-quota", "cpu-period", "cpuset-cpus",
                    "cpuset-mems", "pids-limit", "blkio-weight", "memory-reservation", "cpu-burst", "cpu-rt-period",
                    "cpu-rt-runtime"}) ||
        one_id(pos, "update") < 0)
      return 2;
    if (v.count("r")) v["resources"] = v["r"], v.erase("r");
    auto resources = oci::update_request(v);
    if (!resources) return die(fmt::format("update: {}", resources.error().message), 2);
    if (auto r = oci::update_container(options, pos[0], *resources); !r) return die(r.error().message);
    return 0;
  }
  if (command == "events") {
    if (!parse({"stats"}, {"interval"}) || one_id(pos, "events") < 0) return 2;
    auto interval = parse_duration(v.count("interval") ? v["interval"] : "5s");
    if (!interval) return die(fmt::format("events: --interval: {}", interval.error().message), 2);
    if (auto r = oci::container_events(options, pos[0], truthy(v, "stats"), *interval, stdout); !r)
      return die(r.error().message);
    return 0;
  }
  if (command == "help") return usage(), 0;
  return die(fmt::format("unknown command \"{}\"", command), 2);
}
