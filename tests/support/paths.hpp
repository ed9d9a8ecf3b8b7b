// Where tests find the source tree, the build tree, ../shared and python.
#pragma once

#include <filesystem>
#include <string>

namespace lookout::test {

inline std::filesystem::path source_dir() { return LOOKOUT_SOURCE_DIR; }
inline std::filesystem::path binary_dir() { return LOOKOUT_BINARY_DIR; }
inline std::filesystem::path shared_data_dir() {
  return std::filesystem::path(LOOKOUT_SHARED_DIR) / "data";
}
inline bool shared_data_available() {
  return std::filesystem::exists(shared_data_dir() / "yolov5" / "yolov5n.pt");
}
inline std::string python() { return LOOKOUT_PYTHON; }

// The model the project ships (models/default), used by most engine tests.
inline std::filesystem::path default_model() {
  return source_dir() / "models" / "default" / "shapes.torchscript";
}

}  // namespace lookout::test
