// A module's key-value store: lives as long as the loaded module, shared by all its instances,
// safe under concurrent calls, bounded (entries, value size, key size), optionally persisted to a
// file (written atomically after every change, read back at load).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <berth/error.hpp>

namespace berth::functions {

// What a guest sees from a store call: 0 or a count on success, a negative code otherwise.
// The same values are in include/berth/guest/berth.h.
enum class KvStatus : std::int32_t {
  ok = 0,
  not_found = -1,
  key_too_long = -2,
  value_too_large = -3,
  too_many_entries = -4,
  bad_pointer = -5,
  io_error = -6,
};

inline constexpr std::size_t kKvMaxKeyBytes = 1024;

class KvStore {
 public:
  KvStore(std::size_t max_entries, std::size_t max_value_bytes, std::string persist_path = {});
  // Reads the persisted entries (if the file exists); an unreadable or malformed file is an error.
  Result<void> load();

  std::optional<std::vector<std::uint8_t>> get(const std::string& key) const;
  KvStatus set(const std::string& key, std::vector<std::uint8_t> value);
  KvStatus remove(const std::string& key);
  bool exists(const std::string& key) const;
  std::vector<std::string> keys(const std::string& prefix) const;
  std::size_t count() const;

 private:
  KvStatus persist_locked();

  std::size_t max_entries_, max_value_bytes_;
  std::string persist_path_;
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<std::uint8_t>> entries_;
};

}  // namespace berth::functions
