#include "common/pacer.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include "core/source_config.hpp"

namespace lookout {

Pacer::Pacer(double fps) {
  if (fps > 0 && std::isfinite(fps)) {
    // Far below the slowest rate a configuration takes, 1/fps would
    // overflow the duration (and turn negative: unpaced).
    period_ = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(1.0 / std::max(fps, kMinSourceFps)));
  }
  reset();
}

void Pacer::reset() {
  next_due_ = std::chrono::steady_clock::now();
}

bool Pacer::wait(std::chrono::milliseconds timeout) const {
  if (!paced()) return true;
  const auto now = std::chrono::steady_clock::now();
  if (next_due_ <= now) return true;
  if (next_due_ - now > timeout) {
    std::this_thread::sleep_for(timeout);
    return false;
  }
  std::this_thread::sleep_until(next_due_);
  return true;
}

void Pacer::delivered() {
  if (!paced()) return;
  next_due_ = std::max(next_due_ + period_, std::chrono::steady_clock::now());
}

}  // namespace lookout
