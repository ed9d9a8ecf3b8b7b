#include "drivers/factory.hpp"

#include <algorithm>

#include <doctest/doctest.h>

namespace lookout {
namespace {

bool has(const std::vector<SourceType>& v, SourceType t) {
  return std::find(v.begin(), v.end(), t) != v.end();
}

TEST_CASE("the factory builds each source type of this build") {
  SourceConfig config;
  config.type = SourceType::Synthetic;
  auto synthetic = make_source(config);
  CHECK(synthetic->info().name == "synthetic");

  config.type = SourceType::Files;
  config.path = "/nonexistent/lookout";
  auto files = make_source(config);  // no I/O until start()
  CHECK(files->info().name == "files:/nonexistent/lookout");

  const auto types = built_in_source_types();
  CHECK(has(types, SourceType::Synthetic));
  CHECK(has(types, SourceType::Files));
#if LOOKOUT_WITH_V4L2
  CHECK(has(types, SourceType::V4l2));
  config.type = SourceType::V4l2;
  CHECK(make_source(config)->info().name == "v4l2:/dev/video0");
#else
  CHECK_FALSE(has(types, SourceType::V4l2));
  config.type = SourceType::V4l2;
  CHECK_THROWS_WITH_AS(make_source(config),
                       "source type 'v4l2' is not built into this lookout (LOOKOUT_WITH_V4L2=OFF)",
                       SourceError);
#endif
#if LOOKOUT_WITH_LIBCAMERA
  CHECK(has(types, SourceType::Libcamera));
  config.type = SourceType::Libcamera;
  CHECK(make_source(config)->info().name.rfind("libcamera", 0) == 0);
#else
  CHECK_FALSE(has(types, SourceType::Libcamera));
#endif
}

TEST_CASE("bad settings are clear errors") {
  SourceConfig config;
  config.type = static_cast<SourceType>(99);  // no such value: refused, not undefined
  CHECK_THROWS_AS(make_source(config), SourceError);
  config.type = SourceType::Synthetic;
  config.fps = -1;
  CHECK_THROWS_WITH_AS(make_source(config), doctest::Contains("fps must be"), SourceError);
  config.fps = 10;
  config.format = PixelFormat::I420;
  CHECK_THROWS_WITH_AS(make_source(config), doctest::Contains("delivers RGB24 only, not I420"),
                       SourceError);
  config.format.reset();
  config.width = 8;
  CHECK_THROWS_WITH_AS(make_source(config), doctest::Contains("too small"), SourceError);
  config = SourceConfig{};
  config.type = SourceType::Files;
  CHECK_THROWS_WITH_AS(make_source(config), doctest::Contains("no path given"), SourceError);
}

TEST_CASE("the supervised source takes the config's timeout and backoff") {
  SourceConfig config;
  config.backoff_initial = std::chrono::milliseconds(40000);  // above backoff_max
  CHECK_THROWS_WITH_AS(make_supervised_source(config), doctest::Contains("backoff_initial"),
                       SourceError);
  config = SourceConfig{};
  auto source = make_supervised_source(config);
  CHECK(source->health().state == SourceHealth::State::Stopped);
  CHECK(source->health().name == "synthetic");
}

}  // namespace
}  // namespace lookout
