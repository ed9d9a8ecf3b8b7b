// The V4L2 source's real error paths on a machine without a webcam. What
// needs a device (streaming, timestamps, unplugging) cannot run on a machine
// without one; the format choice and buffer layout it relies on are tested
// in v4l2_format_test.cpp.
#include "v4l2/v4l2_source.hpp"

#include <doctest/doctest.h>

#include "core/log.hpp"
#include "drivers/supervised_source.hpp"
#include "testing/media.hpp"

namespace lookout {
namespace {

using std::chrono::milliseconds;

SourceConfig device(const std::string& path) {
  SourceConfig c;
  c.type = lookout::SourceType::V4l2;
  c.device = path;
  return c;
}

TEST_CASE("opening a device that does not exist") {
  V4l2Source source(device("/dev/video-lookout-missing"));
  CHECK_THROWS_WITH_AS(source.start(),
                       "v4l2 source /dev/video-lookout-missing: no such device (is the camera "
                       "plugged in?)",
                       SourceError);
  CHECK(source.next_frame(milliseconds(0)).status == FrameResult::Status::Error);
}

TEST_CASE("opening something that is not a V4L2 device") {
  V4l2Source null_device(device("/dev/null"));
  CHECK_THROWS_WITH_AS(null_device.start(),
                       doctest::Contains("v4l2 source /dev/null: not a V4L2 device"), SourceError);
  test::ScratchDir dir;
  test::write_bytes(dir / "file", "plain file");
  V4l2Source file(device((dir / "file").string()));
  CHECK_THROWS_WITH_AS(file.start(), doctest::Contains("not a V4L2 device"), SourceError);
  file.stop();  // stopping a source that never started is harmless
}

TEST_CASE("configuration errors are caught at construction") {
  SourceConfig c = device("");
  CHECK_THROWS_WITH_AS(V4l2Source{c}, doctest::Contains("no device"), SourceError);
  c = device("/dev/video0");
  c.width = 0;
  CHECK_THROWS_WITH_AS(V4l2Source{c}, doctest::Contains("not positive"), SourceError);
  c = device("/dev/video0");
  c.format = lookout::PixelFormat::MJPEG;
  CHECK(V4l2Source(c).info().format == PixelFormat::MJPEG);
}

TEST_CASE("a missing webcam under supervision: retried, reported, never an error") {
  const auto before = log::level();
  log::set_level(log::Level::Error);
  SupervisorOptions options;
  options.backoff_initial = milliseconds(1);
  options.backoff_max = milliseconds(4);
  SupervisedSource source(std::make_unique<V4l2Source>(device("/dev/video-lookout-missing")),
                          options);
  source.start();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (source.health().failures < 4 && std::chrono::steady_clock::now() < give_up) {
    CHECK(source.next_frame(milliseconds(5)).status == FrameResult::Status::Timeout);
  }
  const auto h = source.health();
  CHECK(h.failures >= 4);
  CHECK(h.state == SourceHealth::State::Restarting);
  CHECK(h.last_error.find("no such device") != std::string::npos);
  source.stop();
  log::set_level(before);
}

}  // namespace
}  // namespace lookout
