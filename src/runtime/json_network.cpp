// JSON forms of berth/network.hpp, berth/volume.hpp and stack records: what `berth
// network|volume ... --format json` prints and the REST API sends, and their strict readers.
#include "runtime/json.hpp"

#include "runtime/json_reader.hpp"

namespace berth {

using namespace json_detail;

json to_json(const NetworkSpec& s) {
  return {{"name", s.name}, {"subnet", s.subnet}, {"gateway", s.gateway}, {"labels", s.labels}};
}

Result<NetworkSpec> network_spec_from_json(const json& j) {
  return guarded("network", [&]() -> Result<NetworkSpec> {
    NetworkSpec s;
    Reader r(j, "", "network");
    r.get("name", s.name);
    r.get("subnet", s.subnet);
    r.get("gateway", s.gateway);
    r.get("labels", s.labels);
    return r.result(std::move(s));
  });
}

json to_json(const NetworkInfo& n) {
  json attached = json::array();
  for (const auto& a : n.attached) attached.push_back({{"workload_id", a.workload_id}, {"address", a.address}});
  return {{"id", n.id},           {"name", n.name},     {"subnet", n.subnet},
          {"gateway", n.gateway}, {"bridge", n.bridge}, {"created_at", format_rfc3339_nano(n.created_at)},
          {"labels", n.labels},   {"attached", attached}};
}

Result<NetworkInfo> network_info_from_json(const json& j) {
  return guarded("network", [&]() -> Result<NetworkInfo> {
    NetworkInfo n;
    Reader r(j, "", "network");
    r.get("id", n.id);
    r.get("name", n.name);
    r.get("subnet", n.subnet);
    r.get("gateway", n.gateway);
    r.get("bridge", n.bridge);
    r.get_time("created_at", n.created_at);
    r.get("labels", n.labels);
    r.get_objects("attached", n.attached, [](Reader& ar, NetworkAttachment& a) {
      ar.get("workload_id", a.workload_id);
      ar.get("address", a.address);
    });
    return r.result(std::move(n));
  });
}

json to_json(const VolumeInfo& v) {
  return {{"name", v.name},
          {"driver", v.driver},
          {"mountpoint", v.mountpoint},
          {"created_at", format_rfc3339_nano(v.created_at)},
          {"used_by", v.used_by}};
}

Result<VolumeInfo> volume_info_from_json(const json& j) {
  return guarded("volume", [&]() -> Result<VolumeInfo> {
    VolumeInfo v;
    Reader r(j, "", "volume");
    r.get("name", v.name);
    r.get("driver", v.driver);
    r.get("mountpoint", v.mountpoint);
    r.get_time("created_at", v.created_at);
    r.get("used_by", v.used_by);
    return r.result(std::move(v));
  });
}

json to_json(const StackRecord& s) {
  return {{"name", s.name}, {"workloads", s.workloads}, {"complete", s.complete}};
}

Result<StackRecord> stack_record_from_json(const json& j) {
  return guarded("stack record", [&]() -> Result<StackRecord> {
    StackRecord s;
    Reader r(j, "", "stack record");
    r.get("name", s.name);
    r.get("workloads", s.workloads);
    r.get("complete", s.complete);
    return r.result(std::move(s));
  });
}

}  // namespace berth
