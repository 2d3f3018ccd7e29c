#include "oci/wasm_handler.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fmt/format.h>
#include <memory>

#include "common/fs.hpp"
#include "linux/mounts.hpp"
#include "wasm/aot/aot_engine.hpp"
#include "wasm/aot/artifact.hpp"
#include "wasm/module_reader.hpp"
#include "wasm/runner/command.hpp"

namespace berth::oci {

namespace {

bool wasm_suffix(const std::vector<std::string>& args) {
  if (args.empty()) return false;
  return args[0].ends_with(".wasm") || args[0].ends_with(".wat");
}

// What the init holds between create (the artifact, copied into it by clone) and start (the
// module loaded from it).
struct Handled {
  std::string module_path;  // as the container sees it
  wasm::aot::Artifact artifact;
  std::shared_ptr<wasm::CompiledModule> module;
};

}  // namespace

Result<bool> wants_wasm_handler(const std::map<std::string, std::string>& annotations,
                                const std::vector<std::string>& args) {
  if (auto it = annotations.find("run.oci.handler"); it != annotations.end()) {
    if (it->second == "wasm") return true;
    if (it->second == "wasm-smart") return wasm_suffix(args);
    return fail(ErrorCode::invalid_spec,
                fmt::format("annotations.run.oci.handler: \"{}\" is not a handler berth-oci has (wasm, wasm-smart)",
                            it->second));
  }
  if (auto it = annotations.find("module.wasm.image/variant"); it != annotations.end()) {
    if (it->second == "compat") return true;
    if (it->second == "compat-smart") return wasm_suffix(args);
  }
  return false;
}

Result<void> use_wasm_handler(ContainerLaunchPlan& plan, const std::string& cache_dir) {
  if (plan.args.empty() || plan.args[0].empty())
    return fail(ErrorCode::invalid_spec, "process.args: the Wasm handler needs a module in args[0]");
  auto handled = std::make_shared<Handled>();
  handled->module_path = plan.args[0].starts_with('/')
                             ? plan.args[0]
                             : (plan.working_dir.empty() ? std::string("/") : plan.working_dir) + "/" + plan.args[0];
  const std::string what = fmt::format("process.args[0] \"{}\"", plan.args[0]);

  // Resolved inside the root, as the init will see it (a symlink in the image cannot point
  // create at a host file).
  UniqueFd root(::open(plan.rootfs.rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return std::unexpected(errno_error("open", plan.rootfs.rootfs, errno).with_context("root.path"));
  int fd = linux::open_in_root(root.get(), handled->module_path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return fail(-fd == ENOENT ? ErrorCode::not_found : ErrorCode::invalid_spec,
                fmt::format("{}: cannot open the Wasm module in the container's root {}: {}", what,
                            plan.rootfs.rootfs, std::strerror(-fd)));
  UniqueFd file(fd);
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) return std::unexpected(errno_error("stat", handled->module_path, errno));
  if (!S_ISREG(st.st_mode))
    return fail(ErrorCode::invalid_spec, fmt::format("{}: is not a regular file, not a Wasm module", what));
  std::string bytes = read_to_end(file.get());
  if (bytes.size() != static_cast<std::size_t>(st.st_size))
    return fail(ErrorCode::invalid_spec, fmt::format("{}: could not read the whole file", what));

  // Binary Wasm, or WAT text when the name says so; anything else (a script, an ELF binary) is
  // named as not Wasm rather than reported as a WAT syntax error.
  if (!bytes.starts_with(std::string_view("\0asm", 4)) && !handled->module_path.ends_with(".wat"))
    return fail(ErrorCode::invalid_spec,
                fmt::format("{}: not a Wasm module (no \\0asm magic number, and not a .wat file)", what));
  auto module = wasm::read_module_contents(
      std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), handled->module_path);
  if (!module) {
    // wabt's report may go on with the source line and a caret: its first line says it.
    std::string message = module.error().message;
    message = message.substr(0, message.find('\n'));
    return fail(ErrorCode::invalid_spec, fmt::format("{}: not a Wasm module berth can run: {}", what, message));
  }
  if (!module->info.has_start_export())
    return fail(ErrorCode::invalid_spec, fmt::format("{}: exports no _start (not a WASI command)", what));

  // Compiled now, on the host, so start never waits for the C compiler.
  wasm::aot::CompileOptions options;
  options.cache_dir = cache_dir;
  auto artifact = wasm::aot::compile_cached(*module, options);
  if (!artifact) return std::unexpected(artifact.error().with_context(what));
  handled->artifact = std::move(*artifact);

  ContainerLaunchPlan::InProcessProgram program;
  // In the init, before its root is set up: the shared object goes into a memfd and is
  // dlopen'ed through the host's /proc (after pivot_root there may be no /proc at all), with
  // the engine's signal handlers installed in this process (the init reset its signals).
  program.load = [handled]() -> Result<void> {
    auto loaded = wasm::aot::load(handled->artifact);
    if (!loaded) return std::unexpected(loaded.error().with_context(handled->module_path));
    handled->module = std::move(*loaded);
    handled->artifact = {};
    return {};
  };
  // After start. The module stays loaded until the init exits: its memfd was closed with every
  // other fd (the mapping stays), and nothing unloads it.
  program.run = [handled](const std::vector<std::string>& args, const std::vector<std::string>& env) -> int {
    wasm::CommandOptions options;
    options.module_path = handled->module_path;
    options.args = args;
    options.env = env;
    options.dirs.push_back({"/", "/"});
    auto outcome = wasm::run_loaded_command(*handled->module, options);
    if (!outcome) {
      fmt::print(stderr, "berth-oci: wasm: {}\n", outcome.error().message);
      return wasm::setup_failure_exit_code;
    }
    if (outcome->trap) fmt::print(stderr, "berth: {}\n", wasm::describe_trap(*outcome->trap));
    return outcome->exit_code;
  };
  plan.in_process = std::move(program);
  return {};
}

}  // namespace berth::oci
