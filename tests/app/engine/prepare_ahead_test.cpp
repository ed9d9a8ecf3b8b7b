// PrepareAhead with a real engine and model (make_test_models.py's toy
// detector, whose right answers are known by construction).
#include "engine/prepare_ahead.hpp"

#include <pthread.h>
#include <sched.h>

#include <chrono>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "app/engine/test_util.hpp"
#include "engine/engine.hpp"

using lookout::DetectResult;
using lookout::Engine;
using lookout::EngineOptions;
using lookout::Frame;
using lookout::FramePtr;
using lookout::PixelFormat;
using lookout::PrepareAhead;
using lookout::PreparedFrame;

namespace {

std::unique_ptr<Engine> load_cells() {
  EngineOptions options;
  options.model_path = lookout::test::toy_model("cells.torchscript").string();
  options.threads = 1;
  return Engine::load(options);
}

// A black 320x240 RGB24 frame with a white 32x32 block whose top-left corner
// is input cell (cell_x, cell_y) (8 px of padding above the image).
FramePtr block_frame(int cell_x, int cell_y) {
  auto frame = Frame::allocate(PixelFormat::RGB24, 320, 240);
  const std::size_t stride = frame->planes[0].stride;
  for (int y = cell_y * 32 - 8; y < cell_y * 32 + 24; ++y) {
    if (y < 0 || y >= 240) continue;
    std::uint8_t* row = frame->mutable_plane(0) + static_cast<std::size_t>(y) * stride;
    std::fill(row + cell_x * 32 * 3, row + (cell_x + 1) * 32 * 3, std::uint8_t{255});
  }
  return frame;
}

// A frame whose preparation fails: an MJPEG frame holding no JPEG.
FramePtr broken_frame() {
  return Frame::allocate(PixelFormat::MJPEG, 64, 64, 16);
}

bool same(const DetectResult& a, const DetectResult& b) {
  if (a.detections.size() != b.detections.size()) return false;
  for (std::size_t i = 0; i < a.detections.size(); ++i) {
    const auto& x = a.detections[i];
    const auto& y = b.detections[i];
    if (x.class_id != y.class_id || x.score != y.score || x.x1 != y.x1 || x.y1 != y.y1 ||
        x.x2 != y.x2 || x.y2 != y.y2)
      return false;
  }
  return true;
}

}  // namespace

TEST_CASE("frames prepared ahead give the serial results, in order") {
  auto engine = load_cells();
  std::vector<FramePtr> frames;
  for (int i = 0; i < 12; ++i) frames.push_back(block_frame(i % 10, 1 + i % 6));
  std::vector<DetectResult> serial;
  for (const auto& f : frames) serial.push_back(engine->detect(*f, {}));

  PrepareAhead ahead(*engine);
  ahead.submit(frames[0]);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    CAPTURE(i);
    PreparedFrame current = ahead.take();
    if (i + 1 < frames.size()) ahead.submit(frames[i + 1]);
    const DetectResult result = engine->detect(std::move(current), {});
    REQUIRE(result.detections.size() == 1);
    CHECK(same(result, serial[i]));
    // The block is where frame i put it: cell (i % 10, 1 + i % 6).
    CHECK(result.detections[0].x1 == doctest::Approx(static_cast<float>(i % 10) * 32));
  }
  CHECK(ahead.inline_count() <= frames.size());
}

TEST_CASE("a bad frame's error comes out of take(), and the next frame goes on") {
  auto engine = load_cells();
  PrepareAhead ahead(*engine);
  ahead.submit(broken_frame());
  CHECK_THROWS_AS(ahead.take(), std::invalid_argument);
  ahead.submit(block_frame(3, 4));
  const DetectResult result = engine->detect(ahead.take(), {});
  REQUIRE(result.detections.size() == 1);
  CHECK(result.detections[0].x1 == doctest::Approx(96));
}

TEST_CASE("PrepareAhead refuses misuse") {
  auto engine = load_cells();
  PrepareAhead ahead(*engine);
  CHECK_THROWS_AS(ahead.take(), std::logic_error);
  CHECK_THROWS_AS(ahead.submit(nullptr), std::invalid_argument);
  ahead.submit(block_frame(0, 1));
  CHECK_THROWS_AS(ahead.submit(block_frame(0, 1)), std::logic_error);
  CHECK_FALSE(ahead.take().empty());
}

TEST_CASE("destroying a PrepareAhead with a frame in hand waits for the helper") {
  auto engine = load_cells();
  for (int i = 0; i < 20; ++i) {
    PrepareAhead ahead(*engine);
    ahead.submit(block_frame(1, 1));
    if (i % 2 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }  // each destructor joins with the frame submitted, preparing or prepared
  CHECK(engine->detect(*block_frame(2, 2), {}).detections.size() == 1);
}

TEST_CASE("the helper runs at SCHED_IDLE and never ahead of a busy caller on its core") {
  auto engine = load_cells();
  // Confine this thread, and so the helper created below, to one core.
  cpu_set_t saved;
  REQUIRE(sched_getaffinity(0, sizeof saved, &saved) == 0);
  int core = 0;
  while (!CPU_ISSET(core, &saved)) ++core;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(core, &one);
  REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
  {
    PrepareAhead ahead(*engine);
    // The helper sets its policy first thing; give it the core to do so.
    for (int i = 0; i < 500 && !ahead.idle_policy(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(ahead.idle_policy());
    // Submit and take at once, never sleeping in between: a SCHED_IDLE
    // helper cannot displace this (normal) thread, so take() prepares here.
    ahead.submit(block_frame(5, 5));
    PreparedFrame prepared = ahead.take();
    CHECK(ahead.inline_count() == 1);
    CHECK(engine->detect(std::move(prepared), {}).detections.size() == 1);
    // When this thread waits instead, the core is idle and the helper runs.
    ahead.submit(block_frame(6, 5));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    prepared = ahead.take();
    CHECK(ahead.inline_count() == 1);
    CHECK(engine->detect(std::move(prepared), {}).detections.size() == 1);
  }
  REQUIRE(sched_setaffinity(0, sizeof saved, &saved) == 0);
}
