// PrepareAhead: prepares the next frame on a helper thread while the caller's
// thread runs the model on the current one, so that decoding and letterboxing
// leave the inference thread's critical path (pipelining two stages, the way
// rpicam-apps keep inference off the capture thread):
//
//   ahead.submit(frame0);
//   for (...) {
//     PreparedFrame current = ahead.take();  // waits for frame i
//     ahead.submit(frame_i_plus_1);           // prepared while ...
//     engine.detect(std::move(current), o);   // ... the model runs here
//   }
//
// Worth it where a core is free while the model runs (fewer intra-op threads
// than cores, or models whose threads idle between operators); see
// app/engine/BENCHMARKS.md for the figures.
//
// Ownership: borrows the engine, which must outlive this object; holds a
// submitted frame until it is prepared (a camera buffer then goes back at
// once). Not copyable.
// Threads: submit() and take() from one thread (the inference thread); the
// helper thread calls only engine.prepare(). The destructor joins it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>

#include "core/frame.hpp"
#include "engine/engine.hpp"

namespace lookout {

class PrepareAhead {
 public:
  explicit PrepareAhead(Engine& engine);
  ~PrepareAhead();
  PrepareAhead(const PrepareAhead&) = delete;
  PrepareAhead& operator=(const PrepareAhead&) = delete;

  // Starts preparing `frame` on the helper thread. One frame at a time:
  // throws std::logic_error if the previous one was not taken yet.
  void submit(FramePtr frame);
  // Waits for the submitted frame and returns it prepared, or rethrows what
  // prepare() threw (std::invalid_argument for a bad frame). Throws
  // std::logic_error if nothing was submitted.
  PreparedFrame take();

  // Frames take() prepared itself because the helper had not started on them.
  std::uint64_t inline_count() const { return inline_count_; }
  // Whether the helper runs at SCHED_IDLE (see helper_loop).
  bool idle_policy() const { return idle_policy_; }

 private:
  enum class Stage { Idle, Submitted, Preparing, Done };
  void helper_loop();

  Engine& engine_;
  std::mutex mutex_;
  std::condition_variable wake_;
  Stage stage_ = Stage::Idle;
  bool stopping_ = false;
  FramePtr frame_;
  PreparedFrame prepared_;
  std::exception_ptr error_;
  std::uint64_t inline_count_ = 0;        // caller's thread only
  std::atomic<bool> idle_policy_{false};  // set by the helper at start
  std::thread helper_;                    // last: started once the members above exist
};

}  // namespace lookout
