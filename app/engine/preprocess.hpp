// Preprocessing: a camera frame (RGB24, BGR24, I420, NV12, YUYV, GRAY8 or
// MJPEG) to the model's float input [C, H, W], letterboxed as ultralytics does
// (keep aspect, bilinear resize, constant padding, values / 255).
//
// Work order, so the expensive per-pixel steps run on as few pixels as
// possible: JPEG is decoded once (decode()); YUV frames are scaled in YUV
// (libyuv I420Scale/I422Scale; NV12 chroma de-interleaved first) and only the
// scaled pixels are converted to RGB (BT.601 limited range); packed RGB/BGR
// is split into planes and each plane scaled. All scaling goes through
// libyuv's plane scaler, whose bilinear filter samples pixel centres with
// exact rounding, like OpenCV's INTER_LINEAR in ultralytics' letterbox (its
// ARGB and UV scalers use coarser weights and corner-aligned upsampling). The
// last pass writes floats straight into the model's input buffer, swapping
// BGR and filling the padding on the way. A frame that already has the scaled
// size is read in place, without a copy.
//
// Ownership: owns the scratch buffers and the JPEG decompressor (its turbojpeg
// handle), reused across frames (no allocation per frame once sizes settle).
// Not copyable.
// Threads: one thread at a time (the engine's caller). Deliberately serial:
// handing channels to helper threads was measured slower, because right
// after a forward pass the inference pools still spin on the other cores.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/frame.hpp"
#include "core/jpeg.hpp"
#include "letterbox.hpp"

namespace lookout::engine {

class Preprocessor {
 public:
  // `integer_fast_paths`: packed RGB/BGR frames downscaled by exactly 1/2 or
  // 1/3 (1280x720 or 1920x1080 to 640x360) skip the channel split and read
  // the frame directly; same result, several times faster. Off only to test
  // that claim.
  explicit Preprocessor(bool integer_fast_paths = true);
  ~Preprocessor();
  Preprocessor(const Preprocessor&) = delete;
  Preprocessor& operator=(const Preprocessor&) = delete;

  // For MJPEG frames: decodes into an RGB24 image owned by this object and
  // returns a frame viewing it (valid until the next decode). Other formats
  // are returned as they are. Throws std::invalid_argument for a corrupt JPEG
  // or a frame whose planes don't match its format and size.
  const Frame& decode(const Frame& frame);

  // Writes `frame` (not MJPEG: decode() first) letterboxed by `box` into
  // `dst`, `channels` x box.input_height x box.input_width floats in 0..1
  // (RGB order, or luma for one channel), planar [C, H, W], or interleaved
  // [H, W, C] when `nhwc` (a channels-last tensor). Throws
  // std::invalid_argument for an unsupported format or a frame that doesn't
  // match `box`.
  void run(const Frame& frame, const Letterbox& box, int channels, int pad_value, float* dst,
           bool nhwc = false);

 private:
  bool integer_fast_paths_;
  std::optional<jpeg::Decompressor> jpeg_;  // created on the first MJPEG frame
  std::vector<std::uint8_t> decoded_;
  Frame decoded_frame_;
  std::vector<std::uint8_t> yuv_;  // scaled YUV planes
  std::vector<std::uint8_t> rgb_;  // scaled packed pixels
};

// Converts packed 8-bit pixels (3 bytes RGB or BGR, or 1 byte grey) of the
// scaled size into the letterboxed float input. Exposed for tests and benches.
void pack_to_planar(const std::uint8_t* src, std::size_t src_stride, int bytes_per_pixel, bool bgr,
                    const Letterbox& box, int channels, int pad_value, float* dst);

}  // namespace lookout::engine
