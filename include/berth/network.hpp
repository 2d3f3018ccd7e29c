// Named bridge networks: what `berth network create` makes and containers join.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "berth/status.hpp"

namespace berth {

struct NetworkSpec {
  std::string name;
  std::string subnet;   // "10.90.3.0/24"; empty: the first free 10.89.N.0/24
  std::string gateway;  // empty: the subnet's first address
  std::map<std::string, std::string> labels;
};

struct NetworkAttachment {
  std::string workload_id;
  std::string address;  // "10.90.3.2"
};

struct NetworkInfo {
  std::string id;
  std::string name;
  std::string subnet;
  std::string gateway;
  std::string bridge;  // the Linux bridge on the host
  TimePoint created_at;
  std::map<std::string, std::string> labels;
  std::vector<NetworkAttachment> attached;
};

}  // namespace berth
