// The classification path with the MNIST model of models/ (a scripted module
// with real control flow), on real MNIST digits.
#include <sstream>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "app/engine/test_util.hpp"
#include "engine/engine.hpp"

namespace t = lookout::test;

namespace {

// The fixture writes digits as binary PGM (P5, 28x28, maxval 255).
std::shared_ptr<lookout::Frame> read_pgm(const std::string& path) {
  const std::string bytes = t::read_text(path);
  std::istringstream in(bytes);
  std::string magic;
  int w = 0, h = 0, maxval = 0;
  in >> magic >> w >> h >> maxval;
  REQUIRE(magic == "P5");
  REQUIRE(maxval == 255);
  in.get();
  auto frame = lookout::Frame::allocate(lookout::PixelFormat::GRAY8, w, h);
  in.read(reinterpret_cast<char*>(frame->mutable_plane(0)), static_cast<std::streamsize>(w) * h);
  REQUIRE(in.gcount() == w * h);
  return frame;
}

}  // namespace

TEST_CASE("MNIST digits classify correctly and match the reference probabilities") {
  const std::string model = t::data_model("mnist.torchscript").string();
  lookout::EngineOptions options;
  options.model_path = model;
  auto engine = lookout::Engine::load(options);
  const auto& info = engine->info();
  CHECK(info.task == lookout::Task::Classify);
  CHECK(info.channels == 1);
  CHECK(info.input_width == 28);
  CHECK(info.class_names.size() == 10);
  CHECK(info.output_shape == std::vector<std::int64_t>{1, 10});

  const auto labels = nlohmann::json::parse(t::read_text(t::data_model("digits/labels.json")));
  // The reference runs on the first few images, chosen by count: how long
  // their paths (under the build directory) are must not change how many.
  constexpr int kReferenceImages = 8;
  REQUIRE(labels.size() >= static_cast<std::size_t>(kReferenceImages));
  int correct = 0;
  int referenced = 0;
  std::string some;
  for (const auto& [path, label] : labels.items()) {
    const auto result = engine->classify(*read_pgm(path), 3);
    REQUIRE(result.top.size() == 3);
    CHECK(result.top[0].score >= result.top[1].score);
    correct += result.top[0].class_id == label.get<int>();
    if (referenced < kReferenceImages) {
      some += " " + t::quote(path);
      ++referenced;
    }
  }
  CHECK(correct >= static_cast<int>(labels.size()) - 2);

  // Probabilities against the Python reference for the first images.
  const auto r = t::run_command("PYTHONPATH=" + t::quote((t::source_dir() / "models").string()) +
                                " " + t::quote(t::python()) +
                                " -m lookout_models.reference --model " + t::quote(model) + some);
  REQUIRE(r.exit_code == 0);
  std::istringstream lines(r.out);
  std::string line;
  int compared = 0;
  while (std::getline(lines, line)) {
    const auto ref = nlohmann::json::parse(line);
    const auto result = engine->classify(*read_pgm(ref["image"].get<std::string>()), 10);
    for (const auto& c : result.top) {
      CHECK(std::fabs(c.score -
                      ref["probabilities"][static_cast<std::size_t>(c.class_id)].get<float>()) <=
            0.01f);
    }
    ++compared;
  }
  // One reference line per image asked for: all of them were compared.
  CHECK(compared == kReferenceImages);
}
