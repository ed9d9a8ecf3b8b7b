#include <doctest/doctest.h>

#include "engine/engine.hpp"
#include "model_config.hpp"

using lookout::ModelError;
using lookout::engine::parse_model_config;

TEST_CASE("ultralytics' config.txt with names as a list") {
  const auto c = parse_model_config(
      R"({"shape": [1, 3, 640, 640], "stride": 32, "names": ["person", "bicycle"]})", "m.ts");
  CHECK(c.has_config);
  CHECK(c.task == lookout::Task::Detect);
  CHECK(c.shape == std::vector<int>{1, 3, 640, 640});
  CHECK(c.stride == 32);
  CHECK_FALSE(c.dynamic);
  CHECK(c.names == std::vector<std::string>{"person", "bicycle"});
  CHECK(c.pad_value == 114);
}

TEST_CASE("ultralytics' config.txt with names as a dict, in any key order") {
  const auto c = parse_model_config(
      R"({"shape": [1, 3, 320, 320], "stride": 32, "names": {"1": "bicycle", "0": "person"}})",
      "m.ts");
  CHECK(c.names == std::vector<std::string>{"person", "bicycle"});
}

TEST_CASE("models/ metadata") {
  const auto c = parse_model_config(R"({
      "task": "classify", "name": "mnist", "shape": [1, 1, 28, 28], "stride": 1,
      "dynamic": true, "names": ["0", "1"], "letterbox": {"pad": 0, "center": false},
      "anchors": [[10, 13]], "recipe": {"epochs": 4}})",
                                    "mnist.ts");
  CHECK(c.task == lookout::Task::Classify);
  CHECK(c.name == "mnist");
  CHECK(c.shape[1] == 1);
  CHECK(c.dynamic);
  CHECK(c.pad_value == 0);
  CHECK_FALSE(c.pad_center);
}

TEST_CASE("no config.txt gives defaults") {
  const auto c = parse_model_config("", "m.ts");
  CHECK_FALSE(c.has_config);
  CHECK(c.task == lookout::Task::Detect);
  CHECK(c.shape.empty());
  CHECK(c.names.empty());
}

TEST_CASE("bad metadata is refused naming the file and the key") {
  CHECK_THROWS_WITH_AS(parse_model_config("{shape: 1", "a.ts"),
                       doctest::Contains("a.ts: config.txt: not valid JSON"), ModelError);
  CHECK_THROWS_WITH_AS(parse_model_config("[1, 2]", "a.ts"),
                       doctest::Contains("expected a JSON object"), ModelError);
  CHECK_THROWS_WITH_AS(parse_model_config(R"({"shape": [1, 3, 640]})", "a.ts"),
                       doctest::Contains("\"shape\" must be [1, C, H, W]"), ModelError);
  CHECK_THROWS_WITH_AS(parse_model_config(R"({"shape": [2, 3, 64, 64]})", "a.ts"),
                       doctest::Contains("shape"), ModelError);
  CHECK_THROWS_WITH_AS(parse_model_config(R"({"task": "segment"})", "a.ts"),
                       doctest::Contains("\"task\": expected one of: detect, classify; got 'segment'"), ModelError);
  CHECK_THROWS_WITH_AS(parse_model_config(R"({"names": {"0": "a", "2": "c"}})", "a.ts"),
                       doctest::Contains("\"names\" key \"2\""), ModelError);
  CHECK_THROWS_WITH_AS(parse_model_config(R"({"names": [1, 2]})", "a.ts"),
                       doctest::Contains("\"names\" must hold strings"), ModelError);
  CHECK_THROWS_WITH_AS(parse_model_config(R"({"stride": 0})", "a.ts"),
                       doctest::Contains("\"stride\" must be positive"), ModelError);
  CHECK_THROWS_WITH_AS(
      parse_model_config(R"({"dynamic": true, "stride": 32, "shape": [1, 3, 100, 640]})", "a.ts"),
      doctest::Contains("not a multiple of its stride"), ModelError);
}
