#include "state/log_file.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include <atomic>
#include <fmt/format.h>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "common/fs.hpp"
#include "common/time.hpp"
#include "support/tmpfs.hpp"

namespace berth::state {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr auto out = LogStream::stdout_stream;
constexpr auto err = LogStream::stderr_stream;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/berth-log-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { (void)remove_tree(path_); }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

TimePoint at(std::int64_t seconds) { return from_unix_nanos(seconds * 1'000'000'000); }

LogChunk chunk(LogStream stream, std::string bytes, bool partial = false, TimePoint time = at(1)) {
  return LogChunk{stream, time, std::move(bytes), partial};
}

LogChunk round_trip(const LogChunk& c) {
  std::string line = encode_log_line(c);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "a record is one line";
  auto decoded = decode_log_line(line);
  EXPECT_TRUE(decoded) << decoded.error().message;
  return decoded ? *decoded : LogChunk{};
}

void expect_same(const LogChunk& a, const LogChunk& b) {
  EXPECT_EQ(a.stream, b.stream);
  EXPECT_EQ(a.time, b.time);
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.partial, b.partial);
}

std::vector<LogChunk> read_all(LogReader& reader) {
  std::vector<LogChunk> chunks;
  for (;;) {
    auto next = reader.next(2s);
    EXPECT_TRUE(next) << next.error().message;
    if (!next || !*next) return chunks;
    chunks.push_back(std::move(**next));
  }
}

std::vector<LogChunk> read_file_with(const std::string& path, LogOptions options) {
  auto reader = open_log_reader(path, options, nullptr);
  EXPECT_TRUE(reader) << reader.error().message;
  if (!reader) return {};
  return read_all(**reader);
}

std::string joined(const std::vector<LogChunk>& chunks) {
  std::string s;
  for (const auto& c : chunks) s += c.bytes;
  return s;
}

void append_raw(const std::string& path, std::string_view data) {
  auto existing = read_file(path);
  ASSERT_TRUE(write_file(path, (existing ? *existing : std::string()) + std::string(data)));
}

// ---- encoding -------------------------------------------------------------------------------

TEST(LogEncode, ExactFormat) {
  LogChunk c{out, *parse_rfc3339("2026-11-22T17:40:26.123456789Z"), "hello\n", false};
  EXPECT_EQ(encode_log_line(c),
            "{\"stream\":\"stdout\",\"time\":\"2026-11-22T17:40:26.123456789Z\",\"log\":"
            "\"hello\\n\",\"partial\":false}\n");
  c.stream = err;
  c.partial = true;
  c.bytes = "\xff";
  EXPECT_EQ(encode_log_line(c),
            "{\"stream\":\"stderr\",\"time\":\"2026-11-22T17:40:26.123456789Z\",\"log_b64\":"
            "\"/w==\",\"partial\":true}\n");
}

TEST(LogEncode, RoundTripText) {
  for (auto c : {chunk(out, "hello\n"), chunk(err, "an error\n"), chunk(out, "", true),
                 chunk(out, "no newline", true, Clock::now())}) {
    expect_same(round_trip(c), c);
    EXPECT_NE(encode_log_line(c).find("\"log\":"), std::string::npos);
  }
}

TEST(LogEncode, RoundTripInvalidUtf8) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::string bytes :
       {all, std::string("\xff\xfe\n"), std::string("ok \xc3\x28 bad"), std::string("\xc0\xaf"),
        std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80"), std::string("cut \xe2\x82"),
        std::string("\x80"), std::string("\x80\x81"), std::string("\x80\x81\x82"),
        std::string("a\x80\x81\x82")}) {
    auto c = chunk(err, bytes);
    std::string line = encode_log_line(c);
    EXPECT_NE(line.find("\"log_b64\":"), std::string::npos) << line;
    EXPECT_EQ(line.find("\"log\":"), std::string::npos);
    expect_same(round_trip(c), c);
  }
}

TEST(LogEncode, RoundTripControlCharsQuotesBackslashesUnicode) {
  std::string bytes = "quote \" backslash \\ slash / tab \t cr \r nl \n bell \a nul ";
  bytes += '\0';
  bytes += " esc \x1b[31m del \x7f unicode \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xe2\x80\xa8\n";
  for (int i = 0; i < 0x20; ++i) bytes += static_cast<char>(i);
  auto c = chunk(out, bytes, false, Clock::now());
  std::string line = encode_log_line(c);
  EXPECT_NE(line.find("\"log\":"), std::string::npos) << "valid UTF-8 stays text";
  EXPECT_NE(line.find("\\u0000"), std::string::npos);
  EXPECT_NE(line.find("\\\""), std::string::npos);
  EXPECT_NE(line.find("\\\\"), std::string::npos);
  // Any JSON parser reads it.
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["log"].get<std::string>(), bytes);
  expect_same(round_trip(c), c);
}

TEST(LogDecode, ErrorsNameWhatIsWrong) {
  auto expect_error = [](std::string_view line, std::string_view what) {
    auto r = decode_log_line(line);
    ASSERT_FALSE(r) << line;
    EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
  };
  expect_error("{\"stream\":\"stdout\"", "not valid JSON");
  expect_error("[1,2]", "not a JSON object");
  expect_error("{\"time\":\"2026-11-22T17:40:26Z\",\"log\":\"x\"}", "\"stream\"");
  expect_error("{\"stream\":\"stdin\",\"time\":\"2026-11-22T17:40:26Z\",\"log\":\"x\"}", "stdin");
  expect_error("{\"stream\":7,\"time\":\"2026-11-22T17:40:26Z\",\"log\":\"x\"}", "\"stream\"");
  expect_error("{\"stream\":\"stdout\",\"time\":\"yesterday\",\"log\":\"x\"}", "yesterday");
  expect_error("{\"stream\":\"stdout\",\"time\":\"2026-11-22T17:40:26Z\"}", "log_b64");
  expect_error("{\"stream\":\"stdout\",\"time\":\"2026-11-22T17:40:26Z\",\"log\":3}", "\"log\"");
  expect_error("{\"stream\":\"stdout\",\"time\":\"2026-11-22T17:40:26Z\",\"log_b64\":\"!!\"}",
               "base64");
  expect_error(
      "{\"stream\":\"stdout\",\"time\":\"2026-11-22T17:40:26Z\",\"log\":\"x\",\"partial\":1}",
      "\"partial\"");
}

// ---- writer ---------------------------------------------------------------------------------

std::vector<LogChunk> records_of(const std::string& path) {
  return read_file_with(path, LogOptions{});
}

TEST(LogWriterTest, OneRecordPerLine) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  auto writer = LogWriter::open(path);
  ASSERT_TRUE(writer) << writer.error().message;
  ASSERT_TRUE(writer->feed(out, "one\ntwo\n", at(1)));
  ASSERT_TRUE(writer->feed(err, "oops\n", at(2)));
  ASSERT_TRUE(writer->feed(out, "\n", at(3)));
  auto records = records_of(path);
  ASSERT_EQ(records.size(), 4u);
  expect_same(records[0], chunk(out, "one\n", false, at(1)));
  expect_same(records[1], chunk(out, "two\n", false, at(1)));
  expect_same(records[2], chunk(err, "oops\n", false, at(2)));
  expect_same(records[3], chunk(out, "\n", false, at(3)));
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(LogWriterTest, LineSplitAcrossFeedsPerStream) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  auto writer = LogWriter::open(path);
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->feed(out, "hel", at(1)));
  ASSERT_TRUE(writer->feed(err, "warn", at(1)));
  ASSERT_TRUE(writer->feed(out, "lo wor", at(2)));
  EXPECT_TRUE(records_of(path).empty()) << "nothing until a line ends";
  ASSERT_TRUE(writer->feed(out, "ld\nnext", at(3)));
  ASSERT_TRUE(writer->feed(err, "ing\n", at(4)));
  auto records = records_of(path);
  ASSERT_EQ(records.size(), 2u);
  expect_same(records[0], chunk(out, "hello world\n", false, at(3)));
  expect_same(records[1], chunk(err, "warning\n", false, at(4)));
  ASSERT_TRUE(writer->finish(at(5)));
  records = records_of(path);
  ASSERT_EQ(records.size(), 3u);
  expect_same(records[2], chunk(out, "next", true, at(5)));
}

TEST(LogWriterTest, LongLineBecomesPartialRecords) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  auto writer = LogWriter::open(path);
  ASSERT_TRUE(writer);
  std::string line(40 * 1024, 'x');
  for (std::size_t i = 0; i < line.size(); i += 100) line[i] = static_cast<char>('a' + i % 26);
  // Fed in pieces, as the shim reads a pipe.
  for (std::size_t i = 0; i < line.size(); i += 4096)
    ASSERT_TRUE(writer->feed(out, std::string_view(line).substr(i, 4096), at(1)));
  auto records = records_of(path);
  ASSERT_EQ(records.size(), 2u);
  for (const auto& r : records) {
    EXPECT_TRUE(r.partial);
    EXPECT_EQ(r.bytes.size(), LogWriter::max_line);
  }
  ASSERT_TRUE(writer->finish(at(2)));
  records = records_of(path);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_TRUE(records[2].partial);
  EXPECT_EQ(records[2].bytes.size(), 8u * 1024);
  EXPECT_EQ(joined(records), line);

  // In one feed, with a newline: partial records, then the rest ends the line.
  TempDir dir2;
  auto path2 = dir2.file("log.jsonl");
  auto writer2 = LogWriter::open(path2);
  ASSERT_TRUE(writer2);
  ASSERT_TRUE(writer2->feed(err, line + "\nafter\n", at(1)));
  records = records_of(path2);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_TRUE(records[0].partial);
  EXPECT_TRUE(records[1].partial);
  EXPECT_FALSE(records[2].partial);
  EXPECT_EQ(records[2].bytes, line.substr(32 * 1024) + "\n");
  EXPECT_EQ(records[3].bytes, "after\n");
}

TEST(LogWriterTest, LongLineIsNotCutInsideAUtf8Character) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  auto writer = LogWriter::open(path);
  ASSERT_TRUE(writer);
  std::string line;
  while (line.size() < 20 * 1024) line += "\xe2\x82\xac";  // 3-byte euro signs
  ASSERT_TRUE(writer->feed(out, line, at(1)));
  ASSERT_TRUE(writer->finish(at(1)));
  auto raw = read_file(path);
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->find("log_b64"), std::string::npos) << "every record stays valid UTF-8";
  auto records = records_of(path);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_LE(records[0].bytes.size(), LogWriter::max_line);
  EXPECT_EQ(joined(records), line);
}

TEST(LogWriterTest, FinishFlushesBothStreams) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  auto writer = LogWriter::open(path);
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->feed(out, "done\nprompt> ", at(1)));
  ASSERT_TRUE(writer->feed(err, "\xff\xfe", at(1)));
  ASSERT_TRUE(writer->finish(at(2)));
  ASSERT_TRUE(writer->finish(at(3)));  // nothing left: writes nothing
  auto records = records_of(path);
  ASSERT_EQ(records.size(), 3u);
  expect_same(records[1], chunk(out, "prompt> ", true, at(2)));
  expect_same(records[2], chunk(err, "\xff\xfe", true, at(2)));
}

TEST(LogWriterTest, OpenErrorNamesPath) {
  auto writer = LogWriter::open("/nonexistent-dir/log.jsonl");
  ASSERT_FALSE(writer);
  EXPECT_EQ(writer.error().code, ErrorCode::not_found);
  EXPECT_NE(writer.error().message.find("/nonexistent-dir/log.jsonl"), std::string::npos);
}

// ---- reader ---------------------------------------------------------------------------------

// stdout "o<i>\n" at second i (even i) and stderr "e<i>\n" (odd i), i in [0, n).
std::string write_mixed(const TempDir& dir, int n) {
  auto path = dir.file("log.jsonl");
  auto writer = LogWriter::open(path);
  EXPECT_TRUE(writer);
  for (int i = 0; i < n; ++i) {
    if (i % 2 == 0) EXPECT_TRUE(writer->feed(out, fmt::format("o{}\n", i), at(i)));
    else EXPECT_TRUE(writer->feed(err, fmt::format("e{}\n", i), at(i)));
  }
  return path;
}

TEST(LogReaderTest, AllInFileOrder) {
  TempDir dir;
  auto path = write_mixed(dir, 6);
  EXPECT_EQ(joined(read_file_with(path, {})), "o0\ne1\no2\ne3\no4\ne5\n");
}

TEST(LogReaderTest, StreamFilter) {
  TempDir dir;
  auto path = write_mixed(dir, 6);
  EXPECT_EQ(joined(read_file_with(path, {.include_stderr = false})), "o0\no2\no4\n");
  EXPECT_EQ(joined(read_file_with(path, {.include_stdout = false})), "e1\ne3\ne5\n");
  EXPECT_EQ(joined(read_file_with(path, {.include_stdout = false, .include_stderr = false})), "");
}

TEST(LogReaderTest, SinceUntil) {
  TempDir dir;
  auto path = write_mixed(dir, 8);
  EXPECT_EQ(joined(read_file_with(path, {.since = at(3)})), "e3\no4\ne5\no6\ne7\n");
  EXPECT_EQ(joined(read_file_with(path, {.until = at(2)})), "o0\ne1\no2\n");
  EXPECT_EQ(joined(read_file_with(path, {.since = at(2), .until = at(4)})), "o2\ne3\no4\n");
  EXPECT_EQ(joined(read_file_with(path, {.since = at(2), .until = at(5), .include_stdout = false})),
            "e3\ne5\n");
}

TEST(LogReaderTest, TailAcrossManyBlocks) {
  TempDir dir;
  auto path = write_mixed(dir, 10000);  // ~900 KB: many 64 KiB blocks
  EXPECT_EQ(joined(read_file_with(path, {.tail = 3})), "e9997\no9998\ne9999\n");
  EXPECT_EQ(joined(read_file_with(path, {.tail = 3, .include_stderr = false})),
            "o9994\no9996\no9998\n");
  EXPECT_EQ(joined(read_file_with(path, {.tail = 2, .until = at(5000)})), "e4999\no5000\n");
  EXPECT_EQ(read_file_with(path, {.tail = 0}).size(), 0u);
  EXPECT_EQ(read_file_with(path, {.tail = 20000}).size(), 10000u);
  EXPECT_EQ(read_file_with(path, {.tail = 10000}).size(), 10000u);
  EXPECT_EQ(read_file_with(path, {.tail = 9999}).front().bytes, "e1\n");
  // Fast: the tail doesn't read 900 KB of JSON.
  auto started = steady::now();
  for (int i = 0; i < 100; ++i) read_file_with(path, {.tail = 3});
  EXPECT_LT(steady::now() - started, 1s);
}

TEST(LogReaderTest, TailCountsLinesNotChunks) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  auto writer = LogWriter::open(path);
  ASSERT_TRUE(writer);
  std::string long_line(40 * 1024, 'L');
  ASSERT_TRUE(writer->feed(out, "first\n", at(1)));
  ASSERT_TRUE(writer->feed(out, long_line + "\n", at(2)));  // 3 records, one line
  ASSERT_TRUE(writer->feed(err, "err\n", at(3)));
  ASSERT_TRUE(writer->feed(out, "last\n", at(4)));
  auto tail2 = read_file_with(path, {.tail = 2});
  ASSERT_EQ(tail2.size(), 2u);
  EXPECT_EQ(joined(tail2), "err\nlast\n");
  auto tail3 = read_file_with(path, {.tail = 3});
  ASSERT_EQ(tail3.size(), 5u);
  EXPECT_EQ(joined(tail3), long_line + "\nerr\nlast\n");
  auto tail2_stdout = read_file_with(path, {.tail = 2, .include_stderr = false});
  EXPECT_EQ(joined(tail2_stdout), long_line + "\nlast\n");

  // An unfinished last line counts as a line, as `tail -n` does.
  ASSERT_TRUE(writer->feed(out, "prompt> ", at(5)));
  ASSERT_TRUE(writer->finish(at(5)));
  EXPECT_EQ(joined(read_file_with(path, {.tail = 1})), "prompt> ");
  EXPECT_EQ(joined(read_file_with(path, {.tail = 2})), "last\nprompt> ");
}

TEST(LogReaderTest, MissingFileIsEmptyWhenNotFollowing) {
  TempDir dir;
  EXPECT_TRUE(read_file_with(dir.file("nope.jsonl"), {}).empty());
}

TEST(LogReaderTest, HalfWrittenRecordWaitsForItsNewline) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  std::string record = encode_log_line(chunk(out, "whole\n"));
  std::string half = record.substr(0, record.size() / 2);
  append_raw(path, record + half);
  auto reader = open_log_reader(path, {.tail = 5}, nullptr);
  ASSERT_TRUE(reader);
  EXPECT_EQ(joined(read_all(**reader)), "whole\n");
  append_raw(path, record.substr(half.size()));
  EXPECT_EQ(joined(read_file_with(path, {})), "whole\nwhole\n");
  EXPECT_EQ(joined(read_file_with(path, {.tail = 1})), "whole\n");
}

TEST(LogReaderTest, CorruptRecordIsAnErrorNamingFileThenReadingGoesOn) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  append_raw(path, encode_log_line(chunk(out, "a\n")) + "garbage\n" +
                       encode_log_line(chunk(out, "b\n")));
  auto reader = open_log_reader(path, {}, nullptr);
  ASSERT_TRUE(reader);
  auto first = (*reader)->next(1s);
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->bytes, "a\n");
  auto second = (*reader)->next(1s);
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find(path), std::string::npos) << second.error().message;
  EXPECT_NE(second.error().message.find("garbage"), std::string::npos);
  auto third = (*reader)->next(1s);
  ASSERT_TRUE(third && *third);
  EXPECT_EQ((*third)->bytes, "b\n");
}

// ---- following ------------------------------------------------------------------------------

TEST(LogFollow, DeliversEachLineWithin100msThenDrainsWhenFinished) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  auto writer = LogWriter::open(path);
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->feed(out, "before\n", Clock::now()));
  std::atomic<bool> finished = false;
  auto reader = open_log_reader(path, {.follow = true, .tail = 1}, [&] { return finished.load(); });
  ASSERT_TRUE(reader) << reader.error().message;

  constexpr int lines = 12;
  std::mutex mu;
  std::vector<steady::time_point> written(lines);
  std::jthread producer([&] {
    const std::chrono::milliseconds delays[] = {5ms, 80ms, 0ms, 130ms, 20ms, 200ms};
    for (int i = 0; i < lines; ++i) {
      std::this_thread::sleep_for(delays[i % 6]);
      {
        std::lock_guard lock(mu);
        written[static_cast<std::size_t>(i)] = steady::now();
      }
      ASSERT_TRUE(writer->feed(i % 2 ? err : out, fmt::format("line {}\n", i), Clock::now()));
    }
    // The tail of the output, then the workload exits.
    ASSERT_TRUE(writer->feed(out, "bye", Clock::now()));
    ASSERT_TRUE(writer->finish(Clock::now()));
    finished = true;
  });

  auto first = (*reader)->next(1s);
  ASSERT_TRUE(first && *first);
  EXPECT_EQ((*first)->bytes, "before\n");
  std::chrono::microseconds worst{0}, total{0};
  for (int i = 0; i < lines; ++i) {
    auto next = (*reader)->next(5s);
    auto got = steady::now();
    ASSERT_TRUE(next) << next.error().message;
    ASSERT_TRUE(*next);
    EXPECT_EQ((*next)->bytes, fmt::format("line {}\n", i));
    std::lock_guard lock(mu);
    auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
        got - written[static_cast<std::size_t>(i)]);
    worst = std::max(worst, latency);
    total += latency;
    EXPECT_LT(latency, 100ms) << "line " << i;
  }
  std::printf("follow latency: mean %.2f ms, worst %.2f ms over %d lines\n",
              static_cast<double>(total.count()) / lines / 1000.0,
              static_cast<double>(worst.count()) / 1000.0, lines);
  auto bye = (*reader)->next(5s);
  ASSERT_TRUE(bye && *bye);
  EXPECT_EQ((*bye)->bytes, "bye");
  EXPECT_TRUE((*bye)->partial);
  auto end = (*reader)->next(5s);
  ASSERT_TRUE(end) << end.error().message;
  EXPECT_FALSE(*end) << "ends once the workload finished and all was read";
}

TEST(LogFollow, FinishedDrainsWhatIsLeft) {
  TempDir dir;
  auto path = write_mixed(dir, 50);
  auto reader = open_log_reader(path, {.follow = true}, [] { return true; });
  ASSERT_TRUE(reader);
  EXPECT_EQ(read_all(**reader).size(), 50u);
}

TEST(LogFollow, TimeoutWhenIdle) {
  TempDir dir;
  auto path = write_mixed(dir, 2);
  auto reader = open_log_reader(path, {.follow = true}, [] { return false; });
  ASSERT_TRUE(reader);
  ASSERT_TRUE((*reader)->next(1s).value().has_value());
  ASSERT_TRUE((*reader)->next(1s).value().has_value());
  auto started = steady::now();
  auto idle = (*reader)->next(150ms);
  auto waited = steady::now() - started;
  ASSERT_FALSE(idle);
  EXPECT_EQ(idle.error().code, ErrorCode::timeout);
  EXPECT_GE(waited, 150ms);
  EXPECT_LT(waited, 400ms);
  // A timeout is not the end: the reader goes on.
  auto writer = LogWriter::open(path);
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->feed(out, "later\n", Clock::now()));
  auto later = (*reader)->next(1s);
  ASSERT_TRUE(later && *later);
  EXPECT_EQ((*later)->bytes, "later\n");
}

TEST(LogFollow, StopTokenCancels) {
  TempDir dir;
  auto path = write_mixed(dir, 1);
  auto reader = open_log_reader(path, {.follow = true}, [] { return false; });
  ASSERT_TRUE(reader);
  ASSERT_TRUE((*reader)->next(1s).value().has_value());
  std::stop_source stop;
  steady::time_point stopped_at;
  std::jthread stopper([&] {
    std::this_thread::sleep_for(100ms);
    stopped_at = steady::now();
    stop.request_stop();
  });
  auto r = (*reader)->next(10s, stop.get_token());
  auto returned = steady::now();
  stopper.join();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::unavailable);
  EXPECT_LT(returned - stopped_at, 80ms) << "the stop_token is checked at least every 50 ms";
  // Stopped before the call: returns at once.
  auto again = (*reader)->next(10s, stop.get_token());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::unavailable);
}

TEST(LogFollow, FileCreatedLater) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  std::atomic<bool> finished = false;
  auto reader = open_log_reader(path, {.follow = true, .tail = 10}, [&] { return finished.load(); });
  ASSERT_TRUE(reader) << reader.error().message;
  auto nothing = (*reader)->next(100ms);
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().code, ErrorCode::timeout);

  steady::time_point written;
  std::jthread producer([&] {
    std::this_thread::sleep_for(150ms);
    auto writer = LogWriter::open(path);
    ASSERT_TRUE(writer);
    written = steady::now();
    ASSERT_TRUE(writer->feed(out, "first\n", Clock::now()));
    std::this_thread::sleep_for(60ms);
    ASSERT_TRUE(writer->feed(err, "second\n", Clock::now()));
    finished = true;
  });
  auto first = (*reader)->next(5s);
  auto got = steady::now();
  ASSERT_TRUE(first && *first) << (first ? "end" : first.error().message);
  EXPECT_EQ((*first)->bytes, "first\n");
  EXPECT_LT(got - written, 100ms);
  auto second = (*reader)->next(5s);
  ASSERT_TRUE(second && *second);
  EXPECT_EQ((*second)->bytes, "second\n");
  producer.join();
  auto end = (*reader)->next(5s);
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);
}

TEST(LogFollow, FinishedBeforeTheFileExistsEnds) {
  TempDir dir;
  auto reader = open_log_reader(dir.file("never.jsonl"), {.follow = true}, [] { return true; });
  ASSERT_TRUE(reader);
  auto end = (*reader)->next(1s);
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);
}

TEST(LogFollow, EndsOncePastUntil) {
  TempDir dir;
  auto path = write_mixed(dir, 3);
  auto reader = open_log_reader(path, {.follow = true, .until = Clock::now() + 200ms},
                                [] { return false; });
  ASSERT_TRUE(reader);
  EXPECT_EQ(read_all(**reader).size(), 3u);
}

}  // namespace
}  // namespace berth::state

// ---- rotation and dropped records ------------------------------------------------------------

namespace berth::state {
namespace {

// "line <i>\n" padded to about 100 bytes, so a record is ~170 bytes.
std::string numbered_line(int i) {
  return fmt::format("line {:06} {}\n", i, std::string(86, 'x'));
}

int number_of(const LogChunk& c) { return std::stoi(c.bytes.substr(5, 6)); }

std::vector<std::string> log_files_in(const TempDir& dir) {
  std::vector<std::string> files;
  for (int i = 0; i < 20; ++i) {
    auto name = rotated_log_path(dir.file("log.jsonl"), i);
    if (path_exists(name)) files.push_back(name);
  }
  return files;
}

off_t size_of(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

TEST(LogRotation, KeepsAtMostMaxFileFilesOfAtMostMaxSize) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  LogConfig limits{.max_size_bytes = 4096, .max_file = 3};
  auto writer = LogWriter::open(path, limits);
  ASSERT_TRUE(writer) << writer.error().message;
  const int lines = 500;  // ~85 KB: far more than max_size * max_file
  for (int i = 0; i < lines; ++i) ASSERT_TRUE(writer->feed(out, numbered_line(i), at(i)));
  auto files = log_files_in(dir);
  ASSERT_EQ(files.size(), 3u);
  for (auto& f : files) {
    EXPECT_LE(size_of(f), 4096) << f;
    EXPECT_GT(size_of(f), 0) << f;
  }
  EXPECT_FALSE(path_exists(rotated_log_path(path, 3)));
  // The newest lines, oldest first, with no gap, ending with the last one written.
  auto records = records_of(path);
  ASSERT_GE(records.size(), 2u * 4096 / 200);
  for (std::size_t i = 1; i < records.size(); ++i)
    EXPECT_EQ(number_of(records[i]), number_of(records[i - 1]) + 1) << "at " << i;
  EXPECT_EQ(number_of(records.back()), lines - 1);
  // tail reaches back across files.
  auto tail = read_file_with(path, LogOptions{.tail = 40});
  ASSERT_EQ(tail.size(), 40u);
  EXPECT_EQ(number_of(tail.front()), lines - 40);
  EXPECT_EQ(number_of(tail.back()), lines - 1);
  EXPECT_EQ(writer->drops(), LogDrops{});
}

TEST(LogRotation, MaxFileOneStartsOver) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  auto writer = LogWriter::open(path, LogConfig{.max_size_bytes = 1000, .max_file = 1});
  ASSERT_TRUE(writer);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(writer->feed(out, numbered_line(i), at(i)));
  EXPECT_EQ(log_files_in(dir).size(), 1u);
  EXPECT_LE(size_of(path), 1000);
  auto records = records_of(path);
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(number_of(records.back()), 49);
}

TEST(LogRotation, ReopenedWriterGoesOnFromTheFilesSize) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  LogConfig limits{.max_size_bytes = 2000, .max_file = 2};
  {
    auto writer = LogWriter::open(path, limits);
    ASSERT_TRUE(writer);
    for (int i = 0; i < 8; ++i) ASSERT_TRUE(writer->feed(out, numbered_line(i), at(i)));
  }
  auto writer = LogWriter::open(path, limits);  // a restart appends
  ASSERT_TRUE(writer);
  for (int i = 8; i < 16; ++i) ASSERT_TRUE(writer->feed(out, numbered_line(i), at(i)));
  EXPECT_LE(size_of(path), 2000);
  EXPECT_TRUE(path_exists(rotated_log_path(path, 1)));
  auto records = records_of(path);
  EXPECT_EQ(number_of(records.back()), 15);
}

TEST(LogFollow, GoesOnAcrossRotations) {
  TempDir dir;
  auto path = dir.file("log.jsonl");
  auto writer = LogWriter::open(path, LogConfig{.max_size_bytes = 2048, .max_file = 3});
  ASSERT_TRUE(writer);
  ASSERT_TRUE(writer->feed(out, numbered_line(0), at(0)));
  std::atomic<bool> done = false;
  auto reader = open_log_reader(path, LogOptions{.follow = true}, [&] { return done.load(); });
  ASSERT_TRUE(reader) << reader.error().message;
  // Each line is read before the next is written, across many rotations: none lost.
  const int lines = 200;
  for (int i = 0; i < lines; ++i) {
    if (i > 0) {
      ASSERT_TRUE(writer->feed(out, numbered_line(i), at(i)));
    }
    auto next = (*reader)->next(5s);
    ASSERT_TRUE(next) << next.error().message;
    ASSERT_TRUE(*next);
    EXPECT_EQ(number_of(**next), i);
  }
  // Several rotations between reads: what is still kept comes in order, then the rest.
  for (int i = lines; i < lines + 30; ++i) ASSERT_TRUE(writer->feed(out, numbered_line(i), at(i)));
  done = true;
  int last = lines - 1;
  for (;;) {
    auto next = (*reader)->next(5s);
    ASSERT_TRUE(next) << next.error().message;
    if (!*next) break;
    EXPECT_GT(number_of(**next), last);
    last = number_of(**next);
  }
  EXPECT_EQ(last, lines + 29);
}

// A filesystem that fills up: a 1 MiB tmpfs of our own.
class SmallFilesystem : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    char tmpl[] = "/tmp/berth-full-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    tmpfs_.emplace(dir_, "1m");
    ASSERT_TRUE(tmpfs_->mounted()) << tmpfs_->error();
  }
  void TearDown() override {
    tmpfs_.reset();
    if (!dir_.empty()) ::rmdir(dir_.c_str());
  }
  std::string file(std::string_view name) const { return dir_ + "/" + std::string(name); }

  std::string dir_;
  std::optional<berth::testing::Tmpfs> tmpfs_;
};

TEST_F(SmallFilesystem, RecordsThatDoNotFitAreDroppedWholeAndCounted) {
  auto path = file("log.jsonl");
  // No rotation within reach, no headroom: the disk fills up first.
  auto writer = LogWriter::open(path, LogConfig{.max_size_bytes = 64 << 20, .max_file = 2}, 0);
  ASSERT_TRUE(writer) << writer.error().message;
  int errors = 0;
  const int lines = 10000;  // ~1.7 MB
  for (int i = 0; i < lines; ++i)
    if (!writer->feed(out, numbered_line(i), at(i))) ++errors;
  EXPECT_EQ(errors, 1) << "reported once, when writing starts failing";
  auto drops = writer->drops();
  EXPECT_GT(drops.lines, 0u);
  EXPECT_EQ(drops.bytes, drops.lines * numbered_line(0).size());
  EXPECT_EQ(read_log_drops(path), drops) << "what readers see";
  // Every record in the file is whole, and the kept ones plus the dropped ones are all.
  auto records = records_of(path);
  EXPECT_EQ(records.size() + drops.lines, static_cast<std::size_t>(lines));
  for (std::size_t i = 0; i < records.size(); ++i) ASSERT_EQ(number_of(records[i]), static_cast<int>(i));
  // Once there is room again, writing goes on (and counting stops).
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  ASSERT_TRUE(writer->feed(out, numbered_line(lines), at(lines)));
  EXPECT_EQ(read_log_drops(path), drops);
}

TEST_F(SmallFilesystem, RotationFreesTheSpaceOfTheOldestFile) {
  auto path = file("log.jsonl");
  // Three files of 200 KB and the headroom fit in 1 MiB; far more is written.
  auto writer = LogWriter::open(path, LogConfig{.max_size_bytes = 200 * 1024, .max_file = 3});
  ASSERT_TRUE(writer);
  for (int i = 0; i < 20000; ++i) ASSERT_TRUE(writer->feed(out, numbered_line(i), at(i)));
  EXPECT_EQ(writer->drops(), LogDrops{});
}

TEST_F(SmallFilesystem, TheLogLeavesItsHeadroomFree) {
  auto path = file("log.jsonl");
  auto writer = LogWriter::open(path, LogConfig{.max_size_bytes = 64 << 20, .max_file = 2});
  ASSERT_TRUE(writer);
  EXPECT_TRUE(path_exists(log_reserve_path(path)));
  int errors = 0;
  for (int i = 0; i < 10000; ++i)
    if (auto r = writer->feed(out, numbered_line(i), at(i)); !r) {
      ++errors;
      EXPECT_EQ(r.error().code, ErrorCode::limit_exceeded) << r.error().message;
    }
  EXPECT_EQ(errors, 1);
  EXPECT_GT(writer->drops().lines, 0u);
  // Checked every 64 KiB written: at most that much of the headroom is used.
  auto before = tmpfs_->free_bytes();
  EXPECT_GE(before, LogWriter::default_headroom - 64 * 1024 - 4096);
  // finish() gives the reserve back.
  ASSERT_TRUE(writer->finish(at(1)));
  EXPECT_FALSE(path_exists(log_reserve_path(path)));
  EXPECT_GE(tmpfs_->free_bytes(), before + LogWriter::reserve_size);
}

}  // namespace
}  // namespace berth::state
