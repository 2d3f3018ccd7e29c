// Log rotation through the shim (Docker's max-size/max-file): what is kept, what `logs` shows,
// and following across rotations.
#include <sys/stat.h>

#include <fmt/format.h>

#include "support/runtime_fixture.hpp"

namespace berth::testing {
namespace {

using namespace std::chrono_literals;

class LogRotation : public RuntimeTest {
 protected:
  // "line 000001 xxxx...\n" (100 bytes) for i in [1, n], `pause` after every 50 lines.
  static WorkloadSpec numbered_lines(const std::string& name, int n, const std::string& pause,
                                     LogConfig log) {
    std::string script = fmt::format(
        "i=1; while [ $i -le {} ]; do printf 'line %06d %s\\n' $i {}; "
        "[ $((i % 50)) -eq 0 ] && sleep {}; i=$((i + 1)); done",
        n, std::string(87, 'x'), pause);
    auto spec = process_spec({"sh", "-c", script}, name);
    spec.log = log;
    return spec;
  }

  static int number_of(const std::string& line) { return std::stoi(line.substr(5, 6)); }

  std::string log_path(const std::string& name) {
    auto status = runtime_->status(name);
    return root_ + "/workloads/" + (status ? status->id : "?") + "/log.jsonl";
  }
};

TEST_F(LogRotation, KeepsAtMostMaxFileFilesAndLogsShowsTheNewestInOrder) {
  const LogConfig log{.max_size_bytes = 16 * 1024, .max_file = 3};
  const int lines = 2000;  // ~340 KB of records: far more than 3 x 16 KiB
  run(numbered_lines("rotating", lines, "0", log));
  auto exit = runtime_->wait("rotating", 30s);
  ASSERT_TRUE(exit) << exit.error().message;
  ASSERT_EQ(exit->exit_code, 0);

  auto path = log_path("rotating");
  int files = 0;
  for (int i = 0; i < 10; ++i) {
    std::string name = i == 0 ? path : fmt::format("{}.{}", path, i);
    struct stat st;
    if (::stat(name.c_str(), &st) != 0) continue;
    ++files;
    EXPECT_LE(st.st_size, log.max_size_bytes) << name;
  }
  EXPECT_EQ(files, log.max_file);

  auto reader = runtime_->logs("rotating", {});
  ASSERT_TRUE(reader) << reader.error().message;
  std::vector<int> seen;
  while (auto c = (*reader)->next(2s)) {
    if (!*c) break;
    seen.push_back(number_of((*c)->bytes));
  }
  // Records are ~176 bytes: ~93 a file, so two full files and some of the third are kept.
  ASSERT_GT(seen.size(), 150u) << "more than one file's worth";
  EXPECT_LT(seen.size(), static_cast<std::size_t>(lines));
  EXPECT_EQ(seen.back(), lines);
  for (std::size_t i = 1; i < seen.size(); ++i) ASSERT_EQ(seen[i], seen[i - 1] + 1) << "gap at " << i;

  // --tail reaches back across the files.
  reader = runtime_->logs("rotating", {.tail = 150});
  ASSERT_TRUE(reader);
  seen.clear();
  while (auto c = (*reader)->next(2s)) {
    if (!*c) break;
    seen.push_back(number_of((*c)->bytes));
  }
  ASSERT_EQ(seen.size(), 150u);
  EXPECT_EQ(seen.front(), lines - 149);
  EXPECT_EQ(seen.back(), lines);
  auto status = runtime_->status("rotating");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->log_dropped_lines, 0u);
}

TEST_F(LogRotation, FollowGoesOnAcrossRotations) {
  // Paced so a follower keeps up; the files rotate every ~40 lines.
  const int lines = 1000;
  run(numbered_lines("followed", lines, "0.1", LogConfig{.max_size_bytes = 8 * 1024, .max_file = 4}));
  auto reader = runtime_->logs("followed", {.follow = true});
  ASSERT_TRUE(reader) << reader.error().message;
  std::vector<int> seen;
  for (;;) {
    auto c = (*reader)->next(10s);
    ASSERT_TRUE(c) << c.error().message;
    if (!*c) break;
    seen.push_back(number_of((*c)->bytes));
  }
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), lines) << "followed to the end, through ~25 rotations";
  for (std::size_t i = 1; i < seen.size(); ++i) ASSERT_GT(seen[i], seen[i - 1]) << "at " << i;
  EXPECT_GT(seen.size(), static_cast<std::size_t>(lines) * 9 / 10) << "it kept up";
}

}  // namespace
}  // namespace berth::testing
