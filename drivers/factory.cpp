#include "drivers/factory.hpp"

#include <cmath>

#include "auto/auto_source.hpp"
#include "files/files_source.hpp"
#include "synthetic/synthetic_source.hpp"
#if LOOKOUT_WITH_FFMPEG
#include "stream/stream_source.hpp"
#endif
#if LOOKOUT_WITH_V4L2
#include "v4l2/v4l2_source.hpp"
#endif
#if LOOKOUT_WITH_LIBCAMERA
#include <libcamera/version.h>

#include "libcamera/libcamera_format.hpp"
#include "libcamera/libcamera_source.hpp"
#endif

namespace lookout {

namespace {

#if LOOKOUT_WITH_V4L2
constexpr bool kWithV4l2 = true;
#else
constexpr bool kWithV4l2 = false;
#endif
#if LOOKOUT_WITH_FFMPEG
constexpr bool kWithFfmpeg = true;
#else
constexpr bool kWithFfmpeg = false;
#endif
#if LOOKOUT_WITH_LIBCAMERA
constexpr bool kWithLibcamera = true;
#else
constexpr bool kWithLibcamera = false;
#endif

void check_common(const SourceConfig& config) {
  if (!std::isfinite(config.fps) || config.fps < 0) {
    throw SourceError("source: fps must be 0 (unpaced) or positive, got " +
                      std::to_string(config.fps));
  }
}

[[noreturn, maybe_unused]] void not_built(SourceType type, const char* option) {
  throw SourceError("source type '" + std::string(enum_name(type)) +
                    "' is not built into this lookout (" + option + "=OFF)");
}

}  // namespace

std::unique_ptr<FrameSource> make_source(const SourceConfig& config) {
  check_common(config);
  switch (config.type) {
    case SourceType::Synthetic:
      return std::make_unique<SyntheticSource>(config);
    case SourceType::Files:
      return std::make_unique<FilesSource>(config);
    case SourceType::V4l2:
#if LOOKOUT_WITH_V4L2
      return std::make_unique<V4l2Source>(config);
#else
      not_built(config.type, "LOOKOUT_WITH_V4L2");
#endif
    case SourceType::Libcamera:
#if LOOKOUT_WITH_LIBCAMERA
      return std::make_unique<LibcameraSource>(config);
#else
      not_built(config.type, "LOOKOUT_WITH_LIBCAMERA");
#endif
    case SourceType::Auto:
      return std::make_unique<AutoSource>(config);
    case SourceType::Stream:
#if LOOKOUT_WITH_FFMPEG
      return std::make_unique<StreamSource>(config);
#else
      not_built(config.type, "LOOKOUT_WITH_FFMPEG");
#endif
  }
  // Only a SourceType cast from a wrong integer gets here.
  throw SourceError("unknown source type " + std::to_string(static_cast<int>(config.type)));
}

std::unique_ptr<SupervisedSource> make_supervised_source(const SourceConfig& config) {
  return std::make_unique<SupervisedSource>(make_source(config), SupervisorOptions::from(config));
}

std::vector<std::string> source_warnings(const SourceConfig& config) {
  std::vector<std::string> out;
#if LOOKOUT_WITH_LIBCAMERA
  if (config.type == SourceType::Libcamera) {
    const int version =
        LIBCAMERA_VERSION_MAJOR * 10000 + LIBCAMERA_VERSION_MINOR * 100 + LIBCAMERA_VERSION_PATCH;
    const std::string pi5 = lc::pi5_camera_advice(lc::board_model(), version);
    if (!pi5.empty()) out.push_back("source.type libcamera: " + pi5);
  }
#else
  (void)config;
#endif
  return out;
}

bool built_in(SourceType type) {
  switch (type) {
    case SourceType::Synthetic:
    case SourceType::Files:
    case SourceType::Auto:
      return true;
    case SourceType::V4l2:
      return kWithV4l2;
    case SourceType::Libcamera:
      return kWithLibcamera;
    case SourceType::Stream:
      return kWithFfmpeg;
  }
  return false;
}

std::vector<SourceType> built_in_source_types() {
  std::vector<SourceType> types;
  for (const auto& entry : EnumTable<SourceType>::entries) {
    if (built_in(entry.value)) types.push_back(entry.value);
  }
  return types;
}

}  // namespace lookout
