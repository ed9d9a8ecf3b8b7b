// Parity with the Python reference pipeline (models/lookout_models/reference.py,
// ultralytics' detect.py semantics) on the real yolov5n weights and images:
// same detections, same classes, scores within 0.01, boxes IoU >= 0.98.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <turbojpeg.h>

#include "app/engine/test_util.hpp"
#include "engine/engine.hpp"
#include "letterbox.hpp"

namespace t = lookout::test;

namespace {

std::shared_ptr<lookout::Frame> read_jpeg(const std::filesystem::path& path) {
  const std::string bytes = t::read_text(path);
  REQUIRE_FALSE(bytes.empty());
  tjhandle tj = tjInitDecompress();
  int w = 0, h = 0, sub = 0, cs = 0;
  REQUIRE(tjDecompressHeader3(tj, reinterpret_cast<const unsigned char*>(bytes.data()),
                              bytes.size(), &w, &h, &sub, &cs) == 0);
  tjDestroy(tj);
  auto frame = lookout::Frame::allocate(lookout::PixelFormat::MJPEG, w, h, bytes.size());
  std::copy(bytes.begin(), bytes.end(), frame->mutable_plane(0));
  return frame;
}

float iou(const float a[4], const float b[4]) {
  const float w = std::max(0.0f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const float h = std::max(0.0f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const float inter = w * h;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

nlohmann::json reference(const std::string& model, const std::string& image, int in_h, int in_w) {
  const std::string cmd = "PYTHONPATH=" + t::quote((t::source_dir() / "models").string()) + " " +
                          t::quote(t::python()) + " -m lookout_models.reference " + t::quote(image) +
                          " --model " + t::quote(model) + " --imgsz " + std::to_string(in_h) + " " +
                          std::to_string(in_w);
  const auto r = t::run_command(cmd);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

void compare(const std::string& model_file, const std::string& backend, int fast_activations = -1) {
  const std::string model = t::data_model(model_file).string();
  lookout::EngineOptions options;
  options.model_path = model;
  options.backend = *lookout::enum_from_name<lookout::Backend>(backend);
  options.fast_activations = fast_activations;
  auto engine = lookout::Engine::load(options);
  const auto& info = engine->info();
  for (const std::string name : {"bus.jpg", "zidane.jpg"}) {
    CAPTURE(name);
    const auto path = t::shared_image(name);
    const auto frame = read_jpeg(path);
    const auto result = engine->detect(*frame, {});
    // The reference letterboxes into the size the engine chose.
    lookout::engine::InputSize size{info.input_width, info.input_height};
    if (info.dynamic) {
      size = lookout::engine::fit_input_size(frame->width, frame->height, {640, 640}, info.stride);
    }
    const auto ref = reference(model, path.string(), size.height, size.width)["detections"];
    REQUIRE(result.detections.size() == ref.size());
    CHECK(result.detections.size() >= 3);
    std::vector<bool> used(ref.size(), false);
    for (const auto& d : result.detections) {
      const float box[4] = {d.x1, d.y1, d.x2, d.y2};
      int best = -1;
      float best_iou = 0;
      for (std::size_t i = 0; i < ref.size(); ++i) {
        if (used[i] || ref[i]["class_id"].get<int>() != d.class_id) continue;
        const auto& b = ref[i]["box"];
        const float rb[4] = {b[0].get<float>(), b[1].get<float>(), b[2].get<float>(),
                             b[3].get<float>()};
        if (iou(box, rb) > best_iou) {
          best_iou = iou(box, rb);
          best = static_cast<int>(i);
        }
      }
      CAPTURE(d.class_id);
      CAPTURE(d.score);
      REQUIRE(best >= 0);
      used[static_cast<std::size_t>(best)] = true;
      CHECK(best_iou >= 0.98f);
      CHECK(std::fabs(d.score - ref[static_cast<std::size_t>(best)]["score"].get<float>()) <= 0.01f);
    }
  }
}

}  // namespace

TEST_CASE("yolov5n exported by models/ (any input size) matches the reference") {
  compare("yolov5n.torchscript", "auto");
}

TEST_CASE("yolov5n traced as ultralytics exports it (fixed 640x640) matches the reference") {
  compare("yolov5n_ultralytics.torchscript", "auto");
}

TEST_CASE("the other backends agree with the reference too") {
  compare("yolov5n.torchscript", "xnnpack");
  compare("yolov5n.torchscript", "xnnpack", 1);
  compare("yolov5n.torchscript", "blas");
}

TEST_CASE("lookout's SiLU/sigmoid kernels stay within 1e-3 of aten's on yolov5n") {
  for (const std::string backend : {"xnnpack", "blas"}) {
    CAPTURE(backend);
    lookout::EngineOptions options;
    options.model_path = t::data_model("yolov5n_ultralytics.torchscript").string();
    options.backend = *lookout::enum_from_name<lookout::Backend>(backend);
    options.fast_activations = 0;
    auto aten = lookout::Engine::load(options);
    options.fast_activations = 1;
    auto fast = lookout::Engine::load(options);
    lookout::DetectOptions low;
    low.conf = 0.05f;  // many detections, most of them marginal
    for (const std::string name : {"bus.jpg", "zidane.jpg"}) {
      const auto frame = read_jpeg(t::shared_image(name));
      const auto a = aten->detect(*frame, low).detections;
      const auto b = fast->detect(*frame, low).detections;
      REQUIRE(a.size() == b.size());
      CHECK(a.size() >= 5);
      for (std::size_t i = 0; i < a.size(); ++i) {
        CHECK(a[i].class_id == b[i].class_id);
        CHECK(std::fabs(a[i].score - b[i].score) <= 1e-3f);
        // Boxes in pixels: 1e-3 of the input side.
        CHECK(std::fabs(a[i].x1 - b[i].x1) <= 0.64f * 1080 / 640);
        CHECK(std::fabs(a[i].y2 - b[i].y2) <= 0.64f * 1080 / 640);
      }
    }
  }
}

TEST_CASE("bus.jpg: the detections ultralytics reports for this checkpoint") {
  lookout::EngineOptions options;
  options.model_path = t::data_model("yolov5n_ultralytics.torchscript").string();
  auto engine = lookout::Engine::load(options);
  const auto result = engine->detect(*read_jpeg(t::shared_image("bus.jpg")), {});
  int bus = 0, person = 0;
  for (const auto& d : result.detections) {
    bus += engine->info().class_names[static_cast<std::size_t>(d.class_id)] == "bus";
    person += engine->info().class_names[static_cast<std::size_t>(d.class_id)] == "person";
  }
  CHECK(bus == 1);
  CHECK(person >= 3);
}
