// SourceConfig: what the configuration file says about the frame source.
// The daemon's YAML loader fills it (app/core/config.cpp); drivers read it.
// Plain data, copied freely.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace lookout {

struct SourceConfig {
  // "synthetic", "files", "v4l2" or "libcamera".
  std::string type = "synthetic";

  // Requested frame size and rate. Cameras pick the nearest mode they have;
  // files keep their own size (width/height 0 = as stored). fps 0 means "as
  // fast as frames are taken" (files and synthetic only; for benchmarks).
  int width = 640;
  int height = 480;
  double fps = 10.0;
  // Preferred pixel format name (see PixelFormat), or "auto".
  std::string format = "auto";

  // files: an image, a directory of images (sorted by name) or a video file.
  std::string path;
  bool loop = true;

  // synthetic: scenes per models/SCENES.md, deterministic by seed.
  std::uint64_t seed = 1;

  // v4l2: device node.
  std::string device = "/dev/video0";

  // libcamera: camera index ("0") or id; empty = first camera.
  std::string camera;

  // Supervision: no frame within frame_timeout counts as a stall; a failed or
  // stalled source is restarted after a backoff that doubles from
  // backoff_initial up to backoff_max.
  std::chrono::milliseconds frame_timeout{3000};
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
};

}  // namespace lookout
