#include "libcamera/libcamera_format.hpp"

#include <algorithm>
#include <fstream>

namespace lookout::lc {

std::optional<PixelFormat> to_pixel_format(std::uint32_t fourcc) {
  switch (fourcc) {
    case kYuv420:
      return PixelFormat::I420;
    case kNv12:
      return PixelFormat::NV12;
    case kRgb888:
      return PixelFormat::BGR24;
    case kBgr888:
      return PixelFormat::RGB24;
    case kYuyv:
      return PixelFormat::YUYV;
    case kR8:
      return PixelFormat::GRAY8;
    case kMjpeg:
      return PixelFormat::MJPEG;
    default:
      return std::nullopt;
  }
}

std::optional<std::uint32_t> to_fourcc(PixelFormat format) {
  switch (format) {
    case PixelFormat::I420:
      return kYuv420;
    case PixelFormat::NV12:
      return kNv12;
    case PixelFormat::BGR24:
      return kRgb888;
    case PixelFormat::RGB24:
      return kBgr888;
    case PixelFormat::YUYV:
      return kYuyv;
    case PixelFormat::GRAY8:
      return kR8;
    case PixelFormat::MJPEG:
      return kMjpeg;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> choose_format(const std::vector<std::uint32_t>& offered,
                                           std::optional<PixelFormat> requested, std::string* why) {
  const auto has = [&offered](std::uint32_t f) {
    return std::find(offered.begin(), offered.end(), f) != offered.end();
  };
  std::string list;
  for (auto f : offered) list += (list.empty() ? "" : ", ") + fourcc_name(f);
  if (list.empty()) list = "nothing";
  if (requested) {
    const auto fourcc = to_fourcc(*requested);
    if (fourcc && has(*fourcc)) return fourcc;
    if (why != nullptr) {
      *why = "the camera offers no " + std::string(to_string(*requested)) + " (it offers: " + list +
             ")";
    }
    return std::nullopt;
  }
  for (auto f : {kBgr888, kRgb888, kYuv420, kNv12, kYuyv}) {
    if (has(f)) return f;
  }
  if (why != nullptr)
    *why = "the camera offers no format lookout can use (it offers: " + list + ")";
  return std::nullopt;
}

std::string describe_planes(PixelFormat format, int width, int height, std::size_t stride,
                            const std::vector<MappedPlane>& planes, Frame& out) {
  if (planes.empty() || planes[0].data == nullptr) return "buffer has no mapped planes";
  if (width <= 0 || height <= 0) return "bad frame size";
  const auto used = [](const MappedPlane& p) {
    return p.bytesused != 0 ? std::min(p.bytesused, p.length) : p.length;
  };
  out.format = format;
  out.width = width;
  out.height = height;
  out.planes = {};
  const auto h = static_cast<std::size_t>(height);
  const int wanted = plane_count(format);
  if (format == PixelFormat::MJPEG) {
    out.planes[0] = {planes[0].data, 0, used(planes[0])};
    return validate_layout(out);
  }
  if (static_cast<int>(planes.size()) >= wanted) {
    const std::size_t chroma_stride = format == PixelFormat::I420 ? stride / 2 : stride;
    for (int i = 0; i < wanted; ++i) {
      const auto& p = planes[static_cast<std::size_t>(i)];
      if (p.data == nullptr) return "plane " + std::to_string(i) + " is not mapped";
      out.planes[static_cast<std::size_t>(i)] = {p.data, i == 0 ? stride : chroma_stride, used(p)};
    }
  } else {
    // All planes in one buffer, one after the other.
    const std::uint8_t* base = planes[0].data;
    const std::size_t total = used(planes[0]);
    const std::size_t luma = stride * h;
    if (format == PixelFormat::I420) {
      const std::size_t chroma = (stride / 2) * (h / 2);
      if (luma + 2 * chroma > total) return "buffer too small for YUV420 planes";
      out.planes[0] = {base, stride, luma};
      out.planes[1] = {base + luma, stride / 2, chroma};
      out.planes[2] = {base + luma + chroma, stride / 2, chroma};
    } else if (format == PixelFormat::NV12) {
      const std::size_t chroma = stride * (h / 2);
      if (luma + chroma > total) return "buffer too small for NV12 planes";
      out.planes[0] = {base, stride, luma};
      out.planes[1] = {base + luma, stride, chroma};
    } else {
      return "buffer has fewer planes than " + std::string(to_string(format)) + " needs";
    }
  }
  return validate_layout(out);
}

std::string pi5_camera_advice(const std::string& board_model, int libcamera_version) {
  if (board_model.find("Raspberry Pi 5") == std::string::npos || libcamera_version >= 100)
    return {};
  const std::string version = std::to_string(libcamera_version / 10000) + "." +
                              std::to_string(libcamera_version / 100 % 100) + "." +
                              std::to_string(libcamera_version % 100);
  return "this is a Raspberry Pi 5, and this lookout was built against libcamera " + version +
         " (Debian bookworm's), which has no pipeline for the Pi 5's camera (PiSP); build and "
         "install lookout on the Pi itself against Raspberry Pi OS's libcamera "
         "(scripts/make-deb.sh on the Pi; scripts/PACKAGING.md, \"Raspberry Pi 5\"), or use a "
         "USB camera (source.type v4l2) or an IP camera (source.type stream)";
}

std::string board_model() {
  std::ifstream in("/proc/device-tree/model", std::ios::binary);
  std::string model;
  std::getline(in, model, '\0');
  return model;
}

}  // namespace lookout::lc
