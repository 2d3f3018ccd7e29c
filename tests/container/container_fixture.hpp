// Containers from a real image: the busybox OCI layout is built once per test binary from
// Debian's busybox-static (scripts/make-busybox-image.sh) and imported into each test's fresh
// state root. Teardown (RuntimeTest) checks nothing of any container is left behind.
#pragma once

#include <cstdio>
#include <string>

#include "support/runtime_fixture.hpp"
#include "support/shell.hpp"

namespace berth::testing {

class ContainerTest : public RuntimeTest {
 public:
  static void SetUpTestSuite() {
    image_dir_ = make_temp_root() + "/busybox";
    auto out = shell(std::string(BERTH_SOURCE_DIR) + "/scripts/make-busybox-image.sh " + image_dir_ +
                     " latest 2>&1");
    ASSERT_TRUE(path_exists(image_dir_ + "/index.json")) << out;
  }
  static void TearDownTestSuite() {
    (void)remove_tree(image_dir_.substr(0, image_dir_.rfind('/')));
  }

 protected:
  void SetUp() override {
    RuntimeTest::SetUp();
    ImageImportOptions options;
    options.reference = "busybox:latest";
    auto imported = runtime_->import_image(image_dir_, options);
    ASSERT_TRUE(imported) << imported.error().message;
  }

  static WorkloadSpec container_spec(std::vector<std::string> args, std::string name = {}) {
    WorkloadSpec spec;
    spec.kind = WorkloadKind::container;
    spec.image = "busybox";
    spec.name = std::move(name);
    spec.args = std::move(args);
    return spec;
  }

  // Runs the spec to its exit; its output (both streams) and exit code.
  std::pair<std::string, int> run_to_exit(const WorkloadSpec& spec) {
    auto h = run(spec);
    if (h.id.empty()) return {"", -1};
    auto exit = runtime_->wait(h.id, std::chrono::seconds(20));
    EXPECT_TRUE(exit) << exit.error().message;
    int code = exit && exit->exit_code ? *exit->exit_code : -1;
    return {all_output(h.id), code};
  }

  std::string sh(const std::string& script, WorkloadSpec spec = container_spec({})) {
    spec.args = {"sh", "-c", script};
    auto [out, code] = run_to_exit(spec);
    EXPECT_EQ(code, 0) << out;
    return out;
  }

  static inline std::string image_dir_;
};

}  // namespace berth::testing
