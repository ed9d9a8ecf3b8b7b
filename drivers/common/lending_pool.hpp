// LendingPool: hands a camera's buffers to frames and takes them back.
//
// V4L2 and libcamera capture into a fixed set of driver buffers. A frame built
// on buffer i borrows it; when the last FramePtr to that frame drops (on any
// thread, possibly long after the source stopped), the pool gives buffer i back
// to the driver through `requeue` -- but only while the pool is active. The
// source deactivates its pool on stop(); buffers returned afterwards stay idle.
// Whatever memory the buffers live in (mmaps, device fd, camera objects) is
// kept in the pool, so it stays mapped until the last frame is gone.
//
// Ownership: shared (std::shared_ptr) by the source that created it and by
// every frame lent from it. Threads: lend() and deactivate() on the capture
// thread; buffers come back on any thread. One mutex guards the state and is
// held while `requeue` runs, so once deactivate() returns no requeue is in
// flight and none will start.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/frame.hpp"

namespace lookout {

class LendingPool : public std::enable_shared_from_this<LendingPool> {
 public:
  // Gives buffer `index` back to the driver; returns false when that failed
  // (the buffer is then lost for this session; the source will notice the
  // starvation as a stall). Called with the pool's mutex held; never throws.
  using Requeue = std::function<bool(std::size_t index)>;

  static std::shared_ptr<LendingPool> create(std::size_t buffers, Requeue requeue);

  LendingPool(const LendingPool&) = delete;
  LendingPool& operator=(const LendingPool&) = delete;
  ~LendingPool();

  // Publishes `frame`, whose planes point into buffer `index`. The buffer is
  // requeued when the returned frame's last reference drops.
  FramePtr lend(std::size_t index, Frame frame);

  // Stops requeueing. Idempotent.
  void deactivate();

  // Keeps `resource` alive as long as the pool (and so as long as any frame).
  // Resources are released in reverse order of keep() calls.
  void keep(std::shared_ptr<void> resource);

  std::size_t outstanding() const;
  bool active() const;
  // Buffers given back that failed to requeue.
  std::size_t requeue_failures() const;

 private:
  LendingPool(std::size_t buffers, Requeue requeue);
  void give_back(std::size_t index) noexcept;

  mutable std::mutex mutex_;
  Requeue requeue_;
  std::vector<bool> lent_;
  std::size_t outstanding_ = 0;
  std::size_t requeue_failures_ = 0;
  bool active_ = true;
  std::vector<std::shared_ptr<void>> resources_;
};

}  // namespace lookout
