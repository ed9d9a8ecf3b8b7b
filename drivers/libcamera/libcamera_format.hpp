// The camera-independent half of the libcamera source: pixel format mapping,
// the choice of stream format, and how a completed buffer's planes map onto
// a Frame. Pure functions (no libcamera types), unit-tested on any machine
// (tests/drivers/libcamera).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/frame.hpp"

namespace lookout::lc {

// libcamera pixel formats are DRM fourccs (modifier 0 for everything here).
// DRM names packed RGB by the 32-bit little-endian word, so libcamera's
// RGB888 is B,G,R in memory (our BGR24) and BGR888 is R,G,B (our RGB24).
constexpr std::uint32_t drm_fourcc(char a, char b, char c, char d) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(a)) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(b)) << 8) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(c)) << 16) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(d)) << 24);
}
inline constexpr std::uint32_t kYuv420 = drm_fourcc('Y', 'U', '1', '2');
inline constexpr std::uint32_t kNv12 = drm_fourcc('N', 'V', '1', '2');
inline constexpr std::uint32_t kRgb888 = drm_fourcc('R', 'G', '2', '4');  // memory B,G,R
inline constexpr std::uint32_t kBgr888 = drm_fourcc('B', 'G', '2', '4');  // memory R,G,B
inline constexpr std::uint32_t kYuyv = drm_fourcc('Y', 'U', 'Y', 'V');
inline constexpr std::uint32_t kR8 = drm_fourcc('R', '8', ' ', ' ');
inline constexpr std::uint32_t kMjpeg = drm_fourcc('M', 'J', 'P', 'G');

std::optional<PixelFormat> to_pixel_format(std::uint32_t fourcc);
std::optional<std::uint32_t> to_fourcc(PixelFormat format);
std::string fourcc_name(std::uint32_t fourcc);

// Picks the stream's pixel format from those the camera offers. An explicit
// request must be offered. "auto" prefers RGB (R,G,B first: the Pi's ISP
// converts for free, and RGB is what the engine feeds the model), then
// YUV420, NV12, YUYV. Returns nullopt (and sets `why`) when nothing fits.
std::optional<std::uint32_t> choose_format(const std::vector<std::uint32_t>& offered,
                                           std::optional<PixelFormat> requested,
                                           std::string* why = nullptr);

// One plane of a completed FrameBuffer, already mapped.
struct MappedPlane {
  const std::uint8_t* data = nullptr;  // mapping base + the plane's offset
  std::size_t length = 0;              // bytes of the plane
  std::size_t bytesused = 0;           // from FrameMetadata (0 = length)
};

// Builds the frame's planes from the stream's format, size and stride (of the
// first plane; chroma strides follow libcamera's convention: half for
// YUV420, equal for NV12). Buffers with fewer planes than the format (all in
// one) are split by offset. Returns an empty string on success, otherwise
// what is wrong.
std::string describe_planes(PixelFormat format, int width, int height, std::size_t stride,
                            const std::vector<MappedPlane>& planes, Frame& out);

}  // namespace lookout::lc
