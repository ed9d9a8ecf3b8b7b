#include "stream/stream_source.hpp"

#include <algorithm>
#include <cctype>

#include "common/frame_util.hpp"
#include "core/log.hpp"
#include "core/stream_url.hpp"
#include "files/video_decoder.hpp"

namespace lookout {

namespace {

std::string lower_scheme(const std::string& url) {
  std::string scheme = url.substr(0, url.find("://"));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return scheme;
}

}  // namespace

StreamSource::StreamSource(const SourceConfig& config)
    : config_(config), shown_url_(redact_url(config.url)) {
  if (const std::string problem = stream_url_problem(config.url); !problem.empty()) {
    throw SourceError("source.url: " + problem);
  }
  if (config.format && *config.format != PixelFormat::RGB24 &&
      *config.format != PixelFormat::I420 && *config.format != PixelFormat::NV12) {
    throw SourceError("source.format: a stream arrives as I420, NV12 or RGB24");
  }
  info_.name = "stream:" + shown_url_;
}

StreamSource::~StreamSource() {
  stop();
}

void StreamSource::start() {
  stop();
  VideoDecoder::OpenOptions open;
  open.shown_name = shown_url_;
  open.interrupt = &stopping_;
  open.prefer_hardware = true;
  const std::string scheme = lower_scheme(config_.url);
  // What each kind of URL needs to open, and nothing else (an HLS playlist
  // names its segments, which open under the same list).
  open.protocols = scheme == "rtsp" || scheme == "rtsps" ? "rtsp,rtsps,rtp,srtp,udp,tcp,tls"
                                                         : "http,https,tcp,tls,crypto";
  const auto timeout_us = std::to_string(
      std::chrono::duration_cast<std::chrono::microseconds>(config_.frame_timeout).count());
  open.demuxer_options = {
      {"fflags", "nobuffer"},
      {"flags", "low_delay"},
      // Enough to find a keyframe's size, not seconds of video.
      {"probesize", "1000000"},
      {"analyzeduration", "2000000"},
      {"rw_timeout", timeout_us},
  };
  if (scheme == "rtsp" || scheme == "rtsps") {
    open.demuxer_options.emplace_back("rtsp_transport", "tcp");  // no losses behind NAT or Wi-Fi
    open.demuxer_options.emplace_back("timeout", timeout_us);
  } else {
    open.demuxer_options.emplace_back("reconnect", "0");  // the supervisor reconnects
  }
  stopping_ = false;
  decoder_ =
      std::make_unique<VideoDecoder>(url_with_credentials(config_.url, config_.credentials), open);
  info_.width = decoder_->width();
  info_.height = decoder_->height();
  info_.fps = decoder_->frame_rate();
  info_.format = decoder_->likely_format();
  decoder_name_ = decoder_->decoder_name();
  log::info("source ", info_.name, ": ", info_.width, "x", info_.height, " ",
            decoder_name_ == "h264_v4l2m2m" ? "decoded by the V4L2 M2M hardware decoder"
                                            : "decoded in software (" + decoder_name_ + ")");
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    newest_.reset();
    error_.clear();
    ended_ = false;
  }
  sequence_ = 0;
  reader_ = std::thread([this] { read_loop(); });
}

void StreamSource::read_loop() {
  for (;;) {
    auto result = decoder_->next();
    if (stopping_) return;
    const std::lock_guard<std::mutex> lock(mutex_);
    if (result.kind == VideoDecoder::Result::Kind::Frame) {
      result.frame->sequence = sequence_++;
      stamp_now(*result.frame);
      if (newest_) ++replaced_;
      newest_ = std::move(result.frame);
    } else {
      error_ = result.kind == VideoDecoder::Result::Kind::End ? info_.name + ": the stream ended"
                                                              : result.error;
      ended_ = true;
    }
    changed_.notify_all();
    if (ended_) return;
  }
}

FrameResult StreamSource::next_frame(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!reader_.joinable()) return FrameResult::failure(info_.name + ": not started");
  changed_.wait_for(lock, timeout, [this] { return newest_ || ended_; });
  if (newest_) return FrameResult::ok(std::move(newest_));
  if (ended_) return FrameResult::failure(error_);
  return FrameResult::timeout();
}

void StreamSource::stop() {
  stopping_ = true;  // a blocking read gives up (FFmpeg's interrupt callback)
  if (reader_.joinable()) reader_.join();
  decoder_.reset();
  const std::lock_guard<std::mutex> lock(mutex_);
  newest_.reset();
}

SourceInfo StreamSource::info() const {
  return info_;
}

std::string StreamSource::decoder_name() const {
  return decoder_name_;
}

}  // namespace lookout
