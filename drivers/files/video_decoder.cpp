#include "files/video_decoder.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <mutex>
#include <optional>

#include "core/log.hpp"
#include "files/ffmpeg_util.hpp"
#include "drivers/source.hpp"

namespace lookout {

namespace {

// Pictures we can publish without converting.
std::optional<PixelFormat> direct_format(const AVFrame& f) {
  const bool even = f.width % 2 == 0 && f.height % 2 == 0;
  const bool limited = f.color_range != AVCOL_RANGE_JPEG;
  if (!even || !limited) return std::nullopt;
  if (f.format == AV_PIX_FMT_YUV420P) return PixelFormat::I420;
  if (f.format == AV_PIX_FMT_NV12) return PixelFormat::NV12;
  return std::nullopt;
}

}  // namespace

VideoDecoder::VideoDecoder(const std::filesystem::path& path) : path_(path) {
  ffmpeg::route_logs();
  const std::string name = path.string();
  int error = avformat_open_input(&format_, name.c_str(), nullptr, nullptr);
  if (error < 0) throw SourceError("cannot open video " + name + ": " + ffmpeg::error_text(error));
  // The destructor does not run when the constructor throws: release by hand.
  const auto fail = [this, &name](const std::string& why) {
    release();
    throw SourceError(name + ": " + why);
  };
  error = avformat_find_stream_info(format_, nullptr);
  if (error < 0) fail("cannot read stream info (" + ffmpeg::error_text(error) + ")");
  const AVCodec* codec = nullptr;
  stream_ = av_find_best_stream(format_, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (stream_ < 0 || codec == nullptr) {
    fail(stream_ == AVERROR_DECODER_NOT_FOUND ? "no decoder for its video stream"
                                              : "not a video file (no video stream)");
  }
  AVStream* stream = format_->streams[stream_];
  codec_ = avcodec_alloc_context3(codec);
  if (codec_ == nullptr) fail("out of memory");
  error = avcodec_parameters_to_context(codec_, stream->codecpar);
  if (error < 0) fail("bad codec parameters (" + ffmpeg::error_text(error) + ")");
  // One decoding thread: the cores belong to inference.
  codec_->thread_count = 1;
  error = avcodec_open2(codec_, codec, nullptr);
  if (error < 0)
    fail("cannot open the " + std::string(codec->name) + " decoder (" + ffmpeg::error_text(error) +
         ")");
  packet_ = av_packet_alloc();
  decoded_ = av_frame_alloc();
  if (packet_ == nullptr || decoded_ == nullptr) fail("out of memory");
  width_ = codec_->width;
  height_ = codec_->height;
  if (width_ <= 0 || height_ <= 0) fail("video stream has no frame size");
  const AVRational rate = av_guess_frame_rate(format_, stream, nullptr);
  frame_rate_ = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0.0;
  AVFrame probe{};
  probe.width = width_;
  probe.height = height_;
  probe.format = codec_->pix_fmt;
  probe.color_range = codec_->color_range;
  likely_format_ = direct_format(probe).value_or(PixelFormat::RGB24);
}

VideoDecoder::~VideoDecoder() {
  release();
}

void VideoDecoder::release() {
  sws_freeContext(scaler_);
  scaler_ = nullptr;
  av_frame_free(&decoded_);
  av_packet_free(&packet_);
  avcodec_free_context(&codec_);
  avformat_close_input(&format_);
}

std::string VideoDecoder::describe(int error) const {
  return path_.string() + ": " + ffmpeg::error_text(error);
}

VideoDecoder::Result VideoDecoder::next() {
  for (;;) {
    int error = avcodec_receive_frame(codec_, decoded_);
    if (error == 0) {
      try {
        auto frame = publish(decoded_);
        av_frame_unref(decoded_);
        return {Result::Kind::Frame, std::move(frame), {}};
      } catch (const std::exception& e) {
        av_frame_unref(decoded_);
        return {Result::Kind::Error, nullptr, path_.string() + ": " + e.what()};
      }
    }
    if (error == AVERROR_EOF) return {Result::Kind::End, nullptr, {}};
    if (error != AVERROR(EAGAIN)) return {Result::Kind::Error, nullptr, describe(error)};
    if (draining_) return {Result::Kind::End, nullptr, {}};

    error = av_read_frame(format_, packet_);
    if (error == AVERROR_EOF) {
      draining_ = true;
      avcodec_send_packet(codec_, nullptr);
      continue;
    }
    if (error < 0) return {Result::Kind::Error, nullptr, describe(error)};
    if (packet_->stream_index == stream_) {
      error = avcodec_send_packet(codec_, packet_);
      if (error < 0 && error != AVERROR(EAGAIN)) {
        // A damaged packet costs one picture, not the stream.
        if (skipped_packets_++ == 0) {
          log::warning("video ", path_.string(), ": skipping damaged data (",
                       ffmpeg::error_text(error), ")");
        }
      }
    }
    av_packet_unref(packet_);
  }
}

std::shared_ptr<Frame> VideoDecoder::publish(AVFrame* decoded) {
  if (const auto format = direct_format(*decoded)) {
    // Zero copy: the frame keeps its own reference to FFmpeg's buffers.
    AVFrame* ref = av_frame_clone(decoded);
    if (ref == nullptr) throw std::bad_alloc();
    auto* frame = new Frame;
    frame->format = *format;
    frame->width = ref->width;
    frame->height = ref->height;
    const int planes = plane_count(*format);
    for (int i = 0; i < planes; ++i) {
      const int rows = i == 0 ? ref->height : ref->height / 2;
      const auto stride = static_cast<std::size_t>(ref->linesize[i]);
      frame->planes[static_cast<std::size_t>(i)] = {ref->data[i], stride,
                                                    stride * static_cast<std::size_t>(rows)};
    }
    std::shared_ptr<Frame> result(frame, [ref](Frame* f) mutable {
      delete f;
      av_frame_free(&ref);
    });
    const std::string problem = validate_layout(*result);
    if (!problem.empty()) throw std::runtime_error("decoded picture: " + problem);
    return result;
  }
  return ffmpeg::to_rgb24(*decoded, &scaler_);
}

}  // namespace lookout
