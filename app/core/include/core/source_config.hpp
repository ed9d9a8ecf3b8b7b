// SourceConfig: what the configuration says about the frame source. The
// configuration schema (app/config) reads it from the `source` section, row by
// row; drivers read it (drivers/factory.hpp builds the source it names).
// Defaults are the member initializers, which the schema documents and
// app/config/lookout.yaml must repeat (a test compares them).
//
// Plain data, copied freely.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/enum_names.hpp"
#include "core/frame.hpp"

namespace lookout {

// Auto: the first camera that streams (libcamera, then V4L2), else the
// synthetic source (drivers/auto/auto_source.hpp).
enum class SourceType { Synthetic, Files, V4l2, Libcamera, Stream, Auto };

template <>
struct EnumTable<SourceType> {
  static constexpr std::array<EnumName<SourceType>, 6> entries{{
      {SourceType::Synthetic, "synthetic"},
      {SourceType::Files, "files"},
      {SourceType::V4l2, "v4l2"},
      {SourceType::Libcamera, "libcamera"},
      {SourceType::Stream, "stream"},
      {SourceType::Auto, "auto"},
  }};
};

// How the synthetic source's objects move (models/SCENES.md, "Motion").
//   bounce   a fixed set of objects that bounce at the edges and off each other
//   traffic  objects enter through the frame edges, cross, occlude each other,
//            stop and start, and leave; identities are never re-used (for
//            tracking evaluation)
enum class SyntheticMotion { Bounce, Traffic };

template <>
struct EnumTable<SyntheticMotion> {
  static constexpr std::array<EnumName<SyntheticMotion>, 2> entries{{
      {SyntheticMotion::Bounce, "bounce"},
      {SyntheticMotion::Traffic, "traffic"},
  }};
};

// Cameras have a frame rate of their own; synthetic scenes and files may run
// unpaced (fps 0) and files keep their stored size (0 x 0).
constexpr bool is_camera(SourceType type) {
  return type == SourceType::V4l2 || type == SourceType::Libcamera || type == SourceType::Auto;
}

// The slowest frame rate a source takes: its period must fit a clock
// duration, and a synthetic scene must be steppable within one frame.
inline constexpr double kMinSourceFps = 0.01;

struct SourceConfig {
  SourceType type = SourceType::Synthetic;

  // Requested frame size and rate. Cameras pick the nearest mode they have;
  // files keep their own size (width/height 0 = as stored). fps 0 means "as
  // fast as frames are taken" (files and synthetic only; for benchmarks).
  int width = 640;
  int height = 480;
  double fps = 10.0;  // 0, or kMinSourceFps .. 1000 (the configuration refuses others)
  // Preferred pixel format; nullopt = "auto" (the driver chooses).
  std::optional<PixelFormat> format;

  // files: an image, a directory of images (sorted by name) or a video file.
  std::string path;
  bool loop = true;

  // synthetic: false = frames as fast as they are taken, each still one
  // 1/fps step of the scene's motion (tools that evaluate a sequence, such as
  // `lookout bench track`). Not a configuration key: lookoutd runs in real time.
  bool realtime = true;

  // synthetic: scenes per models/SCENES.md, deterministic by seed.
  std::uint64_t seed = 1;
  SyntheticMotion motion = SyntheticMotion::Bounce;

  // v4l2: device node.
  std::string device = "/dev/video0";

  // libcamera: camera index ("0") or id; empty = first camera.
  std::string camera;

  // stream: an IP camera's or server's URL (rtsp://, rtsps://, http(s)://
  // MJPEG or HLS), without credentials; those come from credentials_file
  // (its first line, "user:password"), resolved into `credentials`, which is
  // never logged, published or written back.
  std::string url;
  std::string credentials_file;
  std::string credentials;

  // Supervision: no frame within frame_timeout counts as a stall; a failed or
  // stalled source is restarted after a backoff that doubles from
  // backoff_initial up to backoff_max.
  std::chrono::milliseconds frame_timeout{3000};
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
};

}  // namespace lookout
