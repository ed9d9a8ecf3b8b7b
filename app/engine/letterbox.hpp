// Letterbox geometry, exactly as ultralytics' YOLOv5 computes it
// (utils/augmentations.py letterbox() and utils/general.py scale_coords()),
// so the engine's boxes match theirs to the pixel.
//
// Plain value types and pure functions; no threads involved. Non-positive
// sizes throw std::invalid_argument (a frame's size comes from outside).
#pragma once

namespace lookout::engine {

struct Letterbox {
  int frame_width = 0;  // source frame
  int frame_height = 0;
  int input_width = 0;  // model input
  int input_height = 0;
  int scaled_width = 0;  // the frame resized, keeping its aspect (ultralytics' new_unpad)
  int scaled_height = 0;
  int left = 0;  // where the scaled frame sits in the input
  int top = 0;
  // Mapping back, as scale_coords does: frame = (input - pad) / gain. ultralytics
  // uses the unrounded padding here, not left/top; we do the same to match.
  double gain = 1;
  double pad_x = 0;
  double pad_y = 0;
};

// Places a frame of `frame_w` x `frame_h` into an input of `input_w` x `input_h`:
// r = min(input_h / frame_h, input_w / frame_w); scaled = round(frame * r);
// centred with top = round(dh - 0.1), left = round(dw - 0.1) (Python's round,
// half to even), or at the top-left corner when `center` is false.
Letterbox make_letterbox(int frame_w, int frame_h, int input_w, int input_h, bool center = true);

// Stretches the frame to the whole input (no aspect kept, no padding): how
// classifiers are fed (models/lookout_models/reference.py classify()).
Letterbox make_stretch(int frame_w, int frame_h, int input_w, int input_h);

struct InputSize {
  int width = 0;
  int height = 0;
};

// For models that take any stride-aligned input: the smallest input that holds
// the frame letterboxed at the requested size, as ultralytics' letterbox(auto=True)
// picks it (scaled side + (requested - scaled) mod stride). 1920x1080 at 640x640,
// stride 32 -> 640x384. `requested` must be multiples of `stride`.
InputSize fit_input_size(int frame_w, int frame_h, InputSize requested, int stride);

// Rounds a size up to a multiple of `stride` (ultralytics' check_img_size).
int align_up(int value, int stride);

}  // namespace lookout::engine
