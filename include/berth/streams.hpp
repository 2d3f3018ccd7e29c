// Long streams are pull-based readers with timeouts and stop_token cancellation.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

#include "berth/error.hpp"
#include "berth/status.hpp"

namespace berth {

enum class LogStream { stdout_stream, stderr_stream };
std::string_view to_string(LogStream stream);
std::optional<LogStream> parse_log_stream(std::string_view text);

struct LogChunk {
  LogStream stream = LogStream::stdout_stream;
  TimePoint time;
  std::string bytes;
  bool partial = false;  // the line went on in the next chunk
  bool operator==(const LogChunk&) const = default;
};

struct LogOptions {
  bool follow = false;
  std::optional<std::size_t> tail;  // last N lines
  std::optional<TimePoint> since;
  std::optional<TimePoint> until;
  bool include_stdout = true;
  bool include_stderr = true;
  bool operator==(const LogOptions&) const = default;
};

// next() returns a chunk, std::nullopt at the end of the stream (not following and all read,
// or following and the workload has exited and all was read), or an error: timeout when
// nothing came in time (call again), unavailable when the stop_token was triggered.
class LogReader {
 public:
  virtual ~LogReader() = default;
  virtual Result<std::optional<LogChunk>> next(std::chrono::milliseconds timeout,
                                               std::stop_token stop = {}) = 0;
};

// The types of the one event stream. A workload's: created, started, stopping (a stop was
// asked for), killed (a signal was sent), exited or oom (its processes ended; attributes
// exit_code, signal, reason), stopped (a stop finished), restarting (its restart policy starts
// it again), healthy, unhealthy, removed. A stack's (workload_id empty, workload_name the
// stack): stack_up, stack_ready, stack_failed, stack_down.
//
// Two more are never stored: a reader that follows a backend over a connection (berthd for
// RemoteRuntime::watch) makes them up itself. backend_disconnected: the connection was lost
// (attributes backend: where it was, reason); backend_reconnected: it is back and the stream goes
// on after the last event delivered (attributes backend, attempts: connects tried). Their workload_id is empty, their
// workload_name the backend's kind ("berthd"), and their seq the seq of the last stored event the
// reader delivered (its `since` before any): not a new seq, so a caller that resumes from the seq
// of the last event it got stays right.
namespace event_type {
inline constexpr std::string_view created = "created";
inline constexpr std::string_view started = "started";
inline constexpr std::string_view stopping = "stopping";
inline constexpr std::string_view killed = "killed";
inline constexpr std::string_view exited = "exited";
inline constexpr std::string_view oom = "oom";
inline constexpr std::string_view stopped = "stopped";
inline constexpr std::string_view restarting = "restarting";
inline constexpr std::string_view healthy = "healthy";
inline constexpr std::string_view unhealthy = "unhealthy";
inline constexpr std::string_view removed = "removed";
inline constexpr std::string_view stack_up = "stack_up";
inline constexpr std::string_view stack_ready = "stack_ready";
inline constexpr std::string_view stack_failed = "stack_failed";
inline constexpr std::string_view stack_down = "stack_down";
inline constexpr std::string_view backend_disconnected = "backend_disconnected";
inline constexpr std::string_view backend_reconnected = "backend_reconnected";

// backend_disconnected or backend_reconnected: made up by the reader, not in the store.
inline bool is_backend_event(std::string_view type) {
  return type == backend_disconnected || type == backend_reconnected;
}
}  // namespace event_type

struct Event {
  std::uint64_t seq = 0;  // strictly increasing, never reused (backend_* events repeat the last)
  TimePoint time;
  std::string workload_id;    // empty for a stack's events
  std::string workload_name;  // or the stack's name
  std::string type;           // one of event_type
  std::map<std::string, std::string> attributes;
  bool operator==(const Event&) const = default;
};

// Replays events with seq > since, then follows. A reader that reconnects with the last seq it
// saw resumes without gaps or duplicates. next() is as LogReader::next, except a following
// reader never ends on its own. A reader over a connection does that reconnecting itself: losing
// the backend is a backend_disconnected event, then it retries (after 100 ms, doubling up to 5 s)
// for as long as next() is called, and a backend_reconnected event comes before the events it
// missed, with no gap and no duplicate. The stop_token cancels the wait between retries too.
class EventReader {
 public:
  virtual ~EventReader() = default;
  virtual Result<std::optional<Event>> next(std::chrono::milliseconds timeout,
                                            std::stop_token stop = {}) = 0;
};

}  // namespace berth
