#include "supervisor/stack_runner.hpp"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/numbers.hpp"
#include "common/sha256.hpp"
#include "runtime/json.hpp"

namespace berth::stack {

namespace {

using SteadyClock = std::chrono::steady_clock;

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string label_of(const WorkloadSpec& spec, const char* key) {
  auto it = spec.labels.find(key);
  return it == spec.labels.end() ? std::string() : it->second;
}

// A member's depth in its stack: 0 without dependencies in it, else one more than its deepest.
std::map<std::string, int> levels_of(const std::vector<WorkloadInfo>& members) {
  std::map<std::string, std::vector<std::string>> deps;
  for (const auto& m : members)
    deps[label_of(m.spec, member_label)] = split_commas(label_of(m.spec, depends_label));
  std::map<std::string, int> level;
  for (const auto& [name, _] : deps) level[name] = 0;
  // Relaxation: at most one pass per member, since a stack file's dependencies have no cycle.
  for (std::size_t pass = 0; pass < deps.size(); ++pass) {
    bool changed = false;
    for (const auto& [name, on] : deps)
      for (const auto& d : on)
        if (level.contains(d) && level[name] < level[d] + 1) {
          level[name] = level[d] + 1;
          changed = true;
        }
    if (!changed) break;
  }
  return level;
}

// The definition a member was made from, so an unchanged `up` leaves it alone.
std::string spec_hash(const WorkloadSpec& spec) { return sha256_hex(dump_json(to_json(spec))); }

}  // namespace

std::string member_name(std::string_view stack, std::string_view workload) {
  return fmt::format("{}-{}", stack, workload);
}

Result<std::vector<WorkloadInfo>> stack_workloads(Runtime& runtime, std::string_view stack) {
  auto all = runtime.list({.all = true});
  if (!all) return std::unexpected(all.error());
  std::vector<WorkloadInfo> members;
  for (auto& info : *all)
    if (label_of(info.spec, stack_label) == stack) members.push_back(std::move(info));
  auto level = levels_of(members);
  // Names are unique: a total order, so std::sort is as stable as it needs to be.
  std::sort(members.begin(), members.end(), [&](const WorkloadInfo& a, const WorkloadInfo& b) {
    auto la = level[label_of(a.spec, member_label)], lb = level[label_of(b.spec, member_label)];
    return la != lb ? la < lb : a.status.name < b.status.name;
  });
  return members;
}

Result<std::vector<std::string>> stack_names(Runtime& runtime) {
  auto all = runtime.list({.all = true});
  if (!all) return std::unexpected(all.error());
  std::set<std::string> names;
  for (const auto& info : *all)
    if (auto name = label_of(info.spec, stack_label); !name.empty()) names.insert(name);
  // A stack whose up was cut short before it made anything has only its record.
  auto records = runtime.stack_records();
  if (!records) return std::unexpected(records.error());
  for (const auto& record : *records) names.insert(record.name);
  return std::vector<std::string>(names.begin(), names.end());
}

Result<UpReport> stack_up(supervisor::Supervisor& supervisor, const StackFile& file, std::stop_token stop) {
  Runtime& runtime = supervisor.runtime();
  auto began = SteadyClock::now();
  (void)runtime.publish_event(file.name, event_type::stack_up,
                              {{"file", file.path}, {"workloads", std::to_string(file.workloads.size())}});
  // What this up sets out to run, recorded before anything is made: if it is cut short (berthd
  // killed), `stack ls` shows the stack incomplete until an up finishes.
  StackRecord record{file.name, {}, false};
  for (const auto& member : file.workloads) record.workloads.push_back(member.name);
  if (auto r = runtime.record_stack(record); !r)
    return std::unexpected(r.error().with_context(fmt::format("stack {}: record its up", file.name)));

  std::mutex mutex;
  std::condition_variable_any changed;
  std::set<std::string> ready;                  // stack workload names
  std::optional<Error> failure;
  std::vector<std::string> created, restarted;  // runtime names, in the order they happened
  UpReport report;
  report.stack = file.name;

  auto lookup = [&](std::string_view workload, std::string_view key) -> Result<std::string> {
    std::string name = member_name(file.name, workload);
    if (key == "name") return name;
    if (key == "id") {
      auto status = runtime.status(name);
      if (!status) return std::unexpected(status.error());
      return status->id;
    }
    if (key == "address") {
      auto address = runtime.resolve_address(name, 0);
      if (!address) return std::unexpected(address.error());
      return address->substr(0, address->rfind(':'));
    }
    if (key.starts_with("host_port.")) {
      auto port = parse_port_number(key.substr(10));
      if (!port) return fail(ErrorCode::invalid_spec, fmt::format("\"{}\" is not host_port.PORT", key));
      auto bound = runtime.resolve_host_port(name, *port);
      if (!bound) return std::unexpected(bound.error());
      return std::to_string(*bound);
    }
    return fail(ErrorCode::invalid_spec,
                fmt::format("workloads.{}.{}: unknown output (name, id, address, host_port.PORT)", workload, key));
  };

  auto bring_up = [&](const StackWorkload& member) -> Result<void> {
    auto spec = resolve_workload_references(member, lookup);
    if (!spec) return std::unexpected(spec.error());
    spec->name = member_name(file.name, member.name);
    if (spec->kind == WorkloadKind::container && spec->network.empty()) spec->network = file.name;
    spec->labels[stack_label] = file.name;
    spec->labels[member_label] = member.name;
    spec->labels[depends_label] = fmt::format("{}", fmt::join(member.depends_on, ","));
    spec->labels[spec_hash_label] = spec_hash(*spec);
    bool create = true;
    if (auto existing = runtime.inspect(spec->name)) {
      if (label_of(existing->spec, spec_hash_label) == spec->labels[spec_hash_label]) {
        create = false;
        if (is_active(existing->status.state)) {
          std::lock_guard lock(mutex);
          report.unchanged.push_back(spec->name);
        } else {
          if (auto r = runtime.start(spec->name); !r) return r;
          std::lock_guard lock(mutex);
          restarted.push_back(spec->name);
          report.started.push_back(spec->name);
        }
      } else if (auto removed = runtime.remove(spec->name, true); !removed) {
        return std::unexpected(removed.error().with_context("replace the old definition"));
      }
    } else if (existing.error().code != ErrorCode::not_found) {
      return std::unexpected(existing.error());
    }
    if (create) {
      auto handle = runtime.create(*spec);
      if (!handle) return std::unexpected(handle.error());
      {
        std::lock_guard lock(mutex);
        created.push_back(spec->name);
        report.created.push_back(spec->name);
      }
      if (auto r = runtime.start(handle->id); !r) return r;
    }
    return supervisor.wait_ready(spec->name, file.start_timeout, stop);
  };

  // A stack's containers share a network of their own, named after the stack, on which each
  // reaches the others by name (unless a workload names its network).
  bool wants_network = std::any_of(file.workloads.begin(), file.workloads.end(), [](const StackWorkload& w) {
    return w.spec.kind == WorkloadKind::container && w.spec.network.empty();
  });
  bool made_network = false;
  if (wants_network) {
    auto existing = runtime.inspect_network(file.name);
    if (!existing) {
      if (existing.error().code != ErrorCode::not_found) return std::unexpected(existing.error());
      auto made = runtime.create_network(NetworkSpec{file.name, "", "", {{stack_label, file.name}}});
      if (!made && made.error().code != ErrorCode::conflict)
        return std::unexpected(made.error().with_context(fmt::format("stack {}: its network", file.name)));
      made_network = made.has_value();
    }
  }

  {
    std::vector<std::jthread> starters;
    starters.reserve(file.workloads.size());
    for (const auto& member : file.workloads) {
      starters.emplace_back([&, m = &member] {
        const StackWorkload& member = *m;
        {
          std::unique_lock lock(mutex);
          changed.wait(lock, stop, [&] {
            return failure.has_value() || std::all_of(member.depends_on.begin(), member.depends_on.end(),
                                                      [&](const std::string& d) { return ready.contains(d); });
          });
          if (failure || stop.stop_requested()) return;
        }
        auto r = bring_up(member);
        {
          std::lock_guard lock(mutex);
          if (r) ready.insert(member.name);
          else if (!failure) failure = r.error().with_context("workload " + member.name);
        }
        changed.notify_all();
      });
    }
  }  // joins every starter
  if (!failure && stop.stop_requested()) failure = Error{ErrorCode::unavailable, "cancelled"};

  if (failure) {
    std::string rolled_back;
    if (file.rollback) {
      // Newest first: dependents go before what they depend on.
      std::vector<std::string> removed;
      for (auto it = created.rbegin(); it != created.rend(); ++it)
        if (runtime.remove(*it, true)) removed.push_back(*it);
      for (auto it = restarted.rbegin(); it != restarted.rend(); ++it) (void)runtime.stop(*it);
      if (made_network) (void)runtime.remove_network(file.name);
      rolled_back = removed.empty() && restarted.empty()
                        ? "; nothing to roll back"
                        : fmt::format("; rolled back: removed [{}], stopped [{}]", fmt::join(removed, ", "),
                                      fmt::join(restarted, ", "));
    }
    // Rolled back to nothing: no stack is left to show. Otherwise it stays incomplete.
    if (auto left = stack_workloads(runtime, file.name); left && left->empty()) (void)runtime.forget_stack(file.name);
    (void)runtime.publish_event(file.name, event_type::stack_failed, {{"reason", failure->message}});
    return fail(failure->code, fmt::format("stack {}: {}{}", file.name, failure->message, rolled_back));
  }
  record.complete = true;
  if (auto r = runtime.record_stack(record); !r)
    return std::unexpected(r.error().with_context(fmt::format("stack {}: record its up as complete", file.name)));
  report.took = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - began);
  (void)runtime.publish_event(file.name, event_type::stack_ready, {{"took_ms", std::to_string(report.took.count())}});
  return report;
}

Result<DownReport> stack_down(Runtime& runtime, std::string_view stack,
                              std::optional<std::chrono::milliseconds> grace) {
  auto members = stack_workloads(runtime, stack);
  if (!members) return std::unexpected(members.error());
  if (members->empty()) {
    // An up cut short before it made anything leaves only its record.
    auto records = runtime.stack_records();
    if (!records) return std::unexpected(records.error());
    if (std::none_of(records->begin(), records->end(), [&](const StackRecord& r) { return r.name == stack; }))
      return fail(ErrorCode::not_found, fmt::format("no stack named \"{}\" (no workload is labelled {}={})",
                                                    stack, stack_label, stack));
  }
  auto level = levels_of(*members);
  int deepest = 0;
  for (const auto& [_, l] : level) deepest = std::max(deepest, l);
  DownReport report;
  report.stack = std::string(stack);
  std::mutex mutex;
  std::optional<Error> failure;
  for (int l = deepest; l >= 0; --l) {
    std::vector<std::jthread> stoppers;
    for (const auto& m : *members) {
      if (level[label_of(m.spec, member_label)] != l) continue;
      stoppers.emplace_back([&, id = m.status.id] {
        (void)runtime.stop(id, grace);
        auto removed = runtime.remove(id, true);
        std::lock_guard lock(mutex);
        if (removed) report.removed.push_back(std::move(*removed));
        else if (removed.error().code != ErrorCode::not_found && !failure) failure = removed.error();
      });
    }
  }
  // The network the stack made for itself goes with it.
  if (auto networks = runtime.list_networks()) {
    for (const auto& n : *networks) {
      auto label = n.labels.find(stack_label);
      if (label == n.labels.end() || label->second != stack) continue;
      if (auto r = runtime.remove_network(n.name); !r && !failure) failure = r.error();
    }
  }
  if (auto r = runtime.forget_stack(stack); !r && !failure) failure = r.error();
  (void)runtime.publish_event(std::string(stack), event_type::stack_down,
                              {{"removed", std::to_string(report.removed.size())}});
  if (failure) return std::unexpected(failure->with_context(fmt::format("down {}", stack)));
  return report;
}

}  // namespace berth::stack
