// Four-character codes as V4L2 (linux/videodev2.h) and DRM/libcamera
// (drm_fourcc.h) spell pixel formats: the first letter in the lowest byte.
// Both sources' format tables (v4l2/v4l2_format.hpp, libcamera/
// libcamera_format.hpp) are built from these, so neither header needs the
// kernel's or libcamera's headers. Plain functions; any thread.
#pragma once

#include <cstdint>
#include <string>

namespace lookout {

// The code of four letters, `a` in bits 0-7 and `d` in bits 24-31. Codes with
// fewer letters are padded with spaces ('R', '8', ' ', ' ').
constexpr std::uint32_t fourcc(char a, char b, char c, char d) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(a)) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(b)) << 8) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(c)) << 16) |
         (static_cast<std::uint32_t>(static_cast<unsigned char>(d)) << 24);
}

// The code's letters for messages: "YUYV", "R8" (trailing padding spaces
// trimmed). Bytes that are not printable ASCII show as '?', so a garbage code
// from a driver still prints as four characters.
std::string fourcc_name(std::uint32_t code);

}  // namespace lookout
