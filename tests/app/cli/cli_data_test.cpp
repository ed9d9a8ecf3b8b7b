// `lookout` on the real yolov5n weights, images and the MNIST classifier.
#include <map>

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
  const auto r =
      lookout_cli("detect --model " + t::quote(t::data_model("yolov5n.torchscript").string()) +
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

TEST_CASE(
    "lookout model inspect --layers draws yolov5n as ultralytics' yaml: backbone, head, Detect") {
  // Our export (its config.txt names the sections) at ultralytics' 640.
  const auto r = lookout_cli("model inspect --layers --json --imgsz 640 " +
                             t::quote(t::data_model("yolov5n.torchscript").string()));
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out)["layers"];
  CHECK(j["parameters"] == 1867405);
  // ultralytics reports 4.5 GFLOPs at 640 (2 per multiply-accumulate).
  CHECK(j["gflops"].get<double>() > 4.4);
  CHECK(j["gflops"].get<double>() < 4.6);
  CHECK(j["input_shape"] == json::array({1, 3, 640, 640}));
  std::int64_t parameters = 0, macs = 0;
  int convolutions = 0;
  for (const auto& l : j["layers"]) {
    parameters += l["parameters"].get<std::int64_t>();
    macs += l["macs"].get<std::int64_t>();
    if (l["op"] != "aten::_convolution") continue;
    ++convolutions;
    CHECK(l["attributes"]["channels"].get<std::string>().find(" -> ") != std::string::npos);
    REQUIRE(l["output_shapes"].size() == 1);
    CHECK(l["output_shapes"][0].size() == 4);
  }
  CHECK(parameters == 1867405);
  CHECK(macs == j["macs"]);
  CHECK(convolutions == 60);
  // 85 layers of the traced body and the 76 operators of the scripted
  // decoding; 25 blocks: backbone, head, 8 C3 with their 11 Bottlenecks,
  // SPPF and its max-pool (run three times), Detect and its decoding.
  CHECK(j["layers"].size() == 161);
  CHECK(j["blocks"].size() == 25);
  std::map<std::string, int> types;
  std::map<std::string, std::string> parents;
  const json& blocks = j["blocks"];
  for (const auto& b : blocks) {
    ++types[b["type"].get<std::string>()];
    const int parent = b["parent"];
    parents[b["name"]] =
        parent < 0 ? "" : blocks[static_cast<std::size_t>(parent)]["name"].get<std::string>();
  }
  CHECK(types["C3"] == 8);  // model.2, 4, 6, 8 (backbone); 13, 17, 20, 23 (head)
  CHECK(types["Bottleneck"] == 7 + 4);
  CHECK(types["SPPF"] == 1);
  CHECK(types["Detect"] == 1);
  CHECK(parents["model.2"] == "backbone");
  CHECK(parents["model.9"] == "backbone");
  CHECK(parents["model.13"] == "head");
  CHECK(parents["model.24"] == "head");
  CHECK(parents["backbone"] == "");
  // The stem's output at 640: 16 channels at half the size.
  CHECK(j["layers"][0]["name"] == "model.0.conv");
  CHECK(j["layers"][0]["output_shapes"][0] == json::array({1, 16, 320, 320}));
}

TEST_CASE(
    "lookout model compare on yolov5n: two backends agree; ultralytics' fixed-size export nearly") {
  const std::string ours = t::quote(t::data_model("yolov5n.torchscript").string());
  const std::string images = " --images " + t::quote(t::shared_image("bus.jpg").string()) + " " +
                             t::quote(t::shared_image("zidane.jpg").string());
  // One file, two backends: the same objects, scores within float noise.
  auto r =
      lookout_cli("model compare " + ours + " " + ours +
                  " --imgsz 640 --backend onednn --backend-b xnnpack --runs 1 --json" + images);
  REQUIRE(r.exit_code == 0);
  json j = json::parse(r.out);
  CHECK(j["a"]["parameters"] == 1867405);
  CHECK(j["detections"]["compared"] == 2);
  CHECK(j["detections"]["a"].get<int>() >= 6);  // the bus, people, a tie
  CHECK(j["detections"]["agreement"].get<double>() >= 0.95);
  CHECK(j["detections"]["max_score_delta"].get<double>() < 0.01);
  for (const auto& l : j["layers"]) CHECK((!l["a_ms"].is_null() && !l["b_ms"].is_null()));

  // Ours fits each image (640x480 for bus.jpg, 640x384 for zidane.jpg);
  // ultralytics' export is traced at 640x640. Most objects agree, not all
  // scores: this is what compare is for.
  r = lookout_cli("model compare " + ours + " " +
                  t::quote(t::data_model("yolov5n_ultralytics.torchscript").string()) +
                  " --imgsz 640 --runs 1 --json" + images);
  REQUIRE(r.exit_code == 0);
  j = json::parse(r.out);
  CHECK(j["b"]["parameters"] == 1867405);
  CHECK(j["a"]["dynamic"] == true);
  CHECK(j["b"]["dynamic"] == false);
  CHECK(j["detections"]["matched"].get<int>() >= 6);
  CHECK(j["detections"]["agreement"].get<double>() >= 0.85);
  // Their layers differ where the exports do (the decoding): unpaired rows.
  bool unpaired = false;
  for (const auto& l : j["layers"])
    unpaired = unpaired || l["a_ms"].is_null() || l["b_ms"].is_null();
  CHECK(unpaired);
}

TEST_CASE("lookout classify on MNIST digits") {
  const auto labels = json::parse(t::read_text(t::data_model("digits/labels.json")));
  std::string args;
  for (const auto& [path, label] : labels.items()) args += " " + t::quote(path);
  const auto r = lookout_cli(
      "classify --model " + t::quote(t::data_model("mnist.torchscript").string()) + " -k 1" + args);
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
