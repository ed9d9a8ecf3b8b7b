#include "v4l2/v4l2_format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <tuple>

namespace lookout::v4l2 {

namespace {

int engine_rank(std::uint32_t code) {
  switch (code) {
    case kNv12:
      return 0;
    case kYu12:
      return 1;
    case kYuyv:
      return 2;
    case kRgb24:
    case kBgr24:
      return 3;
    case kMjpeg:
    case kJpeg:
      return 4;
    default:
      return 5;
  }
}

std::uint32_t fit(int wanted, std::uint32_t lo, std::uint32_t hi, std::uint32_t step) {
  if (step == 0) step = 1;
  const double clamped =
      std::clamp(static_cast<double>(wanted), static_cast<double>(lo), static_cast<double>(hi));
  const double steps = std::round((clamped - lo) / step);
  return std::min(hi, lo + static_cast<std::uint32_t>(steps) * step);
}

struct Candidate {
  Choice choice;
  bool emulated = false;
};

}  // namespace

std::optional<PixelFormat> to_pixel_format(std::uint32_t code) {
  switch (code) {
    case kMjpeg:
    case kJpeg:
      return PixelFormat::MJPEG;
    case kYuyv:
      return PixelFormat::YUYV;
    case kNv12:
      return PixelFormat::NV12;
    case kYu12:
      return PixelFormat::I420;
    case kRgb24:
      return PixelFormat::RGB24;
    case kBgr24:
      return PixelFormat::BGR24;
    case kGrey:
      return PixelFormat::GRAY8;
    default:
      return std::nullopt;
  }
}

std::optional<std::uint32_t> to_fourcc(PixelFormat format) {
  switch (format) {
    case PixelFormat::MJPEG:
      return kMjpeg;
    case PixelFormat::YUYV:
      return kYuyv;
    case PixelFormat::NV12:
      return kNv12;
    case PixelFormat::I420:
      return kYu12;
    case PixelFormat::RGB24:
      return kRgb24;
    case PixelFormat::BGR24:
      return kBgr24;
    case PixelFormat::GRAY8:
      return kGrey;
  }
  return std::nullopt;
}

std::optional<Choice> negotiate(const std::vector<FormatCaps>& caps, const Request& request,
                                std::string* why) {
  std::vector<Candidate> candidates;
  std::string offered;
  for (const auto& format : caps) {
    offered += (offered.empty() ? "" : ", ") + fourcc_name(format.fourcc);
    const auto ours = to_pixel_format(format.fourcc);
    if (!ours) continue;
    if (request.format && *request.format != *ours) continue;
    for (const auto& size : format.sizes) {
      candidates.push_back(
          {{format.fourcc, size.width, size.height, size.max_fps}, format.emulated});
    }
    if (format.range) {
      const auto& r = *format.range;
      candidates.push_back(
          {{format.fourcc, fit(request.width, r.min_width, r.max_width, r.step_width),
            fit(request.height, r.min_height, r.max_height, r.step_height), r.max_fps},
           format.emulated});
    }
    if (format.sizes.empty() && !format.range) {
      // The driver lists no sizes: ask for the request and let S_FMT adjust.
      candidates.push_back({{format.fourcc, static_cast<std::uint32_t>(std::max(request.width, 1)),
                             static_cast<std::uint32_t>(std::max(request.height, 1)), 0.0},
                            format.emulated});
    }
  }
  if (candidates.empty()) {
    if (why != nullptr) {
      *why = request.format ? "the device offers no " + std::string(to_string(*request.format)) +
                                  " (it offers: " + (offered.empty() ? "nothing" : offered) + ")"
                            : "the device offers no format lookout can use (it offers: " +
                                  (offered.empty() ? "nothing" : offered) + ")";
    }
    return std::nullopt;
  }
  // Without a requested rate, aim for the fastest any format offers at a size.
  const auto target_fps = [&](const Candidate& c) {
    if (request.fps > 0) return request.fps;
    double best = 0;
    for (const auto& other : candidates) {
      if (other.choice.width == c.choice.width && other.choice.height == c.choice.height) {
        best = std::max(best, other.choice.max_fps);
      }
    }
    return best;
  };
  const auto key = [&](const Candidate& c) {
    const long size_cost = std::labs(static_cast<long>(c.choice.width) - request.width) +
                           std::labs(static_cast<long>(c.choice.height) - request.height);
    const double target = target_fps(c);
    const bool too_slow = target > 0 && c.choice.max_fps > 0 && c.choice.max_fps + 0.01 < target;
    return std::make_tuple(size_cost, too_slow, c.emulated, engine_rank(c.choice.fourcc),
                           -c.choice.max_fps);
  };
  const auto best =
      std::min_element(candidates.begin(), candidates.end(),
                       [&key](const Candidate& a, const Candidate& b) { return key(a) < key(b); });
  return best->choice;
}

std::string describe_buffer(const Layout& layout, const std::uint8_t* data, std::size_t length,
                            std::size_t bytesused, Frame& out) {
  const auto format = to_pixel_format(layout.fourcc);
  if (!format) return "unsupported pixel format " + fourcc_name(layout.fourcc);
  if (data == nullptr) return "buffer is not mapped";
  const std::size_t used = bytesused != 0 ? bytesused : length;
  if (used > length) {
    return "driver reports " + std::to_string(used) + " bytes used in a buffer of " +
           std::to_string(length);
  }
  out.format = *format;
  out.width = static_cast<int>(layout.width);
  out.height = static_cast<int>(layout.height);
  out.planes = {};
  const std::size_t w = layout.width, h = layout.height;
  std::size_t stride = layout.bytesperline;
  switch (*format) {
    case PixelFormat::MJPEG:
      // UVC cameras sometimes hand over a damaged or empty JPEG.
      if (used < 4 || data[0] != 0xFF || data[1] != 0xD8) return "MJPEG frame lacks a JPEG header";
      out.planes[0] = {data, 0, used};
      return validate_layout(out);
    case PixelFormat::YUYV:
      out.planes[0] = {data, stride != 0 ? stride : w * 2, used};
      break;
    case PixelFormat::RGB24:
    case PixelFormat::BGR24:
      out.planes[0] = {data, stride != 0 ? stride : w * 3, used};
      break;
    case PixelFormat::GRAY8:
      out.planes[0] = {data, stride != 0 ? stride : w, used};
      break;
    case PixelFormat::NV12: {
      if (stride == 0) stride = w;
      const std::size_t luma = stride * h;
      if (luma >= used) return "short frame: " + std::to_string(used) + " bytes hold no chroma";
      out.planes[0] = {data, stride, luma};
      out.planes[1] = {data + luma, stride, used - luma};
      break;
    }
    case PixelFormat::I420: {
      if (stride == 0) stride = w;
      const std::size_t chroma_stride = stride / 2;
      const std::size_t luma = stride * h;
      const std::size_t chroma = chroma_stride * (h / 2);
      if (luma + chroma >= used) {
        return "short frame: " + std::to_string(used) + " bytes hold no V plane";
      }
      out.planes[0] = {data, stride, luma};
      out.planes[1] = {data + luma, chroma_stride, chroma};
      out.planes[2] = {data + luma + chroma, chroma_stride, used - luma - chroma};
      break;
    }
  }
  const std::string problem = validate_layout(out);
  return problem.empty() ? problem : "malformed frame: " + problem;
}

}  // namespace lookout::v4l2
