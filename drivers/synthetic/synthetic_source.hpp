// SyntheticSource: generated "shapes" scenes (synthetic/scene.hpp) with moving
// objects, deterministic by seed, each frame carrying its ground-truth boxes.
// For tests that score the whole pipeline and for the out-of-the-box demo.
//
// Delivers RGB24 frames of the configured size, paced at the configured fps
// (0 = as fast as they are taken). Motion advances 1/fps seconds per frame
// (1/10 s when unpaced), so frame n shows the same scene for the same seed,
// size and fps whatever the consumer's speed. A restart begins the scene anew.
//
// Ownership: owns its scene. Threads: one capture thread calls everything;
// frames own their pixels and may go anywhere.
#pragma once

#include <memory>

#include "common/pacer.hpp"
#include "drivers/source.hpp"
#include "core/source_config.hpp"
#include "synthetic/scene.hpp"

namespace lookout {

class SyntheticSource final : public FrameSource {
 public:
  // Throws SourceError for a size below 16x16 or a format other than
  // auto/RGB24.
  explicit SyntheticSource(const SourceConfig& config);

  void start() override;
  FrameResult next_frame(std::chrono::milliseconds timeout) override;
  void stop() override;
  SourceInfo info() const override;

 private:
  SourceConfig config_;
  Pacer pacer_;
  std::unique_ptr<synthetic::Scene> scene_;
  std::uint64_t sequence_ = 0;
};

}  // namespace lookout
