// RGB pictures of frames, for drawing on and encoding: an RGB copy of any
// frame at its own size or scaled down, and a small owned copy of a frame to
// keep after the frame's buffer went back to the camera.
//
// Ownership: an RgbImage owns its pixels; small_copy() returns a frame that
// owns its pixels (it holds nothing of the frame it was made from).
// Threads: plain functions, any thread. The frame is only read. A
// jpeg::Decompressor is not thread-safe: each thread passes its own (the
// overloads without one make their own per call).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/frame.hpp"
#include "core/jpeg.hpp"

namespace lookout::picture {

// Packed R,G,B pixels, stride width*3.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;
};

// An RGB copy of any frame: MJPEG decoded with the given decompressor (at the
// JPEG's own size, then scaled), YUV/BGR/GRAY converted with libyuv (scaled
// in the frame's own format first, so a small picture of a big frame costs a
// small conversion).
// width > 0: scaled (libyuv box filter) to exactly that width, height in
// proportion (rounded, at least 1); width <= 0 or >= the frame's width: the
// frame's own size (never upscaled). A JPEG that decodes with only a warning
// (a truncated file: its missing rows come out grey) still gives a picture.
// Throws jpeg::JpegError for a JPEG that does not decode and
// std::runtime_error naming the problem for a raw frame whose planes do not
// fit its format and size (validate_layout()).
RgbImage to_rgb(const Frame& frame, jpeg::Decompressor& decompressor, int width = 0);
// The same with a decompressor of its own (made for MJPEG frames only).
RgbImage to_rgb(const Frame& frame, int width = 0);

// `image` scaled to `width` (the same rules: height in proportion, never
// upscaled; width <= 0 or >= image.width gives a copy). Throws
// std::runtime_error when the image's pixels do not hold width*height*3 bytes.
RgbImage scaled(const RgbImage& image, int width);

// A small copy of a frame for pictures served after the frame's buffer went
// back to the camera. MJPEG frames are cloned as they are (their compressed
// bytes are small; decoding is left to whoever encodes later). Any other
// format becomes an owned RGB24 Frame no wider than max_width (aspect kept;
// the same size if already narrower, or if max_width <= 0), with the frame's
// sequence, capture times and truth (boxes scaled to the copy's size)
// copied. Cheap enough to run on the inference thread: a libyuv scale and
// convert, no JPEG work. Throws std::runtime_error as to_rgb() does (and
// std::invalid_argument from Frame::clone() for an MJPEG frame without
// data). Any thread.
std::shared_ptr<const Frame> small_copy(const Frame& frame, int max_width);

// The same copy made into `out`, reusing its storage when it is large
// enough (no allocation, no fresh pages: for a pool of pictures the
// inference thread fills again and again). `out` is overwritten whole:
// format, size, planes, sequence, capture times and truth. Throws as
// small_copy() does; `out` is then unspecified but valid to fill again.
void small_copy_into(const Frame& frame, int max_width, Frame& out);

}  // namespace lookout::picture
