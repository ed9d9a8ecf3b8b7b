// SyntheticSource: generated "shapes" scenes (synthetic/scene.hpp) with moving
// objects, deterministic by seed, each frame carrying its ground truth (boxes
// with object ids and visibility). For tests that score the whole pipeline,
// for tracker evaluation and for the out-of-the-box demo. config.motion picks
// the motion (models/SCENES.md, "Motion"): bounce (a fixed object set) or
// traffic (objects enter, cross, halt and leave; ids never re-used).
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
#include "core/source_config.hpp"
#include "drivers/source.hpp"
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
