// Small FFmpeg helpers shared by the video decoder and the PNG decoder.
// Built only with LOOKOUT_WITH_FFMPEG.
#pragma once

#include <memory>
#include <string>

#include "core/frame.hpp"

struct AVFrame;
struct SwsContext;

namespace lookout::ffmpeg {

// av_strerror as a string.
std::string error_text(int error);

// Sends FFmpeg's own log lines (errors only) to our log at debug level instead
// of stderr: we report failures ourselves, naming the file. Idempotent.
void route_logs();

// Converts a decoded picture of any layout to a new RGB24 frame. `cache` is a
// swscale context reused between calls (freed by the caller with
// sws_freeContext). Throws std::runtime_error for layouts swscale can't read.
std::shared_ptr<Frame> to_rgb24(const AVFrame& picture, SwsContext** cache);

}  // namespace lookout::ffmpeg
