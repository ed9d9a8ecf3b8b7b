// The supervisor under failures and stalls. Hardware can't fail on demand
// here, so its dependency -- the inner source -- is a scripted double; the
// real-source cases (a files directory that disappears, a missing V4L2
// device, libcamera without cameras) are in the files/, v4l2/ and libcamera/
// tests. No timing assertions: loops wait for state changes, with a generous
// cap only so a bug cannot hang the suite.
#include "drivers/supervised_source.hpp"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include <doctest/doctest.h>

#include "core/log.hpp"

namespace lookout {
namespace {

using std::chrono::milliseconds;

// Inner source whose behaviour the test scripts.
class ScriptedSource final : public FrameSource {
 public:
  struct Shared {
    std::mutex mutex;
    std::condition_variable changed;
    int starts = 0;  // start() calls
    int stops = 0;
    int fail_starts = 0;           // the next N start() calls throw
    bool block_start = false;      // start() waits until cleared
    bool blocked = false;          // a start() is waiting right now
    int frames_before_error = -1;  // after N frames, next_frame reports Error (-1: never)
    bool stall = false;            // next_frame returns Timeout
    int frames_total = -1;         // after N frames, EndOfStream (-1: never)
    bool throw_in_next = false;
  };

  explicit ScriptedSource(std::shared_ptr<Shared> shared) : s_(std::move(shared)) {}

  void start() override {
    std::unique_lock lock(s_->mutex);
    ++s_->starts;
    if (s_->block_start) {
      s_->blocked = true;
      s_->changed.notify_all();
      s_->changed.wait(lock, [this] { return !s_->block_start; });
      s_->blocked = false;
    }
    if (s_->fail_starts > 0) {
      --s_->fail_starts;
      throw SourceError("scripted: camera not found");
    }
    sequence_ = 0;
    started_ = true;
  }

  FrameResult next_frame(milliseconds timeout) override {
    std::unique_lock lock(s_->mutex);
    if (!started_) return FrameResult::failure("not started");
    if (s_->throw_in_next) throw std::runtime_error("scripted: driver bug");
    if (s_->stall) {
      lock.unlock();
      std::this_thread::sleep_for(std::min(timeout, milliseconds(2)));
      return FrameResult::timeout();
    }
    if (s_->frames_total >= 0 && delivered_ >= s_->frames_total)
      return FrameResult::end_of_stream();
    if (s_->frames_before_error == 0) {
      s_->frames_before_error = -1;
      return FrameResult::failure("scripted: device disappeared");
    }
    if (s_->frames_before_error > 0) --s_->frames_before_error;
    auto frame = Frame::allocate(PixelFormat::GRAY8, 2, 2);
    frame->sequence = sequence_++;
    ++delivered_;
    return FrameResult::ok(std::move(frame));
  }

  void stop() override {
    std::lock_guard lock(s_->mutex);
    ++s_->stops;
    started_ = false;
  }

  SourceInfo info() const override { return {"scripted", 2, 2, 0, PixelFormat::GRAY8}; }

 private:
  std::shared_ptr<Shared> s_;
  bool started_ = false;
  std::uint64_t sequence_ = 0;
  int delivered_ = 0;
};

SupervisorOptions fast() {
  SupervisorOptions o;
  o.frame_timeout = milliseconds(50);
  o.backoff_initial = milliseconds(1);
  o.backoff_max = milliseconds(8);
  return o;
}

// Calls next_frame until `until` holds for the result or the health; fails
// the test if that takes absurdly long (a hang guard, not a timing check).
template <typename Pred>
FrameResult pump(SupervisedSource& source, Pred until, int max_calls = 100000) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int i = 0; i < max_calls && std::chrono::steady_clock::now() < give_up; ++i) {
    FrameResult r = source.next_frame(milliseconds(5));
    REQUIRE(r.status != FrameResult::Status::Error);  // the supervisor never passes errors on
    if (until(r, source.health())) return r;
  }
  FAIL("condition not reached");
  return {};
}

bool is_ok(const FrameResult& r, const SourceHealth&) {
  return r.status == FrameResult::Status::Ok;
}

struct QuietLogs {
  log::Level before = log::level();
  QuietLogs() { log::set_level(log::Level::Error); }
  ~QuietLogs() { log::set_level(before); }
};

TEST_CASE("a source that fails to start is retried until it starts") {
  QuietLogs quiet;
  auto s = std::make_shared<ScriptedSource::Shared>();
  s->fail_starts = 3;
  SupervisedSource source(std::make_unique<ScriptedSource>(s), fast());
  source.start();  // does not throw
  auto h = source.health();
  CHECK(h.state == SourceHealth::State::Restarting);
  CHECK(h.last_error == "scripted: camera not found");
  CHECK(h.consecutive_failures == 1);

  pump(source, is_ok);
  h = source.health();
  CHECK(h.state == SourceHealth::State::Running);
  CHECK(h.failures == 3);
  CHECK(h.restarts == 1);
  CHECK(h.consecutive_failures == 0);
  CHECK(h.frames == 1);
  CHECK(s->starts == 4);
}

TEST_CASE("backoff doubles from the initial delay up to the maximum") {
  QuietLogs quiet;
  auto s = std::make_shared<ScriptedSource::Shared>();
  s->fail_starts = 6;
  SupervisedSource source(std::make_unique<ScriptedSource>(s), fast());
  source.start();
  std::vector<long> backoffs{source.health().backoff.count()};
  // With a zero timeout each call sees at most one attempt finish.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < give_up) {
    const auto r = source.next_frame(milliseconds(0));
    const auto h = source.health();
    if (h.failures > backoffs.size()) backoffs.push_back(h.backoff.count());
    if (r.status == FrameResult::Status::Ok) break;
  }
  CHECK(backoffs == std::vector<long>{1, 2, 4, 8, 8, 8});
}

TEST_CASE("a failing source is restarted and frame numbers continue") {
  QuietLogs quiet;
  auto s = std::make_shared<ScriptedSource::Shared>();
  s->frames_before_error = 3;
  SupervisedSource source(std::make_unique<ScriptedSource>(s), fast());
  source.start();
  std::vector<std::uint64_t> sequence;
  pump(source, [&](const FrameResult& r, const SourceHealth&) {
    if (r.frame) sequence.push_back(r.frame->sequence);
    return sequence.size() == 6;
  });
  CHECK(sequence == std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5});  // inner restarted at 0
  const auto h = source.health();
  CHECK(h.restarts == 1);
  CHECK(h.failures == 1);
  CHECK(h.last_error == "scripted: device disappeared");
  CHECK(s->stops >= 1);  // the failed source was stopped before the restart
}

TEST_CASE("a stalled source (no frame within the frame timeout) is restarted") {
  QuietLogs quiet;
  auto s = std::make_shared<ScriptedSource::Shared>();
  SupervisedSource source(std::make_unique<ScriptedSource>(s), fast());
  source.start();
  pump(source, is_ok);
  {
    std::lock_guard lock(s->mutex);
    s->stall = true;
  }
  pump(source, [](const FrameResult&, const SourceHealth& h) { return h.failures >= 1; });
  auto h = source.health();
  CHECK(h.last_error.rfind("stalled: no frame for", 0) == 0);
  {
    std::lock_guard lock(s->mutex);
    s->stall = false;
  }
  pump(source, is_ok);
  h = source.health();
  CHECK(h.state == SourceHealth::State::Running);
  CHECK(h.restarts >= 1);
}

TEST_CASE("next_frame returns while a restart is blocked in the inner start()") {
  QuietLogs quiet;
  auto s = std::make_shared<ScriptedSource::Shared>();
  s->frames_before_error = 1;
  SupervisedSource source(std::make_unique<ScriptedSource>(s), fast());
  source.start();
  pump(source, is_ok);
  {
    std::lock_guard lock(s->mutex);
    s->block_start = true;  // the restart will hang until we release it
  }
  // The failure, then the restart attempt that blocks.
  pump(source, [&](const FrameResult&, const SourceHealth&) {
    std::lock_guard lock(s->mutex);
    return s->blocked;
  });
  // If next_frame waited for start(), this would never return: the test
  // thread is the only one that can release it.
  for (int i = 0; i < 3; ++i) {
    const auto r = source.next_frame(milliseconds(1));
    CHECK(r.status == FrameResult::Status::Timeout);
  }
  CHECK(source.health().state == SourceHealth::State::Restarting);
  {
    std::lock_guard lock(s->mutex);
    s->block_start = false;
  }
  s->changed.notify_all();
  pump(source, is_ok);
  CHECK(source.health().restarts == 1);
}

TEST_CASE("stop() during a blocked restart waits for it and stops cleanly") {
  QuietLogs quiet;
  auto s = std::make_shared<ScriptedSource::Shared>();
  s->frames_before_error = 0;
  SupervisedSource source(std::make_unique<ScriptedSource>(s), fast());
  source.start();
  {
    std::lock_guard lock(s->mutex);
    s->block_start = true;
  }
  pump(source, [&](const FrameResult&, const SourceHealth&) {
    std::lock_guard lock(s->mutex);
    return s->blocked;
  });
  std::thread releaser([s] {
    std::unique_lock lock(s->mutex);
    s->block_start = false;
    s->changed.notify_all();
  });
  source.stop();
  releaser.join();
  CHECK(source.health().state == SourceHealth::State::Stopped);
  CHECK(source.next_frame(milliseconds(0)).status == FrameResult::Status::Error);  // not started
}

TEST_CASE("an exception from the inner next_frame counts as a failure, not a crash") {
  QuietLogs quiet;
  auto s = std::make_shared<ScriptedSource::Shared>();
  s->throw_in_next = true;
  SupervisedSource source(std::make_unique<ScriptedSource>(s), fast());
  source.start();
  pump(source, [](const FrameResult&, const SourceHealth& h) { return h.failures >= 2; });
  CHECK(source.health().last_error == "next_frame threw: scripted: driver bug");
}

TEST_CASE("end of stream is passed on and the source reports finished") {
  QuietLogs quiet;
  auto s = std::make_shared<ScriptedSource::Shared>();
  s->frames_total = 2;
  SupervisedSource source(std::make_unique<ScriptedSource>(s), fast());
  source.start();
  int frames = 0;
  pump(source, [&](const FrameResult& r, const SourceHealth&) {
    frames += r.status == FrameResult::Status::Ok;
    return r.status == FrameResult::Status::EndOfStream;
  });
  CHECK(frames == 2);
  CHECK(source.health().state == SourceHealth::State::Finished);
  CHECK(source.next_frame(milliseconds(0)).status == FrameResult::Status::EndOfStream);
}

TEST_CASE("health and info may be read from another thread while frames flow") {
  QuietLogs quiet;
  auto s = std::make_shared<ScriptedSource::Shared>();
  s->frames_before_error = 5;
  SupervisedSource source(std::make_unique<ScriptedSource>(s), fast());
  source.start();
  std::atomic<bool> done{false};
  std::uint64_t max_frames_seen = 0;
  std::thread stats([&] {
    while (!done) {
      const auto h = source.health();
      max_frames_seen = std::max(max_frames_seen, h.frames);
      CHECK(source.info().name == "scripted");
    }
  });
  int frames = 0;
  pump(source, [&](const FrameResult& r, const SourceHealth&) {
    frames += r.status == FrameResult::Status::Ok;
    return frames == 50;
  });
  done = true;
  stats.join();
  CHECK(source.health().frames == 50);
  CHECK(max_frames_seen <= 50);
}

TEST_CASE("nonsensical supervision settings are rejected") {
  auto s = std::make_shared<ScriptedSource::Shared>();
  SupervisorOptions o = fast();
  o.backoff_initial = milliseconds(100);
  o.backoff_max = milliseconds(10);
  CHECK_THROWS_AS(SupervisedSource(std::make_unique<ScriptedSource>(s), o), SourceError);
  o = fast();
  o.frame_timeout = milliseconds(0);
  CHECK_THROWS_AS(SupervisedSource(std::make_unique<ScriptedSource>(s), o), SourceError);
  CHECK_THROWS_AS(SupervisedSource(nullptr, fast()), SourceError);
}

TEST_CASE("state names") {
  CHECK(to_string(SourceHealth::State::Running) == "running");
  CHECK(to_string(SourceHealth::State::Restarting) == "restarting");
  CHECK(to_string(SourceHealth::State::Finished) == "finished");
  CHECK(to_string(SourceHealth::State::Stopped) == "stopped");
  CHECK(to_string(SourceHealth::State::Starting) == "starting");
  // One table: every state named once, and the names parse back.
  for (const auto& entry : EnumTable<SourceHealth::State>::entries) {
    CHECK(enum_from_name<SourceHealth::State>(entry.name) == entry.value);
  }
  CHECK(EnumTable<SourceHealth::State>::entries.size() == 5);
  CHECK(to_string(static_cast<SourceHealth::State>(42)) == "?");
}

}  // namespace
}  // namespace lookout
