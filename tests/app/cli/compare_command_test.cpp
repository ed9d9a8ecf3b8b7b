// `lookout model compare` run as the real CLI: the shipped model against
// itself on two backends and on one, over generated scenes (the shapes
// model's own kind of picture), with an image that cannot be read among them.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "app/engine/test_util.hpp"

namespace t = lookout::test;
using nlohmann::json;

namespace {

t::ProcessResult lookout_cli(const std::string& args) {
  return t::run_command(t::quote(LOOKOUT_CLI) + " " + args);
}

// Three 640x480 scenes from models/'s generator (seed 7), as PNG files.
std::vector<std::string> write_scenes(const std::filesystem::path& dir) {
  const auto r =
      t::run_command("cd " + t::quote(std::string(LOOKOUT_SOURCE_DIR) + "/models") + " && " +
                     t::quote(LOOKOUT_PYTHON) +
                     " -m lookout_models.scenes --seed 7 --count 3 --width 640 --height 480 "
                     "--out " +
                     t::quote(dir.string()) + " 2>&1");
  REQUIRE_MESSAGE(r.exit_code == 0, r.out);
  std::vector<std::string> images;
  for (int i = 0; i < 3; ++i)
    images.push_back((dir / ("scene_7_0000" + std::to_string(i) + ".png")).string());
  return images;
}

}  // namespace

TEST_CASE("model compare: one file on xnnpack and onednn finds the same objects, layer by layer") {
  const auto dir = t::scratch_dir("cli-compare");
  auto images = write_scenes(dir);
  const std::string missing = (dir / "missing.png").string();
  std::string args;
  for (const auto& i : images) args += " " + t::quote(i);
  const std::string model = t::quote(t::shipped_model());
  auto r = lookout_cli("model compare " + model + " " + model +
                       " --backend xnnpack --backend-b onednn --runs 2 --json --images" + args +
                       " " + t::quote(missing) + " 2>" + t::quote((dir / "err.txt").string()));
  // One image could not be read: the others are compared, the exit says so.
  CHECK(r.exit_code == 1);
  CHECK(t::read_text(dir / "err.txt").find(missing) != std::string::npos);
  const json j = json::parse(r.out);
  CHECK(j["a"]["backend"] == "xnnpack");
  CHECK(j["b"]["backend"] == "onednn");
  CHECK(j["a"]["parameters"] == 446530);
  CHECK(j["b"]["parameters"] == 446530);
  CHECK(j["a"]["macs"] == j["b"]["macs"]);
  CHECK(j["a"]["forward_ms"].get<double>() > 0);
  CHECK(j["b"]["forward_ms"].get<double>() > 0);

  const json& d = j["detections"];
  CHECK(d["compared"] == 3);
  REQUIRE(d["images"].size() == 4);
  CHECK(d["images"][3]["image"] == missing);
  CHECK(d["images"][3].contains("error"));
  // The scenes hold shapes the model finds; two backends' float arithmetic
  // may differ in the last bits, never in what is found.
  CHECK(d["a"].get<int>() >= 6);
  CHECK(d["agreement"].get<double>() >= 0.95);
  CHECK(d["mean_iou"].get<double>() >= 0.95);
  CHECK(d["max_score_delta"].get<double>() < 0.01);
  int per_image_a = 0;
  for (int i = 0; i < 3; ++i) per_image_a += d["images"][i]["a"].get<int>();
  CHECK(per_image_a == d["a"].get<int>());

  // The same graph on both sides: every layer paired, each timed on both.
  const json& layers = j["layers"];
  CHECK(layers.size() == j["a"]["layers"].get<std::size_t>());
  double a_total = 0, b_total = 0;
  for (const auto& l : layers) {
    REQUIRE(!l["a_ms"].is_null());
    REQUIRE(!l["b_ms"].is_null());
    a_total += l["a_ms"].get<double>();
    b_total += l["b_ms"].get<double>();
  }
  CHECK(a_total > 0);
  CHECK(b_total > 0);
  CHECK(layers[0]["name"] == "model.0.conv");

  // Text: both models, the agreement line, and the layer table.
  r = lookout_cli("model compare " + model + " " + model + " --backend xnnpack --runs 1 --images" +
                  args);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("A  ") != std::string::npos);
  CHECK(r.out.find("agreement 1.0000") != std::string::npos);
  CHECK(r.out.find("model.2.cv1.conv") != std::string::npos);
}

TEST_CASE("model compare: the same backend twice agrees exactly; a bad model is refused") {
  const auto dir = t::scratch_dir("cli-compare-same");
  const auto images = write_scenes(dir);
  const std::string model = t::quote(t::shipped_model());
  auto r = lookout_cli("model compare " + model + " " + model +
                       " --backend xnnpack --runs 1 --json --images " + t::quote(images[0]));
  REQUIRE(r.exit_code == 0);
  const json j = json::parse(r.out);
  CHECK(j["detections"]["agreement"] == 1.0);
  CHECK(j["detections"]["only_a"] == 0);
  CHECK(j["detections"]["only_b"] == 0);
  CHECK(j["detections"]["max_score_delta"].get<double>() <= 1e-6);

  // Not a model: the message names the file, the exit is a usage error.
  const auto bad = dir / "bad.torchscript";
  std::ofstream(bad) << "not a zip archive";
  r = lookout_cli("model compare " + model + " " + t::quote(bad.string()) + " --runs 1 2>&1");
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("bad.torchscript") != std::string::npos);
}
