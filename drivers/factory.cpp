#include "drivers/factory.hpp"

#include <cmath>

#include "files/files_source.hpp"
#include "synthetic/synthetic_source.hpp"
#if LOOKOUT_WITH_V4L2
#include "v4l2/v4l2_source.hpp"
#endif
#if LOOKOUT_WITH_LIBCAMERA
#include "libcamera/libcamera_source.hpp"
#endif

namespace lookout {

namespace {

const char* const kAllTypes = "synthetic, files, v4l2, libcamera";

void check_common(const SourceConfig& config) {
  if (!std::isfinite(config.fps) || config.fps < 0) {
    throw SourceError("source: fps must be 0 (unpaced) or positive, got " +
                      std::to_string(config.fps));
  }
  if (config.format != "auto" && !pixel_format_from_string(config.format)) {
    throw SourceError("source: unknown pixel format '" + config.format +
                      "' (auto, RGB24, BGR24, I420, NV12, YUYV, GRAY8, MJPEG)");
  }
}

[[noreturn, maybe_unused]] void not_built(const std::string& type, const char* option) {
  throw SourceError("source type '" + type + "' is not built into this lookout (" + option +
                    "=OFF)");
}

}  // namespace

std::unique_ptr<FrameSource> make_source(const SourceConfig& config) {
  check_common(config);
  if (config.type == "synthetic") return std::make_unique<SyntheticSource>(config);
  if (config.type == "files") return std::make_unique<FilesSource>(config);
  if (config.type == "v4l2") {
#if LOOKOUT_WITH_V4L2
    return std::make_unique<V4l2Source>(config);
#else
    not_built(config.type, "LOOKOUT_WITH_V4L2");
#endif
  }
  if (config.type == "libcamera") {
#if LOOKOUT_WITH_LIBCAMERA
    return std::make_unique<LibcameraSource>(config);
#else
    not_built(config.type, "LOOKOUT_WITH_LIBCAMERA");
#endif
  }
  throw SourceError("unknown source type '" + config.type + "' (known: " + kAllTypes + ")");
}

std::unique_ptr<SupervisedSource> make_supervised_source(const SourceConfig& config) {
  return std::make_unique<SupervisedSource>(make_source(config), SupervisorOptions::from(config));
}

std::vector<std::string> built_in_source_types() {
  std::vector<std::string> types{"synthetic", "files"};
#if LOOKOUT_WITH_V4L2
  types.emplace_back("v4l2");
#endif
#if LOOKOUT_WITH_LIBCAMERA
  types.emplace_back("libcamera");
#endif
  return types;
}

}  // namespace lookout
