// Zones and counting lines: the geometry the configuration's `zones` and
// `lines` describe (app/tracking/TRACKING.md), and the per-track state that
// turns an anchor point's path into enter/leave and crossing events.
//
// Coordinates: a zone's or line's points are either frame pixels or
// normalised (0..1 of the frame's width and height). The rule, for each zone
// and line separately: when every coordinate written is between 0 and 1, the
// points are normalised; otherwise they are pixels. (A pixel polygon inside
// the frame's top-left 1x1 pixel would be meaningless, so nothing is lost.)
//
// Membership: a track's anchor point (the bottom centre of its box by
// default: where an object stands) is inside a zone when it lies inside the
// polygon (even-odd rule; points on the boundary count as inside). A track
// enters a zone after `inertia` consecutive frames inside, and leaves after
// `inertia` consecutive frames outside, so a box jittering on the boundary
// does not flap.
//
// Lines: a line A->B splits the plane. Its "in" direction is crossing from the
// left of A->B to its right, as seen on the image (y down): for a line drawn
// left to right across the frame, moving down the image is "in". A crossing is
// counted when the anchor has stayed `inertia` frames on the other side and
// the path from where it last settled to where it settled now passes through
// the segment itself (passing beside the segment's ends is no crossing).
//
// Ownership: plain value types. Threads: none; pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/enum_names.hpp"

namespace lookout::tracking {

// Which point of a box stands for the object in zones and lines.
enum class Anchor { BottomCenter, Center, TopCenter };

}  // namespace lookout::tracking

template <>
struct lookout::EnumTable<lookout::tracking::Anchor> {
  using T = tracking::Anchor;
  static constexpr std::array<EnumName<T>, 3> entries{{
      {T::BottomCenter, "bottom_center"},
      {T::Center, "center"},
      {T::TopCenter, "top_center"},
  }};
};

namespace lookout::tracking {

enum class Direction { In, Out };

}  // namespace lookout::tracking

template <>
struct lookout::EnumTable<lookout::tracking::Direction> {
  using T = tracking::Direction;
  static constexpr std::array<EnumName<T>, 2> entries{{
      {T::In, "in"},
      {T::Out, "out"},
  }};
};

namespace lookout::tracking {

struct PointF {
  double x = 0, y = 0;
  bool operator==(const PointF& o) const { return x == o.x && y == o.y; }
};

// A zone as configured (config key zones.<name>).
struct ZoneConfig {
  std::vector<PointF> points;        // as written: pixels or normalised (see the rule above)
  std::vector<std::string> classes;  // classes counted here; empty = every class
  int inertia = 3;                   // frames inside (outside) before entering (leaving)
  Anchor anchor = Anchor::BottomCenter;
  bool operator==(const ZoneConfig& o) const {
    return points == o.points && classes == o.classes && inertia == o.inertia && anchor == o.anchor;
  }
};

// A counting line as configured (config key lines.<name>).
struct LineConfig {
  std::vector<PointF> points;  // exactly two: A and B
  std::vector<std::string> classes;
  int inertia = 2;
  Anchor anchor = Anchor::BottomCenter;
  bool operator==(const LineConfig& o) const {
    return points == o.points && classes == o.classes && inertia == o.inertia && anchor == o.anchor;
  }
};

// True when every coordinate is within 0..1 (the rule above).
bool is_normalized(const std::vector<PointF>& points);
// The points in frame pixels for a frame of this size.
std::vector<PointF> to_pixels(const std::vector<PointF>& points, int frame_width, int frame_height);

// What is wrong with a polygon, or nullopt: fewer than 3 points, zero area,
// or two edges that cross or touch other than at their shared vertex.
std::optional<std::string> polygon_problem(const std::vector<PointF>& points);
// What is wrong with a line: not exactly two points, or zero length.
std::optional<std::string> line_problem(const std::vector<PointF>& points);
// The first point outside a frame of this size (pixels: 0..width, 0..height;
// normalised: 0..1), as "point 3 (700, 20) is outside the 640x480 frame". A
// size of 0 (files keep their stored size) is not checked for pixels.
std::optional<std::string> outside_problem(const std::vector<PointF>& points, int frame_width,
                                           int frame_height);

PointF anchor_of(Anchor anchor, float x1, float y1, float x2, float y2);
// Even-odd rule; on an edge counts as inside.
bool inside(const std::vector<PointF>& polygon, PointF p);
// >0 when p is right of A->B on the image (y down), <0 left, 0 on the line.
double side_of(PointF a, PointF b, PointF p);
// Whether segments p->q and a->b intersect (touching counts).
bool segments_intersect(PointF p, PointF q, PointF a, PointF b);

// One track's membership of one zone, with inertia.
class ZoneMembership {
 public:
  // Feeds one frame; returns true when membership changed (entered or left).
  bool update(bool anchor_inside, int inertia);
  bool in() const { return in_; }

 private:
  bool in_ = false;
  int streak_ = 0;  // consecutive frames disagreeing with in_
};

// One track's position relative to one line, with inertia.
class LineSide {
 public:
  // Feeds one frame's anchor; returns the direction when the track crossed.
  std::optional<Direction> update(PointF anchor, PointF a, PointF b, int inertia);

 private:
  int side_ = 0;      // settled side: +1 right, -1 left, 0 not yet known
  PointF settled_{};  // the anchor's last position on the settled side
  int streak_ = 0;    // consecutive frames on the other side
};

}  // namespace lookout::tracking
