// The pipeline in-process, with a real model and the real synthetic source:
// newest frame wins when the source is faster than inference, the counters
// add up, sequence numbers and counters continue when the engine or the
// source is replaced, and liveness (what feeds the watchdog) follows the threads.
#include "pipeline.hpp"

#include <condition_variable>
#include <mutex>

#include <doctest/doctest.h>

#include "drivers/factory.hpp"
#include "harness.hpp"

using namespace lookout;
using lookout::test::test_model;

namespace {

// Collects what the pipeline publishes (called on its inference thread).
struct Results {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<protocol::FrameDetections> frames;
  std::vector<protocol::SourceDescription> sources;

  Pipeline::ResultSink sink() {
    return [this](protocol::FrameDetections&& f) {
      std::lock_guard lock(mutex);
      frames.push_back(std::move(f));
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
