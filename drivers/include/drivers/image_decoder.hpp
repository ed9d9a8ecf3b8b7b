// Still images for the files source and the CLI: JPEG (libturbojpeg), and
// PNG, PPM/PGM/PBM (binary and plain) and BMP (FFmpeg's decoders, the whole
// file as one packet), decoded to RGB24 so frames carry their true size.
// Pictures above kMaxFramePixels or kMaxFrameSide are refused from their
// header, before their pixels are allocated.
//
// These go through libavcodec rather than libpng or turbojpeg's file loader:
// FFmpeg is already a dependency (video files) on the host, in the arm64
// sysroot and in the SD image, it decodes from memory, and it checks the size
// (max_pixels) before allocating. The price: without LOOKOUT_WITH_FFMPEG,
// only JPEG files work; the others are refused with a clear error.
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/enum_names.hpp"
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

enum class ImageKind { Jpeg, Png, Netpbm, Bmp, Other };
template <>
struct EnumTable<ImageKind> {
  static constexpr std::array<EnumName<ImageKind>, 5> entries{{{ImageKind::Jpeg, "JPEG"},
                                                               {ImageKind::Png, "PNG"},
                                                               {ImageKind::Netpbm, "PPM/PGM"},
                                                               {ImageKind::Bmp, "BMP"},
                                                               {ImageKind::Other, "other"}}};
};

// What grey pictures become: RGB24 for the files source (one format for the
// pipeline), or GRAY8 kept as it is (the CLI, for single-channel models).
enum class DecodedColour { Rgb24, Rgb24OrGray8 };

// Looks at the file's first bytes (not its name). Returns Other for files that
// cannot be read or are too short.
ImageKind sniff_image(const std::filesystem::path& path);

// Decodes an image file to an RGB24 frame (or GRAY8, see DecodedColour;
// sequence and times unset). Throws ImageReadError or ImageDecodeError;
// messages name the file.
std::shared_ptr<Frame> decode_image(const std::filesystem::path& path,
                                    DecodedColour colour = DecodedColour::Rgb24);

// The same for a file's bytes already in memory; `name` is for messages.
// Throws ImageDecodeError.
std::shared_ptr<Frame> decode_image_bytes(const std::vector<std::uint8_t>& bytes,
                                          const std::filesystem::path& name,
                                          DecodedColour colour = DecodedColour::Rgb24);

}  // namespace lookout
