#include "tracking/zones.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace lookout::tracking {

namespace {

std::string format_point(std::size_t index, PointF p) {
  char text[96];
  std::snprintf(text, sizeof text, "point %zu (%g, %g)", index + 1, p.x, p.y);
  return text;
}

int sign(double v) {
  return (v > 0) - (v < 0);
}

bool on_segment(PointF p, PointF a, PointF b) {
  return std::min(a.x, b.x) <= p.x && p.x <= std::max(a.x, b.x) && std::min(a.y, b.y) <= p.y &&
         p.y <= std::max(a.y, b.y);
}

}  // namespace

bool is_normalized(const std::vector<PointF>& points) {
  return std::all_of(points.begin(), points.end(),
                     [](PointF p) { return p.x >= 0 && p.x <= 1 && p.y >= 0 && p.y <= 1; });
}

std::vector<PointF> to_pixels(const std::vector<PointF>& points, int frame_width,
                              int frame_height) {
  if (!is_normalized(points)) return points;
  std::vector<PointF> out;
  out.reserve(points.size());
  for (const auto& p : points) out.push_back({p.x * frame_width, p.y * frame_height});
  return out;
}

double side_of(PointF a, PointF b, PointF p) {
  // With y pointing down, a positive cross product means p is clockwise from
  // A->B on the screen: to its right.
  return (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
}

bool segments_intersect(PointF p, PointF q, PointF a, PointF b) {
  const int d1 = sign(side_of(a, b, p)), d2 = sign(side_of(a, b, q));
  const int d3 = sign(side_of(p, q, a)), d4 = sign(side_of(p, q, b));
  if (d1 != d2 && d3 != d4 && d1 * d2 <= 0 && d3 * d4 <= 0) {
    if (d1 != 0 || d2 != 0) return true;
  }
  // Collinear cases: an end point lying on the other segment.
  if (d1 == 0 && on_segment(p, a, b)) return true;
  if (d2 == 0 && on_segment(q, a, b)) return true;
  if (d3 == 0 && on_segment(a, p, q)) return true;
  if (d4 == 0 && on_segment(b, p, q)) return true;
  return false;
}

std::optional<std::string> polygon_problem(const std::vector<PointF>& points) {
  const std::size_t n = points.size();
  if (n < 3) {
    return "a zone needs at least 3 points, got " + std::to_string(n);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (points[i] == points[(i + 1) % n]) {
      return "points " + std::to_string(i + 1) + " and " + std::to_string((i + 1) % n + 1) +
             " are the same";
    }
  }
  // All on one line: no area (said so before any edge "folds back").
  bool on_one_line = true;
  for (std::size_t i = 2; i < n && on_one_line; ++i) {
    on_one_line = std::abs(side_of(points[0], points[1], points[i])) < 1e-12;
  }
  if (on_one_line) return std::string("the polygon has no area: its points lie on one line");
  for (std::size_t i = 0; i < n; ++i) {
    const PointF& a = points[i];
    const PointF& b = points[(i + 1) % n];
    for (std::size_t j = i + 1; j < n; ++j) {
      // Neighbouring edges share a vertex; only a fold back onto each other
      // (collinear overlap) is a problem there, which the area and the
      // non-adjacent checks do not see, so check it explicitly.
      const bool adjacent = j == i + 1 || (i == 0 && j == n - 1);
      const PointF& c = points[j];
      const PointF& d = points[(j + 1) % n];
      if (adjacent) {
        const PointF shared = j == i + 1 ? b : a;
        const PointF other_a = j == i + 1 ? a : b;
        const PointF other_c = j == i + 1 ? d : c;
        const bool collinear = std::abs(side_of(shared, other_a, other_c)) < 1e-12;
        const double dot = (other_a.x - shared.x) * (other_c.x - shared.x) +
                           (other_a.y - shared.y) * (other_c.y - shared.y);
        if (collinear && dot > 0) {
          return "edges " + std::to_string(i + 1) + " and " + std::to_string(j + 1) +
                 " fold back onto each other";
        }
        continue;
      }
      if (segments_intersect(a, b, c, d)) {
        const auto edge = [n](std::size_t k) {
          return "edge " + std::to_string(k + 1) + " (points " + std::to_string(k + 1) + "-" +
                 std::to_string((k + 1) % n + 1) + ")";
        };
        return "the polygon intersects itself: " + edge(i) + " crosses " + edge(j);
      }
    }
  }
  // Checked last: a bow tie's halves cancel out, and it is better told it crosses itself.
  double twice_area = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const PointF& a = points[i];
    const PointF& b = points[(i + 1) % n];
    twice_area += a.x * b.y - b.x * a.y;
  }
  if (std::abs(twice_area) < 1e-12) return std::string("the polygon has no area");
  return std::nullopt;
}

std::optional<std::string> line_problem(const std::vector<PointF>& points) {
  if (points.size() != 2) {
    return "a line needs exactly 2 points, got " + std::to_string(points.size());
  }
  if (points[0] == points[1]) return std::string("the line has zero length");
  return std::nullopt;
}

std::optional<std::string> outside_problem(const std::vector<PointF>& points, int frame_width,
                                           int frame_height) {
  if (is_normalized(points)) return std::nullopt;  // 0..1 by the rule itself
  for (std::size_t i = 0; i < points.size(); ++i) {
    const PointF& p = points[i];
    const bool negative = p.x < 0 || p.y < 0;
    const bool beyond =
        frame_width > 0 && frame_height > 0 && (p.x > frame_width || p.y > frame_height);
    if (negative || beyond) {
      std::string frame =
          frame_width > 0 && frame_height > 0
              ? "the " + std::to_string(frame_width) + "x" + std::to_string(frame_height) + " frame"
              : "the frame";
      return format_point(i, p) + " is outside " + frame +
             " (pixels; normalised points are all within 0..1)";
    }
  }
  return std::nullopt;
}

PointF anchor_of(Anchor anchor, float x1, float y1, float x2, float y2) {
  const double cx = 0.5 * (double(x1) + x2);
  switch (anchor) {
    case Anchor::BottomCenter:
      return {cx, y2};
    case Anchor::Center:
      return {cx, 0.5 * (double(y1) + y2)};
    case Anchor::TopCenter:
      return {cx, y1};
  }
  return {cx, y2};
}

bool inside(const std::vector<PointF>& polygon, PointF p) {
  const std::size_t n = polygon.size();
  bool in = false;
  for (std::size_t i = 0, j = n - 1; i < n; j = i++) {
    const PointF& a = polygon[i];
    const PointF& b = polygon[j];
    if (std::abs(side_of(a, b, p)) < 1e-9 && on_segment(p, a, b)) return true;
    if ((a.y > p.y) != (b.y > p.y) && p.x < (b.x - a.x) * (p.y - a.y) / (b.y - a.y) + a.x) {
      in = !in;
    }
  }
  return in;
}

bool ZoneMembership::update(bool anchor_inside, int inertia) {
  if (anchor_inside == in_) {
    streak_ = 0;
    return false;
  }
  if (++streak_ < std::max(inertia, 1)) return false;
  in_ = anchor_inside;
  streak_ = 0;
  return true;
}

std::optional<Direction> LineSide::update(PointF anchor, PointF a, PointF b, int inertia) {
  const int now = sign(side_of(a, b, anchor));
  if (now == 0) return std::nullopt;  // on the line: wait until it is off it
  if (side_ == 0) {
    side_ = now;
    settled_ = anchor;
    return std::nullopt;
  }
  if (now == side_) {
    streak_ = 0;
    settled_ = anchor;
    return std::nullopt;
  }
  if (++streak_ < std::max(inertia, 1)) return std::nullopt;
  const PointF from = settled_;
  const int before = side_;
  side_ = now;
  settled_ = anchor;
  streak_ = 0;
  if (!segments_intersect(from, anchor, a, b)) return std::nullopt;  // went round an end
  return before < 0 ? Direction::In : Direction::Out;
}

}  // namespace lookout::tracking
