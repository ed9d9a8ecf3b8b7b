// Still images for the files source: JPEG (libturbojpeg) and PNG (FFmpeg's
// PNG decoder), decoded to RGB24 so frames carry their true size.
//
// PNG goes through libavcodec rather than libpng: FFmpeg is already a
// dependency (video files) on the host, in the arm64 sysroot and in the SD
// image, while libpng-dev would be a new package in all three for the same
// result. The price: without LOOKOUT_WITH_FFMPEG, PNG files are refused with
// a clear error (JPEG always works).
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include "core/frame.hpp"
#include "drivers/source.hpp"

namespace lookout {

// The file could not be read (missing, permission, I/O error).
class ImageReadError : public SourceError {
 public:
  using SourceError::SourceError;
};

// The file was read but is not a decodable image.
class ImageDecodeError : public SourceError {
 public:
  using SourceError::SourceError;
};

enum class ImageKind { Jpeg, Png, Other };

// Looks at the file's first bytes (not its name). Returns Other for files that
// cannot be read or are too short.
ImageKind sniff_image(const std::filesystem::path& path);

// Decodes a JPEG or PNG file to an RGB24 frame (sequence and times unset).
// Throws ImageReadError or ImageDecodeError; messages name the file.
std::shared_ptr<Frame> decode_image(const std::filesystem::path& path);

// The same for a file's bytes already in memory; `name` is for messages.
// Throws ImageDecodeError.
std::shared_ptr<Frame> decode_image_bytes(const std::vector<std::uint8_t>& bytes,
                                          const std::filesystem::path& name);

}  // namespace lookout
