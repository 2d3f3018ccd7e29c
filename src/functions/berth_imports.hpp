// The `berth` import module a function guest may use: its module's key-value store and logging
// (the guest-side declarations are include/berth/guest/berth.h).
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "functions/kv_store.hpp"
#include "wasm/engine.hpp"

namespace berth::functions {

using LogSink = std::function<void(int level, std::string_view message)>;

std::vector<wasm::HostFunction> berth_imports(std::shared_ptr<KvStore> store, LogSink log);

// The default sink: "LEVEL: message" lines on stderr (a workload's log stream).
void log_to_stderr(int level, std::string_view message);

}  // namespace berth::functions
