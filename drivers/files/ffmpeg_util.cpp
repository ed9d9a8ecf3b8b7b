#include "files/ffmpeg_util.hpp"

extern "C" {
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <cstdarg>
#include <mutex>
#include <stdexcept>

#include "core/log.hpp"

namespace lookout::ffmpeg {

namespace {

void forward_log(void* avcl, int level, const char* format, va_list args) {
  if (level > AV_LOG_ERROR) return;
  char line[512];
  int print_prefix = 1;
  av_log_format_line2(avcl, level, format, args, line, sizeof line, &print_prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!text.empty()) log::debug("ffmpeg: ", text);
}

}  // namespace

std::string error_text(int error) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(error, text, sizeof text);
  return text;
}

void route_logs() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(forward_log); });
}

std::shared_ptr<Frame> to_rgb24(const AVFrame& picture, SwsContext** cache) {
  auto frame = Frame::allocate(PixelFormat::RGB24, picture.width, picture.height);
  const auto format = static_cast<AVPixelFormat>(picture.format);
  *cache = sws_getCachedContext(*cache, picture.width, picture.height, format, picture.width,
                                picture.height, AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr,
                                nullptr);
  if (*cache == nullptr) {
    const char* name = av_get_pix_fmt_name(format);
    throw std::runtime_error(std::string("cannot convert pixel format ") + (name ? name : "?"));
  }
  std::uint8_t* dst[4] = {frame->mutable_plane(0), nullptr, nullptr, nullptr};
  int dst_stride[4] = {static_cast<int>(frame->planes[0].stride), 0, 0, 0};
  sws_scale(*cache, picture.data, picture.linesize, 0, picture.height, dst, dst_stride);
  return frame;
}

}  // namespace lookout::ffmpeg
