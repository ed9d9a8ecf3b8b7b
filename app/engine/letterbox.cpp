#include "letterbox.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

namespace lookout::engine {

namespace {

// Python 3's round(): ties to even. std::nearbyint does the same in the default
// rounding mode, which nothing in this program changes.
int py_round(double x) { return static_cast<int>(std::nearbyint(x)); }

struct Scaled {
  double r;
  int width;
  int height;
};

Scaled scale_to_fit(int frame_w, int frame_h, int input_w, int input_h) {
  const double r = std::min(static_cast<double>(input_h) / frame_h,
                            static_cast<double>(input_w) / frame_w);
  return {r, py_round(frame_w * r), py_round(frame_h * r)};
}

}  // namespace

Letterbox make_letterbox(int frame_w, int frame_h, int input_w, int input_h, bool center) {
  assert(frame_w > 0 && frame_h > 0 && input_w > 0 && input_h > 0);
  const Scaled s = scale_to_fit(frame_w, frame_h, input_w, input_h);
  Letterbox box;
  box.frame_width = frame_w;
  box.frame_height = frame_h;
  box.input_width = input_w;
  box.input_height = input_h;
  box.scaled_width = std::clamp(s.width, 1, input_w);
  box.scaled_height = std::clamp(s.height, 1, input_h);
  box.gain = s.r;
  if (center) {
    const double dw = (input_w - box.scaled_width) / 2.0;
    const double dh = (input_h - box.scaled_height) / 2.0;
    box.left = py_round(dw - 0.1);
    box.top = py_round(dh - 0.1);
    box.pad_x = (input_w - frame_w * s.r) / 2.0;
    box.pad_y = (input_h - frame_h * s.r) / 2.0;
  }
  return box;
}

Letterbox make_stretch(int frame_w, int frame_h, int input_w, int input_h) {
  assert(frame_w > 0 && frame_h > 0 && input_w > 0 && input_h > 0);
  Letterbox box;
  box.frame_width = frame_w;
  box.frame_height = frame_h;
  box.input_width = box.scaled_width = input_w;
  box.input_height = box.scaled_height = input_h;
  return box;
}

InputSize fit_input_size(int frame_w, int frame_h, InputSize requested, int stride) {
  assert(requested.width % stride == 0 && requested.height % stride == 0);
  const Scaled s = scale_to_fit(frame_w, frame_h, requested.width, requested.height);
  return {s.width + (requested.width - s.width) % stride,
          s.height + (requested.height - s.height) % stride};
}

int align_up(int value, int stride) { return (value + stride - 1) / stride * stride; }

}  // namespace lookout::engine
