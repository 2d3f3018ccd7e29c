// Stacks against real workloads: dependency order gated on health (asserted with the times the
// store recorded), parallel starts, references, idempotent up, rollback, down in reverse order.
#include <gtest/gtest.h>

#include <thread>

#include "support/cli.hpp"
#include "support/runtime_fixture.hpp"
#include "supervisor/stack_runner.hpp"
#include "supervised.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class StackTest : public Supervised<RuntimeTest> {
 protected:
  stack::StackFile parse(const std::string& text) {
    auto file = stack::parse_stack(text, root_ + "/berth.toml", {{"GREETING", "hello"}});
    EXPECT_TRUE(file) << file.error().message;
    return file ? *file : stack::StackFile{};
  }

  std::optional<TimePoint> event_time(const std::string& name, std::string_view type) {
    auto reader = runtime_->watch(0);
    if (!reader) return std::nullopt;
    for (;;) {
      auto e = (*reader)->next(50ms);
      if (!e || !*e) return std::nullopt;
      if ((*e)->workload_name == name && (*e)->type == type) return (*e)->time;
    }
  }

  std::vector<std::string> event_names(std::string_view type) {
    std::vector<std::string> out;
    auto reader = runtime_->watch(0);
    for (;;) {
      auto e = (*reader)->next(50ms);
      if (!e || !*e) return out;
      if ((*e)->type == type) out.push_back((*e)->workload_name);
    }
  }

};

TEST_F(StackTest, DependentsStartOnlyOnceTheirDependenciesAreHealthy) {
  std::string flag = root_ + "/db-ready";
  auto file = parse(R"(
[stack]
name = "shop"
[workloads.db]
command = "sleep 0.6; touch )" + flag + R"(; exec sleep 100"
health = { type = "exec", command = ["/bin/test", "-f", ")" + flag + R"("], interval = "100ms", retries = 3, start_period = "5s" }
[workloads.cache]
command = ["/bin/sleep", "100"]
[workloads.web]
command = ["/bin/sh", "-c", "echo $DB $GREET; exec sleep 100"]
env = { DB = "${workloads.db.name}", GREET = "${env.GREETING}" }
depends_on = ["cache"]
)");
  auto up = stack::stack_up(*supervisor_, file);
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->created.size(), 3u);

  auto db_healthy = event_time("shop-db", "healthy");
  auto web_started = event_time("shop-web", "started");
  auto db_started = event_time("shop-db", "started");
  auto cache_started = event_time("shop-cache", "started");
  ASSERT_TRUE(db_healthy && web_started && db_started && cache_started);
  EXPECT_GE(*web_started, *db_healthy);      // gated on health
  EXPECT_LT(*cache_started, *db_healthy);    // independent: did not wait for db
  EXPECT_GE(*db_healthy - *db_started, 500ms);
  ASSERT_TRUE(eventually([&] { return all_output("shop-web") == "shop-db hello\n"; })) << all_output("shop-web");

  auto members = stack::stack_workloads(*runtime_, "shop");
  ASSERT_TRUE(members);
  ASSERT_EQ(members->size(), 3u);
  EXPECT_EQ(members->back().status.name, "shop-web");  // start order: dependents last

  // Up again: nothing changes.
  auto again = stack::stack_up(*supervisor_, file);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->unchanged.size(), 3u);
  EXPECT_TRUE(again->created.empty());

  auto down = stack::stack_down(*runtime_, "shop", 2s);
  ASSERT_TRUE(down) << down.error().message;
  ASSERT_EQ(down->removed.size(), 3u);
  EXPECT_EQ(down->removed[0].name, "shop-web");  // dependents first
  EXPECT_EQ(runtime_->list()->size(), 0u);
  auto none = stack::stack_down(*runtime_, "shop");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::not_found);
}

TEST_F(StackTest, AFailedUpNamesTheWorkloadAndRollsBack) {
  auto file = parse(R"(
[stack]
name = "broken"
start_timeout = "1500ms"
[workloads.base]
command = ["/bin/sleep", "100"]
[workloads.never]
command = ["/bin/sleep", "100"]
depends_on = ["base"]
health = { type = "tcp", target = "1", interval = "100ms", retries = 100 }
[workloads.after]
command = ["/bin/sleep", "100"]
depends_on = ["never"]
)");
  auto up = stack::stack_up(*supervisor_, file);
  ASSERT_FALSE(up);
  EXPECT_EQ(up.error().code, ErrorCode::timeout) << up.error().message;
  const auto& message = up.error().message;
  EXPECT_NE(message.find("stack broken: workload never: broken-never did not become healthy within 1500 ms"),
            std::string::npos) << message;
  EXPECT_NE(message.find("Connection refused"), std::string::npos) << message;
  EXPECT_NE(message.find("rolled back"), std::string::npos) << message;
  EXPECT_EQ(runtime_->list()->size(), 0u);  // base and never removed, after never created
  EXPECT_TRUE(event_names("started") == (std::vector<std::string>{"broken-base", "broken-never"}));
  EXPECT_EQ(event_names("stack_failed"), std::vector<std::string>{"broken"});
}

TEST_F(StackTest, AWorkloadThatCannotStartFailsTheUp) {
  auto file = parse(R"(
[stack]
name = "typo"
rollback = false
[workloads.app]
command = ["/no/such/program"]
)");
  auto up = stack::stack_up(*supervisor_, file);
  ASSERT_FALSE(up);
  EXPECT_NE(up.error().message.find("workload app"), std::string::npos) << up.error().message;
  EXPECT_NE(up.error().message.find("/no/such/program"), std::string::npos) << up.error().message;
  EXPECT_EQ(runtime_->list()->size(), 1u);  // rollback = false: left for a look
}

// berthd killed during `up -d` leaves the stack half made: its record says what up set out to
// run and that it did not finish, so `stack ls` shows it incomplete until an up completes it.
TEST_F(StackTest, AnUpCutShortIsIncompleteUntilAnUpFinishes) {
  std::string text = R"(
[stack]
name = "half"
rollback = false
start_timeout = "60s"
[workloads.base]
command = ["/bin/sleep", "100"]
[workloads.slow]
command = ["/bin/sleep", "100"]
depends_on = ["base"]
)";
  auto never_healthy = parse(text + R"(health = { type = "tcp", target = "1", interval = "100ms", retries = 1000 }
)");
  std::stop_source cut;
  std::optional<Result<stack::UpReport>> result;
  std::jthread up([&] { result = stack::stack_up(*supervisor_, never_healthy, cut.get_token()); });
  ASSERT_TRUE(eventually([&] {
    auto s = runtime_->status("half-slow");
    return s && is_active(s->state);
  }));
  cut.request_stop();  // as far as the stack can tell, berthd died here
  up.join();
  ASSERT_TRUE(result && !*result);

  auto records = runtime_->stack_records();
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].name, "half");
  EXPECT_EQ((*records)[0].workloads, (std::vector<std::string>{"base", "slow"}));
  EXPECT_FALSE((*records)[0].complete);
  auto ls = run_cli(root_, {"stack", "ls"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("incomplete"), std::string::npos) << ls.out;

  auto fixed = parse(text);
  auto again = stack::stack_up(*supervisor_, fixed);
  ASSERT_TRUE(again) << again.error().message;
  records = runtime_->stack_records();
  ASSERT_TRUE(records && records->size() == 1u);
  EXPECT_TRUE((*records)[0].complete);
  ls = run_cli(root_, {"stack", "ls", "--format", "json"});
  EXPECT_NE(ls.out.find("\"complete\": true"), std::string::npos) << ls.out;

  ASSERT_TRUE(stack::stack_down(*runtime_, "half", 0ms));
  records = runtime_->stack_records();
  ASSERT_TRUE(records);
  EXPECT_TRUE(records->empty());
}

TEST_F(StackTest, AStackCutShortBeforeItMadeAnythingIsListedAndTakenDown) {
  ASSERT_TRUE(runtime_->record_stack(StackRecord{"ghost", {"a"}, false}));
  auto names = stack::stack_names(*runtime_);
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, std::vector<std::string>{"ghost"});
  auto down = stack::stack_down(*runtime_, "ghost");
  ASSERT_TRUE(down) << down.error().message;
  EXPECT_TRUE(down->removed.empty());
  EXPECT_TRUE(runtime_->stack_records()->empty());
  auto again = stack::stack_down(*runtime_, "ghost");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::not_found);
}

}  // namespace
}  // namespace berth::testing
