#include "letterbox.hpp"

#include <array>
#include <stdexcept>

#include <doctest/doctest.h>

#include "postprocess.hpp"

using lookout::engine::fit_input_size;
using lookout::engine::InputSize;
using lookout::engine::make_letterbox;

// Expected values worked out by hand from ultralytics' letterbox():
//   r = min(H/h, W/w); new = (round(w r), round(h r)); dw, dh = (W - new_w) / 2, ...
//   top = round(dh - 0.1), left = round(dw - 0.1)
TEST_CASE("letterbox of bus.jpg (810x1080) into 640x640") {
  const auto box = make_letterbox(810, 1080, 640, 640);
  CHECK(box.scaled_width == 480);
  CHECK(box.scaled_height == 640);
  CHECK(box.left == 80);
  CHECK(box.top == 0);
  CHECK(box.gain == doctest::Approx(640.0 / 1080));
  CHECK(box.pad_x == doctest::Approx(80.0));
  CHECK(box.pad_y == doctest::Approx(0.0));
}

TEST_CASE("letterbox of zidane.jpg (1280x720) into 640x640 and 640x384") {
  auto box = make_letterbox(1280, 720, 640, 640);
  CHECK(box.scaled_width == 640);
  CHECK(box.scaled_height == 360);
  CHECK(box.left == 0);
  CHECK(box.top == 140);
  box = make_letterbox(1280, 720, 640, 384);
  CHECK(box.scaled_height == 360);
  CHECK(box.top == 12);
}

TEST_CASE("odd padding splits as ultralytics rounds it (round(dh - 0.1))") {
  // 100x61 into 100x64: dh = 1.5 -> top = round(1.4) = 1 (bottom gets 2).
  auto box = make_letterbox(100, 61, 100, 64);
  CHECK(box.scaled_height == 61);
  CHECK(box.top == 1);
  CHECK(box.pad_y == doctest::Approx(1.5));
  // 100x63 into 100x64: dh = 0.5 -> top = round(0.4) = 0.
  box = make_letterbox(100, 63, 100, 64);
  CHECK(box.top == 0);
}

TEST_CASE("scaled sides use Python's round (ties to even)") {
  // 5 * 0.5 = 2.5 -> 2 (half to even), 7 * 0.5 = 3.5 -> 4.
  auto box = make_letterbox(10, 5, 5, 5);
  CHECK(box.scaled_width == 5);
  CHECK(box.scaled_height == 2);
  box = make_letterbox(10, 7, 5, 5);
  CHECK(box.scaled_height == 4);
}

TEST_CASE("upscaling small frames is allowed (scaleup=True)") {
  const auto box = make_letterbox(320, 240, 640, 640);
  CHECK(box.scaled_width == 640);
  CHECK(box.scaled_height == 480);
  CHECK(box.top == 80);
}

TEST_CASE("top-left placement when the model asks for it") {
  const auto box = make_letterbox(1280, 720, 640, 640, false);
  CHECK(box.left == 0);
  CHECK(box.top == 0);
  CHECK(box.pad_y == 0);
}

TEST_CASE("any-size models get the smallest stride-aligned input") {
  auto size = fit_input_size(1920, 1080, {640, 640}, 32);
  CHECK(size.width == 640);
  CHECK(size.height == 384);
  size = fit_input_size(810, 1080, {640, 640}, 32);
  CHECK(size.width == 480);
  CHECK(size.height == 640);
  size = fit_input_size(1280, 720, {640, 640}, 32);
  CHECK(size.height == 384);
  size = fit_input_size(640, 480, {640, 640}, 32);
  CHECK(size.height == 480);
  size = fit_input_size(1000, 1000, {320, 320}, 32);
  CHECK(size.width == 320);
  CHECK(size.height == 320);
  // 4:3 at 416: 416x312 -> height 320.
  size = fit_input_size(1600, 1200, {416, 416}, 32);
  CHECK(size.width == 416);
  CHECK(size.height == 320);
  // Frames so thin that the short side scales below half a pixel still get
  // one pixel, in the smallest stride-aligned input (it once came out 0 wide,
  // and libyuv aborted the process).
  for (const auto& [w, h, want_w, want_h] : {std::array<int, 4>{1, 640, 32, 320},
                                             {640, 1, 320, 32},
                                             {1, 1000, 32, 320},
                                             {13000, 20, 320, 32},
                                             {1, 639, 32, 320},
                                             {2, 1281, 32, 320}}) {
    CAPTURE(w);
    CAPTURE(h);
    size = fit_input_size(w, h, {320, 320}, 32);
    CHECK(size.width == want_w);
    CHECK(size.height == want_h);
    const auto box = make_letterbox(w, h, size.width, size.height);
    CHECK(box.scaled_width >= 1);
    CHECK(box.scaled_height >= 1);
    CHECK(box.left + box.scaled_width <= size.width);
    CHECK(box.top + box.scaled_height <= size.height);
  }
  CHECK_THROWS_AS(fit_input_size(0, 10, {320, 320}, 32), std::invalid_argument);
  CHECK_THROWS_AS(fit_input_size(10, 10, {330, 320}, 32), std::invalid_argument);
  CHECK_THROWS_AS(make_letterbox(10, 10, 0, 320), std::invalid_argument);
  CHECK_THROWS_AS(lookout::engine::make_stretch(-1, 10, 32, 32), std::invalid_argument);
  CHECK(lookout::engine::align_up(630, 32) == 640);
  CHECK(lookout::engine::align_up(640, 32) == 640);
}

TEST_CASE("boxes map back to frame pixels as scale_coords does, clipped") {
  const auto box = make_letterbox(1280, 720, 640, 384);  // r = 0.5, pad_y = 12
  lookout::engine::Candidate c{100, 12, 200, 112, 0.9f, 3, 0};
  auto d = lookout::engine::to_frame(c, box);
  CHECK(d.x1 == doctest::Approx(200));
  CHECK(d.y1 == doctest::Approx(0));
  CHECK(d.x2 == doctest::Approx(400));
  CHECK(d.y2 == doctest::Approx(200));
  CHECK(d.class_id == 3);
  CHECK(d.score == doctest::Approx(0.9f));
  // Parts in the padding or past the edge are clipped to the frame.
  c = {-20, 0, 700, 390, 0.5f, 0, 0};
  d = lookout::engine::to_frame(c, box);
  CHECK(d.x1 == 0);
  CHECK(d.y1 == 0);
  CHECK(d.x2 == 1280);
  CHECK(d.y2 == 720);
}
