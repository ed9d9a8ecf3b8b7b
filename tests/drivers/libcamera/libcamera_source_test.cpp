// The libcamera source against the real libcamera on this machine. Without a
// camera (CI, this build host) it checks the "no cameras found" path and that
// supervised retries create and tear down libcamera's one-per-process
// CameraManager cleanly. With a camera (a Pi), it captures real frames.
#include "libcamera/libcamera_source.hpp"

#include <doctest/doctest.h>
#include <libcamera/camera_manager.h>

#include "core/log.hpp"
#include "drivers/supervised_source.hpp"

namespace lookout {
namespace {

using std::chrono::milliseconds;

std::size_t count_cameras() {
  libcamera::CameraManager manager;
  if (manager.start() != 0) return 0;
  const auto n = manager.cameras().size();
  manager.stop();
  return n;
}

SourceConfig camera_config() {
  SourceConfig c;
  c.type = lookout::SourceType::Libcamera;
  c.width = 640;
  c.height = 480;
  c.fps = 15;
  return c;
}

TEST_CASE("libcamera: no cameras found, or real frames when there is one") {
  ::setenv("LIBCAMERA_LOG_LEVELS", "*:ERROR", 1);
  const std::size_t cameras = count_cameras();
  LibcameraSource source(camera_config());
  if (cameras == 0) {
    CHECK_THROWS_WITH_AS(source.start(), doctest::Contains("libcamera source: no cameras found"),
                         SourceError);
    CHECK(source.next_frame(milliseconds(0)).status == FrameResult::Status::Error);
    return;
  }
  MESSAGE("found ", cameras, " camera(s): capturing real frames");
  source.start();
  CHECK(source.info().name.rfind("libcamera:", 0) == 0);
  FramePtr held;
  for (int i = 0; i < 10; ++i) {
    auto r = source.next_frame(milliseconds(5000));
    REQUIRE(r.status == FrameResult::Status::Ok);
    CHECK(validate_layout(*r.frame).empty());
    CHECK(r.frame->width == source.info().width);
    if (i == 0) held = r.frame;  // holding one buffer must not stop the others
  }
  source.stop();
  CHECK(validate_layout(*held).empty());  // still mapped after stop()
  held.reset();
  source.start();  // restartable once the frames are back
  CHECK(source.next_frame(milliseconds(5000)).status == FrameResult::Status::Ok);
}

TEST_CASE("libcamera: an unknown camera index or id is a clear error") {
  if (count_cameras() != 0) return;  // covered by the capture case on a Pi
  SourceConfig c = camera_config();
  c.camera = "7";
  LibcameraSource source(c);
  CHECK_THROWS_AS(source.start(), SourceError);
}

TEST_CASE("libcamera: supervised retries without a camera never crash") {
  if (count_cameras() != 0) return;
  const auto before = log::level();
  log::set_level(log::Level::Error);
  SupervisorOptions options;
  options.backoff_initial = milliseconds(1);
  options.backoff_max = milliseconds(2);
  SupervisedSource source(std::make_unique<LibcameraSource>(camera_config()), options);
  source.start();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (source.health().failures < 5 && std::chrono::steady_clock::now() < give_up) {
    CHECK(source.next_frame(milliseconds(10)).status == FrameResult::Status::Timeout);
  }
  CHECK(source.health().failures >= 5);
  CHECK(source.health().last_error.find("no cameras found") != std::string::npos);
  source.stop();
  log::set_level(before);
}

TEST_CASE("libcamera: configuration errors at construction") {
  SourceConfig c = camera_config();
  c.height = -1;
  CHECK_THROWS_AS(LibcameraSource{c}, SourceError);
  c = camera_config();
  c.format = lookout::PixelFormat::YUYV;
  CHECK(LibcameraSource(c).info().format == PixelFormat::YUYV);
}

}  // namespace
}  // namespace lookout
