#include "functions/http_trigger.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <fmt/format.h>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "wasm/wasi/context.hpp"
#include "wasm/net/tcp_connect.hpp"
#include "wasm/wasi/wasi_imports.hpp"

namespace berth::functions {
namespace {

Result<UniqueFd> memory_file(const char* name, std::string_view contents) {
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
  if (!fd) return std::unexpected(errno_error("memfd_create", name, errno));
  std::size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0) return std::unexpected(errno_error("write", name, errno));
    done += static_cast<std::size_t>(n);
  }
  ::lseek(fd.get(), 0, SEEK_SET);
  return fd;
}

http::Response plain(int status, std::string body) {
  return http::Response{status, {{"Content-Type", "text/plain"}}, std::move(body) + "\n"};
}

// The WAGI/CGI environment of one request.
std::vector<std::string> request_env(const http::Request& request, const HttpTriggerOptions& options,
                                     std::uint16_t port) {
  std::string query;
  if (auto q = request.target.find('?'); q != std::string::npos) query = request.target.substr(q + 1);
  std::string route = options.route;
  std::string path_info = request.path.substr(std::min(request.path.size(), route == "/" ? 0 : route.size()));
  std::vector<std::string> env = options.env;
  auto add = [&](std::string_view name, std::string_view value) { env.push_back(fmt::format("{}={}", name, value)); };
  add("GATEWAY_INTERFACE", "CGI/1.1");
  add("SERVER_SOFTWARE", "berth");
  add("SERVER_PROTOCOL", fmt::format("HTTP/1.{}", request.minor_version));
  add("SERVER_NAME", "localhost");
  add("SERVER_PORT", std::to_string(port));
  add("REQUEST_METHOD", request.method);
  add("SCRIPT_NAME", route == "/" ? "" : route);
  add("PATH_INFO", path_info);
  add("QUERY_STRING", query);
  add("X_MATCHED_ROUTE", route);
  add("X_FULL_URL", fmt::format("http://localhost:{}{}", port, request.target));
  add("CONTENT_LENGTH", std::to_string(request.body.size()));
  if (auto type = request.header("content-type")) add("CONTENT_TYPE", *type);
  for (const auto& [name, value] : request.headers) {
    if (name == "content-type" || name == "content-length" || name == "authorization") continue;
    std::string variable = "HTTP_";
    for (char c : name) variable += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    add(variable, value);
  }
  return env;
}

}  // namespace

Result<http::Response> parse_cgi_response(std::string_view output) {
  http::Response response;
  std::optional<int> status;
  bool location = false;
  std::size_t at = 0;
  for (;;) {
    auto end = output.find('\n', at);
    if (end == std::string_view::npos) return fail(ErrorCode::invalid_spec, "the handler's output has no blank line after its headers");
    std::string_view line = output.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    at = end + 1;
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return fail(ErrorCode::invalid_spec, fmt::format("the handler wrote a malformed header line: {}", line));
    std::string name(line.substr(0, colon));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    std::string lower;
    for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "status") {
      int code = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), code);
      if (ec != std::errc() || code < 100 || code > 599)
        return fail(ErrorCode::invalid_spec, fmt::format("the handler wrote a bad Status: {}", value));
      status = code;
      continue;
    }
    location |= lower == "location";
    response.headers.emplace_back(std::move(name), std::string(value));
  }
  response.status = status.value_or(location ? 302 : 200);
  response.body = std::string(output.substr(at));
  return response;
}

HttpTrigger::HttpTrigger(std::shared_ptr<wasm::CompiledModule> module, HttpTriggerOptions options)
    : module_(std::move(module)),
      options_(std::move(options)),
      slots_(static_cast<std::ptrdiff_t>(std::min<std::size_t>(options_.concurrency, std::counting_semaphore<>::max()))) {}

Result<std::unique_ptr<HttpTrigger>> HttpTrigger::start(std::shared_ptr<wasm::CompiledModule> module,
                                                        HttpTriggerOptions options) {
  if (!module->info().has_start_export())
    return fail(ErrorCode::invalid_spec, "http trigger: the handler must be a WASI command (export _start)");
  if (options.route.empty() || options.route[0] != '/')
    return fail(ErrorCode::invalid_spec, fmt::format("http trigger: route \"{}\" must start with /", options.route));
  if (options.concurrency == 0) return fail(ErrorCode::invalid_spec, "http trigger: concurrency must be positive");
  auto peers = wasm::net::PeerAllowList::parse(options.allowed_peers);
  if (!peers) return std::unexpected(peers.error().with_context("http trigger"));
  std::unique_ptr<HttpTrigger> trigger(new HttpTrigger(std::move(module), std::move(options)));
  auto* self = trigger.get();
  trigger->peers_ = std::make_shared<const wasm::net::PeerAllowList>(std::move(*peers));
  trigger->uses_connect_ = wasm::net::imports_tcp_connect(trigger->module_->info());
  const auto& o = trigger->options_;
  bool uses_berth = std::any_of(trigger->module_->info().imports.begin(), trigger->module_->info().imports.end(),
                                [](const auto& import) { return import.module == "berth"; });
  if (uses_berth) {
    auto store = std::make_shared<KvStore>(o.kv_max_entries, o.kv_max_value_bytes, o.kv_persist_path);
    if (auto loaded = store->load(); !loaded) return std::unexpected(loaded.error().with_context("http trigger"));
    trigger->berth_functions_ = berth_imports(std::move(store), o.log ? o.log : LogSink(log_to_stderr));
  }
  http::ServerOptions server_options;
  server_options.max_body_bytes = o.max_body_bytes;
  server_options.max_total_body_bytes = o.max_total_body_bytes;
  trigger->server_ = std::make_unique<http::Server>(
      [self](const http::Request& request, http::ResponseWriter& writer) { (void)writer.send(self->handle(request)); },
      server_options);
  if (auto r = trigger->server_->listen_tcp(trigger->options_.listen); !r)
    return std::unexpected(r.error().with_context("http trigger"));
  trigger->serving_ = std::thread([self] { (void)self->server_->run(); });
  return trigger;
}

HttpTrigger::~HttpTrigger() {
  stop();
  if (serving_.joinable()) serving_.join();
}

void HttpTrigger::stop() {
  if (server_) server_->stop();
}

std::uint16_t HttpTrigger::port() const { return server_ ? server_->tcp_port() : 0; }

http::Response HttpTrigger::handle(const http::Request& request) {
  const auto& route = options_.route;
  bool matches = request.path.starts_with(route) &&
                 (route == "/" || route.back() == '/' || request.path.size() == route.size() || request.path[route.size()] == '/');
  if (!matches) return plain(404, "not found");
  if (!slots_.try_acquire_for(options_.queue_timeout)) return plain(503, "every handler instance is busy");
  struct Slot {
    std::counting_semaphore<>& slots;
    ~Slot() { slots.release(); }
  } slot{slots_};

  auto body = memory_file("berth-wagi-stdin", request.body);
  auto out = memory_file("berth-wagi-stdout", "");
  if (!body || !out) return plain(500, "cannot set up the request");
  wasm::WasiConfig config;
  config.args = {request.path};
  config.env = request_env(request, options_, port());
  config.stdin_fd = body->get();
  config.stdout_fd = out->get();
  config.stderr_fd = 2;
  auto context = wasm::WasiContext::create(std::move(config));
  if (!context) return plain(500, "cannot set up the request: " + context.error().message);
  wasm::Imports imports;
  imports.functions = wasm::wasi_imports(*context);
  if (uses_connect_) imports.functions.push_back(wasm::net::tcp_connect_function(peers_, *context));
  imports.functions.insert(imports.functions.end(), berth_functions_.begin(), berth_functions_.end());
  wasm::InstanceLimits limits;
  limits.memory_bytes = options_.memory_bytes;
  limits.deadline = options_.execution_time;
  auto instance = module_->instantiate(imports, limits);
  if (!instance) return plain(500, "the handler could not be instantiated: " + instance.error().message);
  auto ran = (*instance)->call("_start", {});
  if (!ran) {
    const auto& trap = ran.error();
    if (trap.kind == wasm::TrapKind::deadline_exceeded) return plain(504, "the handler ran out of time");
    if (trap.kind != wasm::TrapKind::exit || trap.exit_code != 0)
      return plain(500, trap.kind == wasm::TrapKind::exit ? fmt::format("the handler exited with {}", trap.exit_code)
                                                          : fmt::format("the handler trapped: {}", wasm::to_string(trap.kind)));
  }
  ::lseek(out->get(), 0, SEEK_SET);
  auto response = parse_cgi_response(read_to_end(out->get()));
  if (!response) return plain(500, response.error().message);
  return *response;
}

}  // namespace berth::functions
