// The test's side of tests/support/clock_shift.cpp: a file holding the
// offset a preloaded child adds to its realtime clock. Pass env() to the
// child (Daemon::Options::env); set() moves its wall clock at once.
//
// One test thread uses it. Copying is disabled: it owns a mapping.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/mman.h>

namespace lookout::test {

class ClockShift {
 public:
  explicit ClockShift(const std::filesystem::path& file) : file_(file) {
    const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ::ftruncate(fd, sizeof(std::int64_t)) != 0) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error("cannot make " + file.string());
    }
    void* map = ::mmap(nullptr, sizeof(std::int64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) throw std::runtime_error("cannot map " + file.string());
    shift_ = static_cast<std::int64_t*>(map);
  }
  ~ClockShift() { ::munmap(shift_, sizeof(std::int64_t)); }
  ClockShift(const ClockShift&) = delete;
  ClockShift& operator=(const ClockShift&) = delete;

  // What the child needs in its environment. ASan wants its runtime first
  // among the libraries; a preloaded shim comes before it, which is harmless.
  std::vector<std::string> env() const {
    const char* asan = std::getenv("ASAN_OPTIONS");
    return {std::string("LD_PRELOAD=") + LOOKOUT_CLOCK_SHIFT_LIBRARY,
            "LOOKOUT_TEST_CLOCK_SHIFT=" + file_.string(),
            std::string("ASAN_OPTIONS=verify_asan_link_order=0") + (asan ? ":" : "") +
                (asan ? asan : "")};
  }

  // The child's wall clock is now the real one plus `offset`.
  void set(std::chrono::nanoseconds offset) {
    __atomic_store_n(shift_, static_cast<std::int64_t>(offset.count()), __ATOMIC_RELAXED);
  }

 private:
  std::filesystem::path file_;
  std::int64_t* shift_ = nullptr;
};

}  // namespace lookout::test
