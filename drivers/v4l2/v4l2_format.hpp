// The device-independent half of the V4L2 source: which of a webcam's formats
// to use, and how a captured buffer's bytes map onto a Frame. Pure functions,
// unit-tested without a device (tests/drivers/v4l2).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/fourcc.hpp"
#include "core/frame.hpp"

namespace lookout::v4l2 {

// V4L2 fourcc codes we deliver (values as in linux/videodev2.h, repeated here
// so this header needs no kernel headers; fourcc() and fourcc_name() are in
// common/fourcc.hpp).
inline constexpr std::uint32_t kMjpeg = fourcc('M', 'J', 'P', 'G');
inline constexpr std::uint32_t kJpeg = fourcc('J', 'P', 'E', 'G');
inline constexpr std::uint32_t kYuyv = fourcc('Y', 'U', 'Y', 'V');
inline constexpr std::uint32_t kNv12 = fourcc('N', 'V', '1', '2');
inline constexpr std::uint32_t kYu12 = fourcc('Y', 'U', '1', '2');  // I420
inline constexpr std::uint32_t kRgb24 = fourcc('R', 'G', 'B', '3');
inline constexpr std::uint32_t kBgr24 = fourcc('B', 'G', 'R', '3');
inline constexpr std::uint32_t kGrey = fourcc('G', 'R', 'E', 'Y');

// Our pixel format for a V4L2 fourcc, if we deliver it.
std::optional<PixelFormat> to_pixel_format(std::uint32_t code);
// The V4L2 fourcc for one of our formats, if a webcam can deliver it.
std::optional<std::uint32_t> to_fourcc(PixelFormat format);

// What a device advertises for one pixel format (VIDIOC_ENUM_FMT,
// VIDIOC_ENUM_FRAMESIZES, VIDIOC_ENUM_FRAMEINTERVALS).
struct FrameSize {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  double max_fps = 0;  // 0 = unknown (device lists no intervals)
};
struct SizeRange {  // V4L2_FRMSIZE_TYPE_STEPWISE / CONTINUOUS
  std::uint32_t min_width = 0, max_width = 0, step_width = 1;
  std::uint32_t min_height = 0, max_height = 0, step_height = 1;
  double max_fps = 0;
};
struct FormatCaps {
  std::uint32_t fourcc = 0;
  bool emulated = false;  // converted by libv4l in software
  std::vector<FrameSize> sizes;
  std::optional<SizeRange> range;
};

struct Request {
  int width = 640;
  int height = 480;
  double fps = 0;                     // 0 = no preference
  std::optional<PixelFormat> format;  // nullopt = auto
};

struct Choice {
  std::uint32_t fourcc = 0;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  double max_fps = 0;  // what the device says it can do at this size, 0 = unknown
};

// One /dev/videoN node as VIDIOC_QUERYCAP and VIDIOC_ENUM_FMT describe it
// (probe_v4l2_node in v4l2_source.hpp; what `source.type: auto` ranks).
struct NodeInfo {
  std::string path;                            // "/dev/video0"
  int number = -1;                             // N of videoN: the order nodes are tried in
  std::string driver;                          // "uvcvideo", "bm2835 mmal", "bcm2835-isp", ...
  std::string card;                            // "HD Pro Webcam C920"
  std::uint32_t caps = 0;                      // the node's own capabilities (device_caps)
  std::vector<std::uint32_t> capture_formats;  // fourccs of single-planar capture
  std::string error;                           // set when the node could not be opened or queried
};

// Picks format and size for a request. Candidates are the formats we deliver
// (an explicit request admits only its own format). Preference, in order:
//   1. the size nearest the request (|dw| + |dh|; a size range offers the
//      request itself, clamped and stepped);
//   2. a format that reaches the requested fps at that size (or whose rate is
//      unknown); with fps 0, the fastest rate any format offers at that size;
//   3. hardware formats over libv4l-emulated ones (those cost CPU);
//   4. the format cheapest for the engine: NV12, I420, YUYV, RGB, MJPEG, GREY
//      (uncompressed needs no decode; MJPEG wins only where it is the one
//      that reaches the rate, as on most USB 2 webcams above 640x480);
//   5. the higher rate.
// Returns nullopt when no advertised format is usable; `why` then says so.
std::optional<Choice> negotiate(const std::vector<FormatCaps>& caps, const Request& request,
                                std::string* why = nullptr);

// The format the driver settled on (VIDIOC_S_FMT / G_FMT, single-planar API).
struct Layout {
  std::uint32_t fourcc = 0;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  std::uint32_t bytesperline = 0;  // stride of the first plane; chroma strides derive from it
  std::uint32_t sizeimage = 0;
};

// Describes the planes of one captured buffer as a Frame (pixels borrowed,
// not copied): `data` is the mapped buffer, `bytesused` what the driver filled
// (0 = the whole `length`, for drivers that leave it unset on raw formats).
// Returns an empty string and fills `out` (format, size, planes) on success,
// otherwise says what is wrong with the buffer (short frame, bad layout).
std::string describe_buffer(const Layout& layout, const std::uint8_t* data, std::size_t length,
                            std::size_t bytesused, Frame& out);

}  // namespace lookout::v4l2
