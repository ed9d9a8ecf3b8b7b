#include "engine/prepare_ahead.hpp"

#include <pthread.h>
#include <sched.h>

#include <stdexcept>
#include <utility>

namespace lookout {

PrepareAhead::PrepareAhead(Engine& engine) : engine_(engine), helper_([this] { helper_loop(); }) {}

PrepareAhead::~PrepareAhead() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  helper_.join();
}

void PrepareAhead::submit(FramePtr frame) {
  if (!frame) throw std::invalid_argument("PrepareAhead: null frame");
  {
    std::lock_guard lock(mutex_);
    if (stage_ != Stage::Idle) throw std::logic_error("PrepareAhead: submit() before take()");
    frame_ = std::move(frame);
    stage_ = Stage::Submitted;
  }
  wake_.notify_all();
}

PreparedFrame PrepareAhead::take() {
  std::unique_lock lock(mutex_);
  if (stage_ == Stage::Idle) throw std::logic_error("PrepareAhead: take() without submit()");
  if (stage_ == Stage::Submitted) {
    // The helper has not started (no idle core came up): prepare here rather
    // than wait, which is never slower than not pipelining at all.
    FramePtr frame = std::move(frame_);
    stage_ = Stage::Idle;
    lock.unlock();
    ++inline_count_;
    return engine_.prepare(*frame);
  }
  wake_.wait(lock, [this] { return stage_ == Stage::Done; });
  stage_ = Stage::Idle;
  if (error_) {
    std::exception_ptr error = std::exchange(error_, nullptr);
    std::rethrow_exception(error);
  }
  return std::move(prepared_);
}

void PrepareAhead::helper_loop() {
  pthread_setname_np(pthread_self(), "prepare");  // for top -H, perf, gdb
  // SCHED_IDLE: the helper gets only CPU time that no other thread wants, so
  // it fills the gaps the inference threads leave (between operators, or a
  // core they don't use) and is preempted the moment one of them wakes; it
  // takes no CPU time from the forward pass (it still shares caches and
  // memory bandwidth). Unprivileged threads may lower themselves to it; if
  // not, it runs as a normal thread.
  sched_param param{};
  param.sched_priority = 0;
  idle_policy_ = pthread_setschedparam(pthread_self(), SCHED_IDLE, &param) == 0;
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || stage_ == Stage::Submitted; });
    if (stopping_) return;
    FramePtr frame = std::move(frame_);
    stage_ = Stage::Preparing;
    lock.unlock();
    PreparedFrame prepared;
    std::exception_ptr error;
    try {
      prepared = engine_.prepare(*frame);
    } catch (...) {
      error = std::current_exception();
    }
    frame.reset();  // a camera buffer goes back before the model runs
    lock.lock();
    prepared_ = std::move(prepared);
    error_ = error;
    stage_ = Stage::Done;
    wake_.notify_all();
  }
}

}  // namespace lookout
