#include "state/network_store.hpp"

#include <sqlite3.h>

#include <chrono>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace berth::state {

namespace {

// One prepared statement, finalized on scope exit; bind and step with errors from the store.
class Query {
 public:
  Query(Store& store, sqlite3* db, std::string_view sql, std::string_view what) : store_(store), what_(what) {
    rc_ = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &statement_, nullptr);
  }
  ~Query() { sqlite3_finalize(statement_); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind(int index, std::string_view text) {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Query& bind(int index, std::int64_t value) {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_int64(statement_, index, value);
    return *this;
  }
  // true with a row, false when done.
  Result<bool> step() {
    if (rc_ != SQLITE_OK) return std::unexpected(store_.sqlite_error(rc_, what_));
    int rc = sqlite3_step(statement_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return std::unexpected(store_.sqlite_error(rc, what_));
  }
  std::string text(int column) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
    return p ? std::string(p) : std::string();
  }
  std::int64_t integer(int column) const { return sqlite3_column_int64(statement_, column); }

 private:
  Store& store_;
  std::string what_;
  sqlite3_stmt* statement_ = nullptr;
  int rc_;
};

constexpr const char* network_columns = "name, id, subnet, gateway, bridge, created_at, labels_json";

NetworkRecord network_of(const Query& q) {
  NetworkRecord n;
  n.name = q.text(0);
  n.id = q.text(1);
  n.subnet = q.text(2);
  n.gateway = q.text(3);
  n.bridge = q.text(4);
  n.created_at = TimePoint(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(q.integer(5))));
  auto labels = nlohmann::json::parse(q.text(6), nullptr, false);
  if (labels.is_object())
    for (auto& [k, v] : labels.items())
      if (v.is_string()) n.labels[k] = v.get<std::string>();
  return n;
}

Result<std::vector<NetworkRecord>> all_networks(Store& store, sqlite3* db) {
  Query q(store, db, fmt::format("SELECT {} FROM networks ORDER BY created_at, name", network_columns), "list networks");
  std::vector<NetworkRecord> out;
  for (;;) {
    auto row = q.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(network_of(q));
  }
}

Result<std::vector<AddressRecord>> addresses_where(Store& store, sqlite3* db, std::string_view column,
                                                   const std::string& value) {
  Query q(store, db, fmt::format("SELECT network, address, workload_id FROM addresses WHERE {} = ?1 ORDER BY network, address", column),
          "read addresses");
  q.bind(1, value);
  std::vector<AddressRecord> out;
  for (;;) {
    auto row = q.step();
    if (!row) return std::unexpected(row.error());
    if (!*row) return out;
    out.push_back(AddressRecord{q.text(0), static_cast<std::uint32_t>(q.integer(1)), q.text(2)});
  }
}

}  // namespace

Result<void> insert_network(Store& store, const NetworkRecord& network,
                            const std::function<Result<void>(const std::vector<NetworkRecord>&)>& check) {
  return store.write("create network " + network.name, [&](sqlite3* db) -> Result<void> {
    auto existing = all_networks(store, db);
    if (!existing) return std::unexpected(existing.error());
    for (const auto& n : *existing) {
      if (n.name == network.name) return fail(ErrorCode::conflict, fmt::format("network name \"{}\" is already in use", n.name));
      if (n.bridge == network.bridge) return fail(ErrorCode::conflict, fmt::format("bridge {} is already network {}'s", n.bridge, n.name));
    }
    if (auto r = check(*existing); !r) return r;
    nlohmann::json labels = network.labels;
    Query q(store, db, fmt::format("INSERT INTO networks ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", network_columns),
            "create network " + network.name);
    q.bind(1, network.name).bind(2, network.id).bind(3, network.subnet).bind(4, network.gateway).bind(5, network.bridge);
    q.bind(6, std::chrono::duration_cast<std::chrono::nanoseconds>(network.created_at.time_since_epoch()).count());
    q.bind(7, labels.dump());
    auto done = q.step();
    if (!done) return std::unexpected(done.error());
    return {};
  });
}

Result<std::vector<NetworkRecord>> list_networks(Store& store) {
  std::vector<NetworkRecord> out;
  auto r = store.read("list networks", [&](sqlite3* db) -> Result<void> {
    auto all = all_networks(store, db);
    if (!all) return std::unexpected(all.error());
    out = std::move(*all);
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<NetworkRecord> find_network(Store& store, const std::string& name) {
  auto all = list_networks(store);
  if (!all) return std::unexpected(all.error());
  for (auto& n : *all)
    if (n.name == name || n.id == name) return n;
  return fail(ErrorCode::not_found, fmt::format("no network named \"{}\"", name));
}

Result<void> erase_network(Store& store, const std::string& name) {
  return store.write("remove network " + name, [&](sqlite3* db) -> Result<void> {
    auto used = addresses_where(store, db, "network", name);
    if (!used) return std::unexpected(used.error());
    if (!used->empty())
      return fail(ErrorCode::conflict, fmt::format("network {} is in use by {} workload(s) (first: {})", name,
                                                   used->size(), used->front().workload_id.substr(0, 12)));
    Query q(store, db, "DELETE FROM networks WHERE name = ?1", "remove network " + name);
    q.bind(1, name);
    auto done = q.step();
    if (!done) return std::unexpected(done.error());
    if (sqlite3_changes(db) == 0) return fail(ErrorCode::not_found, fmt::format("no network named \"{}\"", name));
    return {};
  });
}

Result<std::uint32_t> allocate_address(Store& store, const std::string& network, const std::string& workload_id,
                                       std::uint32_t first, std::uint32_t last, std::uint32_t reserved) {
  std::uint32_t chosen = 0;
  auto r = store.write("allocate an address on " + network, [&](sqlite3* db) -> Result<void> {
    auto used = addresses_where(store, db, "network", network);
    if (!used) return std::unexpected(used.error());
    std::set<std::uint32_t> taken{reserved};
    for (const auto& a : *used) taken.insert(a.address);
    std::uint64_t candidate = first;
    while (candidate <= last && taken.contains(static_cast<std::uint32_t>(candidate))) ++candidate;
    if (candidate > last)
      return fail(ErrorCode::limit_exceeded, fmt::format("network {} has no free address", network));
    Query q(store, db, "INSERT INTO addresses (network, address, workload_id) VALUES (?1, ?2, ?3)", "allocate an address");
    q.bind(1, network).bind(2, static_cast<std::int64_t>(candidate)).bind(3, workload_id);
    auto done = q.step();
    if (!done) return std::unexpected(done.error());
    chosen = static_cast<std::uint32_t>(candidate);
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return chosen;
}

Result<std::vector<AddressRecord>> addresses_of_workload(Store& store, const std::string& workload_id) {
  std::vector<AddressRecord> out;
  auto r = store.read("read addresses", [&](sqlite3* db) -> Result<void> {
    auto found = addresses_where(store, db, "workload_id", workload_id);
    if (!found) return std::unexpected(found.error());
    out = std::move(*found);
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<std::vector<AddressRecord>> addresses_on_network(Store& store, const std::string& network) {
  std::vector<AddressRecord> out;
  auto r = store.read("read addresses", [&](sqlite3* db) -> Result<void> {
    auto found = addresses_where(store, db, "network", network);
    if (!found) return std::unexpected(found.error());
    out = std::move(*found);
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<std::vector<AddressRecord>> release_addresses(Store& store, const std::string& workload_id) {
  std::vector<AddressRecord> released;
  auto r = store.write("release addresses", [&](sqlite3* db) -> Result<void> {
    auto found = addresses_where(store, db, "workload_id", workload_id);
    if (!found) return std::unexpected(found.error());
    Query q(store, db, "DELETE FROM addresses WHERE workload_id = ?1", "release addresses");
    q.bind(1, workload_id);
    auto done = q.step();
    if (!done) return std::unexpected(done.error());
    released = std::move(*found);
    return {};
  });
  if (!r) return std::unexpected(r.error());
  return released;
}

}  // namespace berth::state
