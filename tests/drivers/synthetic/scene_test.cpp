// The C++ scene renderer against models/SCENES.md, checked over many seeds
// and many frames of motion.
#include "synthetic/scene.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include <doctest/doctest.h>

namespace lookout::synthetic {
namespace {

using Box = std::array<double, 4>;

double area(const Box& b) {
  return std::max(0.0, b[2] - b[0]) * std::max(0.0, b[3] - b[1]);
}
double inter(const Box& a, const Box& b) {
  return area(
      {std::max(a[0], b[0]), std::max(a[1], b[1]), std::min(a[2], b[2]), std::min(a[3], b[3])});
}

std::vector<std::uint8_t> blank(int w, int h) {
  return std::vector<std::uint8_t>(std::size_t(w * h * 3), 0);
}

int count_filled(const std::vector<std::uint8_t>& img) {
  int n = 0;
  for (std::size_t i = 0; i < img.size(); i += 3) n += img[i] != 0;
  return n;
}

TEST_CASE("shape outlines follow the spec") {
  const double r = 50, cx = 100, cy = 80;
  CHECK(shape_polygon(0, cx, cy, r, 0).empty());
  CHECK(shape_polygon(1, cx, cy, r, 0.3).size() == 4);
  CHECK(shape_polygon(2, cx, cy, r, 0.3).size() == 3);
  CHECK(shape_polygon(3, cx, cy, r, 0.3).size() == 10);
  CHECK(shape_polygon(4, cx, cy, r, 0.3).size() == 12);
  CHECK_THROWS_AS(shape_polygon(5, cx, cy, r, 0), std::invalid_argument);
  const auto dist = [&](const Point& p) { return std::hypot(p.x - cx, p.y - cy); };
  for (const auto& p : shape_polygon(1, cx, cy, r, 0.3)) CHECK(dist(p) == doctest::Approx(r));
  for (const auto& p : shape_polygon(2, cx, cy, r, 0.3)) CHECK(dist(p) == doctest::Approx(r));
  const auto star = shape_polygon(3, cx, cy, r, 0.3);
  for (std::size_t k = 0; k < star.size(); ++k) {
    CHECK(dist(star[k]) == doctest::Approx(k % 2 == 0 ? r : 0.45 * r));
  }
  // Cross: outer corners on the circle; arm width 0.35 of the span.
  const auto cross = shape_polygon(4, cx, cy, r, 0);
  CHECK(dist(cross[0]) == doctest::Approx(r));
  const double span = cross[0].x - cross[5].x;  // (L, h) to (-L, h)
  const double arm = cross[0].y - cross[11].y;  // (L, h) to (L, -h)
  CHECK(arm / span == doctest::Approx(0.35));
  // The triangle is equilateral.
  const auto tri = shape_polygon(2, cx, cy, r, 1.0);
  const double a = std::hypot(tri[0].x - tri[1].x, tri[0].y - tri[1].y);
  const double b = std::hypot(tri[1].x - tri[2].x, tri[1].y - tri[2].y);
  CHECK(a == doctest::Approx(b));
  const Box circle = shape_box(0, cx, cy, r, 0);
  CHECK(circle == Box{50, 30, 150, 130});
}

TEST_CASE("polygon fill covers exactly the pixels whose centres are inside") {
  auto img = blank(10, 10);
  const Canvas canvas{img.data(), 10, 10, 30};
  fill_polygon(canvas, {{2, 2}, {6, 2}, {6, 6}, {2, 6}}, {255, 0, 0});
  CHECK(count_filled(img) == 16);
  CHECK(img[(2 * 10 + 2) * 3] == 255);
  CHECK(img[(6 * 10 + 6) * 3] == 0);
  // Clipped at the canvas edge without writing outside.
  auto small = blank(4, 4);
  fill_polygon({small.data(), 4, 4, 12}, {{-5, -5}, {20, -5}, {20, 20}, {-5, 20}}, {9, 9, 9});
  CHECK(count_filled(small) == 16);
}

TEST_CASE("circle fill has the circle's area") {
  auto img = blank(64, 64);
  fill_circle({img.data(), 64, 64, 64 * 3}, 32, 32, 20, {1, 2, 3});
  const double expected = 3.14159265 * 20 * 20;
  CHECK(std::abs(count_filled(img) - expected) < 0.03 * expected);
}

TEST_CASE("filled shapes stay within their ground-truth box and reach its sides") {
  Rng rng(5);
  for (int cls = 0; cls < kClassCount; ++cls) {
    for (int i = 0; i < 20; ++i) {
      const int w = 200, h = 160;
      auto img = blank(w, h);
      const double r = rng.uniform(10, 50), cx = rng.uniform(60, 140), cy = rng.uniform(50, 110);
      const double angle = cls == 0 ? 0 : rng.uniform(0, 6.283);
      const Canvas canvas{img.data(), w, h, std::size_t(w * 3)};
      if (cls == 0) {
        fill_circle(canvas, cx, cy, r, {200, 0, 0});
      } else {
        fill_polygon(canvas, shape_polygon(cls, cx, cy, r, angle), {200, 0, 0});
      }
      int x1 = w, y1 = h, x2 = -1, y2 = -1;
      for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
          if (img[std::size_t((y * w + x) * 3)] != 0) {
            x1 = std::min(x1, x), y1 = std::min(y1, y), x2 = std::max(x2, x), y2 = std::max(y2, y);
          }
        }
      }
      const Box box = shape_box(cls, cx, cy, r, angle);
      // Pixel [x, x+1) filled means its centre is inside: within a pixel of the box.
      CHECK(x1 >= box[0] - 0.5);
      CHECK(x2 + 1 <= box[2] + 0.5);
      CHECK(y1 >= box[1] - 0.5);
      CHECK(y2 + 1 <= box[3] + 0.5);
      CHECK(x1 <= box[0] + 1.5);
      CHECK(x2 + 1 >= box[2] - 1.5);
      CHECK(y1 <= box[1] + 1.5);
      CHECK(y2 + 1 >= box[3] - 1.5);
    }
  }
}

TEST_CASE("scenes are deterministic by seed") {
  Scene a(42, 160, 120), b(42, 160, 120), c(43, 160, 120);
  std::vector<std::uint8_t> pa(160 * 120 * 3), pb(pa.size()), pc(pa.size());
  std::vector<LabelledBox> ta, tb, tc;
  a.render(pa.data(), 160 * 3, 0, ta);
  b.render(pb.data(), 160 * 3, 0, tb);
  c.render(pc.data(), 160 * 3, 0, tc);
  CHECK(pa == pb);
  CHECK(pa != pc);
  REQUIRE(ta.size() == tb.size());
  for (std::size_t i = 0; i < ta.size(); ++i) CHECK(ta[i].x1 == tb[i].x1);
  // Same state, same frame index: same pixels; another index: other noise.
  std::vector<std::uint8_t> again(pa.size()), next(pa.size());
  std::vector<LabelledBox> ignore;
  a.render(again.data(), 160 * 3, 0, ignore);
  a.render(next.data(), 160 * 3, 1, ignore);
  CHECK(again == pa);
  if (a.noise_sigma() >= 1) CHECK(next != pa);
}

TEST_CASE("a padded stride leaves the padding alone") {
  Scene scene(3, 20, 16);
  const std::size_t stride = 20 * 3 + 4;
  std::vector<std::uint8_t> img(stride * 16, 0xAB);
  std::vector<LabelledBox> truth;
  scene.render(img.data(), stride, 0, truth);
  for (int y = 0; y < 16; ++y) {
    for (std::size_t x = 60; x < stride; ++x) CHECK(img[y * stride + x] == 0xAB);
  }
}

TEST_CASE("sizes below 16x16 are refused") {
  CHECK_THROWS_AS(Scene(1, 15, 100), std::invalid_argument);
  CHECK_NOTHROW(Scene(1, 16, 16));
}

TEST_CASE("scenes keep the spec's rules on every frame while objects move") {
  std::set<int> classes_seen;
  std::set<std::size_t> counts_seen;
  double max_sigma = 0;
  bool moved = false;
  for (std::uint64_t seed = 1; seed <= 150; ++seed) {
    const int w = seed % 3 == 0 ? 320 : 640, h = seed % 2 == 0 ? 240 : 360;
    Scene scene(seed, w, h);
    const double short_side = std::min(w, h);
    const auto& objects = scene.objects();
    REQUIRE(!objects.empty());
    REQUIRE(objects.size() <= 8);
    counts_seen.insert(objects.size());
    max_sigma = std::max(max_sigma, scene.noise_sigma());
    CHECK(scene.noise_sigma() >= 0);
    CHECK(scene.noise_sigma() < 8);
    const auto start = objects;
    for (int frame = 0; frame < 40; ++frame) {
      for (std::size_t i = 0; i < objects.size(); ++i) {
        const auto& o = objects[i];
        classes_seen.insert(o.class_id);
        CHECK(o.r >= 0.04 * short_side - 1e-9);
        CHECK(o.r <= 0.18 * short_side + 1e-9);
        const Box raw = shape_box(o.class_id, o.cx, o.cy, o.r, o.angle);
        const Box box = scene.box_of(o);
        CHECK(area(box) >= 0.6 * area(raw) - 1e-6);  // >= 60 % inside
        const auto bg = scene.gradient_at(o.cx, o.cy);
        const double d =
            std::sqrt(std::pow(o.colour.r - bg[0], 2) + std::pow(o.colour.g - bg[1], 2) +
                      std::pow(o.colour.b - bg[2], 2));
        CHECK(d >= 120 - 1e-6);
        for (std::size_t j = 0; j < i; ++j) {  // later objects cover <= 40 % of earlier ones
          const Box earlier = scene.box_of(objects[j]);
          CHECK(inter(box, earlier) <= 0.4 * area(earlier) + 1e-6);
        }
      }
      scene.advance(0.1);
    }
    for (std::size_t i = 0; i < objects.size(); ++i) {
      moved = moved || std::abs(objects[i].cx - start[i].cx) > 1 ||
              std::abs(objects[i].cy - start[i].cy) > 1;
    }
  }
  CHECK(classes_seen.size() == 5);
  CHECK(counts_seen.size() >= 6);  // 1..8 objects, all kinds of counts
  CHECK(max_sigma > 4);
  CHECK(moved);
}

TEST_CASE("the rendered frame shows each object's colour inside its box") {
  // Objects are solid fills: at the centre of the last-drawn object the pixel
  // is its colour (up to noise).
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    Scene scene(seed, 320, 240);
    std::vector<std::uint8_t> img(320 * 240 * 3);
    std::vector<LabelledBox> truth;
    scene.render(img.data(), 320 * 3, 0, truth);
    REQUIRE(truth.size() == scene.objects().size());
    const auto& o = scene.objects().back();
    const auto* p = &img[(std::size_t(o.cy) * 320 + std::size_t(o.cx)) * 3];
    const double tolerance = 4 * scene.noise_sigma() + 2;
    CHECK(std::abs(p[0] - o.colour.r) <= tolerance);
    CHECK(std::abs(p[1] - o.colour.g) <= tolerance);
    CHECK(std::abs(p[2] - o.colour.b) <= tolerance);
    CHECK(truth.back().class_id == o.class_id);
  }
}

}  // namespace
}  // namespace lookout::synthetic
