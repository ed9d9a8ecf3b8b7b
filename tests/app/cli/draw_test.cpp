#include <doctest/doctest.h>

#include "draw.hpp"

using lookout::cli::RgbImage;

namespace {

RgbImage blank(int w, int h) {
  return {w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w) * h * 3, 0)};
}

bool lit(const RgbImage& image, int x, int y) {
  const std::uint8_t* p = &image.pixels[(static_cast<std::size_t>(y) * image.width + x) * 3];
  return p[0] || p[1] || p[2];
}

}  // namespace

TEST_CASE("text renders the 5x7 glyphs") {
  auto image = blank(40, 10);
  const std::uint8_t white[3] = {255, 255, 255};
  CHECK(lookout::cli::draw_text(image, 1, 1, "L1", white, 1) == 12);
  // "L": left column all lit, bottom row lit, the rest of the cell dark.
  for (int row = 0; row < 7; ++row) CHECK(lit(image, 1, 1 + row));
  for (int col = 0; col < 5; ++col) CHECK(lit(image, 1 + col, 7));
  CHECK_FALSE(lit(image, 3, 3));
  // "1" starts 6 px later: its vertical stroke is the middle column.
  for (int row = 0; row < 7; ++row) CHECK(lit(image, 7 + 2, 1 + row));
  CHECK_FALSE(lit(image, 7 + 4, 3));
  CHECK(lookout::cli::text_width("L1", 2) == 22);
  CHECK(lookout::cli::text_height(3) == 21);
}

TEST_CASE("rectangles are outlined with the given thickness and clipped to the image") {
  auto image = blank(20, 20);
  const std::uint8_t red[3] = {255, 0, 0};
  lookout::cli::draw_rectangle(image, 2, 2, 17, 17, red, 2);
  CHECK(lit(image, 2, 10));
  CHECK(lit(image, 3, 10));
  CHECK_FALSE(lit(image, 4, 10));
  CHECK(lit(image, 17, 10));
  CHECK(lit(image, 10, 16));
  CHECK_FALSE(lit(image, 10, 10));
  // Partly outside: no crash, the visible part drawn.
  lookout::cli::draw_rectangle(image, -5, -5, 30, 30, red, 1);
  lookout::cli::fill_rectangle(image, 15, 15, 100, 100, red);
  CHECK(lit(image, 19, 19));
}

TEST_CASE("detections get a box in their class colour and a label") {
  auto image = blank(200, 100);
  std::vector<lookout::Detection> detections(1);
  detections[0] = {3, 0.87f, 50, 40, 150, 90};
  lookout::cli::draw_detections(image, detections, {"a", "b", "c", "truck"});
  std::uint8_t colour[3];
  lookout::cli::class_colour(3, colour);
  const std::uint8_t* edge = &image.pixels[(static_cast<std::size_t>(60) * 200 + 50) * 3];
  CHECK(edge[0] == colour[0]);
  CHECK(edge[1] == colour[1]);
  CHECK(edge[2] == colour[2]);
  // The label sits above the box, on a filled background.
  CHECK(lit(image, 52, 38));
  CHECK_FALSE(lit(image, 100, 65));  // inside the box stays untouched
}
