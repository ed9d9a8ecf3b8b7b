// Annotated JPEGs: a picture of a frame, scaled, with its detections drawn,
// compressed for a client (the daemon's snapshots and MJPEG stream).
//
// Ownership: the result is a plain string of JPEG bytes the caller owns;
// nothing is kept between calls.
// Threads: any thread, with codec handles that thread owns (turbojpeg handles
// are not thread-safe; a thread that encodes often keeps one pair and passes
// it to every call).
#pragma once

#include <string>
#include <vector>

#include "core/frame.hpp"
#include "core/jpeg.hpp"
#include "engine/engine.hpp"

namespace lookout::picture {

struct JpegOptions {
  int width = 0;  // 0 = the picture's own
  bool boxes = true;
  int quality = 70;  // 1..100
};

// Encodes `picture` (a small_copy() or any frame) as JPEG, scaled to
// options.width (never upscaled; width <= 0: the picture's own size) and with
// the detections drawn when options.boxes. `frame_width`/`frame_height` are the
// size of the frame the detections' boxes refer to (the original camera
// frame; the picture may be smaller); they must be positive when
// options.boxes. Returns the JPEG bytes (4:2:0). Uses the given codec handles
// (the caller owns one pair per thread). Throws std::runtime_error for a
// quality outside 1..100 or a missing frame size, jpeg::JpegError for a
// picture that does not decode or a failed compression, and whatever
// to_rgb() throws, each naming the problem.
std::string annotated_jpeg(jpeg::Decompressor& decompressor, jpeg::Compressor& compressor,
                           const Frame& picture, int frame_width, int frame_height,
                           const std::vector<Detection>& detections,
                           const std::vector<std::string>& class_names, const JpegOptions& options);

}  // namespace lookout::picture
