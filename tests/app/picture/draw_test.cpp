#include "picture/draw.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <doctest/doctest.h>

using lookout::Detection;
using lookout::picture::RgbImage;
namespace picture = lookout::picture;

namespace {

RgbImage blank(int w, int h) {
  return {w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w) * h * 3, 0)};
}

const std::uint8_t* at(const RgbImage& image, int x, int y) {
  REQUIRE(x >= 0);
  REQUIRE(y >= 0);
  REQUIRE(x < image.width);
  REQUIRE(y < image.height);
  return &image.pixels[(static_cast<std::size_t>(y) * image.width + x) * 3];
}

bool lit(const RgbImage& image, int x, int y) {
  const std::uint8_t* p = at(image, x, y);
  return p[0] || p[1] || p[2];
}

bool has_colour(const RgbImage& image, int x, int y, const std::uint8_t rgb[3]) {
  const std::uint8_t* p = at(image, x, y);
  return p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2];
}

}  // namespace

TEST_CASE("text renders the 5x7 glyphs") {
  auto image = blank(40, 10);
  const std::uint8_t white[3] = {255, 255, 255};
  CHECK(picture::draw_text(image, 1, 1, "L1", white, 1) == 12);
  // "L": left column all lit, bottom row lit, the rest of the cell dark.
  for (int row = 0; row < 7; ++row) CHECK(lit(image, 1, 1 + row));
  for (int col = 0; col < 5; ++col) CHECK(lit(image, 1 + col, 7));
  CHECK_FALSE(lit(image, 3, 3));
  // "1" starts 6 px later: its vertical stroke is the middle column.
  for (int row = 0; row < 7; ++row) CHECK(lit(image, 7 + 2, 1 + row));
  CHECK_FALSE(lit(image, 7 + 4, 3));
  CHECK(picture::text_width("L1", 2) == 22);
  CHECK(picture::text_width("", 2) == 0);
  CHECK(picture::text_height(3) == 21);
}

TEST_CASE("rectangles are outlined with the given thickness and clipped to the image") {
  auto image = blank(20, 20);
  const std::uint8_t red[3] = {255, 0, 0};
  picture::draw_rectangle(image, 2, 2, 17, 17, red, 2);
  CHECK(lit(image, 2, 10));
  CHECK(lit(image, 3, 10));
  CHECK_FALSE(lit(image, 4, 10));
  CHECK(lit(image, 17, 10));
  CHECK(lit(image, 10, 16));
  CHECK_FALSE(lit(image, 10, 10));
  // Partly outside: no crash, the visible part drawn.
  picture::draw_rectangle(image, -5, -5, 30, 30, red, 1);
  picture::fill_rectangle(image, 15, 15, 100, 100, red);
  CHECK(lit(image, 19, 19));
}

TEST_CASE("detections get a box in their class colour and a label") {
  auto image = blank(200, 100);
  std::vector<Detection> detections(1);
  detections[0] = {3, 0.87f, 50, 40, 150, 90};
  picture::draw_detections(image, detections, {"a", "b", "c", "truck"});
  std::uint8_t colour[3];
  picture::class_colour(3, colour);
  CHECK(has_colour(image, 50, 60, colour));
  // The label sits above the box, on a filled background.
  CHECK(lit(image, 52, 38));
  CHECK_FALSE(lit(image, 100, 65));  // inside the box stays untouched
}

TEST_CASE("class colours follow the palette and wrap around") {
  std::uint8_t first[3], again[3], second[3];
  picture::class_colour(0, first);
  CHECK(first[0] == 0xFF);
  CHECK(first[1] == 0x38);
  CHECK(first[2] == 0x38);
  picture::class_colour(20, again);
  CHECK(std::equal(first, first + 3, again));
  picture::class_colour(1, second);
  CHECK_FALSE(std::equal(first, first + 3, second));
}

TEST_CASE("boxes in frame pixels are scaled onto a smaller picture") {
  // A 400x200 frame's detection drawn on a 100x50 picture of it.
  const std::vector<Detection> detections = {{3, 0.5f, 100, 80, 300, 180}};
  std::uint8_t colour[3];
  picture::class_colour(3, colour);
  auto image = blank(100, 50);
  picture::draw_detections(image, detections, {}, 0.25f, 0.25f);
  // (25, 20) - (75, 45), one pixel wide on a picture this small.
  CHECK(has_colour(image, 25, 30, colour));
  CHECK(has_colour(image, 75, 30, colour));
  CHECK(has_colour(image, 50, 45, colour));
  CHECK(has_colour(image, 60, 20, colour));
  CHECK_FALSE(lit(image, 26, 30));
  CHECK_FALSE(lit(image, 50, 32));
  CHECK_FALSE(lit(image, 50, 46));
  // The label ("3 0.50", no name for the id) above the box.
  CHECK(has_colour(image, 25, 11, colour));
  CHECK_FALSE(lit(image, 25, 10));

  // Unscaled, the same box lies elsewhere (mostly outside this picture).
  auto unscaled = blank(100, 50);
  picture::draw_detections(unscaled, detections, {});
  CHECK_FALSE(lit(unscaled, 25, 30));
  CHECK_FALSE(lit(unscaled, 75, 30));

  // The axes scale independently: (50, 20) - (150 -> clipped, 45).
  auto stretched = blank(100, 50);
  picture::draw_detections(stretched, detections, {}, 0.5f, 0.25f);
  CHECK(has_colour(stretched, 50, 30, colour));
  CHECK_FALSE(lit(stretched, 25, 30));
  CHECK(has_colour(stretched, 99, 45, colour));
}

TEST_CASE("line width and label size follow the picture's size") {
  const std::vector<Detection> detections = {{0, 0.9f, 200, 100, 600, 400}};
  std::uint8_t colour[3];
  picture::class_colour(0, colour);
  // 1280x720: lines 3 pixels wide, the font 3x (label 7*3 + 2*3 = 27 rows).
  auto large = blank(1280, 720);
  picture::draw_detections(large, detections, {"person"});
  for (int x = 200; x < 203; ++x) CHECK(has_colour(large, x, 250, colour));
  CHECK_FALSE(lit(large, 203, 250));
  CHECK(has_colour(large, 201, 73, colour));
  CHECK_FALSE(lit(large, 201, 72));
  const int label_width = picture::text_width("person 0.90", 3) + 6;
  CHECK(has_colour(large, 200 + label_width - 1, 80, colour));
  CHECK_FALSE(lit(large, 200 + label_width, 80));
  // The same detection on a 320x180 picture of that frame: 1 pixel, font 1x.
  auto small = blank(320, 180);
  picture::draw_detections(small, detections, {"person"}, 0.25f, 0.25f);
  CHECK(has_colour(small, 50, 60, colour));
  CHECK_FALSE(lit(small, 51, 60));
  CHECK(has_colour(small, 51, 25 - 9, colour));
  CHECK_FALSE(lit(small, 51, 25 - 10));
}

TEST_CASE("wild box coordinates are clipped, not undefined") {
  auto image = blank(50, 50);
  const std::vector<Detection> detections = {
      {1, 0.5f, -1e30f, -1e30f, 1e30f, 1e30f},
      {2, 0.5f, std::nanf(""), 10, 20, std::numeric_limits<float>::infinity()}};
  picture::draw_detections(image, detections, {"x"});
  CHECK_FALSE(lit(image, 25, 25));  // the first outline lies outside the picture
  // The second's right edge (x = 20) runs from its top to the bottom.
  CHECK(lit(image, 20, 49));
  CHECK(lit(image, 20, 10));
  CHECK_FALSE(lit(image, 21, 30));
}
