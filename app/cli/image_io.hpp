// Image files for the CLI: reading them as frames the engine takes, and
// writing annotated JPEGs (pictures made and drawn by lookout_picture).
//
// Plain functions; any thread.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "core/frame.hpp"
#include "picture/image.hpp"

namespace lookout::cli {

class ImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// JPEG files become MJPEG frames holding the file's bytes (the engine decodes
// them, so its decode stage is what `detect` reports); PNG, PPM/PGM and BMP
// are decoded here to RGB24 / GRAY8. Throws ImageError naming the file.
std::shared_ptr<Frame> read_image(const std::string& path);

// Writes `image` as a JPEG file. Throws ImageError.
void write_jpeg(const std::string& path, const picture::RgbImage& image, int quality = 90);

}  // namespace lookout::cli
