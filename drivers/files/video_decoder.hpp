// VideoDecoder: frames of a video file through FFmpeg (libavformat +
// libavcodec from Debian). Built only with LOOKOUT_WITH_FFMPEG.
//
// Output: YUV 4:2:0 (limited range, even size) and NV12 are published without
// a copy as I420/NV12 frames that hold a reference to FFmpeg's frame buffer;
// every other layout (full-range "yuvj" from MJPEG, 4:2:2, RGB, odd sizes) is
// converted to RGB24 with swscale.
//
// Ownership: owns the demuxer, decoder and scaler contexts (FFmpeg owners from
// files/ffmpeg_util.hpp, so a constructor that throws halfway frees what it
// had opened); frames it returns keep their own reference to the decoded
// picture. Threads: one caller.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/frame.hpp"
#include "files/ffmpeg_util.hpp"

namespace lookout {

class VideoDecoder {
 public:
  // How an input other than a local file is opened (the stream source).
  struct OpenOptions {
    std::string protocols = "file";  // FFmpeg's protocol_whitelist, for everything opened
    std::vector<std::pair<std::string, std::string>> demuxer_options;
    std::string shown_name;  // how messages name the input (a URL without credentials)
    // Once set, blocking reads and connects give up (FFmpeg's interrupt
    // callback); the flag must outlive the decoder.
    const std::atomic<bool>* interrupt = nullptr;
    // H.264 through the V4L2 memory-to-memory decoder where there is one (a
    // Pi 4's), software otherwise.
    bool prefer_hardware = false;
  };

  // Opens the file and its best video stream. Throws SourceError naming the
  // file when it cannot be opened or holds no decodable video.
  explicit VideoDecoder(const std::filesystem::path& path);
  // The same for `input` (a URL) under `options`.
  VideoDecoder(const std::string& input, const OpenOptions& options);
  VideoDecoder(const VideoDecoder&) = delete;
  VideoDecoder& operator=(const VideoDecoder&) = delete;

  struct Result {
    enum class Kind { Frame, End, Error } kind = Kind::End;
    std::shared_ptr<Frame> frame;  // Kind::Frame: sequence and times unset
    std::string error;             // Kind::Error
  };
  // Decodes the next picture. Corrupt packets are skipped (counted).
  Result next();

  int width() const { return width_; }
  int height() const { return height_; }
  double frame_rate() const { return frame_rate_; }  // as stored; 0 if unknown
  // The pixel format frames will most likely have (from the stream header).
  PixelFormat likely_format() const { return likely_format_; }
  std::uint64_t skipped_packets() const { return skipped_packets_; }
  // The decoder that runs ("h264", "h264_v4l2m2m", "mjpeg", ...).
  const std::string& decoder_name() const { return decoder_name_; }

 private:
  std::shared_ptr<Frame> publish(const AVFrame& decoded);
  std::string describe(int error) const;

  std::string name_;  // for messages
  std::string decoder_name_;
  // Declared in the order they are created; destroyed in reverse (the codec
  // before the demuxer whose stream it decodes).
  ffmpeg::FormatContextPtr format_;
  ffmpeg::CodecContextPtr codec_;
  ffmpeg::PacketPtr packet_;
  ffmpeg::AvFramePtr decoded_;
  ffmpeg::ScalerPtr scaler_;
  int stream_ = -1;
  bool draining_ = false;
  int width_ = 0;
  int height_ = 0;
  double frame_rate_ = 0;
  PixelFormat likely_format_ = PixelFormat::RGB24;
  std::uint64_t skipped_packets_ = 0;
};

}  // namespace lookout
