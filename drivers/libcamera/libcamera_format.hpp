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

#include "common/fourcc.hpp"
#include "core/frame.hpp"

namespace lookout::lc {

// libcamera pixel formats are DRM fourccs (modifier 0 for everything here).
// DRM names packed RGB by the 32-bit little-endian word, so libcamera's
// RGB888 is B,G,R in memory (our BGR24) and BGR888 is R,G,B (our RGB24).
// Names for messages: fourcc_name() (common/fourcc.hpp).
inline constexpr std::uint32_t kYuv420 = fourcc('Y', 'U', '1', '2');
inline constexpr std::uint32_t kNv12 = fourcc('N', 'V', '1', '2');
inline constexpr std::uint32_t kRgb888 = fourcc('R', 'G', '2', '4');  // memory B,G,R
inline constexpr std::uint32_t kBgr888 = fourcc('B', 'G', '2', '4');  // memory R,G,B
inline constexpr std::uint32_t kYuyv = fourcc('Y', 'U', 'Y', 'V');
inline constexpr std::uint32_t kR8 = fourcc('R', '8', ' ', ' ');
inline constexpr std::uint32_t kMjpeg = fourcc('M', 'J', 'P', 'G');

std::optional<PixelFormat> to_pixel_format(std::uint32_t fourcc);
std::optional<std::uint32_t> to_fourcc(PixelFormat format);

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

// What to tell a Pi 5 user whose camera this libcamera cannot see: empty
// unless `board_model` (/proc/device-tree/model) names a Raspberry Pi 5 and
// `libcamera_version` (major*10000 + minor*100 + patch) is Debian bookworm's
// 0.0.x, which has no pipeline for the Pi 5's camera hardware (RP1 and PiSP).
std::string pi5_camera_advice(const std::string& board_model, int libcamera_version);

// The board's model as the device tree names it ("Raspberry Pi 5 Model B Rev
// 1.0"); empty off a Pi or where there is no device tree.
std::string board_model();

}  // namespace lookout::lc
