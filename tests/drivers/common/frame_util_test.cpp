#include "common/frame_util.hpp"

#include <doctest/doctest.h>

namespace lookout {
namespace {

TEST_CASE("restamp shows the same pixels under a new number and keeps the base alive") {
  auto base = Frame::allocate(PixelFormat::RGB24, 4, 2);
  base->mutable_plane(0)[0] = 42;
  base->sequence = 3;
  base->truth.push_back({2, 1, 1, 3, 2});
  std::weak_ptr<const Frame> watch = base;
  FramePtr base_ptr = std::move(base);

  const auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1000));
  const auto s = std::chrono::steady_clock::time_point(std::chrono::seconds(7));
  FramePtr view = restamp(base_ptr, 17, t, s);
  base_ptr.reset();
  REQUIRE_FALSE(watch.expired());
  CHECK(view->sequence == 17);
  CHECK(view->capture_time == t);
  CHECK(view->capture_steady == s);
  CHECK(view->planes[0].data == watch.lock()->planes[0].data);  // no copy
  CHECK(view->planes[0].data[0] == 42);
  CHECK(view->storage.empty());
  REQUIRE(view->truth.size() == 1);
  CHECK(view->truth[0].class_id == 2);
  CHECK(validate_layout(*view).empty());
  view.reset();
  CHECK(watch.expired());
}

TEST_CASE("restamp without times keeps the base's capture times") {
  auto base = Frame::allocate(PixelFormat::GRAY8, 2, 2);
  stamp_now(*base);
  FramePtr view = restamp(base, 5);
  CHECK(view->capture_time == base->capture_time);
  CHECK(view->capture_steady == base->capture_steady);
  CHECK(view->sequence == 5);
}

}  // namespace
}  // namespace lookout
