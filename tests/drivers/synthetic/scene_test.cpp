// The C++ scene renderer against models/SCENES.md, checked over many seeds
// and many frames of motion, in both motion modes (bounce and traffic).
#include "synthetic/scene.hpp"

#include <algorithm>
#include <cmath>
#include <map>
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

// ---- identities and visibility ----------------------------------------------

SceneObject placed(std::int64_t id, int class_id, double cx, double cy, double r, double angle) {
  SceneObject o;
  o.id = id;
  o.class_id = class_id;
  o.cx = cx;
  o.cy = cy;
  o.r = r;
  o.angle = angle;
  o.colour = {200, 100, 50};
  return o;
}

constexpr double kQuarterTurn = 3.14159265358979323846 / 4;  // square with level sides

TEST_CASE("shape areas are the analytic ones and match the filled pixels") {
  CHECK(shape_area(0, 10) == doctest::Approx(3.14159265 * 100));
  CHECK(shape_area(1, 10) == doctest::Approx(200));                           // diagonal 20
  CHECK(shape_area(2, 10) == doctest::Approx(3 * std::sqrt(3.0) / 4 * 100));  // equilateral
  for (int cls = 0; cls < kClassCount; ++cls) {
    auto img = blank(200, 200);
    const Canvas canvas{img.data(), 200, 200, 600};
    if (cls == 0) {
      fill_circle(canvas, 100, 100, 60, {1, 1, 1});
    } else {
      fill_polygon(canvas, shape_polygon(cls, 100, 100, 60, 0.4), {1, 1, 1});
    }
    CHECK(count_filled(img) == doctest::Approx(shape_area(cls, 60)).epsilon(0.01));
  }
}

TEST_CASE("draw_objects: visibility is the share of the whole shape that shows") {
  const int w = 200, h = 160;
  auto img = blank(w, h);
  const Canvas canvas{img.data(), w, h, std::size_t(w * 3)};
  std::vector<LabelledBox> truth;

  SUBCASE("unoccluded and wholly inside: 1") {
    for (int cls = 0; cls < kClassCount; ++cls) {
      truth.clear();
      draw_objects(canvas, {placed(7, cls, 100, 80, 40, 0.3)}, truth);
      REQUIRE(truth.size() == 1);
      CHECK(truth[0].object_id == 7);
      CHECK(truth[0].class_id == cls);
      CHECK(truth[0].visibility == doctest::Approx(1).epsilon(0.02));
    }
  }
  SUBCASE("half outside the frame: 0.5, box clipped") {
    // A circle centred on the left edge, a level square centred on the right
    // edge, a level square centred on the bottom edge.
    draw_objects(
        canvas,
        {placed(1, 0, 0, 80, 40, 0), placed(2, 1, 200, 60, 30 * std::sqrt(2.0), kQuarterTurn),
         placed(3, 1, 60, 160, 20 * std::sqrt(2.0), kQuarterTurn)},
        truth);
    REQUIRE(truth.size() == 3);
    CHECK(truth[0].visibility == doctest::Approx(0.5).epsilon(0.02));
    CHECK(truth[0].x1 == 0);
    CHECK(truth[0].x2 == doctest::Approx(40));
    CHECK(truth[1].visibility == doctest::Approx(0.5).epsilon(0.02));
    CHECK(truth[1].x1 == doctest::Approx(170));
    CHECK(truth[1].x2 == doctest::Approx(200));
    CHECK(truth[2].visibility == doctest::Approx(0.5).epsilon(0.02));
    CHECK(truth[2].y2 == doctest::Approx(160));
  }
  SUBCASE("covered by a later object: only what still shows counts") {
    // Two level squares 60 px wide, the later one shifted by half a side:
    // the earlier one keeps its left half. A third, drawn last exactly over
    // the second, hides it wholly.
    const double r = 30 * std::sqrt(2.0);
    draw_objects(canvas,
                 {placed(10, 1, 70, 80, r, kQuarterTurn), placed(11, 1, 100, 80, r, kQuarterTurn),
                  placed(12, 1, 100, 80, r, kQuarterTurn)},
                 truth);
    REQUIRE(truth.size() == 3);
    CHECK(truth[0].visibility == doctest::Approx(0.5).epsilon(0.02));
    CHECK(truth[1].visibility == 0);  // wholly covered, still listed
    CHECK(truth[2].visibility == doctest::Approx(1).epsilon(0.02));
    // Boxes are the whole shapes' boxes, whatever covers them.
    CHECK(truth[0].x1 == doctest::Approx(40));
    CHECK(truth[0].x2 == doctest::Approx(100));
  }
  SUBCASE("objects wholly outside the frame are not listed") {
    draw_objects(canvas, {placed(1, 0, -41, 80, 40, 0), placed(2, 3, 100, 300, 40, 0.2)}, truth);
    CHECK(truth.empty());
    CHECK(count_filled(img) == 0);
  }
  SUBCASE("at most 255 objects") {
    std::vector<SceneObject> many(256, placed(0, 0, 10, 10, 5, 0));
    CHECK_THROWS_AS(draw_objects(canvas, many, truth), std::invalid_argument);
  }
}

TEST_CASE("bounce scenes: ids are the object indices, visibility from the pixels") {
  int clear_objects = 0;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    Scene scene(seed, 640, 480);
    Scene explicit_bounce(seed, 640, 480, SyntheticMotion::Bounce);
    CHECK(scene.motion() == SyntheticMotion::Bounce);
    std::vector<std::uint8_t> img(640 * 480 * 3), other(img.size());
    for (int frame = 0; frame < 20; ++frame) {
      std::vector<LabelledBox> truth, truth2;
      scene.render(img.data(), 640 * 3, frame, truth);
      explicit_bounce.render(other.data(), 640 * 3, frame, truth2);
      CHECK(img == other);
      const auto& objects = scene.objects();
      REQUIRE(truth.size() == objects.size());
      for (std::size_t i = 0; i < truth.size(); ++i) {
        CHECK(truth[i].object_id == static_cast<std::int64_t>(i));
        CHECK(objects[i].id == static_cast<std::int64_t>(i));
        CHECK(truth[i].visibility > 0);
        CHECK(truth[i].visibility <= 1);
        // Wholly inside and touching no other box: all of it shows.
        const auto& o = objects[i];
        const Box raw = shape_box(o.class_id, o.cx, o.cy, o.r, o.angle);
        bool clear = raw[0] >= 0 && raw[1] >= 0 && raw[2] <= 640 && raw[3] <= 480;
        for (std::size_t j = 0; j < objects.size(); ++j) {
          if (j != i) clear = clear && inter(raw, scene.box_of(objects[j])) == 0;
        }
        if (clear) {
          ++clear_objects;
          CHECK(truth[i].visibility == doctest::Approx(1).epsilon(0.04));
        }
      }
      scene.advance(0.1);
      explicit_bounce.advance(0.1);
    }
  }
  CHECK(clear_objects > 100);
}

// ---- traffic ------------------------------------------------------------------

bool wholly_outside(const SceneObject& o, int w, int h) {
  const Box b = shape_box(o.class_id, o.cx, o.cy, o.r, o.angle);
  return b[2] <= 0 || b[0] >= w || b[3] <= 0 || b[1] >= h;
}

bool wholly_inside(const SceneObject& o, int w, int h) {
  const Box b = shape_box(o.class_id, o.cx, o.cy, o.r, o.angle);
  return b[0] >= 0 && b[1] >= 0 && b[2] <= w && b[3] <= h;
}

TEST_CASE("traffic: objects enter from outside, cross, occlude, halt, leave; ids never re-used") {
  const double fps = 10;
  const int frames = 400;
  double in_frame_total = 0;
  int frames_total = 0;
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    CAPTURE(seed);
    const int w = seed % 2 == 0 ? 640 : 320, h = seed % 2 == 0 ? 480 : 240;
    const double short_side = std::min(w, h);
    Scene scene(seed, w, h, SyntheticMotion::Traffic);
    CHECK(scene.motion() == SyntheticMotion::Traffic);
    std::vector<std::uint8_t> img(std::size_t(w) * h * 3);

    std::map<std::int64_t, SceneObject> first_seen;  // as it was when first live
    std::map<std::int64_t, SceneObject> last_seen;
    std::set<std::int64_t> gone, in_truth, left_after_entering, entered_later;
    std::map<std::int64_t, int> still_frames;  // consecutive frames without moving
    std::int64_t newest = -1;
    bool occluded = false, halted_and_resumed = false;
    for (const auto& o : scene.objects()) newest = std::max(newest, o.id);

    for (int frame = 0; frame < frames; ++frame) {
      std::vector<LabelledBox> truth;
      scene.render(img.data(), std::size_t(w) * 3, frame, truth);
      const auto& objects = scene.objects();
      REQUIRE(objects.size() <= 8);
      REQUIRE(truth.size() <= 8);
      in_frame_total += truth.size();
      ++frames_total;

      std::map<std::int64_t, const SceneObject*> live;
      for (const auto& o : objects) {
        REQUIRE(live.count(o.id) == 0);  // unique
        live[o.id] = &o;
        CHECK(gone.count(o.id) == 0);  // never back, never re-used
        if (!first_seen.count(o.id)) {
          first_seen[o.id] = o;
          if (frame > 0) {
            // A new arrival: a fresh id, the whole shape outside the frame.
            CHECK(o.id > newest);
            CHECK(wholly_outside(o, w, h));
            entered_later.insert(o.id);
          }
          newest = std::max(newest, o.id);
        }
        // Identity is stable: same class, size, colour as when it arrived.
        const SceneObject& f = first_seen[o.id];
        CHECK(o.class_id == f.class_id);
        CHECK(o.r == f.r);
        CHECK((o.colour.r == f.colour.r && o.colour.g == f.colour.g && o.colour.b == f.colour.b));
        CHECK(o.r >= 0.04 * short_side - 1e-9);
        CHECK(o.r <= 0.18 * short_side + 1e-9);
        const double speed = std::hypot(o.vx, o.vy);
        CHECK(speed >= 0.1 * short_side - 1e-6);
        CHECK(speed <= 0.25 * short_side + 1e-6);
        if (o.cx >= 0 && o.cx <= w && o.cy >= 0 && o.cy <= h) {
          const auto bg = scene.gradient_at(o.cx, o.cy);
          CHECK(std::sqrt(std::pow(o.colour.r - bg[0], 2) + std::pow(o.colour.g - bg[1], 2) +
                          std::pow(o.colour.b - bg[2], 2)) >= 120 - 1e-6);
        }
        // Stops and starts: standing still for >= 1 s with the centre in
        // frame, then moving again.
        const auto last = last_seen.find(o.id);
        if (last != last_seen.end()) {
          const bool still = o.cx == last->second.cx && o.cy == last->second.cy;
          if (still) {
            ++still_frames[o.id];
          } else {
            if (still_frames[o.id] >= 10 && o.cx > 0 && o.cx < w && o.cy > 0 && o.cy < h) {
              halted_and_resumed = true;
            }
            still_frames[o.id] = 0;
          }
        }
      }
      // Leaving: an object that disappears had been in frame and was last seen
      // cut by the edge (one step from wholly outside).
      for (const auto& [id, o] : last_seen) {
        if (live.count(id) || gone.count(id)) continue;
        gone.insert(id);
        CHECK(in_truth.count(id) == 1);
        CHECK_FALSE(wholly_inside(o, w, h));
        left_after_entering.insert(id);
      }
      // Truth: exactly the live objects with some part in frame, in draw order.
      std::size_t next = 0;
      for (const auto& o : objects) {
        if (area(scene.box_of(o)) <= 0) continue;
        REQUIRE(next < truth.size());
        const LabelledBox& t = truth[next++];
        CHECK(t.object_id == o.id);
        CHECK(t.class_id == o.class_id);
        CHECK(t.visibility >= 0);
        CHECK(t.visibility <= 1);
        in_truth.insert(o.id);
        // Wholly in frame but less than half showing: covered by others.
        if (wholly_inside(o, w, h) && t.visibility < 0.5) occluded = true;
      }
      CHECK(next == truth.size());
      for (const auto& o : objects) last_seen[o.id] = o;
      scene.advance(1 / fps);
    }
    // About two dozen objects pass through in 40 s; many enter and leave.
    CHECK(first_seen.size() >= 15);
    CHECK(left_after_entering.size() >= 10);
    std::size_t crossed = 0;  // entered from outside during the run and left again
    for (const auto id : entered_later) crossed += left_after_entering.count(id);
    CHECK(crossed >= 5);
    CHECK(occluded);
    CHECK(halted_and_resumed);
  }
  const double mean_in_frame = in_frame_total / frames_total;
  CHECK(mean_in_frame >= 3);
  CHECK(mean_in_frame <= 6);
}

TEST_CASE("traffic scenes are deterministic by seed and step") {
  const auto run = [](std::uint64_t seed, double step, std::vector<std::uint8_t>& img,
                      std::vector<LabelledBox>& truth) {
    Scene scene(seed, 160, 120, SyntheticMotion::Traffic);
    for (int i = 0; i < 150; ++i) scene.advance(step);
    img.assign(160 * 120 * 3, 0);
    truth.clear();
    scene.render(img.data(), 160 * 3, 150, truth);
  };
  std::vector<std::uint8_t> a, b, c, d;
  std::vector<LabelledBox> ta, tb, tc, td;
  run(5, 0.1, a, ta);
  run(5, 0.1, b, tb);
  run(6, 0.1, c, tc);
  run(5, 1.0 / 30, d, td);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a != d);  // another frame rate: another moment
  REQUIRE(ta.size() == tb.size());
  for (std::size_t i = 0; i < ta.size(); ++i) {
    CHECK(ta[i].object_id == tb[i].object_id);
    CHECK(ta[i].x1 == tb[i].x1);
    CHECK(ta[i].visibility == tb[i].visibility);
  }
}

TEST_CASE("traffic copes with long steps (low frame rates)") {
  // 10 s per frame, longer than most objects take to cross: still objects in
  // frame on most frames, never more than 8 live, arrivals going on.
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    Scene scene(seed, 320, 240, SyntheticMotion::Traffic);
    std::set<std::int64_t> seen;
    std::vector<std::uint8_t> img(320 * 240 * 3);
    int frames_with_objects = 0;
    for (int frame = 0; frame < 40; ++frame) {
      std::vector<LabelledBox> truth;
      scene.render(img.data(), 320 * 3, frame, truth);
      frames_with_objects += !truth.empty();
      for (const auto& o : scene.objects()) seen.insert(o.id);
      CHECK(scene.objects().size() <= 8);
      scene.advance(10.0);
    }
    CHECK(frames_with_objects >= 35);
    CHECK(seen.size() >= 100);  // ~0.55 arrivals per second for 400 s
  }
}

TEST_CASE("traffic scenes start with objects in frame and share the background with bounce") {
  int empty_first_frames = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    Scene traffic(seed, 320, 240, SyntheticMotion::Traffic);
    Scene bounce(seed, 320, 240, SyntheticMotion::Bounce);
    std::vector<std::uint8_t> img(320 * 240 * 3);
    std::vector<LabelledBox> truth;
    traffic.render(img.data(), 320 * 3, 0, truth);
    empty_first_frames += truth.empty();
    CHECK(traffic.gradient_at(10, 20) == bounce.gradient_at(10, 20));
  }
  CHECK(empty_first_frames <= 2);
}

}  // namespace
}  // namespace lookout::synthetic
