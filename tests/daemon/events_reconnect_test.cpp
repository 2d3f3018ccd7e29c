// Event followers outlive berthd: killed with SIGKILL and started again on the same socket and
// root, a follower (RemoteRuntime::watch, `berth events`) is told backend_disconnected, then
// backend_reconnected, and gets every stored event exactly once in seq order.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "daemon_fixture.hpp"
#include "runtime/json.hpp"
#include "support/cli.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

// RemoteRuntime::watch read on its own thread until the follower goes.
class WatchFollower {
 public:
  explicit WatchFollower(std::unique_ptr<EventReader> reader)
      : thread_([this, reader = std::move(reader)](std::stop_token stop) {
          while (!stop.stop_requested()) {
            auto e = reader->next(200ms, stop);
            std::lock_guard lock(mutex_);
            if (!e) {
              if (e.error().code == ErrorCode::timeout) continue;
              if (!stop.stop_requested()) error_ = e.error().message;
              return;
            }
            if (!*e) return;
            events_.push_back(**e);
          }
        }) {}

  std::vector<Event> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::string error() {
    std::lock_guard lock(mutex_);
    return error_;
  }

 private:
  std::mutex mutex_;
  std::vector<Event> events_;
  std::string error_;
  std::jthread thread_;  // last: it stops and joins before what it fills goes
};

// `berth events` through berthd, printing into a file, killed when it goes.
class CliFollower {
 public:
  CliFollower(const std::string& root, const std::string& socket, const std::vector<std::string>& extra)
      : out_(root + "/follower" + std::to_string(++count_) + ".out") {
    std::vector<std::string> args{BERTH_CLI_PATH, "--root", root, "--host", "unix://" + socket, "events"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, (out_ + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (posix_spawn(&pid_, BERTH_CLI_PATH, &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~CliFollower() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  CliFollower(const CliFollower&) = delete;
  CliFollower& operator=(const CliFollower&) = delete;

  bool started() const { return pid_ > 0; }
  bool still_running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    std::istringstream text(read_file(out_).value_or(""));
    for (std::string line; std::getline(text, line);)
      if (!line.empty()) out.push_back(line);
    return out;
  }
  std::string errors() const { return read_file(out_ + ".err").value_or(""); }

 private:
  static inline int count_ = 0;
  std::string out_;
  pid_t pid_ = -1;
};

std::vector<Event> parse_event_lines(const std::vector<std::string>& lines) {
  std::vector<Event> out;
  for (auto& line : lines) {
    auto e = event_from_json(nlohmann::json::parse(line, nullptr, false));
    EXPECT_TRUE(e) << line;
    if (e) out.push_back(*e);
  }
  return out;
}

std::vector<Event> stored_only(const std::vector<Event>& events) {
  std::vector<Event> out;
  for (auto& e : events)
    if (!event_type::is_backend_event(e.type)) out.push_back(e);
  return out;
}

// Exactly one backend_disconnected, then one backend_reconnected, each carrying the seq of the
// stored event before it.
void expect_one_reconnect(const std::vector<Event>& events, const std::string& who) {
  std::vector<std::size_t> down, up;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].type == event_type::backend_disconnected) down.push_back(i);
    if (events[i].type == event_type::backend_reconnected) up.push_back(i);
  }
  ASSERT_EQ(down.size(), 1u) << who;
  ASSERT_EQ(up.size(), 1u) << who;
  EXPECT_LT(down[0], up[0]) << who;
  EXPECT_TRUE(events[down[0]].attributes.contains("reason")) << who;
  EXPECT_TRUE(events[up[0]].attributes.contains("attempts")) << who;
  for (auto i : {down[0], up[0]}) {
    std::uint64_t before = 0;
    for (std::size_t j = 0; j < i; ++j)
      if (!event_type::is_backend_event(events[j].type)) before = events[j].seq;
    EXPECT_EQ(events[i].seq, before) << who << ": " << events[i].type;
    EXPECT_TRUE(events[i].workload_id.empty()) << who;
  }
}

// The same stored events, in the same order, as the reference.
void expect_same_events(const std::vector<Event>& got, const std::vector<Event>& reference, const std::string& who) {
  ASSERT_EQ(got.size(), reference.size()) << who;
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].seq, reference[i].seq) << who << " at " << i;
    EXPECT_EQ(got[i].type, reference[i].type) << who << " at " << i;
    EXPECT_EQ(got[i].workload_id, reference[i].workload_id) << who << " at " << i;
  }
}

TEST_F(DaemonTest, EventFollowersGetEveryEventOnceAcrossABerthdRestart) {
  run(process_spec({"/bin/true"}, "before"));
  auto reader = remote_->watch(0);
  ASSERT_TRUE(reader) << reader.error().message;
  WatchFollower watcher(std::move(*reader));
  CliFollower cli_json(root_, socket_, {"--format", "json"});
  CliFollower cli_text(root_, socket_, {});
  ASSERT_TRUE(cli_json.started() && cli_text.started());
  ASSERT_TRUE(eventually([&] { return remote_->status("before")->state == WorkloadState::exited; }));
  // Each follower is following (it has the replay) before berthd goes.
  ASSERT_TRUE(eventually([&] {
    return watcher.events().size() >= 3 && cli_json.lines().size() >= 3 && cli_text.lines().size() >= 3;
  })) << cli_json.errors() << cli_text.errors();

  EXPECT_TRUE(WIFSIGNALED(stop_daemon(SIGKILL)));
  run(process_spec({"/bin/true"}, "while-down"));  // straight into the store: nobody serves it
  ASSERT_TRUE(eventually([&] { return runtime_->status("while-down")->state == WorkloadState::exited; }));
  start_daemon();
  ASSERT_NE(remote_, nullptr);
  ASSERT_TRUE(remote_->create(process_spec({"/bin/true"}, "after")));
  ASSERT_TRUE(remote_->start("after"));
  ASSERT_TRUE(eventually([&] { return remote_->status("after")->state == WorkloadState::exited; }));

  // The reference: what the store holds, printed through berthd without following.
  auto listed = run_cli(root_, {"--host", "unix://" + socket_, "events", "--since", "0", "--no-follow", "--format",
                                "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  std::vector<std::string> lines;
  std::istringstream text(listed.out);
  for (std::string line; std::getline(text, line);) lines.push_back(line);
  auto reference = parse_event_lines(lines);
  ASSERT_GE(reference.size(), 9u) << "created, started and exited for each of three";
  for (std::size_t i = 0; i < reference.size(); ++i) EXPECT_EQ(reference[i].seq, i + 1) << "a gap at " << i;

  auto all_arrived = [&](std::size_t count) { return count >= reference.size() + 2; };
  ASSERT_TRUE(eventually([&] { return all_arrived(watcher.events().size()); }, 20s))
      << watcher.events().size() << " " << watcher.error();
  ASSERT_TRUE(eventually([&] { return all_arrived(cli_json.lines().size()); }, 20s)) << cli_json.errors();
  ASSERT_TRUE(eventually([&] { return all_arrived(cli_text.lines().size()); }, 20s)) << cli_text.errors();
  std::this_thread::sleep_for(300ms);  // room for a duplicate to show, were there one

  auto watched = watcher.events();
  EXPECT_EQ(watcher.error(), "");
  expect_one_reconnect(watched, "watch");
  expect_same_events(stored_only(watched), reference, "watch");

  auto printed = parse_event_lines(cli_json.lines());
  expect_one_reconnect(printed, "berth events --format json");
  expect_same_events(stored_only(printed), reference, "berth events --format json");

  // Text: one line an event, the two made-up ones among them; the follower is still going.
  auto text_lines = cli_text.lines();
  EXPECT_EQ(text_lines.size(), reference.size() + 2);
  int down = 0, up = 0;
  for (auto& line : text_lines) {
    down += line.find(" backend_disconnected berthd ") != std::string::npos;
    up += line.find(" backend_reconnected berthd ") != std::string::npos;
  }
  EXPECT_EQ(down, 1);
  EXPECT_EQ(up, 1);
  EXPECT_TRUE(cli_json.still_running()) << cli_json.errors();
  EXPECT_TRUE(cli_text.still_running()) << cli_text.errors();
}

TEST_F(DaemonTest, CancellingAWatchWhileBerthdIsDownReturnsPromptly) {
  auto reader = remote_->watch(remote_->last_event_seq().value_or(0));
  ASSERT_TRUE(reader) << reader.error().message;
  stop_daemon(SIGKILL);
  std::optional<Event> lost;
  ASSERT_TRUE(eventually([&] {
    auto e = (*reader)->next(100ms);
    if (e && *e) lost = **e;
    return lost.has_value();
  }));
  EXPECT_EQ(lost->type, event_type::backend_disconnected);
  // Nothing answers: next() keeps retrying and says so by timing out...
  auto waited = (*reader)->next(300ms);
  ASSERT_FALSE(waited);
  EXPECT_EQ(waited.error().code, ErrorCode::timeout) << waited.error().message;
  // ...and a long wait ends as soon as it is cancelled.
  std::stop_source cancel;
  std::jthread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancel.request_stop();
  });
  auto began = std::chrono::steady_clock::now();
  auto cancelled = (*reader)->next(30s, cancel.get_token());
  auto took = std::chrono::steady_clock::now() - began;
  ASSERT_FALSE(cancelled);
  EXPECT_EQ(cancelled.error().code, ErrorCode::unavailable) << cancelled.error().message;
  EXPECT_LT(took, 2s);
}

TEST_F(DaemonTest, EventsNoFollowStillFailsWhenBerthdIsGone) {
  run(process_spec({"/bin/true"}, "one"));
  ASSERT_TRUE(eventually([&] { return remote_->status("one")->state == WorkloadState::exited; }));
  auto listed = run_cli(root_, {"--host", "unix://" + socket_, "events", "--no-follow"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out.find("backend_"), std::string::npos) << listed.out;
  stop_daemon(SIGKILL);
  auto gone = run_cli(root_, {"--host", "unix://" + socket_, "events", "--no-follow"});
  EXPECT_NE(gone.exit_code, 0) << gone.out;
  EXPECT_NE(gone.err.find("nothing answers"), std::string::npos) << gone.err;
}

}  // namespace
}  // namespace berth::testing
