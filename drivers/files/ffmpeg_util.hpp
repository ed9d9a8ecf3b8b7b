// Small FFmpeg helpers shared by the video decoder and the PNG decoder, and
// the one set of owners for FFmpeg's objects: every AVFormatContext,
// AVCodecContext, AVPacket, AVFrame and SwsContext the drivers create lives
// in one of the std::unique_ptr types below from the moment it exists, so no
// code path (constructor failures included) frees one by hand or forgets to.
// Built only with LOOKOUT_WITH_FFMPEG.
//
// The deleters are defined in ffmpeg_util.cpp, so this header needs no FFmpeg
// headers. Threads: the owners are plain unique_ptrs (one owner at a time);
// error_text, route_logs and to_rgb24 may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include "core/frame.hpp"

struct AVFormatContext;
struct AVCodecContext;
struct AVPacket;
struct AVFrame;
struct SwsContext;

namespace lookout::ffmpeg {

struct CloseInput {  // avformat_close_input (also closes the file)
  void operator()(AVFormatContext* context) const noexcept;
};
struct FreeCodecContext {  // avcodec_free_context
  void operator()(AVCodecContext* context) const noexcept;
};
struct FreePacket {  // av_packet_free (drops the packet's reference first)
  void operator()(AVPacket* packet) const noexcept;
};
struct FreeFrame {  // av_frame_free (drops the picture's buffer references first)
  void operator()(AVFrame* frame) const noexcept;
};
struct FreeScaler {  // sws_freeContext
  void operator()(SwsContext* context) const noexcept;
};

// An opened demuxer (from avformat_open_input, which frees the context itself
// when it fails: adopt it only on success).
using FormatContextPtr = std::unique_ptr<AVFormatContext, CloseInput>;
using CodecContextPtr = std::unique_ptr<AVCodecContext, FreeCodecContext>;
using PacketPtr = std::unique_ptr<AVPacket, FreePacket>;
// An AVFrame: a decoder's output slot (av_frame_alloc) or a reference to a
// decoded picture's buffers (av_frame_clone).
using AvFramePtr = std::unique_ptr<AVFrame, FreeFrame>;
using ScalerPtr = std::unique_ptr<SwsContext, FreeScaler>;

// av_packet_alloc / av_frame_alloc as owners; throw std::bad_alloc instead of
// returning null.
PacketPtr alloc_packet();
AvFramePtr alloc_frame();

// av_strerror as a string.
std::string error_text(int error);

// Sends FFmpeg's own log lines (errors only) to our log at debug level instead
// of stderr: we report failures ourselves, naming the file. Idempotent.
void route_logs();

// Converts a decoded picture of any layout to a new RGB24 frame. `cache` is a
// swscale context reused between calls (created, or replaced when the
// picture's layout changes, here). Throws std::runtime_error for layouts
// swscale can't read.
std::shared_ptr<Frame> to_rgb24(const AVFrame& picture, ScalerPtr& cache);

}  // namespace lookout::ffmpeg
