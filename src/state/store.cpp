// The state store on SQLite: one connection per Store, WAL, one IMMEDIATE transaction per write.
#include "state/store.hpp"

#include <dirent.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>
#include <utility>

#include "common/fs.hpp"

namespace berth::state {

namespace {

using namespace std::chrono_literals;

constexpr int schema_version = 3;
// How long a write waits for another process's transaction (SQLite's busy handler), and the
// bound on retrying the SQLITE_BUSY cases that handler does not cover.
constexpr auto busy_timeout = 10000ms;

// Version 1. Events have no foreign key: they outlive the rows they describe.
constexpr const char* schema_v1 = R"sql(
CREATE TABLE IF NOT EXISTS workloads (
  id TEXT PRIMARY KEY,
  name TEXT UNIQUE NOT NULL,
  kind TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  state TEXT NOT NULL,
  pid INTEGER,
  shim_pid INTEGER,
  shim_start_time INTEGER,
  exit_code INTEGER,
  exit_signal INTEGER,
  oom_killed INTEGER NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  restart_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ns INTEGER NOT NULL,
  workload_id TEXT NOT NULL,
  workload_name TEXT NOT NULL,
  type TEXT NOT NULL,
  attributes_json TEXT NOT NULL DEFAULT '{}'
);
PRAGMA user_version = 1;
)sql";

// Version 2: what the supervisor keeps with a workload. health_json is the last probe results
// (opaque here); stopped_by_user marks a stop asked for, which restart policies respect.
constexpr const char* schema_v2 = R"sql(
ALTER TABLE workloads ADD COLUMN health_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE workloads ADD COLUMN stopped_by_user INTEGER NOT NULL DEFAULT 0;
PRAGMA user_version = 2;
)sql";

// Version 3: networks and the addresses handed out on them (state/network_store.cpp). An
// address is an IPv4 address as a number; (network, address) is unique, so one is never
// handed out twice.
constexpr const char* schema_v3 = R"sql(
CREATE TABLE IF NOT EXISTS networks (
  name TEXT PRIMARY KEY,
  id TEXT UNIQUE NOT NULL,
  subnet TEXT UNIQUE NOT NULL,
  gateway TEXT NOT NULL,
  bridge TEXT UNIQUE NOT NULL,
  created_at INTEGER NOT NULL,
  labels_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS addresses (
  network TEXT NOT NULL,
  address INTEGER NOT NULL,
  workload_id TEXT NOT NULL,
  PRIMARY KEY (network, address)
);
CREATE INDEX IF NOT EXISTS addresses_by_workload ON addresses (workload_id);
PRAGMA user_version = 3;
)sql";

#define BERTH_WORKLOAD_COLUMNS                                                                \
  "id, name, kind, spec_json, state, pid, shim_pid, shim_start_time, exit_code, exit_signal, " \
  "oom_killed, reason, created_at, started_at, finished_at, restart_count, health_json, "      \
  "stopped_by_user"

enum Statement : std::size_t {
  begin_immediate,
  commit,
  rollback,
  insert_workload,
  select_name_state,
  update_workload,
  delete_workload,
  insert_event,
  select_by_id,
  select_by_ref,
  select_all,
  select_events_after,
  select_last_seq,
  statement_count,
};

constexpr std::array<const char*, statement_count> statement_sql{
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "INSERT INTO workloads (" BERTH_WORKLOAD_COLUMNS
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
    "SELECT name, state FROM workloads WHERE id = ?1",
    // One statement for every update: each column changes only when its flag is set.
    "UPDATE workloads SET"
    " state = iif(?2, ?3, state),"
    " pid = iif(?4, ?5, pid),"
    " shim_pid = iif(?6, ?7, shim_pid),"
    " shim_start_time = iif(?8, ?9, shim_start_time),"
    " exit_code = iif(?10, ?11, exit_code),"
    " exit_signal = iif(?12, ?13, exit_signal),"
    " oom_killed = iif(?14, ?15, oom_killed),"
    " reason = iif(?16, ?17, reason),"
    " started_at = iif(?18, ?19, started_at),"
    " finished_at = iif(?20, ?21, finished_at),"
    " restart_count = iif(?22, ?23, restart_count),"
    " health_json = iif(?24, ?25, health_json),"
    " stopped_by_user = iif(?26, ?27, stopped_by_user)"
    " WHERE id = ?1",
    "DELETE FROM workloads WHERE id = ?1",
    "INSERT INTO events (time_ns, workload_id, workload_name, type, attributes_json)"
    " VALUES (?1, ?2, ?3, ?4, ?5)",
    "SELECT " BERTH_WORKLOAD_COLUMNS " FROM workloads WHERE id = ?1",
    // Exact name first, then exact id, then ids in [prefix, prefix + 0xFF): the id prefixes.
    "SELECT " BERTH_WORKLOAD_COLUMNS
    ", CASE WHEN name = ?1 THEN 0 WHEN id = ?1 THEN 1 ELSE 2 END AS rank"
    " FROM workloads WHERE name = ?1 OR id = ?1 OR (id >= ?1 AND id < ?2)"
    " ORDER BY rank LIMIT 2",
    "SELECT " BERTH_WORKLOAD_COLUMNS " FROM workloads ORDER BY created_at, name",
    "SELECT seq, time_ns, workload_id, workload_name, type, attributes_json FROM events"
    " WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    // The highest seq ever handed out, even if that event is gone.
    "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
};

#undef BERTH_WORKLOAD_COLUMNS

// The columns of BERTH_WORKLOAD_COLUMNS, by position.
enum WorkloadColumn : int {
  col_id,
  col_name,
  col_kind,
  col_spec_json,
  col_state,
  col_pid,
  col_shim_pid,
  col_shim_start_time,
  col_exit_code,
  col_exit_signal,
  col_oom_killed,
  col_reason,
  col_created_at,
  col_started_at,
  col_finished_at,
  col_restart_count,
  col_health_json,
  col_stopped_by_user,
  workload_column_count,
};

// Stored times are Unix nanoseconds.
std::int64_t unix_nanos(TimePoint time) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch()).count();
}

TimePoint time_of_unix_nanos(std::int64_t nanos) {
  return TimePoint(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(nanos)));
}

bool is_busy(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

ErrorCode code_for_sqlite(int rc, int sys_errno) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorCode::unavailable;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return ErrorCode::permission_denied;
    case SQLITE_FULL:
      return ErrorCode::limit_exceeded;
    case SQLITE_CONSTRAINT:
      return ErrorCode::conflict;
    case SQLITE_CANTOPEN:
      return sys_errno == EACCES || sys_errno == EPERM ? ErrorCode::permission_denied
                                                       : ErrorCode::unavailable;
    default:
      return ErrorCode::internal;
  }
}

// Resets a cached statement (ending its read, if any) and drops its bindings on scope exit.
class StatementUse {
 public:
  explicit StatementUse(sqlite3_stmt* statement) : statement_(statement) {}
  ~StatementUse() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }
  StatementUse(const StatementUse&) = delete;
  StatementUse& operator=(const StatementUse&) = delete;

  sqlite3_stmt* get() const { return statement_; }

  // Binding: the first failure is kept in rc() and checked before stepping.
  void bind(int index, std::string_view text) {
    keep(sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()),
                           SQLITE_TRANSIENT));
  }
  void bind(int index, std::int64_t value) { keep(sqlite3_bind_int64(statement_, index, value)); }
  void bind_null(int index) { keep(sqlite3_bind_null(statement_, index)); }
  void bind(int index, const std::optional<int>& value) {
    if (value) bind(index, static_cast<std::int64_t>(*value));
    else bind_null(index);
  }
  void bind(int index, const std::optional<std::uint64_t>& value) {
    if (value) bind(index, static_cast<std::int64_t>(*value));
    else bind_null(index);
  }
  void bind(int index, const std::optional<TimePoint>& value) {
    if (value) bind(index, unix_nanos(*value));
    else bind_null(index);
  }
  int rc() const { return rc_; }

 private:
  void keep(int rc) {
    if (rc_ == SQLITE_OK) rc_ = rc;
  }
  sqlite3_stmt* statement_;
  int rc_ = SQLITE_OK;
};

std::string column_text(sqlite3_stmt* statement, int column) {
  auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, column));
  if (!text) return {};
  return std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(statement, column)));
}

std::optional<std::int64_t> column_optional(sqlite3_stmt* statement, int column) {
  if (sqlite3_column_type(statement, column) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(statement, column);
}

std::optional<int> column_optional_int(sqlite3_stmt* statement, int column) {
  auto value = column_optional(statement, column);
  if (!value) return std::nullopt;
  return static_cast<int>(*value);
}

std::optional<TimePoint> column_optional_time(sqlite3_stmt* statement, int column) {
  auto value = column_optional(statement, column);
  if (!value) return std::nullopt;
  return time_of_unix_nanos(*value);
}

std::string attributes_to_json(const std::map<std::string, std::string>& attributes) {
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [key, value] : attributes) object[key] = value;
  // Invalid UTF-8 is replaced rather than thrown about.
  return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Entries in a root's workloads directory (0 when there is none).
std::size_t workload_dir_count(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  std::size_t count = 0;
  while (auto* entry = ::readdir(d))
    if (std::string_view name = entry->d_name; name != "." && name != "..") ++count;
  ::closedir(d);
  return count;
}

}  // namespace

struct Store::Ops {
  static Error db_error(Store& store, int rc, std::string_view what) {
    store.last_rc_ = rc;
    const char* message = store.db_ ? sqlite3_errmsg(store.db_) : sqlite3_errstr(rc);
    int sys_errno = store.db_ ? sqlite3_system_errno(store.db_) : 0;
    return Error{code_for_sqlite(rc, sys_errno),
                 fmt::format("state store {}: {}: {}", store.path_, what, message)};
  }

  static Result<sqlite3_stmt*> statement(Store& store, Statement which) {
    static_assert(statement_count <= statement_slots);
    sqlite3_stmt*& slot = store.statements_[which];
    if (slot) return slot;
    int rc = sqlite3_prepare_v3(store.db_, statement_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                                &slot, nullptr);
    if (rc != SQLITE_OK) {
      slot = nullptr;
      return std::unexpected(db_error(store, rc, "prepare statement"));
    }
    return slot;
  }

  // Steps a statement that returns no rows (or whose rows are ignored).
  static Result<void> run(Store& store, StatementUse& use, std::string_view what) {
    if (use.rc() != SQLITE_OK) return std::unexpected(db_error(store, use.rc(), what));
    int rc;
    while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) return std::unexpected(db_error(store, rc, what));
    return {};
  }

  // Steps once: true with a row, false when done.
  static Result<bool> step(Store& store, StatementUse& use, std::string_view what) {
    if (use.rc() != SQLITE_OK) return std::unexpected(db_error(store, use.rc(), what));
    int rc = sqlite3_step(use.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return std::unexpected(db_error(store, rc, what));
  }

  static Result<void> run_cached(Store& store, Statement which, std::string_view what) {
    auto statement = Ops::statement(store, which);
    if (!statement) return std::unexpected(statement.error());
    StatementUse use(*statement);
    return run(store, use, what);
  }

  // Runs SQL text once (at open): pragmas and the schema. Returns the first column of the
  // last row, if any.
  static Result<std::string> exec(Store& store, std::string_view sql, std::string_view what) {
    std::string result;
    const char* tail = sql.data();
    const char* end = sql.data() + sql.size();
    while (tail < end) {
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v2(store.db_, tail, static_cast<int>(end - tail), &raw, &tail);
      if (rc != SQLITE_OK) return std::unexpected(db_error(store, rc, what));
      if (!raw) break;  // only whitespace or comments left
      std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> owned(raw, &sqlite3_finalize);
      while ((rc = sqlite3_step(raw)) == SQLITE_ROW) result = column_text(raw, 0);
      if (rc != SQLITE_DONE) return std::unexpected(db_error(store, rc, what));
    }
    return result;
  }

  // Runs `body` again while it fails with SQLITE_BUSY/LOCKED, for at most busy_timeout. SQLite's
  // busy handler already waits inside most calls; this covers the cases it does not (WAL
  // recovery, a concurrent journal-mode change). The caller holds store.mutex_.
  template <typename Body>
  static auto with_retry(Store& store, Body&& body) -> decltype(body()) {
    auto deadline = std::chrono::steady_clock::now() + busy_timeout;
    auto pause = 1ms;
    for (;;) {
      store.last_rc_ = SQLITE_OK;
      auto result = body();
      if (result || !is_busy(store.last_rc_) || std::chrono::steady_clock::now() >= deadline)
        return result;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
  }

  // One write: BEGIN IMMEDIATE, body, COMMIT; rolled back when the body or COMMIT fails.
  // Returns what the body returned (a body may return a value that still commits).
  template <typename Body>
  static auto transaction(Store& store, std::string_view what, Body&& body) -> decltype(body()) {
    std::lock_guard lock(store.mutex_);
    return with_retry(store, [&]() -> decltype(body()) {
      if (auto r = run_cached(store, begin_immediate, what); !r) {
        rollback_if_open(store);
        return std::unexpected(r.error());
      }
      auto result = body();
      if (!result) {
        rollback_if_open(store);
        return result;
      }
      if (auto r = run_cached(store, commit, what); !r) {
        rollback_if_open(store);
        return std::unexpected(r.error());
      }
      return result;
    });
  }

  // Reads outside an explicit transaction: each statement is its own consistent snapshot.
  template <typename Body>
  static auto read(Store& store, Body&& body) -> decltype(body()) {
    std::lock_guard lock(store.mutex_);
    return with_retry(store, body);
  }

  static void rollback_if_open(Store& store) {
    if (sqlite3_get_autocommit(store.db_)) return;  // nothing open (or SQLite rolled back)
    int kept = store.last_rc_;
    (void)run_cached(store, rollback, "rollback");
    store.last_rc_ = kept;
  }

  static Result<void> append_event(Store& store, const std::string& workload_id,
                                   const std::string& workload_name, const NewEvent& event) {
    auto statement = Ops::statement(store, insert_event);
    if (!statement) return std::unexpected(statement.error());
    StatementUse use(*statement);
    use.bind(1, unix_nanos(Clock::now()));
    use.bind(2, workload_id);
    use.bind(3, workload_name);
    use.bind(4, event.type);
    use.bind(5, attributes_to_json(event.attributes));
    return run(store, use, fmt::format("append event \"{}\" of workload {}", event.type,
                                       workload_name));
  }

  static Result<WorkloadRecord> record_of(Store& store, sqlite3_stmt* row) {
    WorkloadRecord r;
    r.id = column_text(row, col_id);
    r.name = column_text(row, col_name);
    auto kind_text = column_text(row, col_kind);
    auto kind = parse_workload_kind(kind_text);
    if (!kind)
      return fail(ErrorCode::internal,
                  fmt::format("state store {}: workload {}: unknown kind \"{}\"", store.path_,
                              r.id, kind_text));
    r.kind = *kind;
    r.spec_json = column_text(row, col_spec_json);
    auto state_text = column_text(row, col_state);
    auto state = parse_workload_state(state_text);
    if (!state)
      return fail(ErrorCode::internal,
                  fmt::format("state store {}: workload {}: unknown state \"{}\"", store.path_,
                              r.id, state_text));
    r.state = *state;
    r.pid = column_optional_int(row, col_pid);
    r.shim_pid = column_optional_int(row, col_shim_pid);
    if (auto v = column_optional(row, col_shim_start_time))
      r.shim_start_time = static_cast<std::uint64_t>(*v);
    r.exit_code = column_optional_int(row, col_exit_code);
    r.exit_signal = column_optional_int(row, col_exit_signal);
    r.oom_killed = sqlite3_column_int64(row, col_oom_killed) != 0;
    r.reason = column_text(row, col_reason);
    r.created_at = time_of_unix_nanos(sqlite3_column_int64(row, col_created_at));
    r.started_at = column_optional_time(row, col_started_at);
    r.finished_at = column_optional_time(row, col_finished_at);
    r.restart_count = static_cast<int>(sqlite3_column_int64(row, col_restart_count));
    r.health_json = column_text(row, col_health_json);
    r.stopped_by_user = sqlite3_column_int64(row, col_stopped_by_user) != 0;
    return r;
  }

  static Result<Event> event_of(Store& store, sqlite3_stmt* row) {
    Event e;
    e.seq = static_cast<std::uint64_t>(sqlite3_column_int64(row, 0));
    e.time = time_of_unix_nanos(sqlite3_column_int64(row, 1));
    e.workload_id = column_text(row, 2);
    e.workload_name = column_text(row, 3);
    e.type = column_text(row, 4);
    auto json = nlohmann::json::parse(column_text(row, 5), nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object())
      return fail(ErrorCode::internal,
                  fmt::format("state store {}: event {}: attributes are not a JSON object",
                              store.path_, e.seq));
    for (const auto& [key, value] : json.items()) {
      e.attributes[key] =
          value.is_string()
              ? value.get_ref<const std::string&>()
              : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    return e;
  }

  // The row's name and state, inside a write transaction; not_found when it is missing.
  static Result<std::pair<std::string, WorkloadState>> name_and_state(Store& store,
                                                                      const std::string& id) {
    auto statement = Ops::statement(store, select_name_state);
    if (!statement) return std::unexpected(statement.error());
    StatementUse use(*statement);
    use.bind(1, id);
    auto row = step(store, use, fmt::format("look up workload {}", id));
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::not_found, fmt::format("no workload with id \"{}\"", id));
    std::string name = column_text(use.get(), 0);
    auto state_text = column_text(use.get(), 1);
    auto state = parse_workload_state(state_text);
    if (!state)
      return fail(ErrorCode::internal,
                  fmt::format("state store {}: workload {}: unknown state \"{}\"", store.path_,
                              id, state_text));
    return std::pair{std::move(name), *state};
  }

  static Result<void> apply_update(Store& store, const std::string& id,
                                   const WorkloadUpdate& u) {
    auto statement = Ops::statement(store, update_workload);
    if (!statement) return std::unexpected(statement.error());
    StatementUse use(*statement);
    use.bind(1, id);
    // Each column: ?flag then ?value. An unset flag leaves the column alone.
    int index = 2;
    auto flag = [&](bool set) { use.bind(index++, static_cast<std::int64_t>(set ? 1 : 0)); };
    flag(u.state.has_value());
    if (u.state) use.bind(index, to_string(*u.state));
    ++index;
    flag(u.pid.has_value());
    if (u.pid) use.bind(index, *u.pid);
    ++index;
    flag(u.shim_pid.has_value());
    if (u.shim_pid) use.bind(index, *u.shim_pid);
    ++index;
    flag(u.shim_start_time.has_value());
    if (u.shim_start_time) use.bind(index, *u.shim_start_time);
    ++index;
    flag(u.exit_code.has_value());
    if (u.exit_code) use.bind(index, *u.exit_code);
    ++index;
    flag(u.exit_signal.has_value());
    if (u.exit_signal) use.bind(index, *u.exit_signal);
    ++index;
    flag(u.oom_killed.has_value());
    if (u.oom_killed) use.bind(index, static_cast<std::int64_t>(*u.oom_killed ? 1 : 0));
    ++index;
    flag(u.reason.has_value());
    if (u.reason) use.bind(index, *u.reason);
    ++index;
    flag(u.started_at.has_value());
    if (u.started_at) use.bind(index, *u.started_at);
    ++index;
    flag(u.finished_at.has_value());
    if (u.finished_at) use.bind(index, *u.finished_at);
    ++index;
    flag(u.restart_count.has_value());
    if (u.restart_count) use.bind(index, static_cast<std::int64_t>(*u.restart_count));
    ++index;
    flag(u.health_json.has_value());
    if (u.health_json) use.bind(index, *u.health_json);
    ++index;
    flag(u.stopped_by_user.has_value());
    if (u.stopped_by_user) use.bind(index, static_cast<std::int64_t>(*u.stopped_by_user ? 1 : 0));
    return run(store, use, fmt::format("update workload {}", id));
  }

  static bool changes_anything(const WorkloadUpdate& u) {
    return u.state || u.pid || u.shim_pid || u.shim_start_time || u.exit_code ||
           u.exit_signal || u.oom_killed || u.reason || u.started_at || u.finished_at ||
           u.restart_count || u.health_json || u.stopped_by_user;
  }

  static Result<void> create_schema(Store& store) {
    auto version = exec(store, "PRAGMA user_version", "read schema version");
    if (!version) return std::unexpected(version.error());
    int current = std::atoi(version->c_str());
    if (current == 0) {
      // A new database beside workload directories: state.db was truncated or deleted. Starting
      // empty would forget those workloads while their files (and processes) live on.
      std::string root = store.path_.substr(0, store.path_.rfind('/'));
      if (auto count = workload_dir_count(root + "/workloads"); count > 0)
        return fail(ErrorCode::unavailable,
                    fmt::format("state store {} is empty, but {}/workloads holds {} workload director{}: the "
                                "database was truncated or deleted. Restore it from a backup, or move {}/workloads "
                                "aside to start with no workloads (berth deletes nothing)",
                                store.path_, root, count, count == 1 ? "y" : "ies", root));
    }
    if (current > schema_version)
      return fail(ErrorCode::unavailable,
                  fmt::format("state store {}: schema version {} is newer than this berth "
                              "supports ({})",
                              store.path_, current, schema_version));
    if (current < 1) {
      if (auto r = exec(store, schema_v1, "create schema"); !r)
        return std::unexpected(r.error());
    }
    if (current < 2) {
      if (auto r = exec(store, schema_v2, "migrate schema to version 2"); !r)
        return std::unexpected(r.error());
    }
    if (current < 3) {
      if (auto r = exec(store, schema_v3, "migrate schema to version 3"); !r)
        return std::unexpected(r.error());
    }
    // Later versions migrate here: if (current < 4) { ... PRAGMA user_version = 4; }
    return {};
  }
};

Result<std::unique_ptr<Store>> Store::open(const std::string& root) {
  if (root.empty()) return fail(ErrorCode::invalid_spec, "state root: must not be empty");
  if (auto r = make_private_dir(root); !r)
    return std::unexpected(r.error().with_context("state store"));
  std::string path = root + "/state.db";
  // The database and its WAL hold every spec, environment (secrets) included: owner only. An
  // older berth made them 0644; SQLite makes -wal and -shm with the database file's mode.
  for (const char* suffix : {"", "-wal", "-shm"})
    if (auto r = make_file_private(path + suffix); !r)
      return std::unexpected(r.error().with_context("state store"));
  bool fresh = !path_exists(path);

  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE,
                           nullptr);
  // The Store owns the handle from here on, even a failed one (sqlite3_close_v2 takes both).
  std::unique_ptr<Store> store(new Store(db));
  store->path_ = path;
  if (rc != SQLITE_OK) {
    if (!db) return fail(ErrorCode::internal, fmt::format("state store {}: out of memory", path));
    return std::unexpected(Ops::db_error(*store, rc, "open"));
  }
  // A database SQLite just made is 0644 (less the umask): private before anything is written.
  if (fresh && ::chmod(path.c_str(), 0600) != 0)
    return std::unexpected(errno_error("chmod", path, errno).with_context("state store"));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
  // Many short-lived processes (CLI calls, shims) open and close the store. By default the
  // last one to close checkpoints the WAL into the database and deletes it, with three
  // fsyncs: ~20 ms per closing process. Keep the WAL; SQLite's auto-checkpoint (every 1000
  // pages, on commit) keeps it bounded.
  sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  int persist_wal = 1;
  sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal);

  std::lock_guard lock(store->mutex_);
  auto configure = [&]() -> Result<void> {
    auto r = Ops::exec(*store, fmt::format("PRAGMA busy_timeout = {}", busy_timeout.count()),
                       "set busy timeout");
    if (!r) return std::unexpected(r.error());
    auto mode = Ops::exec(*store, "PRAGMA journal_mode = WAL", "set journal mode");
    if (!mode) return std::unexpected(mode.error());
    if (*mode != "wal")
      return fail(ErrorCode::unavailable,
                  fmt::format("state store {}: cannot use WAL journal mode (got \"{}\")", path,
                              *mode));
    r = Ops::exec(*store, "PRAGMA synchronous = NORMAL", "set synchronous mode");
    if (!r) return std::unexpected(r.error());
    r = Ops::exec(*store, "PRAGMA foreign_keys = ON", "enable foreign keys");
    if (!r) return std::unexpected(r.error());
    return {};
  };
  if (auto r = Ops::with_retry(*store, configure); !r) return std::unexpected(r.error());

  // A store whose schema is current needs no write to open: reads then work on a full disk
  // (or a read-only one), where even an empty IMMEDIATE transaction may not.
  auto version = Ops::with_retry(*store, [&]() {
    return Ops::exec(*store, "PRAGMA user_version", "read schema version");
  });
  if (!version) return std::unexpected(version.error());
  if (std::atoi(version->c_str()) == schema_version) return store;
  // The schema in one IMMEDIATE transaction, so concurrent openers create it once.
  auto schema = Ops::with_retry(*store, [&]() -> Result<void> {
    if (auto r = Ops::exec(*store, "BEGIN IMMEDIATE", "create schema"); !r)
      return std::unexpected(r.error());
    auto r = Ops::create_schema(*store);
    if (r) {
      if (auto c = Ops::exec(*store, "COMMIT", "create schema"); !c)
        r = std::unexpected(c.error());
    }
    if (!r) Ops::rollback_if_open(*store);
    return r;
  });
  if (!schema) return std::unexpected(schema.error());
  return store;
}

Store::~Store() {
  for (auto*& statement : statements_) {
    sqlite3_finalize(statement);
    statement = nullptr;
  }
  sqlite3_close_v2(db_);
}

Result<void> Store::insert(const WorkloadRecord& record, const NewEvent& event) {
  if (record.id.empty()) return fail(ErrorCode::invalid_spec, "workload id: must not be empty");
  if (record.name.empty())
    return fail(ErrorCode::invalid_spec, "workload name: must not be empty");
  return Ops::transaction(*this, "insert workload", [&]() -> Result<void> {
    auto statement = Ops::statement(*this, insert_workload);
    if (!statement) return std::unexpected(statement.error());
    StatementUse use(*statement);
    use.bind(1, record.id);
    use.bind(2, record.name);
    use.bind(3, to_string(record.kind));
    use.bind(4, record.spec_json);
    use.bind(5, to_string(record.state));
    use.bind(6, record.pid);
    use.bind(7, record.shim_pid);
    use.bind(8, record.shim_start_time);
    use.bind(9, record.exit_code);
    use.bind(10, record.exit_signal);
    use.bind(11, static_cast<std::int64_t>(record.oom_killed ? 1 : 0));
    use.bind(12, record.reason);
    use.bind(13, unix_nanos(record.created_at));
    use.bind(14, record.started_at);
    use.bind(15, record.finished_at);
    use.bind(16, static_cast<std::int64_t>(record.restart_count));
    use.bind(17, record.health_json.empty() ? std::string("[]") : record.health_json);
    use.bind(18, static_cast<std::int64_t>(record.stopped_by_user ? 1 : 0));
    if (auto r = Ops::run(*this, use, fmt::format("insert workload {}", record.name)); !r) {
      int extended = last_rc_;
      if (extended == SQLITE_CONSTRAINT_PRIMARYKEY)
        return fail(ErrorCode::conflict,
                    fmt::format("workload id \"{}\" is already in use", record.id));
      if ((extended & 0xff) == SQLITE_CONSTRAINT)  // UNIQUE(name)
        return fail(ErrorCode::conflict,
                    fmt::format("workload name \"{}\" is already in use", record.name));
      return r;
    }
    return Ops::append_event(*this, record.id, record.name, event);
  });
}

Result<bool> Store::update(const std::string& id, const WorkloadUpdate& update,
                           const std::optional<NewEvent>& event) {
  return Ops::transaction(*this, "update workload", [&]() -> Result<bool> {
    auto row = Ops::name_and_state(*this, id);
    if (!row) return std::unexpected(row.error());
    const auto& [name, state] = *row;
    if (!update.expected_states.empty() &&
        std::find(update.expected_states.begin(), update.expected_states.end(), state) ==
            update.expected_states.end())
      return false;  // commits an empty transaction: nothing changed, no event
    if (Ops::changes_anything(update)) {
      if (auto r = Ops::apply_update(*this, id, update); !r) return std::unexpected(r.error());
    }
    if (event) {
      if (auto r = Ops::append_event(*this, id, name, *event); !r)
        return std::unexpected(r.error());
    }
    return true;
  });
}

Result<void> Store::erase(const std::string& id, const NewEvent& event) {
  return Ops::transaction(*this, "remove workload", [&]() -> Result<void> {
    auto row = Ops::name_and_state(*this, id);
    if (!row) return std::unexpected(row.error());
    auto statement = Ops::statement(*this, delete_workload);
    if (!statement) return std::unexpected(statement.error());
    {
      StatementUse use(*statement);
      use.bind(1, id);
      if (auto r = Ops::run(*this, use, fmt::format("remove workload {}", row->first)); !r)
        return r;
    }
    return Ops::append_event(*this, id, row->first, event);
  });
}

Result<std::uint64_t> Store::append_event(const std::string& subject_id,
                                          const std::string& subject_name, const NewEvent& event) {
  return Ops::transaction(*this, "append event", [&]() -> Result<std::uint64_t> {
    if (auto r = Ops::append_event(*this, subject_id, subject_name, event); !r)
      return std::unexpected(r.error());
    return static_cast<std::uint64_t>(sqlite3_last_insert_rowid(db_));
  });
}

Result<void> Store::write(std::string_view what, const std::function<Result<void>(sqlite3*)>& body) {
  return Ops::transaction(*this, what, [&]() { return body(db_); });
}

Result<void> Store::read(std::string_view, const std::function<Result<void>(sqlite3*)>& body) {
  return Ops::read(*this, [&]() { return body(db_); });
}

Error Store::sqlite_error(int rc, std::string_view what) { return Ops::db_error(*this, rc, what); }

Result<WorkloadRecord> Store::get(const std::string& id) {
  return Ops::read(*this, [&]() -> Result<WorkloadRecord> {
    auto statement = Ops::statement(*this, select_by_id);
    if (!statement) return std::unexpected(statement.error());
    StatementUse use(*statement);
    use.bind(1, id);
    auto row = Ops::step(*this, use, fmt::format("read workload {}", id));
    if (!row) return std::unexpected(row.error());
    if (!*row) return fail(ErrorCode::not_found, fmt::format("no workload with id \"{}\"", id));
    return Ops::record_of(*this, use.get());
  });
}

Result<WorkloadRecord> Store::find(const std::string& ref) {
  if (ref.empty()) return fail(ErrorCode::not_found, "no workload named or with id \"\"");
  return Ops::read(*this, [&]() -> Result<WorkloadRecord> {
    auto statement = Ops::statement(*this, select_by_ref);
    if (!statement) return std::unexpected(statement.error());
    StatementUse use(*statement);
    use.bind(1, ref);
    use.bind(2, ref + '\xff');  // above every id that starts with ref (0xFF is never in UTF-8)
    std::string what = fmt::format("find workload \"{}\"", ref);
    auto row = Ops::step(*this, use, what);
    if (!row) return std::unexpected(row.error());
    if (!*row)
      return fail(ErrorCode::not_found, fmt::format("no workload named or with id \"{}\"", ref));
    auto first = Ops::record_of(*this, use.get());
    if (!first) return first;
    if (sqlite3_column_int(use.get(), workload_column_count) < 2) return first;  // exact match
    auto second = Ops::step(*this, use, what);
    if (!second) return std::unexpected(second.error());
    if (*second)
      return fail(ErrorCode::conflict,
                  fmt::format("id prefix \"{}\" matches more than one workload", ref));
    return first;
  });
}

Result<std::vector<WorkloadRecord>> Store::all() {
  return Ops::read(*this, [&]() -> Result<std::vector<WorkloadRecord>> {
    auto statement = Ops::statement(*this, select_all);
    if (!statement) return std::unexpected(statement.error());
    StatementUse use(*statement);
    std::vector<WorkloadRecord> records;
    for (;;) {
      auto row = Ops::step(*this, use, "list workloads");
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto record = Ops::record_of(*this, use.get());
      if (!record) return std::unexpected(record.error());
      records.push_back(std::move(*record));
    }
    return records;
  });
}

Result<std::vector<Event>> Store::events_after(std::uint64_t since, std::size_t limit) {
  if (limit == 0) return std::vector<Event>{};
  return Ops::read(*this, [&]() -> Result<std::vector<Event>> {
    auto statement = Ops::statement(*this, select_events_after);
    if (!statement) return std::unexpected(statement.error());
    StatementUse use(*statement);
    constexpr auto int64_max = static_cast<std::uint64_t>(INT64_MAX);
    use.bind(1, static_cast<std::int64_t>(std::min(since, int64_max)));
    use.bind(2, static_cast<std::int64_t>(std::min<std::uint64_t>(limit, int64_max)));
    std::vector<Event> events;
    for (;;) {
      auto row = Ops::step(*this, use, fmt::format("read events after {}", since));
      if (!row) return std::unexpected(row.error());
      if (!*row) break;
      auto event = Ops::event_of(*this, use.get());
      if (!event) return std::unexpected(event.error());
      events.push_back(std::move(*event));
    }
    return events;
  });
}

Result<std::uint64_t> Store::last_seq() {
  return Ops::read(*this, [&]() -> Result<std::uint64_t> {
    auto statement = Ops::statement(*this, select_last_seq);
    if (!statement) return std::unexpected(statement.error());
    StatementUse use(*statement);
    auto row = Ops::step(*this, use, "read last event seq");
    if (!row) return std::unexpected(row.error());
    if (!*row) return std::uint64_t{0};
    return static_cast<std::uint64_t>(sqlite3_column_int64(use.get(), 0));
  });
}

}  // namespace berth::state
