#include "functions/kv_store.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/fs.hpp"

namespace berth::functions {

KvStore::KvStore(std::size_t max_entries, std::size_t max_value_bytes, std::string persist_path)
    : max_entries_(max_entries), max_value_bytes_(max_value_bytes), persist_path_(std::move(persist_path)) {}

Result<void> KvStore::load() {
  if (persist_path_.empty() || !path_exists(persist_path_)) return {};
  auto text = read_file(persist_path_);
  if (!text) return std::unexpected(text.error());
  auto j = nlohmann::json::parse(*text, nullptr, false);
  // [[key bytes, value bytes], ...]: keys are any bytes, not necessarily UTF-8.
  auto malformed = [&] { return fail(ErrorCode::invalid_spec, fmt::format("{}: not a key-value store file", persist_path_)); };
  if (!j.is_array()) return malformed();
  std::lock_guard lock(mutex_);
  try {
    for (const auto& entry : j) {
      if (!entry.is_array() || entry.size() != 2) return malformed();
      auto key = entry[0].get<std::vector<std::uint8_t>>();
      entries_[std::string(key.begin(), key.end())] = entry[1].get<std::vector<std::uint8_t>>();
    }
  } catch (const nlohmann::json::exception&) {
    entries_.clear();
    return malformed();
  }
  return {};
}

std::optional<std::vector<std::uint8_t>> KvStore::get(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

KvStatus KvStore::set(const std::string& key, std::vector<std::uint8_t> value) {
  if (key.size() > kKvMaxKeyBytes) return KvStatus::key_too_long;
  if (value.size() > max_value_bytes_) return KvStatus::value_too_large;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end() && entries_.size() >= max_entries_) return KvStatus::too_many_entries;
  entries_[key] = std::move(value);
  return persist_locked();
}

KvStatus KvStore::remove(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (entries_.erase(key) == 0) return KvStatus::not_found;
  return persist_locked();
}

bool KvStore::exists(const std::string& key) const {
  std::lock_guard lock(mutex_);
  return entries_.contains(key);
}

std::vector<std::string> KvStore::keys(const std::string& prefix) const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (auto it = entries_.lower_bound(prefix); it != entries_.end() && it->first.starts_with(prefix); ++it)
    out.push_back(it->first);
  return out;
}

std::size_t KvStore::count() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

KvStatus KvStore::persist_locked() {
  if (persist_path_.empty()) return KvStatus::ok;
  nlohmann::json j = nlohmann::json::array();
  for (const auto& [key, value] : entries_)
    j.push_back({std::vector<std::uint8_t>(key.begin(), key.end()), value});
  return write_file_atomic(persist_path_, j.dump()) ? KvStatus::ok : KvStatus::io_error;
}

}  // namespace berth::functions
