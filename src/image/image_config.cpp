#include "image/image_config.hpp"

#include <algorithm>
#include <fmt/format.h>

#include "common/time.hpp"

namespace berth::image {

using nlohmann::json;

namespace {

template <typename T>
Result<void> read(const json& object, const char* key, T& out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return {};
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    return fail(ErrorCode::invalid_spec, fmt::format("config.{} has the wrong type", key));
  }
  return {};
}

std::chrono::milliseconds from_nanos(std::int64_t ns, std::chrono::milliseconds fallback) {
  return ns > 0 ? std::chrono::milliseconds(ns / 1000000) : fallback;
}

}  // namespace

Result<ImageDefaults> image_defaults_from_config(const json& document) {
  ImageDefaults d;
  auto c = document.find("config");
  if (c == document.end() || c->is_null()) return d;
  if (!c->is_object()) return fail(ErrorCode::invalid_spec, "config is not an object");
  for (auto r : {read(*c, "Entrypoint", d.entrypoint), read(*c, "Cmd", d.cmd), read(*c, "Env", d.env),
                 read(*c, "WorkingDir", d.working_dir), read(*c, "User", d.user),
                 read(*c, "StopSignal", d.stop_signal), read(*c, "Labels", d.labels)})
    if (!r) return std::unexpected(r.error());
  if (auto ports = c->find("ExposedPorts"); ports != c->end() && !ports->is_null()) {
    if (!ports->is_object()) return fail(ErrorCode::invalid_spec, "config.ExposedPorts is not an object");
    for (auto& [port, ignored] : ports->items()) d.exposed_ports.push_back(port);
    std::sort(d.exposed_ports.begin(), d.exposed_ports.end());
  }
  if (auto hc = c->find("Healthcheck"); hc != c->end() && hc->is_object()) {
    std::vector<std::string> test;
    std::int64_t interval = 0, timeout = 0, start = 0;
    int retries = 0;
    for (auto r : {read(*hc, "Test", test), read(*hc, "Interval", interval), read(*hc, "Timeout", timeout),
                   read(*hc, "StartPeriod", start), read(*hc, "Retries", retries)})
      if (!r) return std::unexpected(r.error());
    if (!test.empty() && test[0] != "NONE") {
      HealthCheck h;
      h.type = "exec";
      if (test[0] == "CMD") h.command.assign(test.begin() + 1, test.end());
      else if (test[0] == "CMD-SHELL" && test.size() == 2) h.command = {"/bin/sh", "-c", test[1]};
      else return fail(ErrorCode::invalid_spec, fmt::format("config.Healthcheck.Test: \"{}\" is not CMD, CMD-SHELL or NONE", test[0]));
      h.interval = from_nanos(interval, h.interval);
      h.timeout = from_nanos(timeout, h.timeout);
      h.start_period = from_nanos(start, h.start_period);
      if (retries > 0) h.retries = retries;
      d.health_check = h;
    }
  }
  return d;
}

json image_defaults_to_json(const ImageDefaults& d) {
  json j = {{"entrypoint", d.entrypoint}, {"cmd", d.cmd},   {"env", d.env},
            {"working_dir", d.working_dir}, {"user", d.user}, {"exposed_ports", d.exposed_ports},
            {"stop_signal", d.stop_signal}, {"labels", d.labels}};
  if (d.health_check)
    j["health_check"] = {{"type", d.health_check->type},
                         {"command", d.health_check->command},
                         {"interval_ms", d.health_check->interval.count()},
                         {"timeout_ms", d.health_check->timeout.count()},
                         {"start_period_ms", d.health_check->start_period.count()},
                         {"retries", d.health_check->retries}};
  return j;
}

Result<ImageDefaults> image_defaults_from_json(const json& j) {
  try {
    ImageDefaults d;
    d.entrypoint = j.at("entrypoint").get<std::vector<std::string>>();
    d.cmd = j.at("cmd").get<std::vector<std::string>>();
    d.env = j.at("env").get<std::vector<std::string>>();
    d.working_dir = j.at("working_dir").get<std::string>();
    d.user = j.at("user").get<std::string>();
    d.exposed_ports = j.at("exposed_ports").get<std::vector<std::string>>();
    d.stop_signal = j.at("stop_signal").get<std::string>();
    d.labels = j.at("labels").get<std::map<std::string, std::string>>();
    if (auto h = j.find("health_check"); h != j.end()) {
      HealthCheck hc;
      hc.type = "exec";
      hc.command = h->at("command").get<std::vector<std::string>>();
      hc.interval = std::chrono::milliseconds(h->at("interval_ms").get<std::int64_t>());
      hc.timeout = std::chrono::milliseconds(h->at("timeout_ms").get<std::int64_t>());
      hc.start_period = std::chrono::milliseconds(h->at("start_period_ms").get<std::int64_t>());
      hc.retries = h->at("retries").get<int>();
      d.health_check = hc;
    }
    return d;
  } catch (const json::exception& e) {
    return fail(ErrorCode::internal, fmt::format("image record defaults: {}", e.what()));
  }
}

json image_info_to_json(const ImageInfo& i) {
  return {{"id", i.id},
          {"names", i.names},
          {"manifest_digest", i.manifest_digest},
          {"diff_ids", i.diff_ids},
          {"architecture", i.architecture},
          {"os", i.os},
          {"size", i.size},
          {"created", format_rfc3339_nano(i.created)},
          {"imported", format_rfc3339_nano(i.imported)},
          {"config", image_defaults_to_json(i.defaults)}};
}

Result<ImageInfo> image_info_from_json(const json& j, const std::string& what) {
  try {
    ImageInfo i;
    i.id = j.at("id").get<std::string>();
    i.names = j.at("names").get<std::vector<std::string>>();
    i.manifest_digest = j.at("manifest_digest").get<std::string>();
    i.diff_ids = j.at("diff_ids").get<std::vector<std::string>>();
    i.architecture = j.at("architecture").get<std::string>();
    i.os = j.at("os").get<std::string>();
    i.size = j.at("size").get<std::int64_t>();
    i.created = parse_rfc3339(j.at("created").get<std::string>()).value_or(TimePoint{});
    i.imported = parse_rfc3339(j.at("imported").get<std::string>()).value_or(TimePoint{});
    auto defaults = image_defaults_from_json(j.at("config"));
    if (!defaults) return std::unexpected(defaults.error());
    i.defaults = std::move(*defaults);
    return i;
  } catch (const json::exception& e) {
    return fail(ErrorCode::internal, fmt::format("image record {}: {}", what, e.what()));
  }
}

}  // namespace berth::image
