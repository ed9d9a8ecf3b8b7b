// Synthetic "shapes v1" scenes (models/SCENES.md), drawn in C++ for the
// synthetic frame source. This is an independent implementation of the spec;
// the Python renderer in models/ draws the training data. Both must produce
// scenes the shipped model detects (tests/drivers: recall >= 0.9 at IoU 0.5).
//
// Where the spec leaves room, this renderer picks what keeps a *moving* scene
// within the spec on every frame, not just the first:
//   * object colours keep >= 120 RGB distance from the whole background
//     gradient (so from the background at the centre wherever it moves);
//   * centres stay at least 0.55 r from the frame edges (placement rejects
//     others; motion bounces there), which keeps >= 60 % of every box inside;
//   * a step that would make an object cover more than 40 % of the box of an
//     object drawn before it (or be covered that much by a later one) is
//     undone and the object turns back, so labelled objects stay visible.
// Background, clutter and the object set are fixed per seed; objects move and
// turn; the noise is fresh on each frame (deterministic by seed and frame).
//
// Rendering is cheap (a 640x480 frame takes a few ms): the background and
// clutter are drawn once, shapes are filled scanline by scanline, noise comes
// from a precomputed Gaussian table.
//
// Ownership: plain value type. Threads: not thread-safe; one user at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/frame.hpp"

namespace lookout::synthetic {

inline constexpr int kClassCount = 5;
inline constexpr std::array<std::string_view, kClassCount> kClassNames{"circle", "square",
                                                                       "triangle", "star", "cross"};

// xoshiro256** seeded through splitmix64: small, fast and identical on every
// platform (std:: distributions are not specified bit-exactly).
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next();
  double uniform();                      // [0, 1)
  double uniform(double lo, double hi);  // [lo, hi)
  int integer(int lo, int hi);           // [lo, hi], both inclusive
  double normal();                       // N(0, 1)

 private:
  std::array<std::uint64_t, 4> s_{};
};

struct Point {
  double x = 0, y = 0;
};

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
};

// Outline of a shape: polygon vertices in pixels (empty for the circle).
std::vector<Point> shape_polygon(int class_id, double cx, double cy, double r, double angle);

// Tight axis-aligned box of the filled shape, unclipped: {x1, y1, x2, y2}.
std::array<double, 4> shape_box(int class_id, double cx, double cy, double r, double angle);

// An RGB24 image being drawn on; `stride` bytes per row.
struct Canvas {
  std::uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  std::size_t stride = 0;
};

// Fills the pixels whose centres lie inside the polygon (even-odd rule).
void fill_polygon(const Canvas& canvas, const std::vector<Point>& polygon, Rgb colour);
// Fills the pixels whose centres lie inside the circle.
void fill_circle(const Canvas& canvas, double cx, double cy, double r, Rgb colour);

struct SceneObject {
  int class_id = 0;
  double cx = 0, cy = 0;  // centre, pixels
  double r = 0;           // outer radius, pixels
  double angle = 0;       // radians
  double vx = 0, vy = 0;  // pixels per second
  double spin = 0;        // radians per second (0 for the circle)
  Rgb colour;
};

class Scene {
 public:
  static constexpr int kMinSide = 16;

  // Throws std::invalid_argument for sides below kMinSide.
  Scene(std::uint64_t seed, int width, int height);

  int width() const { return width_; }
  int height() const { return height_; }
  const std::vector<SceneObject>& objects() const { return objects_; }
  double noise_sigma() const { return sigma_; }

  // Draws the scene as it is now into an RGB24 image of the scene's size and
  // appends each object's ground-truth box to `truth`. `frame_index` selects
  // the noise, so the same scene state and index give the same pixels.
  void render(std::uint8_t* rgb, std::size_t stride, std::uint64_t frame_index,
              std::vector<LabelledBox>& truth) const;

  // Moves the objects on by `seconds` (bouncing at the edges and off each other).
  void advance(double seconds);

  // Ground-truth box of one object, clipped to the frame.
  std::array<double, 4> box_of(const SceneObject& object) const;

  // The background gradient's colour at a point (without clutter or noise).
  std::array<double, 3> gradient_at(double x, double y) const;

 private:
  bool overlap_ok(std::size_t index) const;
  double margin(const SceneObject& object) const { return 0.55 * object.r; }

  int width_;
  int height_;
  std::uint64_t seed_;
  std::array<double, 3> c0_{}, c1_{};           // gradient end colours
  double dx_ = 1, dy_ = 0, lo_ = 0, span_ = 1;  // gradient direction and extent
  std::vector<std::uint8_t> background_;        // gradient + clutter, packed RGB24
  std::vector<SceneObject> objects_;
  double sigma_ = 0;
  std::vector<std::int16_t> noise_table_;  // round(sigma * N(0,1)) samples
};

}  // namespace lookout::synthetic
