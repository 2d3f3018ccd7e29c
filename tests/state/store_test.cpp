// The state store against a real SQLite database in a fresh directory per test.
#include "state/store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/tmpfs.hpp"

namespace berth::state {
namespace {

using namespace std::chrono_literals;

WorkloadRecord make_record(std::string id, std::string name) {
  WorkloadRecord r;
  r.id = std::move(id);
  r.name = std::move(name);
  r.spec_json = R"({"name":")" + r.name + R"("})";
  r.created_at = Clock::now();
  return r;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/berth-store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr) << "mkdtemp: " << std::strerror(errno);
    dir_ = tmpl;
    root_ = dir_ + "/root";  // not there yet: open() creates it
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::unique_ptr<Store> open_store() {
    auto store = Store::open(root_);
    EXPECT_TRUE(store) << store.error().message;
    return store ? std::move(*store) : nullptr;
  }

  static WorkloadRecord record(std::string id, std::string name) {
    return make_record(std::move(id), std::move(name));
  }

  // Runs SQL on a second, raw connection and returns the first column of the first row.
  std::string query(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2((root_ + "/state.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
              SQLITE_OK);
    sqlite3_stmt* statement = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    std::string result;
    if (sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_text(statement, 0))
      result = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return result;
  }

  std::string dir_;
  std::string root_;
};

NewEvent event(std::string type, std::map<std::string, std::string> attributes = {}) {
  return NewEvent{std::move(type), std::move(attributes)};
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 07777;
}

TEST_F(StoreTest, OpenTightensARootAndDatabaseOpenToOthers) {
  ASSERT_TRUE(open_store());
  // As an older berth left them.
  ASSERT_EQ(::chmod(root_.c_str(), 0711), 0);
  for (auto suffix : {"", "-wal", "-shm"}) ASSERT_EQ(::chmod((root_ + "/state.db" + suffix).c_str(), 0644), 0);
  ASSERT_TRUE(open_store());
  EXPECT_EQ(mode_of(root_), 0700u);
  for (auto suffix : {"", "-wal", "-shm"}) EXPECT_EQ(mode_of(root_ + "/state.db" + suffix), 0600u) << suffix;
}

TEST_F(StoreTest, AVersion1StoreIsMigratedKeepingItsRows) {
  ASSERT_EQ(::mkdir(root_.c_str(), 0711), 0);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((root_ + "/state.db").c_str(), &db), SQLITE_OK);
  const char* v1 =
      "CREATE TABLE workloads (id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, kind TEXT NOT NULL,"
      " spec_json TEXT NOT NULL, state TEXT NOT NULL, pid INTEGER, shim_pid INTEGER,"
      " shim_start_time INTEGER, exit_code INTEGER, exit_signal INTEGER,"
      " oom_killed INTEGER NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '',"
      " created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER,"
      " restart_count INTEGER NOT NULL DEFAULT 0);"
      "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, time_ns INTEGER NOT NULL,"
      " workload_id TEXT NOT NULL, workload_name TEXT NOT NULL, type TEXT NOT NULL,"
      " attributes_json TEXT NOT NULL DEFAULT '{}');"
      "INSERT INTO workloads (id, name, kind, spec_json, state, created_at, restart_count)"
      " VALUES ('aa', 'old', 'process', '{}', 'exited', 1, 4);"
      "PRAGMA user_version = 1;";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  auto store = open_store();
  ASSERT_TRUE(store);
  EXPECT_EQ(query("PRAGMA user_version"), "3");
  auto old = store->get("aa");
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_EQ(old->restart_count, 4);
  EXPECT_EQ(old->health_json, "[]");
  EXPECT_FALSE(old->stopped_by_user);
  WorkloadUpdate update;
  update.stopped_by_user = true;
  update.health_json = "[1]";
  ASSERT_TRUE(store->update("aa", update, std::nullopt));
  EXPECT_TRUE(store->get("aa")->stopped_by_user);
  EXPECT_EQ(store->get("aa")->health_json, "[1]");
}

TEST_F(StoreTest, OpenCreatesRootAndSchema) {
  // Even under the most permissive umask: the database holds every spec's environment.
  mode_t mask = ::umask(0);
  auto store = open_store();
  ::umask(mask);
  ASSERT_TRUE(store);
  EXPECT_EQ(mode_of(root_), 0700u);
  for (auto suffix : {"", "-wal", "-shm"}) EXPECT_EQ(mode_of(root_ + "/state.db" + suffix), 0600u) << suffix;

  EXPECT_EQ(query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query("PRAGMA user_version"), "3");
  EXPECT_EQ(query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                  "('workloads', 'events')"),
            "2");
  auto all = store->all();
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_TRUE(all->empty());
  auto seq = store->last_seq();
  ASSERT_TRUE(seq) << seq.error().message;
  EXPECT_EQ(*seq, 0u);

  // Opening again (the schema exists) is fine and keeps the data.
  ASSERT_TRUE(store->insert(record("aa11", "keep"), event("create")));
  store.reset();
  store = open_store();
  ASSERT_TRUE(store);
  EXPECT_TRUE(store->get("aa11"));
}

// state.db truncated to nothing (or deleted) while workload directories remain: opening says
// so, naming the file and what to do, rather than starting empty; nothing is deleted.
TEST_F(StoreTest, AnEmptyDatabaseBesideWorkloadDirectoriesIsRefused) {
  {
    auto store = open_store();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->insert(record("aa11", "kept"), event("create")));
  }
  ASSERT_EQ(::mkdir((root_ + "/workloads").c_str(), 0700), 0);
  ASSERT_EQ(::mkdir((root_ + "/workloads/aa11").c_str(), 0700), 0);
  for (const char* file : {"/state.db-wal", "/state.db-shm"}) ::unlink((root_ + file).c_str());
  ASSERT_EQ(::truncate((root_ + "/state.db").c_str(), 0), 0);

  for (int attempt = 0; attempt < 2; ++attempt) {  // refused every time, not just the first
    auto store = Store::open(root_);
    ASSERT_FALSE(store) << "an emptied state.db was opened as a new one";
    EXPECT_EQ(store.error().code, ErrorCode::unavailable);
    auto& message = store.error().message;
    EXPECT_NE(message.find(root_ + "/state.db is empty"), std::string::npos) << message;
    EXPECT_NE(message.find("1 workload directory"), std::string::npos) << message;
    EXPECT_NE(message.find("Restore it from a backup"), std::string::npos) << message;
  }
  EXPECT_TRUE(std::filesystem::exists(root_ + "/workloads/aa11"));

  // Moved aside, as the message says: the root starts afresh.
  std::filesystem::rename(root_ + "/workloads", dir_ + "/workloads-aside");
  auto fresh = open_store();
  ASSERT_TRUE(fresh);
  EXPECT_FALSE(fresh->get("aa11"));
}

TEST_F(StoreTest, OpenReportsTheRootAtFault) {
  std::string file = dir_ + "/file";
  std::FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  auto store = Store::open(file + "/root");
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find(file), std::string::npos) << store.error().message;
}

TEST_F(StoreTest, DatabaseFdsAreCloseOnExec) {
  auto store = open_store();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->insert(record("aa11", "web"), event("create")));  // opens -wal and -shm
  ASSERT_TRUE(store->get("aa11"));
  std::string prefix = std::filesystem::canonical(root_).string() + "/state.db";
  std::set<std::string> seen;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(entry.path(), ec);
    if (ec || target.string().rfind(prefix, 0) != 0) continue;
    int fd = std::stoi(entry.path().filename().string());
    int flags = ::fcntl(fd, F_GETFD);
    ASSERT_GE(flags, 0);
    EXPECT_TRUE(flags & FD_CLOEXEC) << "fd " << fd << " -> " << target << " lacks FD_CLOEXEC";
    seen.insert(target.string());
  }
  EXPECT_TRUE(seen.count(prefix)) << "no fd for " << prefix;
  EXPECT_TRUE(seen.count(prefix + "-wal")) << "no fd for the WAL";
}

TEST_F(StoreTest, InsertGetRoundTripsEveryField) {
  auto store = open_store();
  ASSERT_TRUE(store);
  WorkloadRecord r = record("0123456789abcdef", "web");
  r.kind = WorkloadKind::wasm;
  r.state = WorkloadState::oom_killed;
  r.pid = 1234;
  r.shim_pid = 1233;
  r.shim_start_time = 9876543210ull;
  r.exit_code = 137;
  r.exit_signal = 9;
  r.oom_killed = true;
  r.reason = "out of memory";
  r.created_at = TimePoint(std::chrono::nanoseconds(1732290000123456789ll));
  r.started_at = r.created_at + 1s;
  r.finished_at = r.created_at + 2s;
  r.restart_count = 3;
  ASSERT_TRUE(store->insert(r, event("create", {{"kind", "wasm"}})));

  auto got = store->get(r.id);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->id, r.id);
  EXPECT_EQ(got->name, r.name);
  EXPECT_EQ(got->kind, r.kind);
  EXPECT_EQ(got->spec_json, r.spec_json);
  EXPECT_EQ(got->state, r.state);
  EXPECT_EQ(got->pid, r.pid);
  EXPECT_EQ(got->shim_pid, r.shim_pid);
  EXPECT_EQ(got->shim_start_time, r.shim_start_time);
  EXPECT_EQ(got->exit_code, r.exit_code);
  EXPECT_EQ(got->exit_signal, r.exit_signal);
  EXPECT_EQ(got->oom_killed, r.oom_killed);
  EXPECT_EQ(got->reason, r.reason);
  EXPECT_EQ(got->created_at, r.created_at);
  EXPECT_EQ(got->started_at, r.started_at);
  EXPECT_EQ(got->finished_at, r.finished_at);
  EXPECT_EQ(got->restart_count, r.restart_count);
  EXPECT_EQ(query("SELECT created_at FROM workloads"), "1732290000123456789");

  // Unset optionals stay unset.
  ASSERT_TRUE(store->insert(record("fedcba", "plain"), event("create")));
  auto plain = store->get("fedcba");
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->pid);
  EXPECT_FALSE(plain->shim_start_time);
  EXPECT_FALSE(plain->started_at);
  EXPECT_EQ(plain->state, WorkloadState::created);

  auto missing = store->get("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);

  auto events = store->events_after(0);
  ASSERT_TRUE(events) << events.error().message;
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].seq, 1u);
  EXPECT_EQ((*events)[0].type, "create");
  EXPECT_EQ((*events)[0].workload_id, r.id);
  EXPECT_EQ((*events)[0].workload_name, "web");
  EXPECT_EQ((*events)[0].attributes, (std::map<std::string, std::string>{{"kind", "wasm"}}));
  EXPECT_LE((*events)[0].time, Clock::now());
  EXPECT_GT((*events)[0].time, Clock::now() - 1min);
}

TEST_F(StoreTest, FindByNameIdAndPrefix) {
  auto store = open_store();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->insert(record("abc123", "web"), event("create")));
  ASSERT_TRUE(store->insert(record("abd456", "db"), event("create")));
  // A workload whose name is another's id prefix: the name wins.
  ASSERT_TRUE(store->insert(record("ffff00", "abc"), event("create")));

  auto by_name = store->find("web");
  ASSERT_TRUE(by_name) << by_name.error().message;
  EXPECT_EQ(by_name->id, "abc123");
  auto by_id = store->find("abd456");
  ASSERT_TRUE(by_id) << by_id.error().message;
  EXPECT_EQ(by_id->name, "db");
  auto by_prefix = store->find("abd");
  ASSERT_TRUE(by_prefix) << by_prefix.error().message;
  EXPECT_EQ(by_prefix->name, "db");
  auto name_first = store->find("abc");
  ASSERT_TRUE(name_first) << name_first.error().message;
  EXPECT_EQ(name_first->id, "ffff00");
  auto prefix_ff = store->find("fff");
  ASSERT_TRUE(prefix_ff);
  EXPECT_EQ(prefix_ff->name, "abc");

  auto ambiguous = store->find("ab");
  ASSERT_FALSE(ambiguous);
  EXPECT_EQ(ambiguous.error().code, ErrorCode::conflict);
  EXPECT_NE(ambiguous.error().message.find("\"ab\""), std::string::npos)
      << ambiguous.error().message;

  auto none = store->find("x");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::not_found);
  EXPECT_EQ(none.error().message, "no workload named or with id \"x\"");
  // Not a prefix in the middle, and no pattern characters.
  EXPECT_FALSE(store->find("bc1"));
  EXPECT_FALSE(store->find("a%"));
  EXPECT_FALSE(store->find("a*"));
  EXPECT_FALSE(store->find(""));
}

TEST_F(StoreTest, DuplicateNameOrIdIsConflict) {
  auto store = open_store();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->insert(record("aaa", "web"), event("create")));
  auto dup_name = store->insert(record("bbb", "web"), event("create"));
  ASSERT_FALSE(dup_name);
  EXPECT_EQ(dup_name.error().code, ErrorCode::conflict);
  EXPECT_EQ(dup_name.error().message, "workload name \"web\" is already in use");
  auto dup_id = store->insert(record("aaa", "other"), event("create"));
  ASSERT_FALSE(dup_id);
  EXPECT_EQ(dup_id.error().code, ErrorCode::conflict);
  EXPECT_NE(dup_id.error().message.find("\"aaa\""), std::string::npos);

  // Neither failed insert left a row or an event behind.
  auto all = store->all();
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 1u);
  EXPECT_EQ(*store->last_seq(), 1u);
  EXPECT_EQ(store->events_after(0)->size(), 1u);
}

TEST_F(StoreTest, ConditionalUpdate) {
  auto store = open_store();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->insert(record("aaa", "web"), event("create")));

  WorkloadUpdate start;
  start.expected_states = {WorkloadState::created};
  start.state = WorkloadState::running;
  start.pid = 42;
  start.started_at = Clock::now();
  auto applied = store->update("aaa", start, event("start", {{"pid", "42"}}));
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_TRUE(*applied);
  auto r = store->get("aaa");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->state, WorkloadState::running);
  EXPECT_EQ(r->pid, 42);
  EXPECT_TRUE(r->started_at);
  EXPECT_EQ(r->reason, "");  // untouched

  // The same transition again does not apply: no change, no event.
  start.pid = 43;
  applied = store->update("aaa", start, event("start"));
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_FALSE(*applied);
  EXPECT_EQ(store->get("aaa")->pid, 42);
  EXPECT_EQ(*store->last_seq(), 2u);

  // An event-only update (no column changes) with any state.
  WorkloadUpdate note;
  applied = store->update("aaa", note, event("kill", {{"signal", "15"}}));
  ASSERT_TRUE(applied);
  EXPECT_TRUE(*applied);

  // A change without an event, clearing an optional.
  WorkloadUpdate exit;
  exit.expected_states = {WorkloadState::running, WorkloadState::stopping};
  exit.state = WorkloadState::exited;
  exit.pid = std::optional<int>();
  exit.exit_code = 3;
  exit.reason = "exited with code 3";
  exit.finished_at = Clock::now();
  applied = store->update("aaa", exit, std::nullopt);
  ASSERT_TRUE(applied);
  EXPECT_TRUE(*applied);
  r = store->get("aaa");
  EXPECT_EQ(r->state, WorkloadState::exited);
  EXPECT_FALSE(r->pid);
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->reason, "exited with code 3");

  auto events = store->events_after(0);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[1].type, "start");
  EXPECT_EQ((*events)[1].workload_name, "web");  // taken from the row
  EXPECT_EQ((*events)[1].attributes.at("pid"), "42");
  EXPECT_EQ((*events)[2].type, "kill");

  auto missing = store->update("zzz", note, event("kill"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);
  EXPECT_EQ(*store->last_seq(), 3u);
}

TEST_F(StoreTest, EraseThenNotFound) {
  auto store = open_store();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->insert(record("aaa", "web"), event("create")));
  auto erased = store->erase("aaa", event("remove"));
  ASSERT_TRUE(erased) << erased.error().message;
  EXPECT_EQ(store->get("aaa").error().code, ErrorCode::not_found);
  EXPECT_EQ(store->find("web").error().code, ErrorCode::not_found);
  auto again = store->erase("aaa", event("remove"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::not_found);
  auto events = store->events_after(0);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[1].type, "remove");
  EXPECT_EQ((*events)[1].workload_name, "web");
  // The name is free again.
  EXPECT_TRUE(store->insert(record("bbb", "web"), event("create")));
}

TEST_F(StoreTest, SeqsIncreaseAndAreNeverReused) {
  auto store = open_store();
  ASSERT_TRUE(store);
  for (int i = 0; i < 5; ++i) {
    auto id = fmt::format("id{}", i);
    ASSERT_TRUE(store->insert(record(id, fmt::format("w{}", i)), event("create")));
    ASSERT_TRUE(store->erase(id, event("remove")));
  }
  EXPECT_EQ(*store->last_seq(), 10u);
  // Even with the newest events deleted (a future pruning), seqs go on from the highest ever.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((root_ + "/state.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DELETE FROM events WHERE seq > 7", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(*store->last_seq(), 10u);
  ASSERT_TRUE(store->insert(record("new", "new"), event("create")));
  auto events = store->events_after(0);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 8u);
  for (std::size_t i = 1; i < events->size(); ++i)
    EXPECT_LT((*events)[i - 1].seq, (*events)[i].seq);
  EXPECT_EQ(events->back().seq, 11u);
}

TEST_F(StoreTest, EventsAfterSinceAndLimit) {
  auto store = open_store();
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->insert(record("aaa", "web"), event("create")));
  for (int i = 0; i < 9; ++i)
    ASSERT_TRUE(store->update("aaa", {}, event("tick", {{"i", std::to_string(i)}})));
  auto page = store->events_after(3, 4);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->size(), 4u);
  EXPECT_EQ((*page)[0].seq, 4u);
  EXPECT_EQ((*page)[3].seq, 7u);
  EXPECT_EQ((*page)[0].attributes.at("i"), "2");
  auto rest = store->events_after(7);
  ASSERT_TRUE(rest);
  ASSERT_EQ(rest->size(), 3u);
  EXPECT_EQ(rest->back().seq, 10u);
  EXPECT_TRUE(store->events_after(10)->empty());
  EXPECT_TRUE(store->events_after(3, 0)->empty());
  EXPECT_TRUE(store->events_after(~std::uint64_t{0})->empty());
}

// One insert/update/erase cycle, as a workload's life in miniature.
bool cycle(Store& store, const std::string& id) {
  if (!store.insert(make_record(id, "n" + id), NewEvent{"create", {}})) return false;
  WorkloadUpdate start;
  start.expected_states = {WorkloadState::created};
  start.state = WorkloadState::running;
  start.pid = 1;
  auto applied = store.update(id, start, NewEvent{"start", {}});
  if (!applied || !*applied) return false;
  return bool(store.erase(id, NewEvent{"remove", {}}));
}

void expect_complete_log(Store& store, std::uint64_t total, std::size_t cycles_each) {
  std::vector<Event> events;
  std::uint64_t since = 0;
  for (;;) {
    auto batch = store.events_after(since, 500);
    ASSERT_TRUE(batch) << batch.error().message;
    if (batch->empty()) break;
    since = batch->back().seq;
    events.insert(events.end(), batch->begin(), batch->end());
  }
  ASSERT_EQ(events.size(), total);
  for (std::uint64_t i = 0; i < total; ++i) ASSERT_EQ(events[i].seq, i + 1) << "gap or duplicate";
  // Each workload's events are in lifecycle order.
  std::map<std::string, std::vector<std::string>> by_workload;
  for (const auto& e : events) by_workload[e.workload_id].push_back(e.type);
  EXPECT_EQ(by_workload.size() * 3, total);
  for (const auto& [id, types] : by_workload)
    EXPECT_EQ(types, (std::vector<std::string>{"create", "start", "remove"})) << id;
  (void)cycles_each;
  auto all = store.all();
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
  EXPECT_EQ(*store.last_seq(), total);
}

TEST_F(StoreTest, ManyProcessesAtOnce) {
  constexpr int processes = 8;
  constexpr int cycles = 50;
  std::vector<pid_t> children;
  for (int p = 0; p < processes; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Each child opens its own connection (concurrently with the others: schema creation too).
      int status = 0;
      auto store = Store::open(root_);
      if (!store) {
        std::fprintf(stderr, "child %d: %s\n", p, store.error().message.c_str());
        ::_exit(10);
      }
      for (int i = 0; i < cycles && status == 0; ++i) {
        auto id = fmt::format("{:02x}{:04x}", p, i);
        if (!cycle(**store, id)) status = 11;
      }
      store->reset();
      ::_exit(status);
    }
    children.push_back(pid);
  }
  for (pid_t child : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  }
  auto store = open_store();
  ASSERT_TRUE(store);
  expect_complete_log(*store, processes * cycles * 3, cycles);
}

TEST_F(StoreTest, ThreadsShareOneStore) {
  auto store = open_store();
  ASSERT_TRUE(store);
  constexpr int threads = 4;
  constexpr int cycles = 100;
  std::atomic<int> failures{0};
  {
    std::vector<std::jthread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i = 0; i < cycles; ++i) {
          if (!cycle(*store, fmt::format("{:02x}{:04x}", t, i))) ++failures;
          // Between its cycles a thread's own prefix matches nothing.
          auto r = store->find(fmt::format("{:02x}", t));
          if (r || r.error().code != ErrorCode::not_found) ++failures;
        }
      });
    }
  }
  EXPECT_EQ(failures.load(), 0);
  expect_complete_log(*store, threads * cycles * 3, cycles);
}

TEST_F(StoreTest, CostPerWrite) {
  auto store = open_store();
  ASSERT_TRUE(store);
  constexpr int rounds = 2000;
  // Warm up: statements prepared, WAL created.
  ASSERT_TRUE(cycle(*store, "warm"));
  auto begin = std::chrono::steady_clock::now();
  for (int i = 0; i < rounds; ++i) ASSERT_TRUE(cycle(*store, fmt::format("{:08x}", i)));
  auto elapsed = std::chrono::steady_clock::now() - begin;
  double per_cycle_us =
      std::chrono::duration<double, std::micro>(elapsed).count() / static_cast<double>(rounds);
  std::printf("[ cost     ] insert+update+erase: %.1f us per cycle, %.1f us per write "
              "(%d cycles, WAL, synchronous=NORMAL)\n",
              per_cycle_us, per_cycle_us / 3, rounds);
  auto read_begin = std::chrono::steady_clock::now();
  ASSERT_TRUE(store->insert(record("abcdef0123", "reader"), event("create")));
  for (int i = 0; i < rounds; ++i) ASSERT_TRUE(store->find("abcdef"));
  auto read_elapsed = std::chrono::steady_clock::now() - read_begin;
  std::printf("[ cost     ] find by id prefix: %.1f us\n",
              std::chrono::duration<double, std::micro>(read_elapsed).count() / rounds);
}

}  // namespace
}  // namespace berth::state

namespace berth::state {
namespace {

// The store on a filesystem that is full: a 1 MiB tmpfs of the test's own, filled up.
class FullDiskStore : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (::geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    ASSERT_EQ(::mkdir(root_.c_str(), 0711), 0) << std::strerror(errno);
    tmpfs_.emplace(root_, "1m");
    ASSERT_TRUE(tmpfs_->mounted()) << tmpfs_->error();
  }
  void TearDown() override {
    tmpfs_.reset();
    StoreTest::TearDown();
  }

  std::optional<berth::testing::Tmpfs> tmpfs_;
};

TEST_F(FullDiskStore, ReadsWorkAndWritesFailClearlyThenWorkOnceThereIsRoom) {
  {
    auto store = open_store();
    ASSERT_TRUE(store);
    for (int i = 0; i < 20; ++i)
      ASSERT_TRUE(store->insert(record(fmt::format("id{:02}", i), fmt::format("w{:02}", i)),
                                NewEvent{"created", {}}));
  }
  ASSERT_TRUE(tmpfs_->fill_up());
  // A new process's view: open, list, find, events. None of it may need a write.
  auto store = open_store();
  ASSERT_TRUE(store);
  auto all = store->all();
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->size(), 20u);
  auto found = store->find("w07");
  ASSERT_TRUE(found) << found.error().message;
  EXPECT_EQ(found->id, "id07");
  auto events = store->events_after(0);
  ASSERT_TRUE(events) << events.error().message;
  EXPECT_EQ(events->size(), 20u);
  // Writes that need room fail with limit_exceeded, saying why.
  Result<void> inserted;
  for (int i = 20; i < 200 && inserted; ++i)
    inserted = store->insert(record(fmt::format("id{:03}", i), fmt::format("w{:03}", i)),
                             NewEvent{"created", {}});
  ASSERT_FALSE(inserted);
  EXPECT_EQ(inserted.error().code, ErrorCode::limit_exceeded) << inserted.error().message;
  EXPECT_NE(inserted.error().message.find("full"), std::string::npos) << inserted.error().message;
  // Room again: the same connection writes.
  ASSERT_EQ(::unlink((root_ + "/filler").c_str()), 0);
  auto erased = store->erase("id07", NewEvent{"removed", {}});
  EXPECT_TRUE(erased) << erased.error().message;
  EXPECT_EQ(store->find("w07").error().code, ErrorCode::not_found);
}

}  // namespace
}  // namespace berth::state
