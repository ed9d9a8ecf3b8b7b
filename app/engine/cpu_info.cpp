#include "cpu_info.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

namespace lookout::engine {

namespace {

// Reads one integer from a sysfs file; -1 when absent or unreadable.
long read_number(const std::string& path) {
  std::ifstream in(path);
  long value = -1;
  if (!(in >> value)) return -1;
  return value;
}

}  // namespace

std::string cpu_architecture() {
#if defined(__aarch64__)
  return "aarch64";
#elif defined(__x86_64__)
  return "x86_64";
#elif defined(__arm__)
  return "arm";
#else
  return "unknown";
#endif
}

std::vector<int> usable_cores() {
  std::vector<int> cores;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int i = 0; i < CPU_SETSIZE; ++i) {
      if (CPU_ISSET(i, &set)) cores.push_back(i);
    }
  }
  if (cores.empty()) {
    const unsigned n = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) cores.push_back(static_cast<int>(i));
  }
  return cores;
}

std::vector<int> big_cores(const std::string& cpu_root, const std::vector<int>& usable) {
  // Capacity (normalised by the kernel, 1024 = biggest) is the direct answer;
  // the maximum frequency is the fallback on kernels without it.
  for (const char* key : {"cpu_capacity", "cpufreq/cpuinfo_max_freq"}) {
    std::vector<std::pair<int, long>> values;
    for (int core : usable) {
      const long v = read_number(cpu_root + "/cpu" + std::to_string(core) + "/" + key);
      if (v > 0) values.emplace_back(core, v);
    }
    if (values.size() != usable.size() || values.empty()) continue;
    long best = 0;
    for (const auto& [core, v] : values) best = std::max(best, v);
    std::vector<int> big;
    // Cores within 10% of the best count as big (frequency tables of one
    // cluster can differ slightly between cores).
    for (const auto& [core, v] : values) {
      if (v * 10 >= best * 9) big.push_back(core);
    }
    return big;
  }
  return usable.empty() ? std::vector<int>{0} : usable;
}

std::vector<int> big_cores() { return big_cores("/sys/devices/system/cpu", usable_cores()); }

std::string pin_current_thread(const std::vector<int>& cores) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int core : cores) {
    if (core < 0 || core >= CPU_SETSIZE) return "core " + std::to_string(core) + " out of range";
    CPU_SET(core, &set);
  }
  const int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  if (rc != 0) return std::string("pthread_setaffinity_np: ") + std::strerror(rc);
  return {};
}

}  // namespace lookout::engine
