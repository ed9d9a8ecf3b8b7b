#include "synthetic/synthetic_source.hpp"

#include <algorithm>
#include <cstring>
#include <set>

#include <doctest/doctest.h>

namespace lookout {
namespace {

using std::chrono::milliseconds;

SourceConfig unpaced(std::uint64_t seed) {
  SourceConfig c;
  c.width = 320;
  c.height = 240;
  c.fps = 0;
  c.seed = seed;
  return c;
}

std::vector<FramePtr> take(FrameSource& source, int n) {
  std::vector<FramePtr> frames;
  for (int i = 0; i < n; ++i) {
    auto r = source.next_frame(milliseconds(1000));
    REQUIRE(r.status == FrameResult::Status::Ok);
    frames.push_back(r.frame);
  }
  return frames;
}

bool same_pixels(const Frame& a, const Frame& b) {
  return a.planes[0].size == b.planes[0].size &&
         std::memcmp(a.planes[0].data, b.planes[0].data, a.planes[0].size) == 0;
}

TEST_CASE("synthetic frames: RGB24 of the configured size, numbered, with truth") {
  SyntheticSource source(unpaced(7));
  source.start();
  const auto info = source.info();
  CHECK(info.width == 320);
  CHECK(info.height == 240);
  CHECK(info.format == PixelFormat::RGB24);
  const auto frames = take(source, 5);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const Frame& f = *frames[i];
    CHECK(validate_layout(f).empty());
    CHECK(f.format == PixelFormat::RGB24);
    CHECK(f.width == 320);
    CHECK(f.height == 240);
    CHECK(f.sequence == i);
    CHECK_FALSE(f.truth.empty());
    for (const auto& box : f.truth) {
      CHECK(box.class_id >= 0);
      CHECK(box.class_id < 5);
      CHECK(box.x1 >= 0);
      CHECK(box.y1 >= 0);
      CHECK(box.x2 <= 320);
      CHECK(box.y2 <= 240);
      CHECK(box.x1 < box.x2);
      CHECK(box.y1 < box.y2);
    }
    CHECK(f.capture_steady.time_since_epoch().count() != 0);
  }
  // Objects move (unless every one of them happens to be still).
  CHECK_FALSE(same_pixels(*frames.front(), *frames.back()));
  source.stop();
}

TEST_CASE("the same seed gives the same frames, a restart starts over") {
  SyntheticSource a(unpaced(11)), b(unpaced(11));
  a.start();
  b.start();
  const auto fa = take(a, 4), fb = take(b, 4);
  for (int i = 0; i < 4; ++i) CHECK(same_pixels(*fa[i], *fb[i]));
  a.stop();
  a.start();
  const auto again = take(a, 1);
  CHECK(again[0]->sequence == 0);
  CHECK(same_pixels(*again[0], *fa[0]));
}

TEST_CASE("source.motion picks the scene's motion") {
  SourceConfig bounce_config = unpaced(9);
  SourceConfig traffic_config = unpaced(9);
  traffic_config.motion = SyntheticMotion::Traffic;
  SyntheticSource bounce(bounce_config), traffic(traffic_config);
  bounce.start();
  traffic.start();
  const auto fb = take(bounce, 150), ft = take(traffic, 150);  // 15 s of motion
  // Bounce: the same objects throughout, numbered by index.
  const std::size_t count = fb.front()->truth.size();
  for (const auto& f : fb) {
    REQUIRE(f->truth.size() == count);
    for (std::size_t i = 0; i < count; ++i) {
      CHECK(f->truth[i].object_id == static_cast<std::int64_t>(i));
      CHECK(f->truth[i].visibility > 0);
      CHECK(f->truth[i].visibility <= 1);
    }
  }
  // Traffic: objects come and go, more of them over time than in any frame.
  std::set<std::int64_t> ids;
  std::size_t most = 0;
  for (const auto& f : ft) {
    CHECK(f->truth.size() <= 8);
    most = std::max(most, f->truth.size());
    for (const auto& box : f->truth) {
      CHECK(box.object_id >= 0);
      CHECK(box.visibility >= 0);
      CHECK(box.visibility <= 1);
      CHECK(box.x1 >= 0);
      CHECK(box.x2 <= 320);
      CHECK(box.x1 < box.x2);
      ids.insert(box.object_id);
    }
  }
  CHECK(ids.size() > most + 3);
  CHECK_FALSE(same_pixels(*fb[10], *ft[10]));
  // Restarting a traffic source starts the same sequence over.
  traffic.stop();
  traffic.start();
  CHECK(same_pixels(*take(traffic, 1)[0], *ft[0]));
}

TEST_CASE("synthetic source errors") {
  SourceConfig c = unpaced(1);
  c.format = lookout::PixelFormat::I420;
  CHECK_THROWS_WITH_AS(SyntheticSource{c}, doctest::Contains("RGB24 only"), SourceError);
  SyntheticSource s(unpaced(1));
  CHECK(s.next_frame(milliseconds(0)).status == FrameResult::Status::Error);  // not started
}

TEST_CASE("a paced synthetic source says Timeout before the next frame is due") {
  SourceConfig c = unpaced(1);
  c.fps = 0.01;  // one frame per 100 s
  SyntheticSource s(c);
  s.start();
  CHECK(s.next_frame(milliseconds(0)).status == FrameResult::Status::Ok);
  CHECK(s.next_frame(milliseconds(1)).status == FrameResult::Status::Timeout);
}

}  // namespace
}  // namespace lookout
