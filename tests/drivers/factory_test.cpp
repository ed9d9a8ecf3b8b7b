#include "drivers/factory.hpp"

#include <algorithm>

#include <doctest/doctest.h>

namespace lookout {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_CASE("the factory builds each source type of this build") {
  SourceConfig config;
  config.type = "synthetic";
  auto synthetic = make_source(config);
  CHECK(synthetic->info().name == "synthetic");

  config.type = "files";
  config.path = "/nonexistent/lookout";
  auto files = make_source(config);  // no I/O until start()
  CHECK(files->info().name == "files:/nonexistent/lookout");

  const auto types = built_in_source_types();
  CHECK(has(types, "synthetic"));
  CHECK(has(types, "files"));
#if LOOKOUT_WITH_V4L2
  CHECK(has(types, "v4l2"));
  config.type = "v4l2";
  CHECK(make_source(config)->info().name == "v4l2:/dev/video0");
#else
  CHECK_FALSE(has(types, "v4l2"));
#endif
#if LOOKOUT_WITH_LIBCAMERA
  CHECK(has(types, "libcamera"));
  config.type = "libcamera";
  CHECK(make_source(config)->info().name.rfind("libcamera", 0) == 0);
#else
  CHECK_FALSE(has(types, "libcamera"));
#endif
}

TEST_CASE("unknown types and bad settings are clear errors") {
  SourceConfig config;
  config.type = "webcam";
  CHECK_THROWS_WITH_AS(make_source(config),
                       "unknown source type 'webcam' (known: synthetic, files, v4l2, libcamera)",
                       SourceError);
  config.type = "synthetic";
  config.fps = -1;
  CHECK_THROWS_WITH_AS(make_source(config), doctest::Contains("fps must be"), SourceError);
  config.fps = 10;
  config.format = "RGBA";
  CHECK_THROWS_WITH_AS(make_source(config), doctest::Contains("unknown pixel format 'RGBA'"),
                       SourceError);
  config.format = "auto";
  config.width = 8;
  CHECK_THROWS_WITH_AS(make_source(config), doctest::Contains("too small"), SourceError);
  config = SourceConfig{};
  config.type = "files";
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
