#include "synthetic/synthetic_source.hpp"

#include <string>

#include "common/frame_util.hpp"

namespace lookout {

SyntheticSource::SyntheticSource(const SourceConfig& config)
    : config_(config), pacer_(config.realtime ? config.fps : 0) {
  if (config.width < synthetic::Scene::kMinSide || config.height < synthetic::Scene::kMinSide) {
    throw SourceError("synthetic source: size " + std::to_string(config.width) + "x" +
                      std::to_string(config.height) + " is too small (min 16x16)");
  }
  if (config.format && *config.format != PixelFormat::RGB24) {
    throw SourceError("synthetic source: delivers RGB24 only, not " +
                      std::string(to_string(*config.format)));
  }
}

void SyntheticSource::start() {
  scene_ = std::make_unique<synthetic::Scene>(config_.seed, config_.width, config_.height,
                                              config_.motion);
  sequence_ = 0;
  pacer_.reset();
}

FrameResult SyntheticSource::next_frame(std::chrono::milliseconds timeout) {
  if (!scene_) return FrameResult::failure("synthetic source: not started");
  if (!pacer_.wait(timeout)) return FrameResult::timeout();
  auto frame = Frame::allocate(PixelFormat::RGB24, config_.width, config_.height);
  scene_->render(frame->mutable_plane(0), frame->planes[0].stride, sequence_, frame->truth);
  frame->sequence = sequence_++;
  stamp_now(*frame);
  scene_->advance(config_.fps > 0 ? 1.0 / config_.fps : 0.1);
  pacer_.delivered();
  return FrameResult::ok(std::move(frame));
}

void SyntheticSource::stop() {
  scene_.reset();
}

SourceInfo SyntheticSource::info() const {
  return {"synthetic", config_.width, config_.height, config_.fps, PixelFormat::RGB24};
}

}  // namespace lookout
