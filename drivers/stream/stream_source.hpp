// StreamSource: frames from an IP camera or streaming server (source.type:
// stream): RTSP (over TCP), HTTP MJPEG and HLS, through FFmpeg.
//
// Latency before completeness, as everywhere in the pipeline: FFmpeg is
// opened without demuxer buffering (nobuffer, low_delay, a short probe), and
// a reader thread of the source's own decodes continuously and keeps only the
// newest picture. A stream sent faster than inference runs is thinned here,
// instead of queueing in the socket and falling ever further behind.
//
// H.264 goes to the V4L2 memory-to-memory decoder where there is one (a Pi
// 4), and to FFmpeg's software decoder otherwise; start() logs which.
//
// Only this source fetches from the network, and only through the protocols
// its URL needs (FFmpeg's protocol whitelist: no file:, no other schemes a
// playlist could name). The URL's credentials come from
// source.credentials_file; logs and info().name show the URL without them.
//
// Failures: start() throws SourceError naming the (redacted) URL when the
// server cannot be reached or sends no video; a stream that ends or breaks
// makes next_frame() return an Error, and the supervisor reconnects with its
// backoff (a camera that reboots comes back by itself). Reads time out after
// source.frame_timeout_ms, so a server that goes silent is an error too.
//
// Ownership: owns its decoder (on the reader thread while running) and the
// newest picture. Threads: one capture thread calls start, next_frame, stop;
// the reader thread lives from start() to stop().
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/source_config.hpp"
#include "drivers/source.hpp"

namespace lookout {

class VideoDecoder;

class StreamSource final : public FrameSource {
 public:
  // Throws SourceError for a URL the configuration would refuse.
  explicit StreamSource(const SourceConfig& config);
  ~StreamSource() override;

  void start() override;
  FrameResult next_frame(std::chrono::milliseconds timeout) override;
  void stop() override;
  SourceInfo info() const override;

  // The decoder that ran ("h264_v4l2m2m", "h264", "mjpeg"); after start().
  std::string decoder_name() const;
  // Pictures decoded but replaced by a newer one before anyone took them.
  std::uint64_t replaced() const { return replaced_; }

 private:
  void read_loop();

  SourceConfig config_;
  std::string shown_url_;
  SourceInfo info_;
  std::string decoder_name_;
  std::unique_ptr<VideoDecoder> decoder_;  // the reader thread's while it runs
  std::thread reader_;
  std::atomic<bool> stopping_{false};

  std::mutex mutex_;  // guards newest_, error_, ended_
  std::condition_variable changed_;
  FramePtr newest_;
  std::string error_;
  bool ended_ = false;
  std::atomic<std::uint64_t> replaced_{0};
  std::uint64_t sequence_ = 0;  // reader thread
};

}  // namespace lookout
