// `source.type: auto` on this machine, which has no camera: the synthetic
// fallback, and a camera that appears later, played by a files source (the
// one source here that runs like a camera without hardware), offered through
// the discovery hook; the real discovery is in camera_discovery_test.
#include "auto/auto_source.hpp"

#include <atomic>
#include <thread>

#include <doctest/doctest.h>

#include "core/log.hpp"
#include "drivers/supervised_source.hpp"
#include "testing/media.hpp"

namespace lookout {
namespace {

using std::chrono::milliseconds;

struct QuietLogs {
  log::Level before = log::level();
  QuietLogs() { log::set_level(log::Level::Error); }
  ~QuietLogs() { log::set_level(before); }
};

SourceConfig auto_config() {
  SourceConfig c;
  c.type = SourceType::Auto;
  c.width = 320;
  c.height = 240;
  c.fps = 50;
  c.frame_timeout = milliseconds(1000);
  c.backoff_initial = milliseconds(20);
  c.backoff_max = milliseconds(40);
  return c;
}

discovery::Candidate files_camera(const test::ScratchDir& dir) {
  test::write_jpeg(dir / "frame.jpg", test::quadrants(160, 120), 160, 120);
  discovery::Candidate c{auto_config(), "files-as-camera"};
  c.config.type = SourceType::Files;
  c.config.path = (dir / "frame.jpg").string();
  c.config.width = c.config.height = 0;
  c.config.loop = true;
  return c;
}

// Discovery that finds `camera` once `present` is set, and a node list that
// changes with it; counts its calls.
struct World {
  std::atomic<bool> present{false};
  std::atomic<int> scans{0};
  std::atomic<int> full_scans{0};  // with libcamera
  std::vector<discovery::Candidate> cameras;

  AutoSourceOptions options() {
    AutoSourceOptions o;
    o.discover = [this](const SourceConfig&, bool ask_libcamera) {
      ++scans;
      if (ask_libcamera) ++full_scans;
      discovery::Discovery d;
      if (present) d.candidates = cameras;
      return d;
    };
    o.watch = [this] {
      return present ? std::vector<std::string>{"video0"} : std::vector<std::string>{};
    };
    o.watch_interval = milliseconds(10);
    o.rescan_initial = milliseconds(50);
    o.rescan_max = milliseconds(100);
    return o;
  }
};

FramePtr next_ok(FrameSource& source, milliseconds within = milliseconds(3000)) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    FrameResult r = source.next_frame(milliseconds(100));
    if (r.status == FrameResult::Status::Ok) return r.frame;
    REQUIRE_MESSAGE(r.status == FrameResult::Status::Timeout, r.error);
  }
  FAIL("no frame within " << within.count() << " ms");
  return nullptr;
}

TEST_CASE("no camera: the synthetic source runs under a name that says so") {
  QuietLogs quiet;
  World world;
  AutoSource source(auto_config(), world.options());
  CHECK(source.info().name == kAutoUnstartedName);
  source.start();
  CHECK(source.falling_back());
  CHECK(source.info().name == kAutoFallbackName);
  CHECK(source.info().width == 320);
  CHECK(source.info().height == 240);
  const FramePtr frame = next_ok(source);
  CHECK(frame->width == 320);
  CHECK(frame->height == 240);
  source.stop();
}

TEST_CASE("a camera that appears later is taken over through a restart, and named") {
  QuietLogs quiet;
  test::ScratchDir dir;
  World world;
  world.cameras = {files_camera(dir)};
  SupervisedSource source(std::make_unique<AutoSource>(auto_config(), world.options()),
                          SupervisorOptions::from(auto_config()));
  source.start();
  CHECK(next_ok(source)->width == 320);
  CHECK(source.info().name == kAutoFallbackName);
  const std::uint64_t starts = source.starts();
  world.present = true;
  // The next watch sees the new node and rescans; the supervisor restarts
  // the source, which now starts the camera.
  FramePtr frame;
  for (int i = 0; i < 200 && (!frame || frame->width != 160); ++i) frame = next_ok(source);
  REQUIRE(frame);
  CHECK(frame->width == 160);
  CHECK(frame->height == 120);
  CHECK(source.starts() == starts + 1);
  CHECK(source.info().name != kAutoFallbackName);
  CHECK(source.info().name.find("frame.jpg") != std::string::npos);
  CHECK(source.health().restarts == 1);
  source.stop();
}

TEST_CASE("a candidate that cannot start is tried once, and rescans do not restart for it") {
  QuietLogs quiet;
  World world;
  discovery::Candidate broken{auto_config(), "v4l2:/nonexistent/video9"};
  broken.config.type = SourceType::Files;
  broken.config.path = "/nonexistent/video9";
  world.cameras = {broken};
  world.present = true;
  SupervisedSource source(std::make_unique<AutoSource>(auto_config(), world.options()),
                          SupervisorOptions::from(auto_config()));
  source.start();
  CHECK(source.info().name == kAutoFallbackName);
  const int scans_at_start = world.scans;
  for (int i = 0; i < 20; ++i) next_ok(source);  // 50 fps: 400 ms, several rescans
  CHECK(world.scans > scans_at_start);
  // Timed rescans look at V4L2 only: the node list did not change.
  CHECK(world.full_scans == 1);
  CHECK(source.starts() == 1);
  CHECK(source.health().restarts == 0);
  CHECK(source.info().name == kAutoFallbackName);
  source.stop();
}

TEST_CASE("after a camera ran, auto does not fall back to made-up frames") {
  QuietLogs quiet;
  test::ScratchDir dir;
  World world;
  world.cameras = {files_camera(dir)};
  world.present = true;
  AutoSource source(auto_config(), world.options());
  source.start();
  CHECK_FALSE(source.falling_back());
  const FramePtr first = next_ok(source);
  CHECK(first->width == 160);  // the frame that showed it streams comes first
  source.stop();
  world.present = false;
  try {
    source.start();
    FAIL("start() should throw");
  } catch (const SourceError& e) {
    CHECK(std::string(e.what()).find("auto source: no camera streams now") == 0);
  }
  CHECK_FALSE(source.falling_back());
  // And it takes the camera again once it is back.
  world.present = true;
  source.start();
  CHECK(next_ok(source)->width == 160);
  source.stop();
}

}  // namespace
}  // namespace lookout
