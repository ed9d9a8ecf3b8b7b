#include "picture/annotate.hpp"

#include <stdexcept>
#include <string>

#include "picture/draw.hpp"
#include "picture/image.hpp"

namespace lookout::picture {

std::string annotated_jpeg(jpeg::Decompressor& decompressor, jpeg::Compressor& compressor,
                           const Frame& picture, int frame_width, int frame_height,
                           const std::vector<Detection>& detections,
                           const std::vector<std::string>& class_names,
                           const JpegOptions& options) {
  // Checked before any decoding, so a bad request costs nothing.
  if (options.quality < 1 || options.quality > 100) {
    throw std::runtime_error("JPEG quality must be 1..100, got " + std::to_string(options.quality));
  }
  if (options.boxes && (frame_width <= 0 || frame_height <= 0)) {
    throw std::runtime_error("drawing boxes needs the size of their frame, got " +
                             std::to_string(frame_width) + "x" + std::to_string(frame_height));
  }
  RgbImage image = to_rgb(picture, decompressor, options.width);
  if (options.boxes) {
    // The boxes are in the camera frame's pixels; the picture may be a
    // smaller copy of it, further scaled to options.width.
    draw_detections(image, detections, class_names,
                    static_cast<float>(image.width) / static_cast<float>(frame_width),
                    static_cast<float>(image.height) / static_cast<float>(frame_height));
  }
  const jpeg::JpegBytes bytes =
      compressor.compress_rgb(image.pixels.data(), image.width, image.height, 0, options.quality);
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace lookout::picture
