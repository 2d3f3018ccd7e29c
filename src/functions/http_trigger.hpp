// The HTTP trigger: berth serves HTTP/1.1 and hands each request under a route prefix to a Wasm
// command module, WAGI style (CGI over WASI): the request line and headers become environment
// variables, the body is stdin, and the module writes CGI response headers, a blank line and the
// body to stdout. Any language that targets WASI preview 1 can write a handler. Every request
// gets a fresh instance; at most `concurrency` run at once (others wait, then get 503). A handler
// that traps answers 500, one that runs out of time 504; the server keeps serving.
#pragma once

#include <chrono>
#include <semaphore>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <berth/error.hpp>

#include "functions/berth_imports.hpp"
#include "http/server.hpp"
#include "wasm/engine.hpp"
#include "wasm/net/peer_allow_list.hpp"

namespace berth::functions {

struct HttpTriggerOptions {
  std::string listen = "127.0.0.1:0";  // port 0: a free one (port())
  std::string route = "/";             // requests whose path starts with it
  std::size_t concurrency = 16;        // handler instances at once
  std::chrono::milliseconds queue_timeout{5'000};
  std::chrono::milliseconds execution_time{10'000};  // per request
  std::uint64_t memory_bytes = 256ull << 20;
  std::vector<std::string> env;  // added to every request's environment
  // Request bodies come from anyone who reaches the port: one body (413 beyond) and all bodies
  // held at once (503 beyond) are bounded, as in berthd (http::ServerOptions).
  std::size_t max_body_bytes = 16ull << 20;
  std::size_t max_total_body_bytes = 64ull << 20;
  // The `berth` import module for handlers that use it (include/berth/guest/berth.h): one
  // key-value store for the trigger, shared by every request (and kept in `kv_persist_path` when
  // given, so it outlives the process), and berth_log into `log` (stderr when unset).
  std::size_t kv_max_entries = 10'000;
  std::size_t kv_max_value_bytes = 1 << 20;
  std::string kv_persist_path;
  LogSink log;
  // The peers berth.tcp_connect may reach (wasm/net/peer_allow_list.hpp), resolved at start;
  // empty: no network.
  std::vector<std::string> allowed_peers;
};

class HttpTrigger {
 public:
  // Starts serving on a thread of its own; the module must be a command (`_start`).
  static Result<std::unique_ptr<HttpTrigger>> start(std::shared_ptr<wasm::CompiledModule> module,
                                                    HttpTriggerOptions options);
  ~HttpTrigger();
  std::uint16_t port() const;
  // Handles one request (what the server calls; tests call it too).
  http::Response handle(const http::Request& request);
  // Serves until stop() (for a foreground program); start() already serves on a thread.
  void stop();

 private:
  HttpTrigger(std::shared_ptr<wasm::CompiledModule> module, HttpTriggerOptions options);
  std::shared_ptr<wasm::CompiledModule> module_;
  HttpTriggerOptions options_;
  std::unique_ptr<http::Server> server_;
  std::thread serving_;
  std::counting_semaphore<> slots_;  // one per handler instance that may run at once
  std::vector<wasm::HostFunction> berth_functions_;  // the store and log, shared by requests
  std::shared_ptr<const wasm::net::PeerAllowList> peers_;
  bool uses_connect_ = false;
};

// Parses a CGI response (headers, blank line, body) into an HTTP response: `Status: 404 ...`
// sets the status, `Location` without a status gives 302; a response with no blank line or a
// malformed header line is an error (the trigger answers 500).
Result<http::Response> parse_cgi_response(std::string_view output);

}  // namespace berth::functions
