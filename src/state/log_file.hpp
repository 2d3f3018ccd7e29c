// The workload log file: one JSON object per line, appended by the shim, read by `logs`.
//   {"stream":"stdout","time":"2026-11-22T17:40:26.123456789Z","log":"hello\n","partial":false}
// "log" holds the bytes when they are valid UTF-8; otherwise "log_b64" holds them in base64,
// so any bytes round-trip exactly. partial=true: the line goes on in the next record of the
// stream (flushed at 16 KiB without a newline, or at EOF).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "berth/error.hpp"
#include "berth/streams.hpp"
#include "common/fd.hpp"

namespace berth::state {

// The record for one chunk: a JSON object and the trailing '\n'.
std::string encode_log_line(const LogChunk& chunk);
// Parses one record (with or without its '\n'). The error names what is wrong with it.
Result<LogChunk> decode_log_line(std::string_view line);

// Splits what a stream produces into lines and appends one record per line, each with a
// single write() so readers never see half a record. Not thread-safe: one writer (the shim).
class LogWriter {
 public:
  // A record holds at most this many bytes; a longer line becomes partial records.
  static constexpr std::size_t max_line = 16 * 1024;

  // Opens or creates `path` for appending (mode 0640).
  static Result<LogWriter> open(const std::string& path);

  // Appends one record per complete line (the line with its '\n'); keeps an unfinished line
  // per stream, flushing it as partial records once it exceeds max_line. Returns the first
  // write error (the bytes are consumed regardless).
  Result<void> feed(LogStream stream, std::string_view bytes, TimePoint now);
  // Flushes unfinished lines as partial records (at EOF).
  Result<void> finish(TimePoint now);

 private:
  LogWriter(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Result<void> emit(LogStream stream, std::string_view bytes, bool partial, TimePoint now);

  UniqueFd fd_;
  std::string path_;
  std::string tails_[2];  // unfinished line per stream
  std::string record_;    // reused for every record
};

// Reads records in file order with LogOptions' filters; see LogReader for next()'s contract.
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
