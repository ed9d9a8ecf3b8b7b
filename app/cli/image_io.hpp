// Image files for the CLI: reading them as frames the engine takes, and
// writing annotated JPEGs.
//
// Plain functions; any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/frame.hpp"

namespace lookout::cli {

class ImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// JPEG files become MJPEG frames holding the file's bytes (the engine decodes
// them, so its decode stage is what `detect` reports); PNG, PPM/PGM and BMP
// are decoded here to RGB24 / GRAY8. Throws ImageError naming the file.
std::shared_ptr<Frame> read_image(const std::string& path);

// An RGB24 copy of any frame (JPEG decoded, YUV converted), for drawing.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // R, G, B; stride width * 3
};
RgbImage to_rgb(const Frame& frame);

// Writes `image` as a JPEG file. Throws ImageError.
void write_jpeg(const std::string& path, const RgbImage& image, int quality = 90);

}  // namespace lookout::cli
