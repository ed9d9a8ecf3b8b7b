// Synthetic "shapes v1" scenes (models/SCENES.md), drawn in C++ for the
// synthetic frame source. This is an independent implementation of the spec;
// the Python renderer in models/ draws the training data. Both must produce
// scenes the shipped model detects (tests/drivers: recall >= 0.9 at IoU 0.5).
//
// Two kinds of motion (SyntheticMotion, models/SCENES.md "Motion"):
//
// Bounce: a fixed object set placed at construction that moves and bounces.
// Where the spec leaves room, this renderer picks what keeps a *moving* scene
// within the spec on every frame, not just the first:
//   * object colours keep >= 120 RGB distance from the whole background
//     gradient (so from the background at the centre wherever it moves);
//   * centres stay at least 0.55 r from the frame edges (placement rejects
//     others; motion bounces there), which keeps >= 60 % of every box inside;
//   * a step that would make an object cover more than 40 % of the box of an
//     object drawn before it (or be covered that much by a later one) is
//     undone and the object turns back, so labelled objects stay visible.
//
// Traffic: for evaluating trackers. Objects arrive at random (seeded) just
// outside an edge, cross the frame over each other, halt now and then, and
// leave for good; each has an id never used again. The scene starts "warm"
// (the arrivals of the first seconds are simulated at construction), so the
// first frame already shows objects; at most 8 objects are live at a time.
//
// Every frame's truth carries the object's id and its visibility: the share
// of its whole shape's area that shows (not cut by the frame edge, not covered
// by objects drawn after it), counted in pixels through an id mask.
//
// Background, clutter and noise are alike in both modes: background and
// clutter are fixed per seed, the noise is fresh on each frame (deterministic
// by seed and frame index). Rendering is cheap (a 640x480 frame takes a few
// ms): the background and clutter are drawn once, shapes are filled scanline
// by scanline, noise comes from a precomputed Gaussian table.
//
// Ownership: plain value type. Threads: not thread-safe; one user at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/frame.hpp"
#include "core/source_config.hpp"

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

// Analytic area of the whole shape in square pixels: pi r^2 for the circle,
// the outline's shoelace area otherwise (independent of position and angle).
double shape_area(int class_id, double r);

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
  // Identity within the sequence: the index in Bounce scenes, the arrival
  // counter (0, 1, 2, ...; never re-used) in Traffic scenes; -1 = none.
  std::int64_t id = -1;
  int class_id = 0;
  double cx = 0, cy = 0;  // centre, pixels
  double r = 0;           // outer radius, pixels
  double angle = 0;       // radians
  double vx = 0, vy = 0;  // pixels per second while moving
  double spin = 0;        // radians per second while moving (0 for the circle)
  Rgb colour;
  // Traffic only: seconds left of the current halt (> 0: standing still, not
  // turning), seconds of motion with the centre in frame before the next
  // halt, and whether any part has been in frame yet (once it is wholly out
  // again, the object is gone).
  double halt_left = 0;
  double run_left = 0;
  bool entered = false;

  bool halted() const { return halt_left > 0; }
};

// Draws `objects` onto `canvas` in order, later over earlier, and appends to
// `truth`, in the same order, a box for every object whose box clipped to the
// canvas is non-empty: class, clipped box, id and visibility (its pixels left
// showing at the end, over shape_area(), at most 1; 0 when wholly covered or
// when the part in frame covers no pixel centre). Throws std::invalid_argument
// for more than 255 objects (the id mask is 8 bits).
void draw_objects(const Canvas& canvas, const std::vector<SceneObject>& objects,
                  std::vector<LabelledBox>& truth);

class Scene {
 public:
  static constexpr int kMinSide = 16;

  // Traffic scenes: at most this many objects live at a time (approaching,
  // in frame or leaving); an arrival while the scene is full is skipped.
  static constexpr std::size_t kMaxLive = 8;

  // Throws std::invalid_argument for sides below kMinSide. A Bounce scene is
  // the same as before motion modes existed (same pixels and boxes per seed).
  Scene(std::uint64_t seed, int width, int height,
        SyntheticMotion motion = SyntheticMotion::Bounce);

  int width() const { return width_; }
  int height() const { return height_; }
  SyntheticMotion motion() const { return motion_; }
  // Draw order. Traffic: every live object, including those still outside
  // the frame on their way in.
  const std::vector<SceneObject>& objects() const { return objects_; }
  double noise_sigma() const { return sigma_; }

  // Draws the scene as it is now into an RGB24 image of the scene's size and
  // appends the ground truth to `truth` (draw_objects(): the objects at least
  // partly in frame). `frame_index` selects the noise, so the same scene state
  // and index give the same pixels.
  void render(std::uint8_t* rgb, std::size_t stride, std::uint64_t frame_index,
              std::vector<LabelledBox>& truth) const;

  // Moves the scene on by `seconds`. Bounce: objects bounce at the edges and
  // off each other. Traffic: objects move, halt and resume, leave, arrive.
  void advance(double seconds);

  // Ground-truth box of one object, clipped to the frame.
  std::array<double, 4> box_of(const SceneObject& object) const;

  // The background gradient's colour at a point (without clutter or noise).
  std::array<double, 3> gradient_at(double x, double y) const;

 private:
  Rgb object_colour(Rng& rng) const;
  void place_bounce_objects(Rng& rng);
  void advance_bounce(double seconds);
  void advance_traffic(double seconds);
  void step_traffic(double seconds);  // at most kMaxSubStep
  void spawn_traffic_object();
  void aim_traffic_object(SceneObject& object, double speed);
  double arrival_gap();
  bool overlap_ok(std::size_t index) const;
  double margin(const SceneObject& object) const { return 0.55 * object.r; }

  int width_;
  int height_;
  std::uint64_t seed_;
  SyntheticMotion motion_;
  std::array<double, 3> c0_{}, c1_{};           // gradient end colours
  double dx_ = 1, dy_ = 0, lo_ = 0, span_ = 1;  // gradient direction and extent
  std::vector<std::uint8_t> background_;        // gradient + clutter, packed RGB24
  std::vector<SceneObject> objects_;
  double sigma_ = 0;
  std::vector<std::int16_t> noise_table_;  // round(sigma * N(0,1)) samples
  // Traffic: its own random stream (arrivals, objects, halts), the time to
  // the next arrival and the next id to hand out.
  Rng traffic_rng_;
  double next_arrival_ = 0;
  std::int64_t next_id_ = 0;
};

}  // namespace lookout::synthetic
