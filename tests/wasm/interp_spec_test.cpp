// The WebAssembly spec test suite on the interpreter engine (wabt's interpreter behind berth's
// engine seam), the same runner as the AOT engine's.
#include <gtest/gtest.h>

#include "wasm/interp/interp_engine.hpp"
#include "wasm/spec_runner.hpp"

namespace berth::wasm::interp {
namespace {

TEST(InterpSpec, TestSuite) {
  spec::ModuleFactory factory = [](std::span<const std::uint8_t> bytes) -> Result<std::shared_ptr<CompiledModule>> {
    auto module = load_module(bytes);
    if (!module) return std::unexpected(module.error());
    return std::shared_ptr<CompiledModule>(std::move(*module));
  };
  spec::SuiteOptions suite;
  suite.engine = "interp";
  // Files that cannot pass on this engine, and why. Any other failure is a regression.
  suite.expected = {
      {"elem.wast", {5, "host externref values (the runner's ref.extern N) are not objects of the instance's wabt "
                        "Store, and the engine refuses references from outside its store"}},
      {"ref_is_null.wast", {2, "host externref values, as in elem.wast"}},
      {"imports.wast", {3, "a module importing from two instances made in different wabt Stores: the engine "
                           "links only instances of one store (a LinkGroup), and the generic runner makes each "
                           "registered instance on its own"}},
  };
  spec::run_suite(factory, suite);
}

}  // namespace
}  // namespace berth::wasm::interp
