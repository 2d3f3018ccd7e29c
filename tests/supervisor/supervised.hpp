// A test fixture with a supervisor running over the fixture's runtime (quiet), stopped before
// the base fixture removes the workloads.
#pragma once

#include "supervisor/supervisor.hpp"

namespace berth::testing {

template <typename Base>
class Supervised : public Base {
 protected:
  void SetUp() override {
    Base::SetUp();
    supervisor::SupervisorOptions options;
    options.log = [](std::string_view) {};
    auto s = supervisor::Supervisor::start(*this->runtime_, options);
    ASSERT_TRUE(s) << s.error().message;
    supervisor_ = std::move(*s);
  }
  void TearDown() override {
    supervisor_.reset();
    Base::TearDown();
  }
  std::unique_ptr<supervisor::Supervisor> supervisor_;
};

}  // namespace berth::testing
