// The state store: workloads and their event log in SQLite (WAL) under the state root.
// Safe for many processes at once (CLI invocations, shims, the daemon): every write is one
// short IMMEDIATE transaction with a busy timeout.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "berth/error.hpp"
#include "berth/status.hpp"
#include "berth/streams.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace berth::state {

// One workload row. spec_json is the spec as serialized by the runtime (opaque here).
struct WorkloadRecord {
  std::string id;
  std::string name;
  WorkloadKind kind = WorkloadKind::process;
  std::string spec_json;
  WorkloadState state = WorkloadState::created;
  std::optional<int> pid;
  std::optional<int> shim_pid;
  std::optional<std::uint64_t> shim_start_time;  // /proc/PID/stat starttime, against pid reuse
  std::optional<int> exit_code;
  std::optional<int> exit_signal;
  bool oom_killed = false;
  std::string reason;
  TimePoint created_at;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
  int restart_count = 0;
  std::string health_json = "[]";  // the supervisor's last probe results (opaque here)
  bool stopped_by_user = false;    // a stop was asked for since the last start
};

// What an update changes, applied only if the row's state is one of `expected_states`
// (empty: any). Unset optionals leave columns alone; clear_exit resets exit fields.
struct WorkloadUpdate {
  std::vector<WorkloadState> expected_states;
  std::optional<WorkloadState> state;
  std::optional<std::optional<int>> pid;
  std::optional<std::optional<int>> shim_pid;
  std::optional<std::optional<std::uint64_t>> shim_start_time;
  std::optional<std::optional<int>> exit_code;
  std::optional<std::optional<int>> exit_signal;
  std::optional<bool> oom_killed;
  std::optional<std::string> reason;
  std::optional<std::optional<TimePoint>> started_at;
  std::optional<std::optional<TimePoint>> finished_at;
  std::optional<int> restart_count;
  std::optional<std::string> health_json;
  std::optional<bool> stopped_by_user;
};

struct NewEvent {
  std::string type;
  std::map<std::string, std::string> attributes;
};

class Store {
 public:
  // Opens (creating if needed) <root>/state.db; sets WAL, busy timeout, schema.
  static Result<std::unique_ptr<Store>> open(const std::string& root);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Inserts the row and its "create" event in one transaction. conflict if the name or id exists.
  Result<void> insert(const WorkloadRecord& record, const NewEvent& event);
  // Applies `update` and appends `event` (if given) in one transaction. Returns false (and
  // appends nothing) when the row's state was not one of update.expected_states;
  // not_found when the row does not exist.
  Result<bool> update(const std::string& id, const WorkloadUpdate& update,
                      const std::optional<NewEvent>& event);
  // Deletes the row and appends `event` in one transaction; not_found if missing.
  Result<void> erase(const std::string& id, const NewEvent& event);

  // An event about something other than one workload's row (a stack going up or down, or a
  // workload already removed). Returns its seq.
  Result<std::uint64_t> append_event(const std::string& subject_id, const std::string& subject_name,
                                     const NewEvent& event);

  // For the store's other tables (state/network_store.cpp): `body` runs with this connection's
  // handle inside one IMMEDIATE transaction, committed when it succeeds (write), or as plain
  // reads. A raw SQLite failure becomes an error through sqlite_error (which also lets busy
  // databases be retried).
  Result<void> write(std::string_view what, const std::function<Result<void>(sqlite3*)>& body);
  Result<void> read(std::string_view what, const std::function<Result<void>(sqlite3*)>& body);
  Error sqlite_error(int rc, std::string_view what);

  Result<WorkloadRecord> get(const std::string& id);
  // Resolves a name, a full id or a unique id prefix; not_found / conflict (ambiguous prefix).
  Result<WorkloadRecord> find(const std::string& ref);
  Result<std::vector<WorkloadRecord>> all();

  // Events with seq > since, oldest first, at most `limit`.
  Result<std::vector<Event>> events_after(std::uint64_t since, std::size_t limit = 1000);
  Result<std::uint64_t> last_seq();

 private:
  struct Ops;  // the implementation's helpers (store.cpp)
  static constexpr std::size_t statement_slots = 16;

  explicit Store(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::string path_;  // <root>/state.db, for error messages
  // One transaction at a time on this connection, and the statements and last_rc_ with it.
  std::mutex mutex_;
  std::array<sqlite3_stmt*, statement_slots> statements_{};  // prepared on first use, reused
  int last_rc_ = 0;  // SQLite result code of the last failure (busy ones are retried)
};

}  // namespace berth::state
