// Networks and the addresses handed out on them, in the state store's tables (schema v3).
// Allocation is one IMMEDIATE transaction on a unique (network, address) key: no address is
// handed out twice, by concurrent processes or after a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "state/store.hpp"

namespace berth::state {

struct NetworkRecord {
  std::string name;
  std::string id;
  std::string subnet;   // "10.90.1.0/24"
  std::string gateway;  // "10.90.1.1"
  std::string bridge;   // the Linux bridge: "brt-<id prefix>"
  TimePoint created_at;
  std::map<std::string, std::string> labels;
};

struct AddressRecord {
  std::string network;
  std::uint32_t address = 0;  // IPv4, host byte order
  std::string workload_id;
};

// conflict when the name, subnet or bridge is taken, or when `check` (given every network
// already there, inside the same transaction) refuses.
Result<void> insert_network(Store& store, const NetworkRecord& network,
                            const std::function<Result<void>(const std::vector<NetworkRecord>&)>& check);
Result<std::vector<NetworkRecord>> list_networks(Store& store);
// not_found when there is none of that name.
Result<NetworkRecord> find_network(Store& store, const std::string& name);
// conflict while an address is handed out on it.
Result<void> erase_network(Store& store, const std::string& name);

// The lowest free address in [first, last] other than `reserved` (the gateway), recorded for
// workload_id; limit_exceeded when the network is full.
Result<std::uint32_t> allocate_address(Store& store, const std::string& network, const std::string& workload_id,
                                       std::uint32_t first, std::uint32_t last, std::uint32_t reserved);
Result<std::vector<AddressRecord>> addresses_of_workload(Store& store, const std::string& workload_id);
Result<std::vector<AddressRecord>> addresses_on_network(Store& store, const std::string& network);
// Releases every address of the workload; returns what was released.
Result<std::vector<AddressRecord>> release_addresses(Store& store, const std::string& workload_id);

}  // namespace berth::state
