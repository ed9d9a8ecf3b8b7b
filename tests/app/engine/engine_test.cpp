// The engine with real TorchScript files: the toy models of
// make_test_models.py (whose right answers are known by construction) and the
// broken files each of the engine's refusals is for.
#include "engine/engine.hpp"

#include <sched.h>
#include <turbojpeg.h>

#include <thread>

#include <doctest/doctest.h>

#include "app/engine/test_util.hpp"

using lookout::Detection;
using lookout::DetectOptions;
using lookout::Engine;
using lookout::EngineOptions;
using lookout::Frame;
using lookout::ModelError;
using lookout::PixelFormat;
using lookout::PreparedFrame;
using lookout::test::toy_model;

namespace {

std::unique_ptr<Engine> load(const std::string& name, const std::string& backend = "auto",
                             int threads = 0) {
  EngineOptions options;
  options.model_path = toy_model(name).string();
  options.backend = *lookout::enum_from_name<lookout::Backend>(backend);
  options.threads = threads;
  return Engine::load(options);
}

struct Rect {
  int x1, y1, x2, y2;
  std::uint8_t r, g, b;
};

// A black frame of `format` with solid rectangles (even coordinates, so
// chroma subsampling keeps their colours exact).
std::shared_ptr<Frame> scene(PixelFormat format, int w, int h, const std::vector<Rect>& rects) {
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3, 0);
  for (const Rect& r : rects) {
    for (int y = r.y1; y < r.y2; ++y) {
      for (int x = r.x1; x < r.x2; ++x) {
        std::uint8_t* p = &rgb[(static_cast<std::size_t>(y) * w + x) * 3];
        p[0] = r.r;
        p[1] = r.g;
        p[2] = r.b;
      }
    }
  }
  if (format == PixelFormat::MJPEG) {
    tjhandle tj = tjInitCompress();
    unsigned char* jpeg = nullptr;
    unsigned long size = 0;
    REQUIRE(tjCompress2(tj, rgb.data(), w, 0, h, TJPF_RGB, &jpeg, &size, TJSAMP_444, 100, 0) == 0);
    auto frame = Frame::allocate(PixelFormat::MJPEG, w, h, size);
    std::copy(jpeg, jpeg + size, frame->mutable_plane(0));
    tjFree(jpeg);
    tjDestroy(tj);
    return frame;
  }
  auto frame = Frame::allocate(format, w, h);
  const auto& pl = frame->planes;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const std::uint8_t* p = &rgb[(static_cast<std::size_t>(y) * w + x) * 3];
      // Full-scale BT.601 limited range for the pure colours used here.
      const auto Y =
          static_cast<std::uint8_t>(16 + (0.257 * p[0] + 0.504 * p[1] + 0.098 * p[2]) + 0.5);
      const auto U =
          static_cast<std::uint8_t>(128 + (-0.148 * p[0] - 0.291 * p[1] + 0.439 * p[2]) + 0.5);
      const auto V =
          static_cast<std::uint8_t>(128 + (0.439 * p[0] - 0.368 * p[1] - 0.071 * p[2]) + 0.5);
      switch (format) {
        case PixelFormat::RGB24:
        case PixelFormat::BGR24: {
          std::uint8_t* q = frame->mutable_plane(0) + y * pl[0].stride + x * 3;
          const bool bgr = format == PixelFormat::BGR24;
          q[0] = p[bgr ? 2 : 0];
          q[1] = p[1];
          q[2] = p[bgr ? 0 : 2];
          break;
        }
        case PixelFormat::GRAY8:
          frame->mutable_plane(0)[y * pl[0].stride + x] = p[0];
          break;
        case PixelFormat::I420:
          frame->mutable_plane(0)[y * pl[0].stride + x] = Y;
          frame->mutable_plane(1)[(y / 2) * pl[1].stride + x / 2] = U;
          frame->mutable_plane(2)[(y / 2) * pl[2].stride + x / 2] = V;
          break;
        case PixelFormat::NV12:
          frame->mutable_plane(0)[y * pl[0].stride + x] = Y;
          frame->mutable_plane(1)[(y / 2) * pl[1].stride + (x / 2) * 2] = U;
          frame->mutable_plane(1)[(y / 2) * pl[1].stride + (x / 2) * 2 + 1] = V;
          break;
        case PixelFormat::YUYV: {
          std::uint8_t* q = frame->mutable_plane(0) + y * pl[0].stride + (x / 2) * 4;
          q[(x % 2) * 2] = Y;
          q[1] = U;
          q[3] = V;
          break;
        }
        case PixelFormat::MJPEG:
          break;
      }
    }
  }
  return frame;
}

void check_box(const Detection& d, float x1, float y1, float x2, float y2) {
  CHECK(d.x1 == doctest::Approx(x1).epsilon(1e-4));
  CHECK(d.y1 == doctest::Approx(y1).epsilon(1e-4));
  CHECK(d.x2 == doctest::Approx(x2).epsilon(1e-4));
  CHECK(d.y2 == doctest::Approx(y2).epsilon(1e-4));
}

}  // namespace

TEST_CASE("unusable model files are refused at load, saying which and why") {
  struct Case {
    std::string file;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"missing.torchscript", "model file does not exist"},
      {"empty.torchscript", "model file is empty (0 bytes)"},
      {"text.torchscript", "not a TorchScript file (not a zip archive"},
      {"state_dict.pt", "cannot load as TorchScript"},
      {"truncated.torchscript", "cannot load as TorchScript (truncated or corrupt file"},
      {"wrong_output.torchscript",
       "output shape [1, 3] is not a detection output [1, N, 5 + classes]"},
      {"wrong_rank.torchscript", "dry forward with input [1, 3, 64, 64] failed"},
      {"names_mismatch.torchscript", "output has 2 classes but config.txt names 3"},
      {"bad_json.torchscript", "config.txt: not valid JSON"},
      {"bad_shape.torchscript", "config.txt: \"shape\" must be [1, C, H, W]"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.file);
    const std::string path = toy_model(c.file).string();
    try {
      load(c.file);
      FAIL("loaded without error");
    } catch (const ModelError& e) {
      const std::string what = e.what();
      CHECK(what.find(c.message) != std::string::npos);
      CHECK(what.rfind(path, 0) == 0);  // starts with the file name
    }
  }
  // The model's own complaint comes through for a failing dry forward.
  CHECK_THROWS_WITH_AS(load("wrong_rank.torchscript"), doctest::Contains("expected a 2-D input"),
                       ModelError);
  // Names are checked where they are read (configuration, command line); a
  // value outside the table is still refused here.
  EngineOptions no_backend;
  no_backend.model_path = toy_model("cells.torchscript").string();
  no_backend.backend = static_cast<lookout::Backend>(99);
  CHECK_THROWS_WITH_AS(Engine::load(no_backend), doctest::Contains("unknown backend 99"),
                       ModelError);
  EngineOptions dir;
  dir.model_path = toy_model("").string();
  CHECK_THROWS_WITH_AS(Engine::load(dir), doctest::Contains("is a directory"), ModelError);
}

TEST_CASE("a models/ detector: metadata and sizes") {
  auto engine = load("cells.torchscript");
  const auto& info = engine->info();
  CHECK(info.task == lookout::Task::Detect);
  CHECK(info.name == "cells");
  CHECK(info.dynamic);
  CHECK(info.stride == 32);
  CHECK(info.class_names == std::vector<std::string>{"warm", "cool"});
  CHECK(info.input_width == 320);
  CHECK(info.input_height == 256);
  CHECK(info.output_shape == std::vector<std::int64_t>{1, 80, 7});
  CHECK(info.threads >= 1);
  CHECK(info.backend != lookout::Backend::Auto);

  // With the frame size known, the input shrinks to what holds it.
  EngineOptions options;
  options.model_path = toy_model("cells.torchscript").string();
  options.input_width = options.input_height = 640;
  options.frame_width = 1920;
  options.frame_height = 1080;
  engine = Engine::load(options);
  CHECK(engine->info().input_width == 640);
  CHECK(engine->info().input_height == 384);
  // Sizes that are not multiples of the stride are rounded up.
  options.input_width = options.input_height = 600;
  options.frame_width = options.frame_height = 0;
  engine = Engine::load(options);
  CHECK(engine->info().input_width == 608);
  CHECK(engine->info().output_shape == std::vector<std::int64_t>{1, 19 * 19, 7});
}

TEST_CASE("frames of any shape are detected on, never abort: 1 pixel wide, 1 pixel high") {
  // The shipped model takes any stride-aligned input, sized to each frame.
  EngineOptions options;
  options.model_path =
      (std::filesystem::path(LOOKOUT_SOURCE_DIR) / "models/default/shapes.torchscript").string();
  options.threads = 1;
  auto engine = Engine::load(options);
  for (const auto& [w, h] :
       {std::pair{1, 640}, {640, 1}, {1, 4000}, {4000, 1}, {1, 1}, {3, 2000}}) {
    CAPTURE(w);
    CAPTURE(h);
    auto frame = lookout::Frame::allocate(PixelFormat::RGB24, w, h);
    std::fill(frame->storage.begin(), frame->storage.end(), std::uint8_t{200});
    const auto result = engine->detect(*frame, lookout::DetectOptions{});
    CHECK(result.detections.size() <= 100);
  }
}

TEST_CASE("detections land on the objects, in frame pixels, from every pixel format") {
  auto engine = load("cells.torchscript");
  // 320x240 frame -> input 320x256 (8 px padding above and below). A white
  // block at frame (64..128, 56..120) fills input cells (2..3, 2..3) exactly.
  for (PixelFormat format :
       {PixelFormat::RGB24, PixelFormat::BGR24, PixelFormat::I420, PixelFormat::NV12,
        PixelFormat::YUYV, PixelFormat::GRAY8, PixelFormat::MJPEG}) {
    CAPTURE(lookout::to_string(format));
    const auto frame = scene(format, 320, 240, {{64, 56, 128, 120, 255, 255, 255}});
    const auto result = engine->detect(*frame, {});
    REQUIRE(result.detections.size() == 4);
    // Equal scores: in output-row order (row = cell y * 10 + cell x).
    check_box(result.detections[0], 64, 56, 96, 88);
    check_box(result.detections[1], 96, 56, 128, 88);
    check_box(result.detections[2], 64, 88, 96, 120);
    check_box(result.detections[3], 96, 88, 128, 120);
    for (const auto& d : result.detections) {
      CHECK(d.class_id == 0);
      CHECK(d.score > 0.97f);
    }
    CHECK(result.times.forward_ms > 0);
    CHECK(result.times.preprocess_ms > 0);
    if (format == PixelFormat::MJPEG) CHECK(result.times.decode_ms > 0);
  }
}

TEST_CASE("class filter, per-class thresholds and class votes") {
  auto engine = load("cells.torchscript");
  // Magenta (R, B): objectness 1, "warm" (green) 0, "cool" (blue) 1.
  const auto frame = scene(PixelFormat::RGB24, 320, 256,
                           {{0, 0, 32, 32, 255, 255, 255}, {160, 96, 192, 128, 255, 0, 255}});
  DetectOptions options;
  auto result = engine->detect(*frame, options);
  REQUIRE(result.detections.size() == 2);
  CHECK(result.detections[0].class_id == 0);
  CHECK(result.detections[1].class_id == 1);
  check_box(result.detections[1], 160, 96, 192, 128);
  options.classes = {1};
  result = engine->detect(*frame, options);
  REQUIRE(result.detections.size() == 1);
  CHECK(result.detections[0].class_id == 1);
  options.classes.clear();
  options.class_conf = {{0, 1.0f}};  // nothing reaches a threshold of 1
  result = engine->detect(*frame, options);
  REQUIRE(result.detections.size() == 1);
  CHECK(result.detections[0].class_id == 1);
}

TEST_CASE("frames of different sizes on one engine") {
  auto engine = load("cells.torchscript");
  // Larger than the input: 640x480 -> scaled by 0.5 into 320x256 (8 px pad).
  auto frame = scene(PixelFormat::RGB24, 640, 480, {{128, 112, 192, 176, 255, 255, 255}});
  auto result = engine->detect(*frame, {});
  REQUIRE(result.detections.size() == 1);
  check_box(result.detections[0], 128, 112, 192, 176);
  // Tall frame: 240x320 -> 192x256 input (no padding at all).
  // Scale 0.8: the block at (40..80, 80..120) covers input cell (1, 2).
  frame = scene(PixelFormat::RGB24, 240, 320, {{40, 80, 80, 120, 255, 255, 255}});
  result = engine->detect(*frame, {});
  REQUIRE(result.detections.size() == 1);
  check_box(result.detections[0], 40, 80, 80, 120);
}

TEST_CASE("an ultralytics export: fixed shape, names as a dict, tuple output") {
  auto engine = load("cells_ultralytics.torchscript");
  const auto& info = engine->info();
  CHECK_FALSE(info.dynamic);
  CHECK(info.input_width == 96);
  CHECK(info.input_height == 64);
  CHECK(info.class_names == std::vector<std::string>{"warm", "cool"});
  CHECK(info.output_shape == std::vector<std::int64_t>{1, 6, 7});
  // It takes only its own size, whatever is asked.
  EngineOptions options;
  options.model_path = toy_model("cells_ultralytics.torchscript").string();
  options.input_width = options.input_height = 640;
  engine = Engine::load(options);
  CHECK(engine->info().input_width == 96);
  // A 192x128 frame is halved into it.
  const auto frame = scene(PixelFormat::RGB24, 192, 128, {{64, 64, 128, 128, 255, 255, 255}});
  const auto result = engine->detect(*frame, {});
  REQUIRE(result.detections.size() == 1);
  check_box(result.detections[0], 64, 64, 128, 128);
}

TEST_CASE("a file without config.txt: task from the output, class names are indices") {
  auto engine = load("cells_noconfig.torchscript");
  CHECK(engine->info().task == lookout::Task::Detect);
  CHECK(engine->info().class_names == std::vector<std::string>{"0", "1"});
  CHECK(engine->info().input_width == 640);
}

TEST_CASE("classification: top-k with scores") {
  auto engine = load("brightness.torchscript");
  CHECK(engine->info().task == lookout::Task::Classify);
  const auto bright = scene(PixelFormat::RGB24, 50, 30, {{0, 0, 50, 30, 255, 255, 255}});
  auto result = engine->classify(*bright, 1);
  REQUIRE(result.top.size() == 1);
  CHECK(result.top[0].class_id == 1);
  CHECK(result.top[0].score > 0.99f);
  const auto dark = scene(PixelFormat::I420, 50, 30, {});
  result = engine->classify(*dark, 5);
  REQUIRE(result.top.size() == 2);
  CHECK(result.top[0].class_id == 0);
  CHECK(result.top[0].score + result.top[1].score == doctest::Approx(1.0f));
  CHECK_THROWS_AS(engine->detect(*dark, {}), std::invalid_argument);
  CHECK_THROWS_AS(load("cells.torchscript")->classify(*dark, 1), std::invalid_argument);
}

TEST_CASE("every backend gives the same detections") {
  const auto frame = scene(PixelFormat::NV12, 320, 240, {{64, 56, 128, 120, 255, 255, 255}});
  const auto reference = load("cells.torchscript", "onednn")->detect(*frame, {}).detections;
  REQUIRE(reference.size() == 4);
  for (const std::string backend : {"blas", "xnnpack", "auto"}) {
    CAPTURE(backend);
    for (int threads : {1, 2}) {
      EngineOptions options;
      options.model_path = toy_model("cells.torchscript").string();
      options.backend = *lookout::enum_from_name<lookout::Backend>(backend);
      options.threads = threads;
      options.fast_activations = threads - 1;  // both kinds of SiLU/sigmoid
      auto engine = Engine::load(options);
      CHECK(engine->info().threads == threads);
      const auto d = engine->detect(*frame, {}).detections;
      REQUIRE(d.size() == reference.size());
      for (std::size_t i = 0; i < d.size(); ++i) {
        CHECK(d[i].x1 == doctest::Approx(reference[i].x1));
        CHECK(d[i].score == doctest::Approx(reference[i].score).epsilon(1e-4));
      }
    }
  }
  CHECK(load("cells.torchscript", "xnnpack")->info().backend == lookout::Backend::Xnnpack);
}

TEST_CASE("bad frames fail that frame only") {
  auto engine = load("cells.torchscript");
  auto frame = scene(PixelFormat::NV12, 64, 64, {});
  // The same pixels, described wrongly (Frame is not copyable: the view
  // borrows the planes on purpose).
  Frame broken;
  broken.format = frame->format;
  broken.width = frame->width;
  broken.height = frame->height;
  broken.planes = frame->planes;
  broken.planes[1].size = 3;
  CHECK_THROWS_AS(engine->detect(broken, {}), std::invalid_argument);
  auto jpeg = Frame::allocate(PixelFormat::MJPEG, 64, 64, 16);
  CHECK_THROWS_AS(engine->detect(*jpeg, {}), std::invalid_argument);
  // The engine still works afterwards.
  CHECK(engine->detect(*frame, {}).detections.empty());
}

TEST_CASE("the inference thread is pinned to the configured cores") {
  EngineOptions options;
  options.model_path = toy_model("cells.torchscript").string();
  const int core = 0;
  options.pin_cores = {core};
  auto engine = Engine::load(options);
  const auto frame = scene(PixelFormat::RGB24, 64, 64, {});
  bool pinned = false;
  std::thread worker([&] {
    engine->detect(*frame, {});
    cpu_set_t set;
    CPU_ZERO(&set);
    sched_getaffinity(0, sizeof set, &set);
    pinned = CPU_COUNT(&set) == 1 && CPU_ISSET(core, &set);
  });
  worker.join();
  CHECK(pinned);
}

TEST_CASE("prepare() on one thread, detect() on another: the same detections") {
  auto engine = load("cells.torchscript");
  for (PixelFormat format : {PixelFormat::RGB24, PixelFormat::I420, PixelFormat::MJPEG}) {
    CAPTURE(lookout::to_string(format));
    const auto frame = scene(format, 320, 240, {{64, 56, 128, 120, 255, 255, 255}});
    const auto serial = engine->detect(*frame, {});
    PreparedFrame prepared;
    std::thread helper([&] { prepared = engine->prepare(*frame); });
    helper.join();
    REQUIRE_FALSE(prepared.empty());
    CHECK(prepared.times().preprocess_ms > 0);
    CHECK(prepared.times().forward_ms == 0);
    const auto split = engine->detect(std::move(prepared), {});
    REQUIRE(split.detections.size() == serial.detections.size());
    for (std::size_t i = 0; i < split.detections.size(); ++i) {
      const Detection& a = split.detections[i];
      const Detection& b = serial.detections[i];
      CHECK(a.class_id == b.class_id);
      CHECK(a.score == b.score);
      CHECK(a.x1 == b.x1);
      CHECK(a.y1 == b.y1);
      CHECK(a.x2 == b.x2);
      CHECK(a.y2 == b.y2);
    }
    // The preparation's times are part of the result's.
    CHECK(split.times.preprocess_ms > 0);
    CHECK(split.times.forward_ms > 0);
    if (format == PixelFormat::MJPEG) CHECK(split.times.decode_ms > 0);
  }
}

TEST_CASE("several prepared frames of different sizes in flight at once") {
  auto engine = load("cells.torchscript");
  // As in "frames of different sizes": two input sizes (320x256, 192x256).
  const auto wide = scene(PixelFormat::RGB24, 640, 480, {{128, 112, 192, 176, 255, 255, 255}});
  const auto tall = scene(PixelFormat::RGB24, 240, 320, {{40, 80, 80, 120, 255, 255, 255}});
  for (int round = 0; round < 3; ++round) {  // buffers come back from the pool
    PreparedFrame a = engine->prepare(*wide);
    PreparedFrame b = engine->prepare(*tall);
    PreparedFrame c = engine->prepare(*wide);
    auto result = engine->detect(std::move(b), {});
    REQUIRE(result.detections.size() == 1);
    check_box(result.detections[0], 40, 80, 80, 120);
    for (PreparedFrame* p : {&a, &c}) {
      result = engine->detect(std::move(*p), {});
      REQUIRE(result.detections.size() == 1);
      check_box(result.detections[0], 128, 112, 192, 176);
    }
  }
}

TEST_CASE("a PreparedFrame that is empty, used twice, from another engine or for the wrong task") {
  auto engine = load("cells.torchscript");
  auto other = load("cells.torchscript");
  const auto frame = scene(PixelFormat::RGB24, 64, 64, {});
  CHECK_THROWS_WITH_AS(engine->detect(PreparedFrame(), {}), "engine: empty PreparedFrame",
                       std::invalid_argument);
  PreparedFrame prepared = engine->prepare(*frame);
  CHECK_THROWS_WITH_AS(other->detect(std::move(prepared), {}),
                       "engine: PreparedFrame comes from another engine", std::invalid_argument);
  prepared = engine->prepare(*frame);
  CHECK_THROWS_AS(engine->classify(std::move(prepared), 1), std::invalid_argument);
  prepared = engine->prepare(*frame);
  PreparedFrame moved = std::move(prepared);
  CHECK(engine->detect(std::move(moved), {}).detections.empty());
  CHECK_THROWS_AS(engine->detect(std::move(moved), {}),
                  std::invalid_argument);  // NOLINT: moved-from
  // A bad frame fails in prepare(), as it does in detect().
  auto jpeg = Frame::allocate(PixelFormat::MJPEG, 64, 64, 16);
  CHECK_THROWS_AS(engine->prepare(*jpeg), std::invalid_argument);
}

TEST_CASE("a PreparedFrame may outlive its engine") {
  auto engine = load("cells.torchscript");
  const auto frame = scene(PixelFormat::RGB24, 320, 240, {});
  PreparedFrame prepared = engine->prepare(*frame);
  engine.reset();
  CHECK_FALSE(prepared.empty());
  prepared = PreparedFrame();  // gives its buffer back to the pool it keeps alive
  CHECK(prepared.empty());
}
