// Pacer: spaces the frames of a generated or recorded source at a fixed rate
// on the steady clock, so files and synthetic scenes arrive like a camera's.
//
// Ownership: a member of its source. Threads: only the source's capture thread.
#pragma once

#include <chrono>

namespace lookout {

class Pacer {
 public:
  // fps <= 0 means unpaced: every frame is due at once (benchmarks).
  explicit Pacer(double fps);

  // The next frame is due now (call on start and after a restart).
  void reset();

  // Sleeps until the next frame is due, but at most `timeout`. Returns true when
  // it is due (the caller delivers one frame and calls delivered()), false when
  // the timeout ran out first.
  bool wait(std::chrono::milliseconds timeout) const;

  // Schedules the next frame one period after the last one. A consumer slower
  // than the rate gets frames as fast as it takes them, never a burst to catch
  // up on frames it was too slow for.
  void delivered();

  bool paced() const { return period_.count() > 0; }

 private:
  std::chrono::steady_clock::duration period_{0};
  std::chrono::steady_clock::time_point next_due_{};
};

}  // namespace lookout
