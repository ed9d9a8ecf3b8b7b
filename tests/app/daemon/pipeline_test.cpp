// The pipeline in-process, with a real model and the real synthetic source:
// newest frame wins when the source is faster than inference, the counters
// add up, sequence numbers and counters continue when the engine or the
// source is replaced, and liveness (what feeds the watchdog) follows the threads.
// Two test-only sources simulate what no hardware here does on demand (a
// driver dropping frames, a camera with only two buffers); their pixels come
// from the real synthetic source.
#include "pipeline.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "core/percentile.hpp"
#include "drivers/factory.hpp"
#include "harness.hpp"

// Sequences in failure messages.
namespace doctest {
template <>
struct StringMaker<std::vector<std::uint64_t>> {
  static String convert(const std::vector<std::uint64_t>& values) {
    std::string out = "{";
    for (std::size_t i = 0; i < values.size(); ++i)
      out += (i ? ", " : "") + std::to_string(values[i]);
    return (out + "}").c_str();
  }
};
}  // namespace doctest

using namespace lookout;
using lookout::test::test_model;
using Clock = std::chrono::steady_clock;

namespace {

// Collects what the pipeline publishes (called on its inference thread).
struct Results {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<protocol::FrameDetections> frames;
  std::vector<Clock::time_point> arrived;  // when each of `frames` reached the sink
  std::vector<FramePtr> pictures;          // what came with each of `frames`
  std::vector<FramePtr> best_pictures;     // the same, for event snapshots
  std::vector<protocol::FrameEvents> events;
  std::vector<protocol::SourceDescription> sources;

  Pipeline::ResultSink sink() {
    return [this](PipelineResult&& r) {
      const Clock::time_point now = Clock::now();
      std::lock_guard lock(mutex);
      if (!r.frame.camera) {  // events alone (tracking ended)
        events.push_back(std::move(r.events));
        return;
      }
      if (!r.events.empty()) events.push_back(r.events);
      best_pictures.push_back(std::move(r.best_picture));
      pictures.push_back(std::move(r.picture));
      frames.push_back(std::move(r.frame));
      arrived.push_back(now);
      changed.notify_all();
    };
  }
  Pipeline::SourceSink source_sink() {
    return [this](const protocol::SourceDescription& s) {
      std::lock_guard lock(mutex);
      sources.push_back(s);
    };
  }
  // Waits (hang guard only) until `n` frames arrived in total.
  void wait_for(std::size_t n) {
    std::unique_lock lock(mutex);
    REQUIRE(changed.wait_for(lock, test::kPatience, [&] { return frames.size() >= n; }));
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return frames.size();
  }
  std::vector<std::uint64_t> seqs() {
    std::lock_guard lock(mutex);
    std::vector<std::uint64_t> out;
    for (const auto& f : frames) out.push_back(f.seq);
    return out;
  }
};

std::unique_ptr<Engine> load(int input) {
  EngineOptions options;
  options.model_path = test_model().string();
  options.input_width = input;
  options.input_height = input;
  options.threads = 1;
  return Engine::load(options);
}

std::unique_ptr<SupervisedSource> synthetic(int width, int height, double fps,
                                            std::uint64_t seed = 1) {
  SourceConfig config;
  config.type = lookout::SourceType::Synthetic;
  config.width = width;
  config.height = height;
  config.fps = fps;
  config.seed = seed;
  return make_supervised_source(config);
}

PipelineSettings settings(const Engine& engine, const std::string& camera) {
  PipelineSettings s;
  s.camera = std::make_shared<const std::string>(camera);
  s.class_names = std::make_shared<const std::vector<std::string>>(engine.info().class_names);
  return s;
}

SourceConfig synthetic_config(int width, int height) {
  SourceConfig config;
  config.type = lookout::SourceType::Synthetic;
  config.width = width;
  config.height = height;
  config.fps = 0;
  return config;
}

// Copies `from`'s pixels and stamps into `to` (same format and size).
void copy_frame(const Frame& from, Frame& to) {
  for (int i = 0; i < plane_count(from.format); ++i) {
    const auto k = static_cast<std::size_t>(i);
    REQUIRE(from.planes[k].size == to.planes[k].size);
    std::memcpy(to.mutable_plane(i), from.planes[k].data, from.planes[k].size);
  }
  to.truth = from.truth;
  to.capture_time = from.capture_time;
  to.capture_steady = from.capture_steady;
}

// The stall limit out of the way: the sources below wait for the pipeline,
// and a slow machine must not make the supervisor restart them.
SupervisorOptions patient() {
  SupervisorOptions options;
  options.frame_timeout = std::chrono::milliseconds(60'000);
  return options;
}

// A camera driver that drops frames: it delivers the synthetic source's
// images stamped with the given sequence numbers in turn (a gap stands for
// frames "the driver dropped"), then ends. It hands out a frame only once
// the previous one was published (Results has `published_before` + the
// frames given so far), so the pipeline skips none, whatever the speeds, and
// each number must come out as a seq.
class DroppingSource final : public FrameSource {
 public:
  DroppingSource(std::vector<std::uint64_t> sequences, Results& results,
                 std::size_t published_before)
      : inner_(make_source(synthetic_config(160, 120))),
        sequences_(std::move(sequences)),
        results_(results),
        published_before_(published_before) {}

  void start() override {
    inner_->start();
    next_ = 0;
  }
  FrameResult next_frame(std::chrono::milliseconds timeout) override {
    if (next_ == sequences_.size()) return FrameResult::end_of_stream();
    {
      std::unique_lock lock(results_.mutex);
      if (!results_.changed.wait_for(
              lock, timeout, [&] { return results_.frames.size() >= published_before_ + next_; }))
        return FrameResult::timeout();
    }
    FrameResult r = inner_->next_frame(timeout);
    if (r.status != FrameResult::Status::Ok) return r;
    auto frame = Frame::allocate(r.frame->format, r.frame->width, r.frame->height);
    copy_frame(*r.frame, *frame);
    frame->sequence = sequences_[next_++];
    return FrameResult::ok(std::move(frame));
  }
  void stop() override { inner_->stop(); }
  SourceInfo info() const override { return inner_->info(); }

 private:
  std::unique_ptr<FrameSource> inner_;
  const std::vector<std::uint64_t> sequences_;
  Results& results_;
  const std::size_t published_before_;
  std::size_t next_ = 0;
};

std::unique_ptr<SupervisedSource> dropping(std::vector<std::uint64_t> sequences, Results& results,
                                           std::size_t published_before = 0) {
  return std::make_unique<SupervisedSource>(
      std::make_unique<DroppingSource>(std::move(sequences), results, published_before), patient());
}

// A camera with only two buffers, like libcamera's request queue at its
// smallest: each frame lends one of two buffers, its deleter (run when the
// last FramePtr goes, on whichever thread drops it) gives the buffer back,
// and next_frame waits (up to its timeout) while both are out. Frames are
// numbered 0, 1, 2... and spaced at least `period` apart; pixels come from
// the synthetic source. The pool records, on the steady clock, when each
// frame's buffer came back.
class TwoBufferSource final : public FrameSource {
 public:
  struct Pool {
    std::mutex mutex;
    std::condition_variable returned;
    std::array<std::shared_ptr<Frame>, 2> buffers;
    std::array<bool, 2> lent{};
    std::map<std::uint64_t, Clock::time_point> returned_at;  // by frame sequence
  };

  TwoBufferSource(int width, int height, Clock::duration period)
      : inner_(make_source(synthetic_config(width, height))),
        pool_(std::make_shared<Pool>()),
        period_(period) {
    for (auto& b : pool_->buffers) b = Frame::allocate(PixelFormat::RGB24, width, height);
  }

  std::shared_ptr<Pool> pool() const { return pool_; }

  void start() override {
    inner_->start();
    next_due_ = Clock::now();
  }
  FrameResult next_frame(std::chrono::milliseconds timeout) override {
    const Clock::time_point deadline = Clock::now() + timeout;
    if (next_due_ > deadline) {
      std::this_thread::sleep_until(deadline);
      return FrameResult::timeout();
    }
    std::this_thread::sleep_until(next_due_);
    std::size_t index = 0;
    {
      std::unique_lock lock(pool_->mutex);
      const auto free = [&] { return !pool_->lent[0] || !pool_->lent[1]; };
      if (!pool_->returned.wait_until(lock, deadline, free)) return FrameResult::timeout();
      index = pool_->lent[0] ? 1 : 0;
      pool_->lent[index] = true;
    }
    FrameResult r = inner_->next_frame(timeout);
    REQUIRE(r.status == FrameResult::Status::Ok);
    Frame& buffer = *pool_->buffers[index];  // ours alone while lent
    copy_frame(*r.frame, buffer);
    buffer.sequence = sequence_++;
    next_due_ = std::max(next_due_ + period_, Clock::now());
    return FrameResult::ok(FramePtr(&buffer, [pool = pool_, index](const Frame* frame) {
      const Clock::time_point now = Clock::now();
      {
        std::lock_guard lock(pool->mutex);
        pool->returned_at[frame->sequence] = now;
        pool->lent[index] = false;
      }
      pool->returned.notify_all();
    }));
  }
  void stop() override { inner_->stop(); }
  SourceInfo info() const override { return inner_->info(); }

 private:
  std::unique_ptr<FrameSource> inner_;
  std::shared_ptr<Pool> pool_;
  const Clock::duration period_;
  Clock::time_point next_due_{};
  std::uint64_t sequence_ = 0;
};

double ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

TEST_CASE("with the source faster than inference the newest frame wins and the counts add up") {
  Results results;
  Pipeline pipeline(results.sink(), results.source_sink());
  // An unpaced small source against a large model input: capture outruns inference.
  auto engine = load(1024);
  auto s = settings(*engine, "cam");
  pipeline.start(synthetic(160, 120, 0), std::move(engine), s, {"synthetic", 160, 120, 0});
  results.wait_for(15);
  CHECK(pipeline.alive(std::chrono::seconds(10)));
  pipeline.stop();
  CHECK_FALSE(pipeline.alive(std::chrono::seconds(10)));

  const PipelineStats stats = pipeline.stats();
  CHECK(stats.processed == results.count());
  CHECK(stats.captured == stats.processed + stats.skipped + stats.errors);
  CHECK(stats.skipped > 0);
  CHECK(stats.inference_p50_ms > 0);
  // Frames that waited were replaced by newer ones: results skip sequence
  // numbers, and never go backwards.
  bool gap = false;
  for (std::size_t i = 1; i < results.frames.size(); ++i) {
    CHECK(results.frames[i].seq > results.frames[i - 1].seq);
    gap = gap || results.frames[i].seq > results.frames[i - 1].seq + 1;
  }
  CHECK(gap);
  const auto& f = results.frames.back();
  CHECK(f.width == 160);
  CHECK(f.height == 120);
  CHECK(*f.camera == "cam");
  CHECK(f.inference_ms > 0);
  CHECK(f.total_ms >= f.inference_ms);
  CHECK(f.capture_time.time_since_epoch().count() != 0);
  // The capture thread said what the source delivers once its first frame came.
  REQUIRE_FALSE(results.sources.empty());
  CHECK(results.sources.front().width == 160);
  CHECK(results.sources.front().name == "synthetic");
}

TEST_CASE(
    "replacing the engine or the source keeps counting; a new engine does not restart the camera") {
  Results results;
  Pipeline pipeline(results.sink(), results.source_sink());
  auto engine = load(320);
  auto s = settings(*engine, "one");
  pipeline.start(synthetic(320, 240, 30), std::move(engine), s, {"synthetic", 320, 240, 30});
  results.wait_for(5);
  const std::uint64_t source_frames_before = pipeline.stats().source.frames;

  // A new engine: the source keeps running (its frame count goes on, no restart).
  auto next = load(256);
  auto s2 = settings(*next, "two");
  pipeline.replace(nullptr, std::move(next), s2, std::nullopt);
  const std::size_t mark = results.count();
  results.wait_for(mark + 5);
  const PipelineStats after_engine = pipeline.stats();
  CHECK(after_engine.source.frames > source_frames_before);
  CHECK(after_engine.source.restarts == 0);
  CHECK(pipeline.model_info().input_width == 256);

  // A new source at another size: clients learn the new size.
  pipeline.replace(synthetic(640, 480, 30, 2), nullptr, s2,
                   protocol::SourceDescription{"synthetic", 640, 480, 30});
  const std::size_t mark2 = results.count();
  results.wait_for(mark2 + 5);
  pipeline.stop();

  std::lock_guard lock(results.mutex);
  for (std::size_t i = 1; i < results.frames.size(); ++i) {
    CHECK(results.frames[i].seq > results.frames[i - 1].seq);
  }
  CHECK(*results.frames.back().camera == "two");
  CHECK(results.frames.back().width == 640);
  REQUIRE(results.sources.size() == 2);
  CHECK(results.sources.back().width == 640);
  CHECK(pipeline.source_description().width == 640);
  const PipelineStats stats = pipeline.stats();
  CHECK(stats.captured == stats.processed + stats.skipped + stats.errors);
}

TEST_CASE("seq is the frame's own sequence: a driver's drops show, and a new source continues") {
  Results results;
  Pipeline pipeline(results.sink(), nullptr);
  auto engine = load(256);
  auto s = settings(*engine, "cam");
  // Every frame is processed (the source waits for each to be published), so
  // the gaps are exactly the ones the "driver" left.
  const std::vector<std::uint64_t> first = {0, 1, 2, 5, 6, 9, 10, 11, 15};
  pipeline.start(dropping(first, results), std::move(engine), s, {"synthetic", 160, 120, 0});
  results.wait_for(first.size());
  CHECK(results.seqs() == first);

  // A new source numbers from 0 again, with gaps of its own: its seqs go on
  // after the last one (15), gaps kept.
  const std::vector<std::uint64_t> second = {0, 1, 3, 4, 7};
  pipeline.replace(dropping(second, results, first.size()), nullptr, s,
                   protocol::SourceDescription{"synthetic", 160, 120, 0});
  results.wait_for(first.size() + second.size());
  pipeline.stop();

  std::vector<std::uint64_t> expected = first;
  for (const std::uint64_t n : second) expected.push_back(first.back() + 1 + n);
  CHECK(results.seqs() == expected);  // 0 1 2 5 6 9 10 11 15 16 17 19 20 23
  const PipelineStats stats = pipeline.stats();
  // Frames the driver dropped never arrived: captured counts only the others.
  CHECK(stats.captured == first.size() + second.size());
  CHECK(stats.processed == stats.captured);
  CHECK(stats.skipped == 0);
  // The stats' percentiles are core/percentile.hpp's (as `lookout bench`'s
  // are), over the same times the frames reported: all 14 are in the window.
  std::vector<double> times;
  for (const auto& f : results.frames) times.push_back(f.inference_ms);
  CHECK(stats.inference_p50_ms == percentile(times, 50));
  CHECK(stats.inference_p90_ms == percentile(times, 90));
}

TEST_CASE("seq never goes backwards when a source's numbering does") {
  Results results;
  Pipeline pipeline(results.sink(), nullptr);
  auto engine = load(256);
  auto s = settings(*engine, "cam");
  // A driver that restarted its count on its own (the supervisor saw no
  // failure): seq goes on after 5, and the later gap (1 -> 3) still shows.
  pipeline.start(dropping({0, 1, 2, 5, 0, 1, 3}, results), std::move(engine), s,
                 {"synthetic", 160, 120, 0});
  results.wait_for(7);
  pipeline.stop();
  CHECK(results.seqs() == std::vector<std::uint64_t>{0, 1, 2, 5, 6, 7, 9});
}

TEST_CASE("a camera buffer goes back when the frame is prepared, before the forward pass") {
  Results results;
  Pipeline pipeline(results.sink(), nullptr);
  auto engine = load(320);
  auto s = settings(*engine, "cam");
  // The engine's time per frame on this machine, now, so that the camera
  // can run several times faster than inference, as on a Pi (30 fps against
  // ~300 ms): a quantity of this run, not a speed expectation.
  std::vector<double> warm;
  {
    auto source = make_source(synthetic_config(320, 240));
    source->start();
    for (int i = 0; i < 5; ++i) {
      FrameResult r = source->next_frame(std::chrono::seconds(5));
      REQUIRE(r.status == FrameResult::Status::Ok);
      warm.push_back(engine->detect(*r.frame, s.detect).times.total_ms());
    }
    source->stop();
  }
  const auto period = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double, std::milli>(percentile(warm, 50) / 5));
  auto camera = std::make_unique<TwoBufferSource>(320, 240, period);
  const std::shared_ptr<TwoBufferSource::Pool> pool = camera->pool();
  pipeline.start(std::make_unique<SupervisedSource>(std::move(camera), patient()),
                 std::move(engine), s, {"synthetic", 320, 240, 0});
  results.wait_for(21);
  pipeline.stop();
  const PipelineStats stats = pipeline.stats();

  // Per processed frame: how long before its result reached the sink its
  // buffer came back, against the engine's own time for it. Holding the
  // frame through detect() gave the buffer back just before publishing (a
  // lead of ~0); released after prepare(), it comes back a forward pass and
  // postprocessing earlier, which are most of the engine's time.
  std::vector<double> lead, inference;
  {
    std::lock_guard results_lock(results.mutex);
    std::lock_guard pool_lock(pool->mutex);
    for (std::size_t i = 0; i < results.frames.size(); ++i) {
      const auto& f = results.frames[i];
      const auto back = pool->returned_at.find(f.seq);
      REQUIRE(back != pool->returned_at.end());
      lead.push_back(ms(results.arrived[i] - back->second));
      inference.push_back(f.inference_ms);
    }
  }
  const double lead_p50 = percentile(lead, 50), inference_p50 = percentile(inference, 50);
  INFO("median lead of the buffer's return over the result: ", lead_p50,
       " ms; median inference: ", inference_p50, " ms");
  CHECK(lead_p50 > 0.5 * inference_p50);
  // And so the camera kept delivering while the model ran, instead of
  // waiting for its second buffer: the extra frames were skipped (newest
  // wins). With two buffers, holding one through detect() makes a skip
  // impossible: the other waits in the pipeline, and no third frame can be
  // filled. How many are skipped depends on the machine and its load (about
  // 4 of 5 on an idle optimised build, fewer under AddressSanitizer or
  // beside other tests), so only "some" is checked.
  INFO("captured ", stats.captured, ", processed ", stats.processed, ", skipped ", stats.skipped);
  CHECK(stats.skipped > 0);
  CHECK(stats.errors == 0);
  CHECK(stats.captured == stats.processed + stats.skipped + stats.errors);
}

TEST_CASE("settings updates apply from the next frame without a restart") {
  Results results;
  Pipeline pipeline(results.sink(), nullptr);
  auto engine = load(320);
  auto s = settings(*engine, "cam");
  pipeline.start(synthetic(320, 240, 30), std::move(engine), s, {"synthetic", 320, 240, 30});
  results.wait_for(3);
  s.detect.classes = {3};  // stars only
  s.camera = std::make_shared<const std::string>("stars");
  pipeline.update(s);
  const std::size_t mark = results.count();
  results.wait_for(mark + 10);
  pipeline.stop();
  std::lock_guard lock(results.mutex);
  for (std::size_t i = mark + 1; i < results.frames.size(); ++i) {
    CHECK(*results.frames[i].camera == "stars");
    for (const auto& d : results.frames[i].detections) CHECK(d.class_id == 3);
  }
}

TEST_CASE("pictures come with results only while wanted, as small owned RGB copies") {
  Results results;
  Pipeline pipeline(results.sink(), nullptr);
  auto engine = load(256);
  auto s = settings(*engine, "cam");
  pipeline.start(synthetic(640, 480, 0), std::move(engine), s, {"synthetic", 640, 480, 0});
  results.wait_for(3);
  {
    // Nobody asked: no picture at all.
    std::lock_guard lock(results.mutex);
    for (const auto& p : results.pictures) CHECK(p == nullptr);
  }
  const std::size_t asked_at = results.count();
  pipeline.want_pictures(Clock::now() + std::chrono::hours(1), 200);
  results.wait_for(asked_at + 4);
  {
    std::lock_guard lock(results.mutex);
    // The frame in inference when asked may come without one; the ones after have one.
    const FramePtr& p = results.pictures.back();
    REQUIRE(p != nullptr);
    CHECK(p->format == lookout::PixelFormat::RGB24);
    CHECK(p->width == 200);
    CHECK(p->height == 150);
    CHECK(p->storage.size() >= 200u * 150u * 3u);  // it owns its pixels
    CHECK(p->sequence <= results.frames.back().seq);
  }
  // At most one per interval: with a long one, one picture among many frames.
  const std::size_t rationed_at = results.count();
  pipeline.want_pictures(Clock::now() + std::chrono::hours(1), 200, std::chrono::hours(1));
  results.wait_for(rationed_at + 8);
  {
    std::lock_guard lock(results.mutex);
    std::size_t with_picture = 0;
    // From the frame after the call on (the one in inference then may have
    // followed the old rule).
    for (std::size_t i = rationed_at + 1; i < results.pictures.size(); ++i) {
      with_picture += results.pictures[i] != nullptr ? 1 : 0;
    }
    CHECK(with_picture <= 1);
  }
  // The deadline passed: pictures stop.
  pipeline.want_pictures(Clock::now() - std::chrono::seconds(1), 200);
  const std::size_t stopped_at = results.count();
  results.wait_for(stopped_at + 4);
  pipeline.stop();
  std::lock_guard lock(results.mutex);
  CHECK(results.pictures.back() == nullptr);
  CHECK(results.pictures[results.pictures.size() - 2] == nullptr);
}
