#include "common/frame_util.hpp"

#include <memory>

namespace lookout {

FramePtr restamp(const FramePtr& base, std::uint64_t sequence,
                 std::chrono::system_clock::time_point capture_time,
                 std::chrono::steady_clock::time_point capture_steady) {
  auto* view = new Frame;
  view->format = base->format;
  view->width = base->width;
  view->height = base->height;
  view->planes = base->planes;  // borrowed from base->storage or base's source buffer
  view->truth = base->truth;
  view->sequence = sequence;
  view->capture_time = capture_time;
  view->capture_steady = capture_steady;
  return FramePtr(view, [keep = base](const Frame* f) { delete f; });
}

FramePtr restamp(const FramePtr& base, std::uint64_t sequence) {
  return restamp(base, sequence, base->capture_time, base->capture_steady);
}

void stamp_now(Frame& frame) {
  frame.capture_time = std::chrono::system_clock::now();
  frame.capture_steady = std::chrono::steady_clock::now();
}

}  // namespace lookout
