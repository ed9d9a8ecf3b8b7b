// zones.hpp: the coordinate rule, the validation of polygons and lines,
// point-in-polygon, and the inertia of zone membership and line crossings.
#include "tracking/zones.hpp"

#include <doctest/doctest.h>

namespace lookout::tracking {
namespace {

const std::vector<PointF> kSquare{{100, 100}, {300, 100}, {300, 300}, {100, 300}};

TEST_CASE("points are normalised when every coordinate is within 0..1, else pixels") {
  CHECK(is_normalized({{0, 0.5}, {1, 1}, {0.25, 0}}));
  CHECK_FALSE(is_normalized({{0, 0.5}, {1, 1}, {2, 0}}));
  CHECK_FALSE(is_normalized(kSquare));
  const auto pixels = to_pixels({{0.5, 0.25}, {1, 1}}, 640, 480);
  REQUIRE(pixels.size() == 2);
  CHECK(pixels[0] == PointF{320, 120});
  CHECK(pixels[1] == PointF{640, 480});
  CHECK(to_pixels(kSquare, 640, 480) == kSquare);  // pixels stay as written
}

TEST_CASE("polygons: too few points, no area, repeated points and self-intersection are refused") {
  CHECK_FALSE(polygon_problem(kSquare));
  CHECK_FALSE(polygon_problem({{0, 0}, {1, 0}, {0, 1}}));
  // A concave (L-shaped) polygon is fine.
  CHECK_FALSE(polygon_problem({{0, 0}, {4, 0}, {4, 1}, {1, 1}, {1, 4}, {0, 4}}));

  const auto few = polygon_problem({{0, 0}, {1, 1}});
  REQUIRE(few);
  CHECK(few->find("at least 3 points") != std::string::npos);
  const auto flat = polygon_problem({{0, 0}, {1, 1}, {2, 2}});
  REQUIRE(flat);
  CHECK(flat->find("no area") != std::string::npos);
  const auto repeated = polygon_problem({{0, 0}, {2, 0}, {2, 0}, {0, 2}});
  REQUIRE(repeated);
  CHECK(repeated->find("points 2 and 3 are the same") != std::string::npos);
  // A bow tie: edge 1 (0,0)-(2,2) crosses edge 3 (2,0)-(0,2).
  const auto bow = polygon_problem({{0, 0}, {2, 2}, {2, 0}, {0, 2}});
  REQUIRE(bow);
  CHECK(bow->find("intersects itself") != std::string::npos);
  CHECK(bow->find("edge 1") != std::string::npos);
  CHECK(bow->find("edge 3") != std::string::npos);
  // A spike that folds back along its own edge.
  const auto fold = polygon_problem({{0, 0}, {4, 0}, {2, 0}, {2, 3}});
  REQUIRE(fold);
  // A vertex touching another edge (a figure eight pinched at one point).
  CHECK(polygon_problem({{0, 0}, {4, 0}, {2, 2}, {4, 4}, {0, 4}, {2, 2}}));
}

TEST_CASE("lines: exactly two distinct points") {
  CHECK_FALSE(line_problem({{0, 0}, {10, 0}}));
  const auto zero = line_problem({{5, 5}, {5, 5}});
  REQUIRE(zero);
  CHECK(zero->find("zero length") != std::string::npos);
  const auto three = line_problem({{0, 0}, {1, 0}, {2, 0}});
  REQUIRE(three);
  CHECK(three->find("exactly 2 points, got 3") != std::string::npos);
}

TEST_CASE("pixel points outside the frame are named; normalised ones cannot be") {
  CHECK_FALSE(outside_problem(kSquare, 640, 480));
  const auto beyond = outside_problem({{10, 10}, {700, 20}, {10, 400}}, 640, 480);
  REQUIRE(beyond);
  CHECK(beyond->find("point 2 (700, 20) is outside the 640x480 frame") != std::string::npos);
  CHECK_FALSE(outside_problem({{10, 10}, {700, 20}, {10, 400}}, 0, 0));  // files: size unknown
  CHECK_FALSE(outside_problem({{0, 0}, {1, 0}, {1, 1}}, 640, 480));
}

TEST_CASE("inside: even-odd, with the boundary counted in") {
  CHECK(inside(kSquare, {200, 200}));
  CHECK_FALSE(inside(kSquare, {50, 200}));
  CHECK_FALSE(inside(kSquare, {200, 301}));
  CHECK(inside(kSquare, {100, 200}));  // on an edge
  CHECK(inside(kSquare, {300, 300}));  // a corner
  const std::vector<PointF> ell{{0, 0}, {4, 0}, {4, 1}, {1, 1}, {1, 4}, {0, 4}};
  CHECK(inside(ell, {0.5, 3}));
  CHECK_FALSE(inside(ell, {3, 3}));  // in the notch
}

TEST_CASE("the anchor is the bottom centre, the centre or the top centre of the box") {
  CHECK(anchor_of(Anchor::BottomCenter, 10, 20, 30, 60) == PointF{20, 60});
  CHECK(anchor_of(Anchor::Center, 10, 20, 30, 60) == PointF{20, 40});
  CHECK(anchor_of(Anchor::TopCenter, 10, 20, 30, 60) == PointF{20, 20});
}

TEST_CASE("zone membership changes only after inertia frames that agree") {
  ZoneMembership m;
  CHECK_FALSE(m.update(true, 3));
  CHECK_FALSE(m.update(true, 3));
  CHECK_FALSE(m.in());
  CHECK(m.update(true, 3));  // third frame inside: entered
  CHECK(m.in());
  // Flapping on the boundary never leaves.
  for (int i = 0; i < 10; ++i) {
    CHECK_FALSE(m.update(false, 3));
    CHECK_FALSE(m.update(true, 3));
  }
  CHECK(m.in());
  CHECK_FALSE(m.update(false, 3));
  CHECK_FALSE(m.update(false, 3));
  CHECK(m.update(false, 3));
  CHECK_FALSE(m.in());
  // Inertia 1: at once.
  CHECK(m.update(true, 1));
  CHECK(m.in());
}

TEST_CASE("a line drawn left to right counts moving down the image as in, up as out") {
  const PointF a{0, 100}, b{200, 100};
  LineSide side;
  CHECK_FALSE(side.update({50, 80}, a, b, 2));
  CHECK_FALSE(side.update({50, 95}, a, b, 2));
  CHECK_FALSE(side.update({50, 105}, a, b, 2));  // one frame across: not yet
  const auto crossed = side.update({50, 110}, a, b, 2);
  REQUIRE(crossed);
  CHECK(*crossed == Direction::In);
  CHECK_FALSE(side.update({50, 130}, a, b, 2));
  CHECK_FALSE(side.update({50, 90}, a, b, 2));
  const auto back = side.update({50, 70}, a, b, 2);
  REQUIRE(back);
  CHECK(*back == Direction::Out);

  // The same path against the line drawn right to left: the directions swap.
  LineSide reversed;
  for (const PointF p : {PointF{50, 80}, PointF{50, 105}}) reversed.update(p, b, a, 2);
  const auto swapped = reversed.update({50, 110}, b, a, 2);
  REQUIRE(swapped);
  CHECK(*swapped == Direction::Out);
}

TEST_CASE("jitter across a line within inertia counts nothing; going round its end neither") {
  const PointF a{0, 100}, b{200, 100};
  LineSide jitter;
  jitter.update({50, 90}, a, b, 3);
  for (int i = 0; i < 20; ++i) {
    CHECK_FALSE(jitter.update({50, 102}, a, b, 3));
    CHECK_FALSE(jitter.update({50, 104}, a, b, 3));
    CHECK_FALSE(jitter.update({50, 98}, a, b, 3));
  }
  // Beyond the segment's end (x > 200) the sides change without a crossing.
  LineSide around;
  around.update({250, 80}, a, b, 1);
  CHECK_FALSE(around.update({250, 120}, a, b, 1));
  // And a later real crossing still counts (from the side it settled on).
  CHECK(around.update({150, 80}, a, b, 1));
}

}  // namespace
}  // namespace lookout::tracking
