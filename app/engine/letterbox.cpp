#include "letterbox.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace lookout::engine {

namespace {

// Python 3's round(): ties to even. std::nearbyint does the same in the default
// rounding mode, which nothing in this program changes.
int py_round(double x) {
  return static_cast<int>(std::nearbyint(x));
}

struct Scaled {
  double r;
  int width;
  int height;
};

Scaled scale_to_fit(int frame_w, int frame_h, int input_w, int input_h) {
  const double r =
      std::min(static_cast<double>(input_h) / frame_h, static_cast<double>(input_w) / frame_w);
  return {r, py_round(frame_w * r), py_round(frame_h * r)};
}

void require_positive(int frame_w, int frame_h, int input_w, int input_h) {
  if (frame_w <= 0 || frame_h <= 0 || input_w <= 0 || input_h <= 0) {
    throw std::invalid_argument("letterbox: frame " + std::to_string(frame_w) + "x" +
                                std::to_string(frame_h) + " and input " + std::to_string(input_w) +
                                "x" + std::to_string(input_h) + " must be positive");
  }
}

}  // namespace

Letterbox make_letterbox(int frame_w, int frame_h, int input_w, int input_h, bool center) {
  require_positive(frame_w, frame_h, input_w, input_h);
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
  require_positive(frame_w, frame_h, input_w, input_h);
  Letterbox box;
  box.frame_width = frame_w;
  box.frame_height = frame_h;
  box.input_width = box.scaled_width = input_w;
  box.input_height = box.scaled_height = input_h;
  return box;
}

InputSize fit_input_size(int frame_w, int frame_h, InputSize requested, int stride) {
  if (stride <= 0 || requested.width % stride != 0 || requested.height % stride != 0) {
    throw std::invalid_argument("input size " + std::to_string(requested.width) + "x" +
                                std::to_string(requested.height) + " is not a multiple of stride " +
                                std::to_string(stride));
  }
  require_positive(frame_w, frame_h, requested.width, requested.height);
  const Scaled s = scale_to_fit(frame_w, frame_h, requested.width, requested.height);
  // A very thin frame (1x640 at 320) scales its short side below half a
  // pixel: it still takes one pixel, in the smallest stride-aligned input.
  const int w = std::max(1, s.width), h = std::max(1, s.height);
  return {w + (requested.width - w) % stride, h + (requested.height - h) % stride};
}

int align_up(int value, int stride) {
  return (value + stride - 1) / stride * stride;
}

}  // namespace lookout::engine
