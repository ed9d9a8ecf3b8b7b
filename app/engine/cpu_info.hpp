// What the engine needs to know about the CPU to pick thread counts and
// backends: the architecture and which cores are "big" (fast).
//
// Pure functions over sysfs; no state, any thread.
#pragma once

#include <string>
#include <vector>

namespace lookout::engine {

// "x86_64", "aarch64", ... (the architecture this binary was built for).
std::string cpu_architecture();

// The online cores with the highest capacity: on big.LITTLE systems the big
// cluster (by /sys/devices/system/cpu/cpuN/cpu_capacity, else cpufreq's
// cpuinfo_max_freq); on uniform machines all online cores of this process's
// affinity mask. Never empty.
std::vector<int> big_cores();

// Same, reading sysfs below `cpu_root` (tests point it at a fake tree) with the
// given list of usable cores.
std::vector<int> big_cores(const std::string& cpu_root, const std::vector<int>& usable);

// Cores this process may run on (sched_getaffinity).
std::vector<int> usable_cores();

// Pins the calling thread to `cores`; returns an error message, empty on success.
std::string pin_current_thread(const std::vector<int>& cores);

}  // namespace lookout::engine
