#include "common/lending_pool.hpp"

#include <cassert>
#include <stdexcept>
#include <string>

namespace lookout {

std::shared_ptr<LendingPool> LendingPool::create(std::size_t buffers, Requeue requeue) {
  return std::shared_ptr<LendingPool>(new LendingPool(buffers, std::move(requeue)));
}

LendingPool::LendingPool(std::size_t buffers, Requeue requeue)
    : requeue_(std::move(requeue)), lent_(buffers, false) {}

LendingPool::~LendingPool() {
  // Release in reverse order: later resources may depend on earlier ones
  // (buffer mappings on the device fd, requests on the camera).
  while (!resources_.empty()) resources_.pop_back();
}

FramePtr LendingPool::lend(std::size_t index, Frame frame) {
  {
    std::lock_guard lock(mutex_);
    if (index >= lent_.size()) {
      throw std::out_of_range("buffer index " + std::to_string(index) + " out of " +
                              std::to_string(lent_.size()));
    }
    // A driver handing out a buffer we still lend would be a bug in the
    // source's bookkeeping, not a device fault.
    assert(!lent_[index]);
    lent_[index] = true;
    ++outstanding_;
  }
  auto self = shared_from_this();
  return FramePtr(new Frame(std::move(frame)), [self, index](const Frame* f) {
    delete f;
    self->give_back(index);
  });
}

void LendingPool::give_back(std::size_t index) noexcept {
  std::lock_guard lock(mutex_);
  lent_[index] = false;
  --outstanding_;
  if (active_ && requeue_ && !requeue_(index)) ++requeue_failures_;
}

void LendingPool::deactivate() {
  std::lock_guard lock(mutex_);
  active_ = false;
}

void LendingPool::keep(std::shared_ptr<void> resource) {
  std::lock_guard lock(mutex_);
  resources_.push_back(std::move(resource));
}

std::size_t LendingPool::outstanding() const {
  std::lock_guard lock(mutex_);
  return outstanding_;
}

bool LendingPool::active() const {
  std::lock_guard lock(mutex_);
  return active_;
}

std::size_t LendingPool::requeue_failures() const {
  std::lock_guard lock(mutex_);
  return requeue_failures_;
}

}  // namespace lookout
