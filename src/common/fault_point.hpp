// Named places where a test can make this process die as a crash would. With
// BERTH_FAULT_POINT=<name> in its environment, a process SIGKILLs itself on reaching the point
// of that name: tests/daemon/fault_points_test.cpp kills berthd at each step of create, start,
// stop and remove this way, and checks that the next berthd accounts for every workload, runs
// no copy twice and leaks nothing. Unarmed, a point costs one string comparison.
#pragma once

#include <string_view>

namespace berth {

void fault_point(std::string_view name);

}  // namespace berth
