// The order a stack's workloads start in: each after everything it depends on.
#pragma once

#include <string>
#include <vector>

namespace berth::stack {

struct DependencyNode {
  std::string name;
  std::vector<std::string> depends_on;
};

struct StartOrder {
  // Every node, dependencies first; among nodes free to start at the same point, by name, so
  // one file always gives one order. Nodes on or behind a cycle come last, by name.
  std::vector<std::string> order;
  // One cycle per group of nodes that depend on each other, the shortest from the group's
  // smallest name back to it: {"a", "b", "c", "a"}. Groups in order of that name.
  std::vector<std::vector<std::string>> cycles;
};

// Dependencies on names that are not nodes, and on the node itself, are left for the caller
// to report; they do not affect the order.
StartOrder start_order(const std::vector<DependencyNode>& nodes);

}  // namespace berth::stack
