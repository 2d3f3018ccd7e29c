// berth's interpreter engine: engine.hpp's CompiledModule and Instance over wabt's interpreter.
//
// Sharing and threads. A loaded module (InterpModule) is immutable: wabt's validated, compiled
// form of the code, shared by every instance on every thread. wabt keeps all runtime objects in a
// Store that is not thread-safe, so each instance normally lives in a Store of its own (the module
// is re-created there from the shared code), and instances on different threads share nothing.
// Instances that link to each other's exports (Imports::exports) must live in one Store: an
// instance whose imports name other interpreter instances joins their Store, and a LinkGroup puts
// instances in one Store from the start (e.g. every module of a spec-test script). Calls on
// instances of one Store are serialized by that Store's lock.
//
// Fuel counts wabt's compiled instructions (close to, but not exactly, the module's own
// instructions: blocks cost nothing, branches may carry a drop/keep). A call with fuel N that
// needs N instructions returns; with N - 1 it traps with fuel_exhausted.
#pragma once

#include "wasm/engine.hpp"

#include <cstdint>
#include <memory>
#include <span>

namespace berth::wasm::wabt_interp {
class Store;
}

namespace berth::wasm::interp {

// Instances instantiated into one group can link to each other's exports.
class LinkGroup {
 public:
  LinkGroup();
  const std::shared_ptr<wabt_interp::Store>& store() const { return store_; }

 private:
  std::shared_ptr<wabt_interp::Store> store_;
};

class InterpModule : public CompiledModule {
 public:
  // Instances in their own Store, or in the Store of the instances their imports link to.
  Result<std::unique_ptr<Instance>> instantiate(const Imports& imports, const InstanceLimits& limits) override = 0;
  // Instances in `group`'s Store; every linked export must come from the same group.
  virtual Result<std::unique_ptr<Instance>> instantiate_in(LinkGroup& group, const Imports& imports,
                                                           const InstanceLimits& limits) = 0;
};

// Reads and validates a binary module (WebAssembly 2.0 features). The error names the byte offset.
Result<std::unique_ptr<InterpModule>> load_module(std::span<const std::uint8_t> bytes);

}  // namespace berth::wasm::interp
