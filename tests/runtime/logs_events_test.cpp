// Logs through the shim (follow, tail, streams) and the event log (watch resumes exactly).
#include <set>

#include "support/runtime_fixture.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class LogsAndEvents : public RuntimeTest {};

TEST_F(LogsAndEvents, FollowSeesNewLinesPromptlyAndEndsWithTheWorkload) {
  run(process_spec({"sh", "-c", "for i in 1 2 3 4; do echo line$i; sleep 0.3; done; echo bye >&2"},
                   "talker"));
  auto reader = runtime_->logs("talker", {.follow = true});
  ASSERT_TRUE(reader) << reader.error().message;
  std::vector<std::string> lines;
  std::chrono::nanoseconds worst{0};
  for (;;) {
    auto chunk = (*reader)->next(5s);
    ASSERT_TRUE(chunk) << chunk.error().message;
    if (!*chunk) break;
    // The shim stamps each line when it reads it; we see it within 100 ms of that.
    auto delay = Clock::now() - (*chunk)->time;
    worst = std::max(worst, std::chrono::duration_cast<std::chrono::nanoseconds>(delay));
    lines.push_back((*chunk)->bytes);
    EXPECT_EQ((*chunk)->stream,
              (*chunk)->bytes == "bye\n" ? LogStream::stderr_stream : LogStream::stdout_stream);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"line1\n", "line2\n", "line3\n", "line4\n", "bye\n"}));
  EXPECT_LT(worst, 100ms) << "slowest line took " << worst.count() / 1000000 << " ms";
}

TEST_F(LogsAndEvents, TailAndStreamFilter) {
  run(process_spec({"sh", "-c", "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; done"}, "mixed"));
  ASSERT_TRUE(runtime_->wait("mixed", 5s));
  LogOptions options;
  options.tail = 2;
  options.include_stderr = false;
  auto reader = runtime_->logs("mixed", options);
  ASSERT_TRUE(reader);
  std::vector<std::string> lines;
  while (auto c = (*reader)->next(1s)) {
    if (!*c) break;
    lines.push_back((*c)->bytes);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"out4\n", "out5\n"}));
}

TEST_F(LogsAndEvents, PartialLastLineIsFlagged) {
  run(process_spec({"printf", "no newline"}, "partial"));
  ASSERT_TRUE(runtime_->wait("partial", 5s));
  auto reader = runtime_->logs("partial", {});
  auto c = (*reader)->next(1s);
  ASSERT_TRUE(c && *c);
  EXPECT_EQ((*c)->bytes, "no newline");
  EXPECT_TRUE((*c)->partial);
}

TEST_F(LogsAndEvents, WatchReplaysThenFollowsAndResumesWithoutGapsOrDuplicates) {
  auto h = run(process_spec({"true"}, "first"));
  ASSERT_TRUE(runtime_->wait("first", 5s));
  auto reader = runtime_->watch(0);
  ASSERT_TRUE(reader);
  std::vector<Event> seen;
  for (int i = 0; i < 2; ++i) {
    auto e = (*reader)->next(2s);
    ASSERT_TRUE(e && *e);
    seen.push_back(**e);
  }
  EXPECT_EQ(seen[0].type, "created");
  EXPECT_EQ(seen[1].type, "started");
  reader->reset();  // disconnect; more happens meanwhile
  run(process_spec({"true"}, "second"));
  ASSERT_TRUE(runtime_->wait("second", 5s));
  ASSERT_TRUE(runtime_->remove("first"));
  auto resumed = runtime_->watch(seen.back().seq);
  ASSERT_TRUE(resumed);
  std::thread late([&] {
    std::this_thread::sleep_for(200ms);
    (void)runtime_->remove("second");
  });
  for (;;) {
    auto e = (*resumed)->next(2s);
    if (!e) break;  // timeout: nothing more
    seen.push_back(**e);
    if ((*e)->type == "removed" && (*e)->workload_name == "second") break;
  }
  late.join();
  std::vector<std::string> types;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    EXPECT_EQ(seen[i].seq, seen[0].seq + i) << "gap or duplicate at " << i;
    types.push_back(seen[i].workload_name + ":" + seen[i].type);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"first:created", "first:started", "first:exited",
                                             "second:created", "second:started", "second:exited",
                                             "first:removed", "second:removed"}));
}

TEST_F(LogsAndEvents, WatchIsCancelledByItsStopToken) {
  auto reader = runtime_->watch(1000000);
  ASSERT_TRUE(reader);
  std::stop_source stop;
  stop.request_stop();
  auto e = (*reader)->next(5s, stop.get_token());
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code, ErrorCode::unavailable);
}

}  // namespace
}  // namespace berth::testing
