// A test's hand on one process's realtime clock: preloaded into a child
// process (LD_PRELOAD), it adds an offset to what CLOCK_REALTIME (and
// gettimeofday, time) return there, so a test can make the wall clock jump
// as NTP or an operator would, without privileges and without touching the
// machine's clock. CLOCK_MONOTONIC and CLOCK_BOOTTIME are left alone: what
// the daemon must time by is exactly what does not move.
//
// The offset lives in a file of 8 bytes (nanoseconds, native int64) named by
// LOOKOUT_TEST_CLOCK_SHIFT; the shim maps it shared and reads it atomically on
// every call, so the test changes it by storing into its own mapping
// (tests/support/clock_shift.hpp). Without the variable, nothing moves.
//
// Any thread of the preloaded process calls these; they take no locks.
#include <dlfcn.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

#include <sys/mman.h>
#include <sys/time.h>

namespace {

using ClockGettime = int (*)(clockid_t, timespec*);

const std::int64_t* shift_ns = nullptr;
ClockGettime real_clock_gettime = nullptr;

// Runs while the process loads, before its main and its threads.
__attribute__((constructor)) void map_shift() {
  real_clock_gettime = reinterpret_cast<ClockGettime>(dlsym(RTLD_NEXT, "clock_gettime"));
  const char* path = std::getenv("LOOKOUT_TEST_CLOCK_SHIFT");
  if (path == nullptr || *path == '\0') return;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  void* map = ::mmap(nullptr, sizeof(std::int64_t), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map != MAP_FAILED) shift_ns = static_cast<const std::int64_t*>(map);
}

bool is_wall(clockid_t id) {
  return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE || id == CLOCK_TAI;
}

void shift(timespec& ts) {
  if (shift_ns == nullptr) return;
  const std::int64_t by = __atomic_load_n(shift_ns, __ATOMIC_RELAXED);
  std::int64_t ns = static_cast<std::int64_t>(ts.tv_nsec) + by % 1000000000;
  std::int64_t s = static_cast<std::int64_t>(ts.tv_sec) + by / 1000000000;
  if (ns < 0) {
    ns += 1000000000;
    --s;
  } else if (ns >= 1000000000) {
    ns -= 1000000000;
    ++s;
  }
  ts.tv_sec = static_cast<time_t>(s);
  ts.tv_nsec = static_cast<long>(ns);
}

}  // namespace

extern "C" {

int clock_gettime(clockid_t id, timespec* ts) {
  if (real_clock_gettime == nullptr) {
    real_clock_gettime = reinterpret_cast<ClockGettime>(dlsym(RTLD_NEXT, "clock_gettime"));
  }
  const int result = real_clock_gettime(id, ts);
  if (result == 0 && is_wall(id)) shift(*ts);
  return result;
}

int gettimeofday(timeval* tv, void* /*timezone, obsolete*/) {
  timespec ts{};
  const int result = clock_gettime(CLOCK_REALTIME, &ts);
  if (result == 0 && tv != nullptr) {
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = static_cast<suseconds_t>(ts.tv_nsec / 1000);
  }
  return result;
}

time_t time(time_t* out) {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  if (out != nullptr) *out = ts.tv_sec;
  return ts.tv_sec;
}

}  // extern "C"
