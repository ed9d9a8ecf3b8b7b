#include "files/video_decoder.hpp"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <cerrno>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>

#include "core/log.hpp"
#include "drivers/source.hpp"
#include "files/ffmpeg_util.hpp"

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

VideoDecoder::OpenOptions file_options(const std::filesystem::path& path) {
  // Local files only (OpenOptions' default): a playlist or concat list inside
  // a files source must not make FFmpeg fetch from the network (HLS segments,
  // ffconcat entries and the like are opened under the same whitelist).
  VideoDecoder::OpenOptions options;
  options.shown_name = path.string();
  return options;
}

// A decoder context for `codec` on `parameters`, opened; null with `error`
// set when it cannot be.
ffmpeg::CodecContextPtr open_codec(const AVCodec* codec, const AVCodecParameters* parameters,
                                   int& error) {
  ffmpeg::CodecContextPtr context(avcodec_alloc_context3(codec));
  if (!context) {
    error = AVERROR(ENOMEM);
    return nullptr;
  }
  error = avcodec_parameters_to_context(context.get(), parameters);
  if (error < 0) return nullptr;
  // One decoding thread: the cores belong to inference.
  context->thread_count = 1;
  error = avcodec_open2(context.get(), codec, nullptr);
  if (error < 0) return nullptr;
  return context;
}

int interrupted(void* flag) {
  return static_cast<const std::atomic<bool>*>(flag)->load() ? 1 : 0;
}

}  // namespace

VideoDecoder::VideoDecoder(const std::filesystem::path& path)
    : VideoDecoder(path.string(), file_options(path)) {}

VideoDecoder::VideoDecoder(const std::string& input, const OpenOptions& open)
    : name_(open.shown_name.empty() ? input : open.shown_name) {
  ffmpeg::route_logs();
  const std::string& name = name_;
  // avformat_open_input frees the context itself when it fails.
  AVFormatContext* opened = avformat_alloc_context();
  if (opened == nullptr) throw SourceError("cannot open " + name + ": out of memory");
  if (open.interrupt != nullptr) {
    opened->interrupt_callback.callback = interrupted;
    opened->interrupt_callback.opaque = const_cast<std::atomic<bool>*>(open.interrupt);
  }
  AVDictionary* options = nullptr;
  av_dict_set(&options, "protocol_whitelist", open.protocols.c_str(), 0);
  for (const auto& [key, value] : open.demuxer_options)
    av_dict_set(&options, key.c_str(), value.c_str(), 0);
  int error = avformat_open_input(&opened, input.c_str(), nullptr, &options);
  av_dict_free(&options);
  if (error < 0) throw SourceError("cannot open video " + name + ": " + ffmpeg::error_text(error));
  format_.reset(opened);
  // From here on every FFmpeg object has its owner among the members, whose
  // destructors run when the constructor throws: failing is just throwing.
  const auto fail = [&name](const std::string& why) { throw SourceError(name + ": " + why); };
  error = avformat_find_stream_info(format_.get(), nullptr);
  if (error < 0) fail("cannot read stream info (" + ffmpeg::error_text(error) + ")");
  const AVCodec* codec = nullptr;
  stream_ = av_find_best_stream(format_.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (stream_ < 0 || codec == nullptr) {
    fail(stream_ == AVERROR_DECODER_NOT_FOUND ? "no decoder for its video stream"
                                              : "not a video file (no video stream)");
  }
  AVStream* stream = format_->streams[stream_];
  if (open.prefer_hardware && stream->codecpar->codec_id == AV_CODEC_ID_H264) {
    // Only where the device exists does it open; otherwise software decodes.
    if (const AVCodec* m2m = avcodec_find_decoder_by_name("h264_v4l2m2m")) {
      codec_ = open_codec(m2m, stream->codecpar, error);
      if (codec_) codec = m2m;
    }
  }
  if (!codec_) {
    codec_ = open_codec(codec, stream->codecpar, error);
    if (!codec_) {
      fail("cannot open the " + std::string(codec->name) + " decoder (" +
           ffmpeg::error_text(error) + ")");
    }
  }
  decoder_name_ = codec->name;
  try {
    packet_ = ffmpeg::alloc_packet();
    decoded_ = ffmpeg::alloc_frame();
  } catch (const std::bad_alloc&) {
    fail("out of memory");
  }
  width_ = codec_->width;
  height_ = codec_->height;
  if (width_ <= 0 || height_ <= 0) fail("video stream has no frame size");
  if (const auto problem = frame_size_problem(width_, height_)) fail(*problem);
  const AVRational rate = av_guess_frame_rate(format_.get(), stream, nullptr);
  frame_rate_ = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0.0;
  AVFrame probe{};
  probe.width = width_;
  probe.height = height_;
  probe.format = codec_->pix_fmt;
  probe.color_range = codec_->color_range;
  likely_format_ = direct_format(probe).value_or(PixelFormat::RGB24);
}

std::string VideoDecoder::describe(int error) const {
  return name_ + ": " + ffmpeg::error_text(error);
}

VideoDecoder::Result VideoDecoder::next() {
  for (;;) {
    int error = avcodec_receive_frame(codec_.get(), decoded_.get());
    if (error == 0) {
      try {
        auto frame = publish(*decoded_);
        av_frame_unref(decoded_.get());
        return {Result::Kind::Frame, std::move(frame), {}};
      } catch (const std::exception& e) {
        av_frame_unref(decoded_.get());
        return {Result::Kind::Error, nullptr, name_ + ": " + e.what()};
      }
    }
    if (error == AVERROR_EOF) return {Result::Kind::End, nullptr, {}};
    if (error != AVERROR(EAGAIN)) return {Result::Kind::Error, nullptr, describe(error)};
    if (draining_) return {Result::Kind::End, nullptr, {}};

    error = av_read_frame(format_.get(), packet_.get());
    if (error == AVERROR_EOF) {
      draining_ = true;
      avcodec_send_packet(codec_.get(), nullptr);
      continue;
    }
    if (error < 0) return {Result::Kind::Error, nullptr, describe(error)};
    if (packet_->stream_index == stream_) {
      error = avcodec_send_packet(codec_.get(), packet_.get());
      if (error < 0 && error != AVERROR(EAGAIN)) {
        // A damaged packet costs one picture, not the stream.
        if (skipped_packets_++ == 0) {
          log::warning("video ", name_, ": skipping damaged data (", ffmpeg::error_text(error),
                       ")");
        }
      }
    }
    av_packet_unref(packet_.get());
  }
}

std::shared_ptr<Frame> VideoDecoder::publish(const AVFrame& decoded) {
  if (const auto format = direct_format(decoded)) {
    // Zero copy: the frame keeps its own reference to FFmpeg's buffers, owned
    // next to it (one allocation); the Frame is handed out through
    // shared_ptr's aliasing constructor, so the reference is dropped exactly
    // when the last user of the frame lets go, on whichever thread that is.
    struct Referenced {
      ffmpeg::AvFramePtr picture;
      Frame frame;
    };
    auto held = std::make_shared<Referenced>();
    held->picture.reset(av_frame_clone(&decoded));
    if (!held->picture) throw std::bad_alloc();
    const AVFrame& ref = *held->picture;
    Frame& frame = held->frame;
    frame.format = *format;
    frame.width = ref.width;
    frame.height = ref.height;
    const int planes = plane_count(*format);
    for (int i = 0; i < planes; ++i) {
      const int rows = i == 0 ? ref.height : ref.height / 2;
      const auto stride = static_cast<std::size_t>(ref.linesize[i]);
      frame.planes[static_cast<std::size_t>(i)] = {ref.data[i], stride,
                                                   stride * static_cast<std::size_t>(rows)};
    }
    const std::string problem = validate_layout(frame);
    if (!problem.empty()) throw std::runtime_error("decoded picture: " + problem);
    return std::shared_ptr<Frame>(held, &held->frame);
  }
  return ffmpeg::to_rgb24(decoded, scaler_);
}

}  // namespace lookout
