// The real `lookout` executable, run as a process, on the toy models.
#include <sstream>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "app/engine/test_util.hpp"
#include "image_io.hpp"
#include "picture/image.hpp"

namespace t = lookout::test;
using nlohmann::json;

namespace {

t::ProcessResult lookout_cli(const std::string& args) {
  return t::run_command(t::quote(LOOKOUT_CLI) + " " + args);
}

std::vector<json> json_lines(const std::string& out) {
  std::vector<json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(json::parse(line));
  }
  return lines;
}

// 320x240 black with a white block that covers four 32 px cells of the toy
// detector (see tests/app/engine/engine_test.cpp).
std::string write_scene(const std::filesystem::path& dir) {
  lookout::picture::RgbImage image{320, 240, std::vector<std::uint8_t>(320 * 240 * 3, 0)};
  for (int y = 56; y < 120; ++y) {
    for (int x = 64; x < 128; ++x) {
      for (int c = 0; c < 3; ++c)
        image.pixels[(static_cast<std::size_t>(y) * 320 + x) * 3 + c] = 255;
    }
  }
  const auto path = (dir / "scene.jpg").string();
  lookout::cli::write_jpeg(path, image, 100);
  return path;
}

std::string model(const char* name) {
  return t::quote(t::toy_model(name).string());
}

}  // namespace

TEST_CASE("lookout detect prints one JSON line per image with boxes in image pixels") {
  const auto dir = t::scratch_dir("cli-detect");
  const std::string image = write_scene(dir);
  const auto r =
      lookout_cli("detect --model " + model("cells.torchscript") + " " + t::quote(image));
  REQUIRE(r.exit_code == 0);
  const auto lines = json_lines(r.out);
  REQUIRE(lines.size() == 1);
  const json& j = lines[0];
  CHECK(j["image"] == image);
  CHECK(j["width"] == 320);
  CHECK(j["height"] == 240);
  REQUIRE(j["detections"].size() == 4);
  const json& d = j["detections"][0];
  CHECK(d["class"] == "warm");
  CHECK(d["class_id"] == 0);
  CHECK(d["score"].get<double>() > 0.95);
  CHECK(d["box"][0].get<double>() == doctest::Approx(64).epsilon(0.01));
  CHECK(d["box"][1].get<double>() == doctest::Approx(56).epsilon(0.01));
  CHECK(d["box"][2].get<double>() == doctest::Approx(96).epsilon(0.01));
  CHECK(d["box"][3].get<double>() == doctest::Approx(88).epsilon(0.01));
  for (const char* stage : {"decode", "preprocess", "forward", "postprocess", "total"}) {
    CHECK(j["timing_ms"][stage].get<double>() >= 0);
  }
}

TEST_CASE("lookout detect options: thresholds, classes, several images, bad ones") {
  const auto dir = t::scratch_dir("cli-detect-options");
  const std::string image = write_scene(dir);
  auto r = lookout_cli("detect --model " + model("cells.torchscript") + " --classes cool " +
                       t::quote(image));
  REQUIRE(r.exit_code == 0);
  CHECK(json_lines(r.out)[0]["detections"].empty());
  r = lookout_cli("detect --model " + model("cells.torchscript") + " --classes 0 --conf 0.5 " +
                  t::quote(image) + " " + t::quote(image));
  REQUIRE(r.exit_code == 0);
  CHECK(json_lines(r.out).size() == 2);
  CHECK(json_lines(r.out)[1]["detections"].size() == 4);
  // An unknown class name is a usage error.
  r = lookout_cli("detect --model " + model("cells.torchscript") + " --classes dog " +
                  t::quote(image) + " 2>&1");
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("\"dog\" is neither a class name nor an id") != std::string::npos);
  // A broken image gets an error line; the others still run; exit 1.
  std::ofstream(dir / "broken.jpg") << "not an image";
  r = lookout_cli("detect --model " + model("cells.torchscript") + " " +
                  t::quote((dir / "broken.jpg").string()) + " " + t::quote(image) + " 2>/dev/null");
  CHECK(r.exit_code == 1);
  const auto lines = json_lines(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["error"].get<std::string>().find("not a JPEG, PNG") != std::string::npos);
  CHECK(lines[1]["detections"].size() == 4);
  // Images are read and prepared one ahead: bad ones in between keep their
  // place, and the ones after them still run.
  r = lookout_cli("detect --model " + model("cells.torchscript") + " " + t::quote(image) + " " +
                  t::quote((dir / "broken.jpg").string()) + " " +
                  t::quote((dir / "missing.jpg").string()) + " " + t::quote(image) + " " +
                  t::quote(image) + " 2>/dev/null");
  CHECK(r.exit_code == 1);
  const auto five = json_lines(r.out);
  REQUIRE(five.size() == 5);
  CHECK(five[0]["detections"].size() == 4);
  CHECK(five[1]["image"] == (dir / "broken.jpg").string());
  CHECK(five[1]["error"].get<std::string>().find("not a JPEG, PNG") != std::string::npos);
  CHECK(five[2]["image"] == (dir / "missing.jpg").string());
  CHECK(five[2].contains("error"));
  CHECK(five[3]["detections"].size() == 4);
  CHECK(five[4]["detections"].size() == 4);
}

TEST_CASE("lookout detect --save draws the boxes and labels") {
  const auto dir = t::scratch_dir("cli-save");
  const std::string image = write_scene(dir);
  const auto out = (dir / "out.jpg").string();
  const auto r = lookout_cli("detect --model " + model("cells.torchscript") + " --save " +
                             t::quote(out) + " " + t::quote(image));
  REQUIRE(r.exit_code == 0);
  const auto saved = lookout::picture::to_rgb(*lookout::cli::read_image(out));
  REQUIRE(saved.width == 320);
  REQUIRE(saved.height == 240);
  // The label background (class 0's colour, a strong red) sits above the
  // first box, where the input image is black.
  const std::uint8_t* p = &saved.pixels[(static_cast<std::size_t>(50) * 320 + 70) * 3];
  CHECK(p[0] > 150);
  // Several images go into a directory, one file each.
  const auto many = dir / "many";
  REQUIRE(lookout_cli("detect --model " + model("cells.torchscript") + " --save " +
                      t::quote(many.string()) + " " + t::quote(image) + " " + t::quote(image) +
                      " >/dev/null")
              .exit_code == 0);
  CHECK(std::filesystem::exists(many / "scene.jpg"));
}

TEST_CASE("unusable models exit 2 with the reason") {
  const auto dir = t::scratch_dir("cli-bad-model");
  const std::string image = write_scene(dir);
  for (const char* file :
       {"empty.torchscript", "truncated.torchscript", "wrong_output.torchscript"}) {
    CAPTURE(file);
    const auto r = lookout_cli("detect --model " + model(file) + " " + t::quote(image) + " 2>&1");
    CHECK(r.exit_code == 2);
    CHECK(r.out.find("model error: " + t::toy_model(file).string()) != std::string::npos);
  }
  CHECK(lookout_cli("detect --model /nonexistent.torchscript x.jpg 2>/dev/null").exit_code != 0);
  // A detector is not a classifier.
  const auto r = lookout_cli("classify --model " + model("cells.torchscript") + " " +
                             t::quote(image) + " 2>&1");
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("use `lookout detect`") != std::string::npos);
}

TEST_CASE("lookout classify prints the top classes") {
  const auto dir = t::scratch_dir("cli-classify");
  const std::string image = write_scene(dir);  // mostly dark
  const auto r = lookout_cli("classify --model " + model("brightness.torchscript") + " -k 2 " +
                             t::quote(image));
  REQUIRE(r.exit_code == 0);
  const json j = json_lines(r.out).at(0);
  REQUIRE(j["classes"].size() == 2);
  CHECK(j["classes"][0]["class"] == "dark");
  CHECK(j["classes"][0]["score"].get<double>() > j["classes"][1]["score"].get<double>());
}

TEST_CASE("lookout model inspect: metadata, shapes, operators, graph, dot") {
  const auto dir = t::scratch_dir("cli-inspect");
  auto r = lookout_cli("model inspect " + model("cells.torchscript"));
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("task:        detect") != std::string::npos);
  CHECK(r.out.find("input:       [1, 3, 256, 320] (any multiple of the stride)") !=
        std::string::npos);
  CHECK(r.out.find("output:      [1, 80, 7]") != std::string::npos);
  CHECK(r.out.find("aten::avg_pool2d") != std::string::npos);

  const auto dot = (dir / "model.dot").string();
  r = lookout_cli("model inspect --json --graph --dot " + t::quote(dot) + " " +
                  model("cells_ultralytics.torchscript") + " 2>/dev/null");
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out);
  CHECK(j["task"] == "detect");
  CHECK(j["dynamic"] == false);
  CHECK(j["input_shape"] == json::array({1, 3, 64, 96}));
  CHECK(j["output_shape"] == json::array({1, 6, 7}));
  CHECK(j["classes"] == json::array({"warm", "cool"}));
  CHECK(j["parameters"] == 0);
  CHECK(j["operators"]["aten::avg_pool2d"] == 1);
  CHECK(j["graph"].get<std::string>().find("graph(") != std::string::npos);
  const std::string text = t::read_text(dot);
  CHECK(text.rfind("digraph", 0) == 0);
  CHECK(text.find("aten::avg_pool2d") != std::string::npos);
  CHECK(text.find(" -> ") != std::string::npos);

  r = lookout_cli("model inspect " + model("text.torchscript") + " 2>&1");
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("not a TorchScript file") != std::string::npos);
}

TEST_CASE("lookout bench reports stages and the throughput ratio") {
  const auto dir = t::scratch_dir("cli-bench");
  const std::string image = write_scene(dir);
  const auto r = lookout_cli("bench --model " + model("cells.torchscript") + " --source " +
                             t::quote(image) + " --frames 12 --warmup 1 --json");
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out);
  CHECK(j["frames"] == 12);
  CHECK(j["frame"]["width"] == 320);
  CHECK(j["input"]["height"] == 256);
  for (const char* stage : {"decode", "preprocess", "forward", "postprocess", "total"}) {
    CHECK(j["stages_ms"][stage]["p50"].get<double>() >= 0);
    CHECK(j["stages_ms"][stage]["p99"].get<double>() >= j["stages_ms"][stage]["p50"].get<double>());
  }
  CHECK(j["stages_ms"]["total_serial"]["p50"].get<double>() > 0);
  CHECK(j["bare_forward_ms"]["p50"].get<double>() > 0);
  CHECK(j["throughput_ratio"].get<double>() > 0);
  CHECK(j["serial_throughput_ratio"].get<double>() > 0);
  // 12 timed frames in blocks of 10: each block's first is prepared in
  // place, the other 10 go to the helper, which prepares them or (when it
  // had not started) leaves them to the inference thread.
  CHECK(j["helper_frames"] == 10);
  CHECK(j["prepared_inline"].get<int>() >= 0);
  CHECK(j["prepared_inline"].get<int>() <= 13);
  CHECK(j["prepared_inline"].get<int>() <= j["helper_frames"].get<int>());
}

TEST_CASE("closed-set options take their names from the tables, and bad values exit 2") {
  const auto dir = t::scratch_dir("cli-enums");
  const std::string image = write_scene(dir);
  // The help lists the table's names.
  const auto help = lookout_cli("bench --help");
  REQUIRE(help.exit_code == 0);
  CHECK(help.out.find("{auto,onednn,blas,xnnpack}") != std::string::npos);
  CHECK(help.out.find("{auto,RGB24,BGR24,I420,NV12,YUYV,GRAY8,MJPEG}") != std::string::npos);
  // A misspelt value: the allowed ones and a suggestion, exit code 2.
  auto r = lookout_cli("detect --backend xnnpak --model " + model("cells.torchscript") + " " +
                       t::quote(image) + " 2>&1");
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("--backend: expected one of: auto, onednn, blas, xnnpack; got 'xnnpak' (did "
                   "you mean 'xnnpack'?)") != std::string::npos);
  r = lookout_cli("--log-level loud detect --model " + model("cells.torchscript") + " " +
                  t::quote(image) + " 2>&1");
  CHECK(r.exit_code == 2);
  CHECK(
      r.out.find("--log-level: expected one of: error, warning, notice, info, debug; got 'loud'") !=
      std::string::npos);
  // A good value is taken (the JSON line says which backend ran).
  r = lookout_cli(
      "bench --backend blas --frames 2 --warmup 0 --width 320 --height 240 --json "
      "--model " +
      model("cells.torchscript"));
  REQUIRE(r.exit_code == 0);
  CHECK(json::parse(r.out)["backend"] == "blas");
  r = lookout_cli(
      "bench --format NV12 --frames 2 --warmup 0 --width 320 --height 240 --json "
      "--model " +
      model("cells.torchscript") + " 2>&1");
  // The synthetic source makes RGB24 only: the driver's refusal names the format.
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("delivers RGB24 only, not NV12") != std::string::npos);
}
