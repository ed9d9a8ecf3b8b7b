#include "files/ffmpeg_util.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <cstdarg>
#include <mutex>
#include <new>
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

void CloseInput::operator()(AVFormatContext* context) const noexcept {
  avformat_close_input(&context);
}

void FreeCodecContext::operator()(AVCodecContext* context) const noexcept {
  avcodec_free_context(&context);
}

void FreePacket::operator()(AVPacket* packet) const noexcept {
  av_packet_free(&packet);
}

void FreeFrame::operator()(AVFrame* frame) const noexcept {
  av_frame_free(&frame);
}

void FreeScaler::operator()(SwsContext* context) const noexcept {
  sws_freeContext(context);
}

PacketPtr alloc_packet() {
  PacketPtr packet(av_packet_alloc());
  if (!packet) throw std::bad_alloc();
  return packet;
}

AvFramePtr alloc_frame() {
  AvFramePtr frame(av_frame_alloc());
  if (!frame) throw std::bad_alloc();
  return frame;
}

std::string error_text(int error) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(error, text, sizeof text);
  return text;
}

void route_logs() {
  static std::once_flag once;
  std::call_once(once, [] { av_log_set_callback(forward_log); });
}

std::shared_ptr<Frame> to_rgb24(const AVFrame& picture, ScalerPtr& cache) {
  auto frame = Frame::allocate(PixelFormat::RGB24, picture.width, picture.height);
  const auto format = static_cast<AVPixelFormat>(picture.format);
  // sws_getCachedContext takes the old context over: it returns it when it
  // fits, otherwise frees it and returns a new one (null on failure).
  cache.reset(sws_getCachedContext(cache.release(), picture.width, picture.height, format,
                                   picture.width, picture.height, AV_PIX_FMT_RGB24, SWS_BILINEAR,
                                   nullptr, nullptr, nullptr));
  if (!cache) {
    const char* name = av_get_pix_fmt_name(format);
    throw std::runtime_error(std::string("cannot convert pixel format ") + (name ? name : "?"));
  }
  std::uint8_t* dst[4] = {frame->mutable_plane(0), nullptr, nullptr, nullptr};
  int dst_stride[4] = {static_cast<int>(frame->planes[0].stride), 0, 0, 0};
  sws_scale(cache.get(), picture.data, picture.linesize, 0, picture.height, dst, dst_stride);
  return frame;
}

}  // namespace lookout::ffmpeg
