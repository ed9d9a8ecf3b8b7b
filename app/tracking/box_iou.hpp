// box_iou (private to lookout_tracking): intersection over union of two
// axis-aligned boxes given by their corners, the one overlap measure the
// tracker, the objects' stationary rule and the MOT metrics share.
#pragma once

#include <algorithm>

namespace lookout::tracking {

// 0 when the boxes do not overlap (or have no area).
inline double box_iou(double ax1, double ay1, double ax2, double ay2, double bx1, double by1,
                      double bx2, double by2) {
  const double w = std::min(ax2, bx2) - std::max(ax1, bx1);
  const double h = std::min(ay2, by2) - std::max(ay1, by1);
  if (w <= 0 || h <= 0) return 0;
  const double inter = w * h;
  const double uni = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
  return uni > 0 ? inter / uni : 0;
}

}  // namespace lookout::tracking
