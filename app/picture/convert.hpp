// The libyuv half of lookout_picture (private): raw frames to packed RGB at
// any smaller size, RGB scaling, and the size rule every public function
// shares. The only file of the library that sees libyuv.
//
// Plain functions; any thread. They write into the caller's buffer and keep
// nothing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/frame.hpp"

namespace lookout::picture {

struct Size {
  int width = 0;
  int height = 0;
};

// The size of a `width` x `height` picture fitted to `target_width`: exactly
// that width with the height in proportion (rounded, at least 1) when
// 0 < target_width < width, else the picture's own size (never upscaled).
Size fit_width(int width, int height, int target_width);

// Converts a raw (not MJPEG) frame to packed R,G,B at `out_size`, which must
// not exceed the frame's size: `out` holds out_size.height rows of
// out_size.width * 3 bytes. Scales in the frame's own format before
// converting (box filter), so only the small picture is converted. Throws
// std::runtime_error naming the problem when the frame's layout is invalid
// (validate_layout()) or it is MJPEG.
void convert_to_rgb(const Frame& frame, Size out_size, std::uint8_t* out);

// Scales packed R,G,B (`src_size`, rows `src_stride` bytes apart) to
// `dst_size` into `dst` (rows dst_size.width * 3 bytes), box filtered.
void scale_rgb(const std::uint8_t* src, Size src_size, std::size_t src_stride, std::uint8_t* dst,
               Size dst_size);

}  // namespace lookout::picture
