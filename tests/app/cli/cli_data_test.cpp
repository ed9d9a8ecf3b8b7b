// `lookout` on the real yolov5n weights, images and the MNIST classifier.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "app/engine/test_util.hpp"

namespace t = lookout::test;
using nlohmann::json;

namespace {

t::ProcessResult lookout_cli(const std::string& args) {
  return t::run_command(t::quote(LOOKOUT_CLI) + " " + args);
}

}  // namespace

TEST_CASE("lookout detect on bus.jpg finds the bus and the people") {
  const auto r = lookout_cli("detect --model " + t::quote(t::data_model("yolov5n.torchscript").string()) +
                             " " + t::quote(t::shared_image("bus.jpg").string()));
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out);
  CHECK(j["width"] == 810);
  CHECK(j["height"] == 1080);
  int bus = 0, person = 0;
  for (const auto& d : j["detections"]) {
    bus += d["class"] == "bus";
    person += d["class"] == "person";
    CHECK(d["box"][2].get<double>() <= 810);
    CHECK(d["box"][3].get<double>() <= 1080);
  }
  CHECK(bus == 1);
  CHECK(person >= 3);
}

TEST_CASE("lookout model inspect on yolov5n reports ultralytics' own figures") {
  const auto r = lookout_cli("model inspect --json " +
                             t::quote(t::data_model("yolov5n_ultralytics.torchscript").string()));
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out);
  CHECK(j["parameters"] == 1867405);  // after Conv+BN fusion, as ultralytics reports it
  CHECK(j["output_shape"] == json::array({1, 25200, 85}));
  CHECK(j["classes"].size() == 80);
  CHECK(j["operators"]["aten::_convolution"] == 60);
}

TEST_CASE("lookout classify on MNIST digits") {
  const auto labels = json::parse(t::read_text(t::data_model("digits/labels.json")));
  std::string args;
  for (const auto& [path, label] : labels.items()) args += " " + t::quote(path);
  const auto r = lookout_cli("classify --model " + t::quote(t::data_model("mnist.torchscript").string()) +
                             " -k 1" + args);
  REQUIRE(r.exit_code == 0);
  std::istringstream in(r.out);
  std::string line;
  int right = 0, total = 0;
  while (std::getline(in, line)) {
    const json j = json::parse(line);
    right += j["classes"][0]["class_id"] == labels[j["image"].get<std::string>()];
    ++total;
  }
  CHECK(total == static_cast<int>(labels.size()));
  CHECK(right >= total - 2);
}
