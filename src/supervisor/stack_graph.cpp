#include "supervisor/stack_graph.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

namespace berth::stack {

StartOrder start_order(const std::vector<DependencyNode>& nodes) {
  // Edges from a node to what it depends on, by name, sorted (std::set) for determinism.
  std::map<std::string, std::set<std::string>> depends;
  for (auto& node : nodes) depends[node.name];
  for (auto& node : nodes)
    for (auto& dep : node.depends_on)
      if (dep != node.name && depends.contains(dep)) depends[node.name].insert(dep);

  std::map<std::string, std::size_t> waiting_on;
  std::map<std::string, std::vector<std::string>> dependents;
  for (auto& [name, deps] : depends) {
    waiting_on[name] = deps.size();
    for (auto& dep : deps) dependents[dep].push_back(name);
  }
  StartOrder result;
  std::set<std::string> ready;
  for (auto& [name, count] : waiting_on)
    if (count == 0) ready.insert(name);
  while (!ready.empty()) {
    auto name = *ready.begin();
    ready.erase(ready.begin());
    result.order.push_back(name);
    for (auto& dependent : dependents[name])
      if (--waiting_on[dependent] == 0) ready.insert(dependent);
  }

  // What never became ready is on a cycle or waits behind one.
  std::set<std::string> stuck;
  for (auto& [name, count] : waiting_on)
    if (count > 0) stuck.insert(name);
  result.order.insert(result.order.end(), stuck.begin(), stuck.end());

  auto reachable_from = [&](const std::string& start) {
    std::set<std::string> seen;
    std::deque<std::string> queue{start};
    while (!queue.empty()) {
      auto name = queue.front();
      queue.pop_front();
      for (auto& dep : depends[name])
        if (seen.insert(dep).second) queue.push_back(dep);
    }
    return seen;
  };
  std::map<std::string, std::set<std::string>> reach;
  for (auto& name : stuck) reach[name] = reachable_from(name);
  std::set<std::string> reported;
  for (auto& start : stuck) {  // in name order: each group is met first at its smallest name
    if (reported.contains(start) || !reach[start].contains(start)) continue;
    std::set<std::string> group;
    for (auto& other : reach[start])
      if (reach[other].contains(start)) group.insert(other);
    reported.insert(group.begin(), group.end());
    // Breadth first inside the group: the shortest way back to `start`, neighbours by name.
    std::map<std::string, std::string> came_from;
    std::deque<std::string> queue{start};
    std::string last;
    while (!queue.empty() && last.empty()) {
      auto name = queue.front();
      queue.pop_front();
      for (auto& dep : depends[name]) {
        if (!group.contains(dep)) continue;
        if (dep == start) {
          last = name;
          break;
        }
        if (came_from.emplace(dep, name).second) queue.push_back(dep);
      }
    }
    std::vector<std::string> cycle{start};
    for (auto at = last; at != start; at = came_from[at]) cycle.push_back(at);
    cycle.push_back(start);
    std::reverse(cycle.begin() + 1, cycle.end() - 1);
    result.cycles.push_back(std::move(cycle));
  }
  return result;
}

}  // namespace berth::stack
