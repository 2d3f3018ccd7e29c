#include "wasm/aot/artifact.hpp"

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/sha256.hpp"
#include "wasm/aot/glue.hpp"
#include "wasm/aot/wasm_rt_header.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>

extern char** environ;

namespace berth::wasm::aot {
namespace {

constexpr char kMagic[8] = {'B', 'W', 'A', 'S', 'M', 'A', 'O', 'T'};
constexpr std::uint32_t kFormatVersion = 2;  // 2: floats force-read in float registers

// The fixed-size header at the start of every artifact.
struct Header {
  char magic[8];
  std::uint32_t format_version;
  std::uint32_t abi_version;
  char arch[16];
  char key[64];
  char checksum[64];  // hex SHA-256 of everything after the header
  std::uint64_t module_size;
  std::uint64_t object_size;
};

std::string machine() {
  struct utsname name {};
  if (uname(&name) != 0) return "unknown";
  return name.machine;
}

struct Output {
  int status = -1;
  std::string text;
};

// Runs argv (PATH lookup), capturing stdout and stderr together.
Result<Output> run_capture(const std::vector<std::string>& argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return fail(ErrorCode::internal, std::string("pipe2: ") + std::strerror(errno));
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return fail(ErrorCode::unavailable, fmt::format("{}: {}", argv[0], std::strerror(rc)));
  write_end.reset();
  Output out;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(read_end.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.text.size() < (1u << 20)) out.text.append(buffer, static_cast<std::size_t>(n));
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return fail(ErrorCode::internal, std::string("waitpid: ") + std::strerror(errno));
  }
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

// The compiler as a file: `compiler` found on PATH (unless it has a slash), symlinks resolved
// (cc -> /etc/alternatives/cc -> gcc-12), with what changes when it is replaced or upgraded.
std::optional<std::string> compiler_file_stamp(const std::string& compiler) {
  std::string found;
  if (compiler.find('/') != std::string::npos) {
    found = compiler;
  } else {
    const char* path = std::getenv("PATH");
    std::string_view dirs = path ? path : "/usr/bin:/bin";
    while (found.empty() && !dirs.empty()) {
      auto colon = dirs.find(':');
      std::string candidate = std::string(dirs.substr(0, colon)) + "/" + compiler;
      if (::access(candidate.c_str(), X_OK) == 0) found = candidate;
      dirs = colon == std::string_view::npos ? std::string_view{} : dirs.substr(colon + 1);
    }
  }
  if (found.empty()) return std::nullopt;
  char resolved[PATH_MAX];
  if (::realpath(found.c_str(), resolved) == nullptr) return std::nullopt;
  struct stat st;
  if (::stat(resolved, &st) != 0) return std::nullopt;
  return fmt::format("{} {} {} {} {}.{}", resolved, st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec);
}

// The first line of `compiler --version`. Running the compiler costs a few milliseconds, which
// would be most of a cached module's start, so the answer is kept in the cache directory under
// the compiler file's stamp (a replaced compiler has a new stamp and is asked again).
Result<std::string> compiler_identity(const std::string& compiler, const std::filesystem::path& cache_dir) {
  static std::mutex mutex;
  static std::map<std::string, std::string> known;
  std::lock_guard lock(mutex);
  if (auto it = known.find(compiler); it != known.end()) return it->second;
  std::string memo;
  if (auto stamp = compiler_file_stamp(compiler); stamp && !cache_dir.empty())
    memo = (cache_dir / ("compiler-" + sha256_hex(*stamp).substr(0, 32))).string();
  if (!memo.empty())
    if (auto line = read_file(memo); line && !line->empty() && line->find('\n') == std::string::npos) {
      known.emplace(compiler, *line);
      return *line;
    }
  auto out = run_capture({compiler, "--version"});
  if (!out) return std::unexpected(out.error().with_context("C compiler"));
  if (out->status != 0) return fail(ErrorCode::unavailable, compiler + " --version failed: " + out->text);
  std::string line = out->text.substr(0, out->text.find('\n'));
  known.emplace(compiler, line);
  if (!memo.empty() && make_dirs(cache_dir.string(), 0700)) (void)write_file_atomic(memo, line);
  return line;
}

std::vector<std::string> compile_flags(const CompileOptions& options) {
  return {options.optimization, "-fPIC", "-shared", "-fno-optimize-sibling-calls", "-frounding-math",
          "-fsignaling-nans", "-fstack-clash-protection", "-fno-strict-aliasing", "-w", "-Wl,-Bsymbolic"};
}

std::string checksum(std::string_view payload) { return sha256_hex(payload); }

std::string temp_dir_template(const std::filesystem::path& parent) {
  return (parent / "build-XXXXXX").string();
}

}  // namespace

std::filesystem::path default_cache_dir() {
  if (const char* dir = std::getenv("BERTH_WASM_CACHE"); dir != nullptr && *dir != '\0') return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0')
    return std::filesystem::path(xdg) / "berth" / "wasm";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
    return std::filesystem::path(home) / ".cache" / "berth" / "wasm";
  return "/var/cache/berth/wasm";
}

Result<std::string> cache_key(std::span<const std::uint8_t> module, const CompileOptions& options) {
  auto identity = compiler_identity(options.compiler, options.cache_dir);
  if (!identity) return std::unexpected(identity.error());
  Sha256 hash;
  hash.update(module.data(), module.size());
  hash.update(fmt::format("\nberth {}\nabi {}\nformat {}\n{}\n{}\n", BERTH_VERSION, kGlueAbiVersion,
                          kFormatVersion, *identity, machine()));
  for (const std::string& flag : compile_flags(options)) {
    hash.update(flag);
    hash.update(std::string_view("\0", 1));
  }
  return hash.hex_digest();
}

// A Wasm load must happen even when its value is unused (with guard pages, that is what makes
// an out-of-bounds load trap), so wasm2c ends every load with an empty asm reading the value.
// wasm2c 1.0.32 reads it with "r": every f32/f64 load then goes through a general register and
// back, which costs float-heavy code dearly (matrix multiply ran at 0.3x native). On x86-64
// berth reads floats in an SSE register ("x") instead; the load still happens.
static std::string read_floats_in_float_registers(std::string source) {
  static constexpr std::string_view force_read = "wasm_asm(\"\" ::\"r\"(result));";
  static constexpr std::string_view helpers = R"(
#if defined(__x86_64__)
static inline void berth_force_read_int(u64 v) { __asm__("" ::"r"(v)); }
static inline void berth_force_read_f32(f32 v) { __asm__("" ::"x"(v)); }
static inline void berth_force_read_f64(f64 v) { __asm__("" ::"x"(v)); }
#define BERTH_FORCE_READ(v) \
  _Generic((v), f32: berth_force_read_f32, f64: berth_force_read_f64, default: berth_force_read_int)(v)
#else
#define BERTH_FORCE_READ(v) wasm_asm("" ::"r"(v))
#endif
)";
  auto first = source.find(force_read);
  if (first == std::string::npos) return source;
  // The helpers go before the #if that holds the first load definition.
  auto block = source.rfind("\n#if", first);
  if (block == std::string::npos) return source;
  for (auto at = source.find(force_read); at != std::string::npos; at = source.find(force_read, at))
    source.replace(at, force_read.size(), "BERTH_FORCE_READ(result);");
  source.insert(block + 1, helpers);
  return source;
}

Result<Artifact> compile_artifact(const LoadedModule& module, const CompileOptions& options) {
  if (auto ok = check_translatable(module); !ok) return std::unexpected(ok.error());
  auto key = cache_key(module.bytes, options);
  if (!key) return std::unexpected(key.error());
  auto c = generate_c(module.bytes, kCModuleName, "module.h");
  if (!c) return std::unexpected(c.error());

  std::filesystem::path parent = options.cache_dir.empty() ? std::filesystem::temp_directory_path() : options.cache_dir;
  if (auto made = make_dirs(parent.string(), 0700); !made) return std::unexpected(made.error());
  std::string dir_template = temp_dir_template(parent);
  if (mkdtemp(dir_template.data()) == nullptr)
    return fail(code_for_errno(errno), fmt::format("mkdtemp {}: {}", dir_template, std::strerror(errno)));
  std::filesystem::path dir = dir_template;
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() { (void)remove_tree(dir.string()); }
  } cleanup{dir};

  std::string source = read_floats_in_float_registers(std::move(c->source));
  source += generate_glue(module);
  for (auto [name, text] : {std::pair<const char*, std::string_view>{"wasm-rt.h", kWasmRtHeader},
                            {"module.h", c->header},
                            {"module.c", source}}) {
    if (auto written = write_file((dir / name).string(), text); !written) return std::unexpected(written.error());
  }
  std::vector<std::string> argv{options.compiler};
  for (const std::string& flag : compile_flags(options)) argv.push_back(flag);
  argv.insert(argv.end(), {"-I", dir.string(), "-o", (dir / "module.so").string(), (dir / "module.c").string()});
  auto out = run_capture(argv);
  if (!out) return std::unexpected(out.error());
  if (out->status != 0)
    return fail(ErrorCode::internal, fmt::format("{} failed (status {}): {}", options.compiler, out->status,
                                                 out->text.substr(0, 4000)));
  auto object = read_file((dir / "module.so").string());
  if (!object) return std::unexpected(object.error());
  return Artifact{*key, module.bytes, std::move(*object)};
}

std::string_view artifact_magic() { return {kMagic, sizeof kMagic}; }

std::string encode_artifact(const Artifact& artifact) {
  std::string payload(artifact.module.begin(), artifact.module.end());
  payload += artifact.shared_object;
  Header header{};
  std::memcpy(header.magic, kMagic, sizeof kMagic);
  header.format_version = kFormatVersion;
  header.abi_version = kGlueAbiVersion;
  std::string arch = machine();
  std::memcpy(header.arch, arch.data(), std::min(arch.size(), sizeof header.arch - 1));
  std::memcpy(header.key, artifact.key.data(), std::min(artifact.key.size(), sizeof header.key));
  std::string sum = checksum(payload);
  std::memcpy(header.checksum, sum.data(), sizeof header.checksum);
  header.module_size = artifact.module.size();
  header.object_size = artifact.shared_object.size();
  std::string out(reinterpret_cast<const char*>(&header), sizeof header);
  out += payload;
  return out;
}

Result<Artifact> decode_artifact(std::string_view bytes, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return fail(ErrorCode::invalid_spec, fmt::format("{}: not a usable berth Wasm artifact: {}", what, why));
  };
  Header header{};
  if (bytes.size() < sizeof header) return bad("too short");
  std::memcpy(&header, bytes.data(), sizeof header);
  if (std::memcmp(header.magic, kMagic, sizeof kMagic) != 0) return bad("bad magic");
  if (header.format_version != kFormatVersion)
    return bad(fmt::format("format version {} (this berth reads {})", header.format_version, kFormatVersion));
  if (header.abi_version != kGlueAbiVersion)
    return bad(fmt::format("ABI version {} (this berth has {})", header.abi_version, kGlueAbiVersion));
  std::string arch(header.arch, strnlen(header.arch, sizeof header.arch));
  if (arch != machine()) return bad(fmt::format("compiled for {}, this host is {}", arch, machine()));
  std::string_view payload = bytes.substr(sizeof header);
  if (header.module_size > payload.size() || header.object_size != payload.size() - header.module_size)
    return bad("truncated or sizes mismatch");
  if (checksum(payload) != std::string_view(header.checksum, sizeof header.checksum)) return bad("checksum mismatch");
  Artifact artifact;
  artifact.key.assign(header.key, sizeof header.key);
  artifact.module.assign(payload.begin(), payload.begin() + static_cast<std::ptrdiff_t>(header.module_size));
  artifact.shared_object.assign(payload.substr(header.module_size));
  return artifact;
}

Result<void> write_artifact_file(const Artifact& artifact, const std::filesystem::path& path) {
  return write_file_atomic(path.string(), encode_artifact(artifact));
}

Result<Artifact> read_artifact_file(const std::filesystem::path& path) {
  auto bytes = read_file(path.string());
  if (!bytes) return std::unexpected(bytes.error());
  return decode_artifact(*bytes, path.string());
}

std::optional<Artifact> find_cached(const LoadedModule& module, const CompileOptions& given) {
  CompileOptions options = given;
  if (options.cache_dir.empty()) options.cache_dir = default_cache_dir();
  auto key = cache_key(module.bytes, options);
  if (!key) return std::nullopt;
  std::filesystem::path path = options.cache_dir / (*key + ".bwasm");
  if (!path_exists(path.string())) return std::nullopt;
  auto artifact = read_artifact_file(path);
  if (!artifact || artifact->key != *key || artifact->module != module.bytes) return std::nullopt;
  return std::move(*artifact);
}

Result<Artifact> compile_cached(const LoadedModule& module, const CompileOptions& given) {
  CompileOptions options = given;
  if (options.cache_dir.empty()) options.cache_dir = default_cache_dir();
  auto key = cache_key(module.bytes, options);
  if (!key) return std::unexpected(key.error());
  std::filesystem::path path = options.cache_dir / (*key + ".bwasm");
  auto usable = [&]() -> std::optional<Artifact> {
    if (!path_exists(path.string())) return std::nullopt;
    auto artifact = read_artifact_file(path);
    if (!artifact || artifact->key != *key || artifact->module != module.bytes) return std::nullopt;
    return std::move(*artifact);
  };
  if (auto hit = usable()) return std::move(*hit);

  if (auto made = make_dirs(options.cache_dir.string(), 0700); !made) return std::unexpected(made.error());
  std::string lock_path = (options.cache_dir / (*key + ".lock")).string();
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!lock) return std::unexpected(errno_error("open", lock_path, errno));
  while (::flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return std::unexpected(errno_error("flock", lock_path, errno));
  }
  if (auto hit = usable()) return std::move(*hit);  // another compiler finished meanwhile
  auto artifact = compile_artifact(module, options);
  if (!artifact) return std::unexpected(artifact.error());
  if (auto written = write_artifact_file(*artifact, path); !written) return std::unexpected(written.error());
  return artifact;
}

}  // namespace berth::wasm::aot
