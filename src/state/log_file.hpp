// The workload log file: one JSON object per line, appended by the shim, read by `logs`.
//   {"stream":"stdout","time":"2026-11-22T17:40:26.123456789Z","log":"hello\n","partial":false}
// "log" holds the bytes when they are valid UTF-8; otherwise "log_b64" holds them in base64,
// so any bytes round-trip exactly. partial=true: the line goes on in the next record of the
// stream (flushed at 16 KiB without a newline, or at EOF).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "berth/error.hpp"
#include "berth/spec.hpp"
#include "berth/streams.hpp"
#include "common/fd.hpp"

namespace berth::state {

// The record for one chunk: a JSON object and the trailing '\n'.
std::string encode_log_line(const LogChunk& chunk);
// Parses one record (with or without its '\n'). The error names what is wrong with it.
Result<LogChunk> decode_log_line(std::string_view line);

// What the writer could not write (a full disk, an I/O error): records dropped and the bytes
// of output they held. Kept in <log>.dropped so readers see it; see read_log_drops.
struct LogDrops {
  std::uint64_t lines = 0;
  std::uint64_t bytes = 0;
  bool operator==(const LogDrops&) const = default;
};

// The files of one log, oldest first: <log>.N ... <log>.1, then <log> (when they exist).
std::string rotated_log_path(const std::string& path, int index);
std::string log_drops_path(const std::string& path);
std::string log_reserve_path(const std::string& path);
// The drops recorded next to the log at `path`; zero when there is no record of any.
LogDrops read_log_drops(const std::string& path);
// Removes the log at `path` and the files that go with it (rotated ones, drops, reserve),
// as far as it can: removing the workload directory afterwards reports what is left.
void remove_log_files(const std::string& path);

// Splits what a stream produces into lines and appends one record per line, each with a
// single write() so readers never see half a record. Not thread-safe: one writer (the shim).
// Rotation (Docker's json-file max-size/max-file): before a record would take the file past
// limits.max_size_bytes, <log>.N-1 becomes <log>.N ... <log> becomes <log>.1 (the oldest
// beyond max_file goes) and a new <log> starts. A record that cannot be written (ENOSPC) is
// dropped whole (a short write is cut back off) and counted in <log>.dropped, which is
// created and sized at open so counting needs no new space. A log never takes the last
// `headroom` bytes of its filesystem (checked every 64 KiB written, and every 100 ms while
// short): what is left is for the state store, so berth still works when a workload floods
// its log. Records dropped for that are counted too. The writer also holds
// <log>.reserve (64 KiB) until finish(): given back then, it is room for the shim to record
// the workload's exit even when the log has filled the disk.
class LogWriter {
 public:
  // A record holds at most this many bytes; a longer line becomes partial records.
  static constexpr std::size_t max_line = 16 * 1024;
  static constexpr off_t reserve_size = 64 * 1024;

  static constexpr std::uint64_t default_headroom = 256 * 1024;

  // Opens or creates `path` for appending (mode 0600). headroom 0: write until ENOSPC.
  static Result<LogWriter> open(const std::string& path, LogConfig limits = {},
                                std::uint64_t headroom = default_headroom);

  // Appends one record per complete line (the line with its '\n'); keeps an unfinished line
  // per stream, flushing it as partial records once it exceeds max_line. The bytes are
  // consumed regardless; a record that cannot be written is counted in drops(). Returns an
  // error when writing starts failing (not again while it keeps failing).
  Result<void> feed(LogStream stream, std::string_view bytes, TimePoint now);
  // Flushes unfinished lines as partial records (at EOF) and removes <log>.reserve.
  Result<void> finish(TimePoint now);

  const LogDrops& drops() const { return drops_; }

 private:
  LogWriter(UniqueFd fd, std::string path, LogConfig limits, std::uint64_t headroom)
      : fd_(std::move(fd)), path_(std::move(path)), limits_(limits), headroom_(headroom) {}
  bool has_room();
  Result<void> emit(LogStream stream, std::string_view bytes, bool partial, TimePoint now);
  Result<void> write_record();
  Result<void> rotate();
  void count_drop(std::size_t bytes);

  UniqueFd fd_;
  std::string path_;
  LogConfig limits_;
  std::int64_t size_ = 0;  // of the current file
  std::uint64_t headroom_;
  std::uint64_t unchecked_bytes_ = UINT64_MAX;  // written since free space was last looked at
  bool short_of_room_ = false;
  std::chrono::steady_clock::time_point next_check_;
  UniqueFd drops_fd_;      // <log>.dropped, rewritten in place
  LogDrops drops_;
  bool failing_ = false;  // the last record could not be written
  bool rotate_failing_ = false;
  std::optional<Error> rotate_error_;  // to report with the next record
  std::string tails_[2];  // unfinished line per stream
  std::string record_;    // reused for every record
};

// Reads records in file order with LogOptions' filters; see LogReader for next()'s contract.
//  - The rotated files come first, oldest first, then `path`. A following reader that reaches
//    the end of `path` after it was rotated finishes the old file and goes on with the new.
//  - tail N: the last N lines of the records that pass the filters, found by scanning the file
//    backwards. A line ends at a non-partial record; a stream's trailing partial record (a line
//    still unfinished) counts as a line too, as with `tail -n` on a file without a final '\n'.
//  - since/until: records with since <= time <= until.
//  - A file that doesn't exist is empty; a following reader waits for it to be created.
//  - Following: at the end of the file, waits (inotify) for more. `finished` tells that the
//    workload has exited: the reader then drains what is left and ends. It also ends once the
//    clock is past `until`. A record not yet completely written is not returned until it is.
Result<std::unique_ptr<LogReader>> open_log_reader(std::string path, LogOptions options,
                                                   std::function<bool()> finished);

}  // namespace berth::state
