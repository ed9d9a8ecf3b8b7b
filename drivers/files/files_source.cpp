#include "files/files_source.hpp"

#include <libyuv.h>

#include <algorithm>
#include <system_error>

#include "common/frame_util.hpp"
#include "core/log.hpp"
#include "drivers/image_decoder.hpp"
#if LOOKOUT_WITH_FFMPEG
#include "files/video_decoder.hpp"
#endif

namespace fs = std::filesystem;

namespace lookout {

#if !LOOKOUT_WITH_FFMPEG
// Only to give std::unique_ptr<VideoDecoder> a complete type to delete.
class VideoDecoder {};
#endif

FilesSource::FilesSource(const SourceConfig& config)
    : config_(config), path_(config.path), pacer_(config.fps) {
  if (config.path.empty()) throw SourceError("files source: no path given (source.path)");
  if (config.format && *config.format != PixelFormat::RGB24) {
    throw SourceError("files source: format must be auto or RGB24, not " +
                      std::string(to_string(*config.format)));
  }
  info_ = {"files:" + path_.string(), 0, 0, config.fps, PixelFormat::RGB24};
}

FilesSource::~FilesSource() = default;

void FilesSource::start() {
  stop();
  std::error_code error;
  const auto status = fs::status(path_, error);
  if (!fs::exists(status)) {
    throw SourceError("files source: " + path_.string() + " does not exist" +
                      (error && error != std::errc::no_such_file_or_directory
                           ? " (" + error.message() + ")"
                           : std::string()));
  }
  if (fs::is_directory(status)) {
    start_directory();
  } else if (sniff_image(path_) != ImageKind::Other) {
    auto frame = decode_image(path_);
    info_.width = frame->width;
    info_.height = frame->height;
    info_.format = frame->format;
    image_ = std::move(frame);
    mode_ = Mode::Image;
  } else {
    start_video();
  }
  sequence_ = 0;
  pacer_.reset();
}

void FilesSource::start_directory() {
  std::vector<fs::path> images;
  std::size_t skipped = 0;
  std::string skipped_example;
  std::error_code error;
  for (fs::directory_iterator it(path_, error), end; !error && it != end; it.increment(error)) {
    if (!it->is_regular_file(error)) continue;
    if (sniff_image(it->path()) == ImageKind::Other) {
      if (skipped++ == 0) skipped_example = it->path().filename().string();
      continue;
    }
    images.push_back(it->path());
  }
  if (error)
    throw SourceError("files source: cannot list " + path_.string() + ": " + error.message());
  if (images.empty()) {
    throw SourceError("files source: no JPEG, PNG, PPM/PGM or BMP images in " + path_.string());
  }
  if (skipped > 0 && !warned_skipped_) {
    warned_skipped_ = true;
    log::warning("files source: skipping ", skipped, " file", skipped == 1 ? "" : "s", " in ",
                 path_.string(), " that ", skipped == 1 ? "is" : "are",
                 " not images by their first bytes (e.g. ", skipped_example, ")");
  }
  std::sort(images.begin(), images.end());
  files_ = std::move(images);
  next_index_ = 0;
  mode_ = Mode::Directory;
  // Decode the first image now: it gives info() its size and catches an
  // unreadable directory before the pipeline starts. The files that fail on
  // the way are reported as corrupt frames first, so they are counted too.
  undecodable_before_first_.clear();
  for (std::size_t i = 0; i < files_.size() && !first_; ++i) {
    try {
      first_ = decode_image(files_[i]);
      next_index_ = i + 1;
    } catch (const ImageDecodeError& e) {
      undecodable_before_first_.push_back(e.what());
    }
  }
  if (!first_) throw SourceError("files source: no decodable images in " + path_.string());
  info_.width = first_->width;
  info_.height = first_->height;
  info_.format = PixelFormat::RGB24;
}

void FilesSource::start_video() {
#if LOOKOUT_WITH_FFMPEG
  video_ = std::make_unique<VideoDecoder>(path_);
  info_.width = video_->width();
  info_.height = video_->height();
  info_.format = config_.format ? PixelFormat::RGB24 : video_->likely_format();
  mode_ = Mode::Video;
#else
  throw SourceError("files source: " + path_.string() +
                    " is not a JPEG or PNG image (video files need a build with "
                    "LOOKOUT_WITH_FFMPEG)");
#endif
}

FrameResult FilesSource::next_frame(std::chrono::milliseconds timeout) {
  if (mode_ == Mode::None) return FrameResult::failure("files source: not started");
  if (!pacer_.wait(timeout)) return FrameResult::timeout();
  switch (mode_) {
    case Mode::Image: {
      if (!config_.loop && sequence_ > 0) return FrameResult::end_of_stream();
      const auto now_system = std::chrono::system_clock::now();
      const auto now_steady = std::chrono::steady_clock::now();
      pacer_.delivered();
      return FrameResult::ok(restamp(image_, sequence_++, now_system, now_steady));
    }
    case Mode::Directory:
      return next_from_directory();
    case Mode::Video:
      return next_from_video();
    case Mode::None:
      break;
  }
  return FrameResult::failure("files source: not started");
}

FrameResult FilesSource::next_from_directory() {
  if (!undecodable_before_first_.empty()) {
    std::string why = std::move(undecodable_before_first_.front());
    undecodable_before_first_.erase(undecodable_before_first_.begin());
    pacer_.delivered();
    return FrameResult::corrupt("files source: " + why);
  }
  if (first_) {
    undecodable_in_a_row_ = 0;
    return publish(std::move(first_));
  }
  if (next_index_ >= files_.size()) {
    if (!config_.loop) return FrameResult::end_of_stream();
    next_index_ = 0;
  }
  // A whole pass without a decodable image: the files changed under us;
  // the supervisor's restart rescans the directory.
  if (undecodable_in_a_row_ >= files_.size()) {
    return FrameResult::failure("files source: no decodable images left in " + path_.string());
  }
  const fs::path& file = files_[next_index_++];
  try {
    auto frame = decode_image(file);
    undecodable_in_a_row_ = 0;
    return publish(std::move(frame));
  } catch (const ImageReadError& e) {
    // The file vanished or the disk failed: let the supervisor restart us,
    // which rescans the directory.
    return FrameResult::failure(std::string("files source: ") + e.what());
  } catch (const ImageDecodeError& e) {
    // Skipped and counted (a frame's slot of the rate), and the stream goes on.
    ++undecodable_in_a_row_;
    pacer_.delivered();
    return FrameResult::corrupt(std::string("files source: ") + e.what());
  }
}

FrameResult FilesSource::next_from_video() {
#if LOOKOUT_WITH_FFMPEG
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto result = video_->next();
    switch (result.kind) {
      case VideoDecoder::Result::Kind::Frame:
        return publish(to_rgb_if_asked(std::move(result.frame)));
      case VideoDecoder::Result::Kind::Error:
        return FrameResult::failure("files source: " + result.error);
      case VideoDecoder::Result::Kind::End:
        if (!config_.loop || sequence_ == 0) return FrameResult::end_of_stream();
        // Reopening is the one rewind that works for every container.
        try {
          video_ = std::make_unique<VideoDecoder>(path_);
        } catch (const SourceError& e) {
          return FrameResult::failure(std::string("files source: ") + e.what());
        }
        break;
    }
  }
  return FrameResult::end_of_stream();
#else
  return FrameResult::failure("files source: video support not built");
#endif
}

std::shared_ptr<Frame> FilesSource::to_rgb_if_asked(std::shared_ptr<Frame> frame) const {
  if (config_.format != PixelFormat::RGB24 || frame->format == PixelFormat::RGB24) return frame;
  auto rgb = Frame::allocate(PixelFormat::RGB24, frame->width, frame->height);
  const auto& p = frame->planes;
  // libyuv's "RAW" is R,G,B in memory (its "RGB24" is B,G,R).
  if (frame->format == PixelFormat::I420) {
    libyuv::I420ToRAW(p[0].data, static_cast<int>(p[0].stride), p[1].data,
                      static_cast<int>(p[1].stride), p[2].data, static_cast<int>(p[2].stride),
                      rgb->mutable_plane(0), static_cast<int>(rgb->planes[0].stride), frame->width,
                      frame->height);
  } else if (frame->format == PixelFormat::NV12) {
    libyuv::NV12ToRAW(p[0].data, static_cast<int>(p[0].stride), p[1].data,
                      static_cast<int>(p[1].stride), rgb->mutable_plane(0),
                      static_cast<int>(rgb->planes[0].stride), frame->width, frame->height);
  } else {
    return frame;
  }
  return rgb;
}

FrameResult FilesSource::publish(std::shared_ptr<Frame> frame) {
  frame->sequence = sequence_++;
  stamp_now(*frame);
  pacer_.delivered();
  return FrameResult::ok(std::move(frame));
}

void FilesSource::stop() {
  mode_ = Mode::None;
  image_.reset();
  files_.clear();
  first_.reset();
  undecodable_before_first_.clear();
  undecodable_in_a_row_ = 0;
  video_.reset();
}

SourceInfo FilesSource::info() const {
  return info_;
}

}  // namespace lookout
