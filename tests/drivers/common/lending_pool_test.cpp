// Buffer lifetime for sources that lend driver buffers (V4L2, libcamera).
#include "common/lending_pool.hpp"

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

namespace lookout {
namespace {

// Records what the pool gives back, as a driver queue would.
struct FakeQueue {
  std::mutex mutex;
  std::vector<std::size_t> requeued;
  bool fail = false;
  std::thread::id last_thread;

  LendingPool::Requeue requeue() {
    return [this](std::size_t index) {
      std::lock_guard lock(mutex);
      requeued.push_back(index);
      last_thread = std::this_thread::get_id();
      return !fail;
    };
  }
  std::vector<std::size_t> seen() {
    std::lock_guard lock(mutex);
    return requeued;
  }
};

// Memory a frame borrows, as a driver mapping would be.
struct Mapping {
  std::vector<std::uint8_t> bytes = std::vector<std::uint8_t>(64 * 3 * 2, 7);
};

Frame frame_on(const Mapping& memory) {
  Frame f;
  f.format = PixelFormat::RGB24;
  f.width = 64;
  f.height = 2;
  f.planes[0] = {memory.bytes.data(), 64 * 3, memory.bytes.size()};
  return f;
}

TEST_CASE("a lent buffer goes back exactly once, when the last reference drops") {
  FakeQueue queue;
  auto memory = std::make_shared<Mapping>();
  auto pool = LendingPool::create(4, queue.requeue());
  pool->keep(memory);

  FramePtr frame = pool->lend(2, frame_on(*memory));
  CHECK(pool->outstanding() == 1);
  FramePtr copy = frame;
  frame.reset();
  CHECK(queue.seen().empty());  // a copy still uses it
  CHECK(copy->planes[0].data[0] == 7);
  copy.reset();
  CHECK(queue.seen() == std::vector<std::size_t>{2});
  CHECK(pool->outstanding() == 0);
}

TEST_CASE("buffers returned after deactivate() are not requeued") {
  FakeQueue queue;
  auto pool = LendingPool::create(2, queue.requeue());
  Mapping memory;
  FramePtr a = pool->lend(0, frame_on(memory));
  FramePtr b = pool->lend(1, frame_on(memory));
  a.reset();
  pool->deactivate();  // the source stopped streaming
  b.reset();
  CHECK(queue.seen() == std::vector<std::size_t>{0});
  CHECK_FALSE(pool->active());
  CHECK(pool->outstanding() == 0);
}

TEST_CASE("frames keep the pool and its memory alive after the source let go") {
  FakeQueue queue;
  auto memory = std::make_shared<Mapping>();
  std::weak_ptr<Mapping> watch = memory;
  auto pool = LendingPool::create(1, queue.requeue());
  pool->keep(std::move(memory));
  std::weak_ptr<LendingPool> pool_watch = pool;

  FramePtr frame = pool->lend(0, frame_on(*watch.lock()));
  pool->deactivate();
  pool.reset();  // the source is gone (stopped or destroyed)
  REQUIRE_FALSE(watch.expired());
  REQUIRE_FALSE(pool_watch.expired());
  CHECK(frame->planes[0].data[10] == 7);  // still mapped and readable
  frame.reset();
  CHECK(watch.expired());
  CHECK(pool_watch.expired());
  CHECK(queue.seen().empty());
}

TEST_CASE("a frame dropped on another thread requeues on that thread") {
  FakeQueue queue;
  Mapping memory;
  auto pool = LendingPool::create(3, queue.requeue());
  FramePtr frame = pool->lend(1, frame_on(memory));
  std::thread::id worker_id;
  std::thread worker([f = std::move(frame), &worker_id]() mutable {
    worker_id = std::this_thread::get_id();
    f.reset();
  });
  worker.join();
  CHECK(queue.seen() == std::vector<std::size_t>{1});
  CHECK((queue.last_thread == worker_id));
}

TEST_CASE("many threads returning buffers concurrently lose none") {
  FakeQueue queue;
  Mapping memory;
  constexpr std::size_t kBuffers = 8;
  auto pool = LendingPool::create(kBuffers, queue.requeue());
  for (int round = 0; round < 50; ++round) {
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < kBuffers; ++i) {
      threads.emplace_back([f = pool->lend(i, frame_on(memory))]() mutable { f.reset(); });
    }
    for (auto& t : threads) t.join();
  }
  CHECK(queue.seen().size() == 50 * kBuffers);
  CHECK(pool->outstanding() == 0);
}

TEST_CASE("failed requeues are counted") {
  FakeQueue queue;
  queue.fail = true;
  Mapping memory;
  auto pool = LendingPool::create(1, queue.requeue());
  pool->lend(0, frame_on(memory)).reset();
  CHECK(pool->requeue_failures() == 1);
}

TEST_CASE("lending an index outside the pool throws") {
  FakeQueue queue;
  Mapping memory;
  auto pool = LendingPool::create(2, queue.requeue());
  CHECK_THROWS_AS(pool->lend(2, frame_on(memory)), std::out_of_range);
}

}  // namespace
}  // namespace lookout
