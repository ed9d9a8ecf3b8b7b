// FilesSource: recorded frames for replay, demos and benchmarks.
//
// config.path names one of:
//   * a JPEG, PNG, PPM/PGM or BMP image: the same picture again and again
//     (decoded once);
//   * a directory: its images in name order (decoded one at a time; files
//     that are not images by their first bytes are skipped with one warning;
//     a file that fails to decode is a Corrupt result, each time it comes
//     round: skipped and counted by the pipeline, and the stream goes on);
//   * a video file (FFmpeg; with LOOKOUT_WITH_FFMPEG): its pictures in order.
// Images are told apart from videos by their first bytes, not their names.
// Frames keep their stored size (config width/height are ignored); images
// arrive as RGB24, videos as I420/NV12 when stored so (no copy), else RGB24.
// Pacing at config.fps (0 = as fast as they are taken); with config.loop the
// sequence starts over at the end, otherwise next_frame reports EndOfStream.
//
// Failures: start() throws SourceError naming the path (missing, empty
// directory, undecodable image, unreadable video). A file that disappears
// while running (directory removed, disk gone) makes next_frame return an
// Error, so the supervisor restarts the source once the files are back.
//
// Ownership: owns the decoded image cache and the video decoder. Threads: one
// capture thread calls everything; frames own their memory (or hold FFmpeg's
// reference) and may go anywhere.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/pacer.hpp"
#include "core/source_config.hpp"
#include "drivers/source.hpp"

namespace lookout {

class VideoDecoder;

class FilesSource final : public FrameSource {
 public:
  // Throws SourceError for an empty path or a format other than auto/RGB24.
  explicit FilesSource(const SourceConfig& config);
  ~FilesSource() override;

  void start() override;
  FrameResult next_frame(std::chrono::milliseconds timeout) override;
  void stop() override;
  SourceInfo info() const override;

 private:
  enum class Mode { None, Image, Directory, Video };

  void start_directory();
  void start_video();
  FrameResult next_from_directory();
  FrameResult next_from_video();
  FrameResult publish(std::shared_ptr<Frame> frame);
  std::shared_ptr<Frame> to_rgb_if_asked(std::shared_ptr<Frame> frame) const;

  SourceConfig config_;
  std::filesystem::path path_;
  Pacer pacer_;
  Mode mode_ = Mode::None;
  SourceInfo info_;
  std::uint64_t sequence_ = 0;

  FramePtr image_;                            // Mode::Image
  std::vector<std::filesystem::path> files_;  // Mode::Directory
  std::size_t next_index_ = 0;
  std::shared_ptr<Frame> first_;                       // decoded in start(), delivered first
  std::vector<std::string> undecodable_before_first_;  // found by start(), reported first
  std::size_t undecodable_in_a_row_ = 0;
  bool warned_skipped_ = false;
  std::unique_ptr<VideoDecoder> video_;  // Mode::Video
};

}  // namespace lookout
