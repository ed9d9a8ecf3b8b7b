// AutoSource (`source.type: auto`): the first camera that streams, else the
// synthetic source, switching to a camera that appears later.
//
// start() asks discovery (camera_discovery.hpp) for candidates and starts
// them in order; the first to deliver a frame within the frame timeout is
// kept, and that frame is the first one next_frame() returns. A candidate
// that fails to start or stays silent is stopped and the next one tried. With
// no camera, the synthetic source runs under the name "synthetic (no camera
// found)" and the devices are watched: the node list under /dev is read every
// `watch_interval`; a full rescan runs when it changes, and a V4L2-only one
// at a backoff (rescan_initial doubling to rescan_max), for nodes that were
// there but not ready. A rescan that finds a candidate
// not tried at the last start makes next_frame() report an Error, so the
// supervisor restarts this source and start() takes the camera: clients see a
// new hello with its name.
//
// Once a camera has run, auto behaves as that camera would: when it fails,
// start() looks for a camera again and throws SourceError when there is none
// (the supervisor retries with backoff). Falling back to made-up shapes after
// a real camera was seen would report detections of nothing.
//
// Ownership: owns the running inner source. Threads: one capture thread calls
// start/next_frame/stop (rescans run on it, between frames); info() on the
// same thread (the supervisor copies it).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "auto/camera_discovery.hpp"
#include "core/source_config.hpp"
#include "drivers/source.hpp"

namespace lookout {

struct AutoSourceOptions {
  // The machine's cameras; replaceable so tests can offer sources that run
  // here (files) as cameras that appear.
  std::function<discovery::Discovery(const SourceConfig&, bool ask_libcamera)> discover =
      [](const SourceConfig& config, bool ask_libcamera) {
        return discovery::discover(config, ask_libcamera);
      };
  // Cheap change detector for early rescans.
  std::function<std::vector<std::string>()> watch = [] { return discovery::capture_node_names(); };
  std::chrono::milliseconds watch_interval{2000};
  std::chrono::milliseconds rescan_initial{5000};
  std::chrono::milliseconds rescan_max{60000};
};

// The name AutoSource reports while it runs the synthetic fallback, and
// before its first start.
inline constexpr const char* kAutoFallbackName = "synthetic (no camera found)";
inline constexpr const char* kAutoUnstartedName = "auto (looking for a camera)";

class AutoSource final : public FrameSource {
 public:
  explicit AutoSource(const SourceConfig& config, AutoSourceOptions options = {});
  ~AutoSource() override;

  void start() override;
  FrameResult next_frame(std::chrono::milliseconds timeout) override;
  void stop() override;
  SourceInfo info() const override;

  // Whether the synthetic fallback runs (after start()).
  bool falling_back() const { return fallback_; }

 private:
  using Clock = std::chrono::steady_clock;
  // Starts the candidate and waits for its first frame; the reason on failure.
  std::string try_candidate(const discovery::Candidate& candidate);
  // Fallback only: whether a camera not tried at the last start has appeared.
  std::string camera_appeared();

  SourceConfig config_;
  AutoSourceOptions options_;
  std::unique_ptr<FrameSource> inner_;
  SourceInfo info_;
  FramePtr first_frame_;
  bool fallback_ = false;
  bool camera_seen_ = false;  // a camera has run since construction
  std::string last_summary_;  // of the last fallback, to log each new one once
  std::set<std::string> tried_;
  std::vector<std::string> watched_;
  Clock::time_point next_watch_{};
  Clock::time_point next_rescan_{};
  std::chrono::milliseconds rescan_delay_{0};
};

}  // namespace lookout
