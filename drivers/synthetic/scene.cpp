#include "synthetic/scene.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace lookout::synthetic {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kRadiusMin = 0.04;  // of the short side
constexpr double kRadiusMax = 0.18;
constexpr double kMinInside = 0.60;
constexpr double kMaxCover = 0.40;
constexpr double kMinColourDistance = 120.0;
constexpr double kStarInner = 0.45;
constexpr double kCrossArm = 0.35;
constexpr int kPlacementTries = 50;
constexpr int kColourTries = 1000;
constexpr std::size_t kNoiseTableBits = 12;
constexpr std::size_t kNoiseTableSize = std::size_t{1} << kNoiseTableBits;
constexpr double kMaxSpeed = 0.25;    // of the short side per second
constexpr double kMaxSpin = kPi / 2;  // 90 degrees per second

// Traffic motion (models/SCENES.md, "Motion"). Speeds are of the short side per
// second; the arrival rate is per second for a 4:3 frame, scaled by the
// frame's shape (see arrival_gap()). With these, about 5 objects are in
// frame on average and one arrives every ~2 s.
constexpr double kTrafficMinSpeed = 0.10;
constexpr double kArrivalRate = 0.5;
constexpr double kAimInset = 0.2;  // aim points lie in the central 60 % of each side
constexpr double kHaltMin = 1.0;   // seconds
constexpr double kHaltMax = 3.0;
constexpr double kRunMean = 6.0;      // mean seconds of motion between halts
constexpr double kTurnChance = 0.5;   // after a halt: new heading, else the old one
constexpr double kMaxTurn = kPi / 3;  // a new heading is within 60 degrees of the old
constexpr double kWarmUp = 15.0;      // seconds simulated at construction
constexpr double kWarmUpStep = 0.1;
constexpr double kMaxSubStep = 0.1;                        // longer steps move in equal sub-steps
constexpr double kMaxSubSteps = 1000;                      // 100 s per frame at most
constexpr std::uint64_t kTrafficSalt = 0x747261666669ULL;  // "traffic"

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

using Box = std::array<double, 4>;

double area(const Box& b) {
  return std::max(0.0, b[2] - b[0]) * std::max(0.0, b[3] - b[1]);
}

double intersection(const Box& a, const Box& b) {
  return area(
      {std::max(a[0], b[0]), std::max(a[1], b[1]), std::min(a[2], b[2]), std::min(a[3], b[3])});
}

Box clip(const Box& b, int w, int h) {
  const auto cx = [w](double v) { return std::clamp(v, 0.0, static_cast<double>(w)); };
  const auto cy = [h](double v) { return std::clamp(v, 0.0, static_cast<double>(h)); };
  return {cx(b[0]), cy(b[1]), cx(b[2]), cy(b[3])};
}

// Pixel index range [first, last) whose centres (i + 0.5) lie in [lo, hi),
// clipped to [0, limit).
std::pair<int, int> centre_span(double lo, double hi, int limit) {
  const double first = std::clamp(std::ceil(lo - 0.5), 0.0, static_cast<double>(limit));
  const double last = std::clamp(std::ceil(hi - 0.5), 0.0, static_cast<double>(limit));
  return {static_cast<int>(first), static_cast<int>(last)};
}

std::uint8_t* pixel(const Canvas& canvas, int x, int y) {
  return canvas.data + static_cast<std::size_t>(y) * canvas.stride +
         static_cast<std::size_t>(x) * 3;
}

void paint(std::uint8_t* p, int count, Rgb colour) {
  for (int i = 0; i < count; ++i) {
    p[0] = colour.r;
    p[1] = colour.g;
    p[2] = colour.b;
    p += 3;
  }
}

// Calls span(y, first, last) for each run of pixels [first, last) in row y
// whose centres lie inside the polygon (even-odd rule), clipped to the canvas;
// runs never overlap.
template <typename Span>
void polygon_spans(int width, int height, const std::vector<Point>& polygon, Span&& span) {
  if (polygon.size() < 3) return;
  double y_min = polygon[0].y, y_max = polygon[0].y;
  for (const auto& p : polygon) {
    y_min = std::min(y_min, p.y);
    y_max = std::max(y_max, p.y);
  }
  const auto [first_row, last_row] = centre_span(y_min, y_max, height);
  std::vector<double> xs;
  xs.reserve(polygon.size());
  for (int y = first_row; y < last_row; ++y) {
    const double yc = y + 0.5;
    xs.clear();
    for (std::size_t i = 0; i < polygon.size(); ++i) {
      const Point& a = polygon[i];
      const Point& b = polygon[(i + 1) % polygon.size()];
      if ((a.y <= yc && b.y > yc) || (b.y <= yc && a.y > yc)) {
        xs.push_back(a.x + (yc - a.y) * (b.x - a.x) / (b.y - a.y));
      }
    }
    std::sort(xs.begin(), xs.end());
    for (std::size_t i = 0; i + 1 < xs.size(); i += 2) {
      const auto [first, last] = centre_span(xs[i], xs[i + 1], width);
      if (first < last) span(y, first, last);
    }
  }
}

// The same for the pixels whose centres lie inside the circle.
template <typename Span>
void circle_spans(int width, int height, double cx, double cy, double r, Span&& span) {
  if (r <= 0) return;
  const auto [first_row, last_row] = centre_span(cy - r, cy + r, height);
  for (int y = first_row; y < last_row; ++y) {
    const double dy = y + 0.5 - cy;
    const double half2 = r * r - dy * dy;
    if (half2 <= 0) continue;
    const double half = std::sqrt(half2);
    const auto [first, last] = centre_span(cx - half, cx + half, width);
    if (first < last) span(y, first, last);
  }
}

struct Rgbd {
  double r, g, b;
};

double distance_to_segment(Rgbd p, Rgbd a, Rgbd b) {
  const double dr = b.r - a.r, dg = b.g - a.g, db = b.b - a.b;
  const double len2 = dr * dr + dg * dg + db * db;
  double t = 0;
  if (len2 > 0)
    t = std::clamp(((p.r - a.r) * dr + (p.g - a.g) * dg + (p.b - a.b) * db) / len2, 0.0, 1.0);
  const double er = p.r - (a.r + t * dr), eg = p.g - (a.g + t * dg), eb = p.b - (a.b + t * db);
  return std::sqrt(er * er + eg * eg + eb * eb);
}

// Exponentially distributed with the given mean (never 0).
double exponential(Rng& rng, double mean) {
  return -mean * std::log(1.0 - rng.uniform());
}

Rgb random_colour(Rng& rng) {
  return {static_cast<std::uint8_t>(rng.integer(0, 255)),
          static_cast<std::uint8_t>(rng.integer(0, 255)),
          static_cast<std::uint8_t>(rng.integer(0, 255))};
}

}  // namespace

// ---- Rng ----------------------------------------------------------------------

Rng::Rng(std::uint64_t seed) {
  std::uint64_t x = seed;
  for (auto& word : s_) word = splitmix64(x);
}

std::uint64_t Rng::next() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() {
  return static_cast<double>(next() >> 11) * 0x1.0p-53;
}

double Rng::uniform(double lo, double hi) {
  return lo + (hi - lo) * uniform();
}

int Rng::integer(int lo, int hi) {
  const auto span = static_cast<std::uint64_t>(static_cast<std::int64_t>(hi) - lo + 1);
  return static_cast<int>(lo + static_cast<std::int64_t>(next() % span));
}

double Rng::normal() {
  // Box-Muller; only used to build tables, never per pixel.
  double u1 = uniform();
  while (u1 <= 0) u1 = uniform();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * kPi * u2);
}

// ---- geometry -----------------------------------------------------------------

std::vector<Point> shape_polygon(int class_id, double cx, double cy, double r, double angle) {
  std::vector<Point> points;
  const auto ring = [&](int count, double step, bool star) {
    for (int k = 0; k < count; ++k) {
      const double a = angle + k * step;
      const double rad = (star && k % 2 == 1) ? kStarInner * r : r;
      points.push_back({cx + rad * std::cos(a), cy + rad * std::sin(a)});
    }
  };
  switch (class_id) {
    case 0:
      break;
    case 1:
      ring(4, kPi / 2, false);
      break;
    case 2:
      ring(3, 2 * kPi / 3, false);
      break;
    case 3:
      ring(10, kPi / 5, true);
      break;
    case 4: {
      // Plus sign: half span L, half arm width h = 0.35 * L (arm width 0.35 of
      // the span 2L); the outer corners (L, h) lie on the circle of radius r.
      const double L = r / std::sqrt(1.0 + kCrossArm * kCrossArm);
      const double h = kCrossArm * L;
      const Point local[12] = {{L, h},   {h, h},   {h, L},   {-h, L}, {-h, h}, {-L, h},
                               {-L, -h}, {-h, -h}, {-h, -L}, {h, -L}, {h, -h}, {L, -h}};
      const double c = std::cos(angle), s = std::sin(angle);
      for (const auto& p : local)
        points.push_back({cx + c * p.x - s * p.y, cy + s * p.x + c * p.y});
      break;
    }
    default:
      throw std::invalid_argument("unknown shape class " + std::to_string(class_id));
  }
  return points;
}

std::array<double, 4> shape_box(int class_id, double cx, double cy, double r, double angle) {
  if (class_id == 0) return {cx - r, cy - r, cx + r, cy + r};
  const auto points = shape_polygon(class_id, cx, cy, r, angle);
  Box box{points[0].x, points[0].y, points[0].x, points[0].y};
  for (const auto& p : points) {
    box[0] = std::min(box[0], p.x);
    box[1] = std::min(box[1], p.y);
    box[2] = std::max(box[2], p.x);
    box[3] = std::max(box[3], p.y);
  }
  return box;
}

double shape_area(int class_id, double r) {
  if (class_id == 0) return kPi * r * r;
  const auto points = shape_polygon(class_id, 0, 0, r, 0);
  double twice = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const Point& a = points[i];
    const Point& b = points[(i + 1) % points.size()];
    twice += a.x * b.y - b.x * a.y;
  }
  return std::abs(twice) / 2;
}

void fill_polygon(const Canvas& canvas, const std::vector<Point>& polygon, Rgb colour) {
  polygon_spans(canvas.width, canvas.height, polygon, [&](int y, int first, int last) {
    paint(pixel(canvas, first, y), last - first, colour);
  });
}

void fill_circle(const Canvas& canvas, double cx, double cy, double r, Rgb colour) {
  circle_spans(canvas.width, canvas.height, cx, cy, r, [&](int y, int first, int last) {
    paint(pixel(canvas, first, y), last - first, colour);
  });
}

void draw_objects(const Canvas& canvas, const std::vector<SceneObject>& objects,
                  std::vector<LabelledBox>& truth) {
  if (objects.size() > 255) {
    throw std::invalid_argument("draw_objects: " + std::to_string(objects.size()) +
                                " objects, at most 255");
  }
  // owner[pixel] = 1 + index of the object showing there (0 = background);
  // visible[k] = pixels object k still shows. Painting a run hands its pixels
  // from their previous owners to the new one.
  std::vector<std::uint8_t> owner(
      static_cast<std::size_t>(canvas.width) * static_cast<std::size_t>(canvas.height), 0);
  std::vector<long> visible(objects.size(), 0);
  for (std::size_t k = 0; k < objects.size(); ++k) {
    const SceneObject& o = objects[k];
    const auto tag = static_cast<std::uint8_t>(k + 1);
    const auto span = [&](int y, int first, int last) {
      paint(pixel(canvas, first, y), last - first, o.colour);
      std::uint8_t* m = owner.data() + static_cast<std::size_t>(y) * canvas.width + first;
      for (int x = first; x < last; ++x, ++m) {
        if (*m != 0) --visible[*m - 1];
        *m = tag;
      }
      visible[k] += last - first;
    };
    if (o.class_id == 0) {
      circle_spans(canvas.width, canvas.height, o.cx, o.cy, o.r, span);
    } else {
      polygon_spans(canvas.width, canvas.height,
                    shape_polygon(o.class_id, o.cx, o.cy, o.r, o.angle), span);
    }
  }
  for (std::size_t k = 0; k < objects.size(); ++k) {
    const SceneObject& o = objects[k];
    const Box box =
        clip(shape_box(o.class_id, o.cx, o.cy, o.r, o.angle), canvas.width, canvas.height);
    if (!(box[2] > box[0] && box[3] > box[1])) continue;
    const double full = shape_area(o.class_id, o.r);
    const double share = full > 0 ? std::min(1.0, static_cast<double>(visible[k]) / full) : 0.0;
    LabelledBox label;
    label.class_id = o.class_id;
    label.x1 = static_cast<float>(box[0]);
    label.y1 = static_cast<float>(box[1]);
    label.x2 = static_cast<float>(box[2]);
    label.y2 = static_cast<float>(box[3]);
    label.object_id = o.id;
    label.visibility = static_cast<float>(share);
    truth.push_back(label);
  }
}

// ---- Scene --------------------------------------------------------------------

Scene::Scene(std::uint64_t seed, int width, int height, SyntheticMotion motion)
    : width_(width),
      height_(height),
      seed_(seed),
      motion_(motion),
      traffic_rng_(seed ^ kTrafficSalt) {
  if (width < kMinSide || height < kMinSide) {
    throw std::invalid_argument("synthetic scene size " + std::to_string(width) + "x" +
                                std::to_string(height) + " is too small (min " +
                                std::to_string(kMinSide) + "x" + std::to_string(kMinSide) + ")");
  }
  Rng rng(seed);
  const double w = width, h = height;
  const double short_side = std::min(w, h);

  // Background: linear gradient along a random direction, t = projection of
  // the pixel centre normalised to 0..1 over the frame.
  const Rgb c0 = random_colour(rng);
  const Rgb c1 = random_colour(rng);
  const double theta = rng.uniform(0, 2 * kPi);
  const double dx = std::cos(theta), dy = std::sin(theta);
  const double corners[4] = {0.0, w * dx, h * dy, w * dx + h * dy};
  const double lo = *std::min_element(corners, corners + 4);
  const double hi = *std::max_element(corners, corners + 4);
  const double span = std::max(hi - lo, 1e-9);
  c0_ = {double(c0.r), double(c0.g), double(c0.b)};
  c1_ = {double(c1.r), double(c1.g), double(c1.b)};
  dx_ = dx;
  dy_ = dy;
  lo_ = lo;
  span_ = span;
  const std::size_t stride = static_cast<std::size_t>(width) * 3;
  background_.resize(stride * static_cast<std::size_t>(height));
  for (int y = 0; y < height; ++y) {
    std::uint8_t* row = background_.data() + static_cast<std::size_t>(y) * stride;
    for (int x = 0; x < width; ++x) {
      const double t = std::clamp(((x + 0.5) * dx + (y + 0.5) * dy - lo) / span, 0.0, 1.0);
      row[3 * x + 0] = static_cast<std::uint8_t>(std::lround(c0.r + (c1.r - c0.r) * t));
      row[3 * x + 1] = static_cast<std::uint8_t>(std::lround(c0.g + (c1.g - c0.g) * t));
      row[3 * x + 2] = static_cast<std::uint8_t>(std::lround(c0.b + (c1.b - c0.b) * t));
    }
  }

  // Clutter (unlabelled): line segments and dots, drawn before the objects.
  const Canvas canvas{background_.data(), width, height, stride};
  const int clutter = rng.integer(5, 25);
  for (int i = 0; i < clutter; ++i) {
    const Rgb colour = random_colour(rng);
    if (rng.uniform() < 0.5) {
      const double x0 = rng.uniform(0, w), y0 = rng.uniform(0, h);
      const double length = rng.uniform(0, 0.3 * short_side);
      const double a = rng.uniform(0, 2 * kPi);
      const double half_width = rng.integer(1, 3) / 2.0;
      const double x1 = x0 + length * std::cos(a), y1 = y0 + length * std::sin(a);
      const double nx = -std::sin(a) * half_width, ny = std::cos(a) * half_width;
      fill_polygon(canvas,
                   {{x0 + nx, y0 + ny}, {x1 + nx, y1 + ny}, {x1 - nx, y1 - ny}, {x0 - nx, y0 - ny}},
                   colour);
    } else {
      const double x0 = rng.uniform(0, w), y0 = rng.uniform(0, h);
      fill_circle(canvas, x0, y0, rng.integer(1, 4), colour);
    }
  }

  // Objects: Bounce places its fixed set now (drawing from the scene's own
  // stream, so the noise level below depends on it); Traffic warms up after.
  if (motion_ == SyntheticMotion::Bounce) place_bounce_objects(rng);

  sigma_ = rng.uniform(0, 8);
  Rng table_rng(seed ^ 0x6e6f697365ULL);  // "noise"
  noise_table_.resize(kNoiseTableSize);
  for (auto& v : noise_table_)
    v = static_cast<std::int16_t>(std::lround(sigma_ * table_rng.normal()));

  if (motion_ == SyntheticMotion::Traffic) {
    next_arrival_ = arrival_gap();
    for (double t = 0; t < kWarmUp - 1e-9; t += kWarmUpStep) advance_traffic(kWarmUpStep);
  }
}

Rgb Scene::object_colour(Rng& rng) const {
  // Far from the whole gradient (the segment c0..c1 in RGB space), so from the
  // background wherever the object goes.
  const Rgbd a{c0_[0], c0_[1], c0_[2]}, b{c1_[0], c1_[1], c1_[2]};
  Rgb colour;
  for (int attempt = 0; attempt < kColourTries; ++attempt) {
    colour = random_colour(rng);
    const Rgbd p{double(colour.r), double(colour.g), double(colour.b)};
    if (distance_to_segment(p, a, b) >= kMinColourDistance) break;
  }
  return colour;
}

void Scene::place_bounce_objects(Rng& rng) {
  // Placed per the spec, with colours far from the whole gradient.
  const double w = width_, h = height_;
  const double short_side = std::min(w, h);
  const int count = rng.integer(1, 8);
  std::vector<Box> boxes;
  for (int i = 0; i < count; ++i) {
    SceneObject object;
    object.class_id = rng.integer(0, kClassCount - 1);
    object.r = rng.uniform(kRadiusMin, kRadiusMax) * short_side;
    object.angle = object.class_id == 0 ? 0.0 : rng.uniform(0, 2 * kPi);
    bool placed = false;
    for (int attempt = 0; attempt < kPlacementTries && !placed; ++attempt) {
      object.cx = rng.uniform(0, w);
      object.cy = rng.uniform(0, h);
      const double m = margin(object);
      if (object.cx < m || object.cx > w - m || object.cy < m || object.cy > h - m) continue;
      const Box raw = shape_box(object.class_id, object.cx, object.cy, object.r, object.angle);
      const Box box = clip(raw, width_, height_);
      if (area(box) < kMinInside * area(raw)) continue;
      bool covers = false;
      for (const auto& earlier : boxes)
        covers = covers || intersection(box, earlier) > kMaxCover * area(earlier);
      if (covers) continue;
      boxes.push_back(box);
      placed = true;
    }
    if (!placed) continue;
    object.colour = object_colour(rng);
    const double speed = rng.uniform(0, kMaxSpeed * short_side);
    const double heading = rng.uniform(0, 2 * kPi);
    object.vx = speed * std::cos(heading);
    object.vy = speed * std::sin(heading);
    const double spin = rng.uniform(0, kMaxSpin);
    const bool clockwise = rng.uniform() < 0.5;
    object.spin = object.class_id == 0 ? 0.0 : (clockwise ? -spin : spin);
    object.id = static_cast<std::int64_t>(objects_.size());
    objects_.push_back(object);
  }
}

std::array<double, 4> Scene::box_of(const SceneObject& object) const {
  return clip(shape_box(object.class_id, object.cx, object.cy, object.r, object.angle), width_,
              height_);
}

std::array<double, 3> Scene::gradient_at(double x, double y) const {
  const double t = std::clamp((x * dx_ + y * dy_ - lo_) / span_, 0.0, 1.0);
  return {c0_[0] + (c1_[0] - c0_[0]) * t, c0_[1] + (c1_[1] - c0_[1]) * t,
          c0_[2] + (c1_[2] - c0_[2]) * t};
}

void Scene::render(std::uint8_t* rgb, std::size_t stride, std::uint64_t frame_index,
                   std::vector<LabelledBox>& truth) const {
  const std::size_t row_bytes = static_cast<std::size_t>(width_) * 3;
  for (int y = 0; y < height_; ++y) {
    std::memcpy(rgb + static_cast<std::size_t>(y) * stride,
                background_.data() + static_cast<std::size_t>(y) * row_bytes, row_bytes);
  }
  draw_objects({rgb, width_, height_, stride}, objects_, truth);
  if (sigma_ <= 0) return;
  // Each 64-bit draw gives five 12-bit table indices.
  Rng rng(seed_ * 0x9e3779b97f4a7c15ULL + frame_index);
  std::uint64_t bits = 0;
  int left = 0;
  for (int y = 0; y < height_; ++y) {
    std::uint8_t* p = rgb + static_cast<std::size_t>(y) * stride;
    for (std::size_t i = 0; i < row_bytes; ++i) {
      if (left == 0) {
        bits = rng.next();
        left = 5;
      }
      const int v = p[i] + noise_table_[bits & (kNoiseTableSize - 1)];
      bits >>= kNoiseTableBits;
      --left;
      p[i] = static_cast<std::uint8_t>(std::clamp(v, 0, 255));
    }
  }
}

bool Scene::overlap_ok(std::size_t index) const {
  const Box box = box_of(objects_[index]);
  for (std::size_t j = 0; j < objects_.size(); ++j) {
    if (j == index) continue;
    const Box other = box_of(objects_[j]);
    // The object drawn later must not cover more than 40 % of the earlier one.
    const Box& earlier = j < index ? other : box;
    if (intersection(box, other) > kMaxCover * area(earlier)) return false;
  }
  return true;
}

void Scene::advance(double seconds) {
  if (seconds <= 0) return;
  if (motion_ == SyntheticMotion::Traffic) {
    advance_traffic(seconds);
  } else {
    advance_bounce(seconds);
  }
}

void Scene::advance_bounce(double seconds) {
  const double w = width_, h = height_;
  for (std::size_t i = 0; i < objects_.size(); ++i) {
    SceneObject& o = objects_[i];
    const SceneObject before = o;
    o.cx += o.vx * seconds;
    o.cy += o.vy * seconds;
    o.angle = std::fmod(o.angle + o.spin * seconds, 2 * kPi);
    if (o.angle < 0) o.angle += 2 * kPi;
    const double m = margin(o);
    const auto bounce = [](double& pos, double& vel, double low, double high) {
      if (pos < low) {
        pos = 2 * low - pos;
        vel = std::abs(vel);
      }
      if (pos > high) {
        pos = 2 * high - pos;
        vel = -std::abs(vel);
      }
      pos = std::clamp(pos, low, high);
    };
    bounce(o.cx, o.vx, m, w - m);
    bounce(o.cy, o.vy, m, h - m);
    if (!overlap_ok(i)) {
      const double vx = o.vx, vy = o.vy;
      o = before;
      o.vx = -vx;
      o.vy = -vy;
      o.spin = -before.spin;
    }
  }
}

// ---- Traffic ------------------------------------------------------------------

double Scene::arrival_gap() {
  // Poisson arrivals. The rate scales with short side / mean side, so frames of
  // any shape hold about as many objects as a 4:3 one (crossing times grow
  // with the frame's extent measured in short sides).
  const double w = width_, h = height_;
  const double shape = (2 * std::min(w, h) / (w + h)) / (2 * 3.0 / 7.0);
  return exponential(traffic_rng_, 1.0 / (kArrivalRate * shape));
}

void Scene::aim_traffic_object(SceneObject& object, double speed) {
  // Head for a point in the central part of the frame, so the path crosses
  // the frame and the paths of others.
  const double w = width_, h = height_;
  const double ax = traffic_rng_.uniform(kAimInset * w, (1 - kAimInset) * w);
  const double ay = traffic_rng_.uniform(kAimInset * h, (1 - kAimInset) * h);
  const double length = std::max(std::hypot(ax - object.cx, ay - object.cy), 1e-9);
  object.vx = speed * (ax - object.cx) / length;
  object.vy = speed * (ay - object.cy) / length;
}

void Scene::spawn_traffic_object() {
  Rng& rng = traffic_rng_;
  const double w = width_, h = height_;
  const double short_side = std::min(w, h);
  SceneObject object;
  object.id = next_id_++;
  object.class_id = rng.integer(0, kClassCount - 1);
  object.r = rng.uniform(kRadiusMin, kRadiusMax) * short_side;
  object.angle = object.class_id == 0 ? 0.0 : rng.uniform(0, 2 * kPi);
  object.colour = object_colour(rng);
  // Entry point uniform along the frame's outline; the centre sits r + 1 px
  // beyond it along the edge's outward normal, so the whole shape (inside its
  // circumscribed circle) is outside the frame.
  const double at = rng.uniform(0, 2 * (w + h));
  const double out = object.r + 1;
  if (at < w) {  // top edge
    object.cx = at;
    object.cy = -out;
  } else if (at < w + h) {  // right edge
    object.cx = w + out;
    object.cy = at - w;
  } else if (at < 2 * w + h) {  // bottom edge
    object.cx = w - (at - w - h);
    object.cy = h + out;
  } else {  // left edge
    object.cx = -out;
    object.cy = h - (at - 2 * w - h);
  }
  aim_traffic_object(object, rng.uniform(kTrafficMinSpeed, kMaxSpeed) * short_side);
  const double spin = rng.uniform(0, kMaxSpin);
  const bool clockwise = rng.uniform() < 0.5;
  object.spin = object.class_id == 0 ? 0.0 : (clockwise ? -spin : spin);
  object.run_left = exponential(rng, kRunMean);
  objects_.push_back(object);
}

void Scene::advance_traffic(double seconds) {
  // Long steps (low frame rates) go in equal sub-steps of at most 0.1 s, so
  // no object is carried across the frame unseen (it would never retire) and
  // the scene at a given time hardly depends on the frame rate.
  // Capped: a step of more than 100 s (below the slowest frame rate taken)
  // advances the scene 100 s, instead of a billion sub-steps.
  seconds = std::min(seconds, kMaxSubStep * kMaxSubSteps);
  const double parts = std::max(1.0, std::ceil(seconds / kMaxSubStep - 1e-9));
  for (int i = 0; i < static_cast<int>(parts); ++i) step_traffic(seconds / parts);
}

void Scene::step_traffic(double seconds) {
  const double w = width_, h = height_;
  Rng& rng = traffic_rng_;
  for (auto& o : objects_) {
    if (o.halted()) {
      o.halt_left -= seconds;
      if (o.halt_left > 0) continue;
      // Resume, on the old heading or one turned by up to 60 degrees.
      o.halt_left = 0;
      o.run_left = exponential(rng, kRunMean);
      if (rng.uniform() < kTurnChance) {
        const double turn = rng.uniform(-kMaxTurn, kMaxTurn);
        const double c = std::cos(turn), s = std::sin(turn);
        const double vx = o.vx;
        o.vx = c * vx - s * o.vy;
        o.vy = s * vx + c * o.vy;
      }
      continue;
    }
    o.cx += o.vx * seconds;
    o.cy += o.vy * seconds;
    o.angle = std::fmod(o.angle + o.spin * seconds, 2 * kPi);
    if (o.angle < 0) o.angle += 2 * kPi;
    if (area(box_of(o)) > 0) o.entered = true;
    // Halts happen only with the centre in frame, where they are seen.
    if (o.cx >= 0 && o.cx <= w && o.cy >= 0 && o.cy <= h) {
      o.run_left -= seconds;
      if (o.run_left <= 0) o.halt_left = rng.uniform(kHaltMin, kHaltMax);
    }
  }
  // Gone for good once wholly outside again (draw order is kept).
  objects_.erase(
      std::remove_if(objects_.begin(), objects_.end(),
                     [&](const SceneObject& o) { return o.entered && !(area(box_of(o)) > 0); }),
      objects_.end());
  // Arrivals due within the step, placed at its end: a new object is first
  // seen where it starts.
  next_arrival_ -= seconds;
  while (next_arrival_ <= 0) {
    if (objects_.size() < kMaxLive) spawn_traffic_object();
    next_arrival_ += arrival_gap();
  }
}

}  // namespace lookout::synthetic
