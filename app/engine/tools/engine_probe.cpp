// lookout-engine-probe: runs one engine stage N times and prints its timing.
// For benchmarks: host wall time (scripts/bench-engine.sh) and, under qemu
// with the instruction-counting plugin, aarch64 instruction counts
// (scripts/bench-icount.sh: count(N) - count(0) cancels start-up and loading).
//
//   lookout-engine-probe forward    --model M [--backend B] [--threads T] [--imgsz WxH] [-n N]
//   lookout-engine-probe detect     --model M ... [--width W --height H --format F]
//   lookout-engine-probe preprocess [--width W --height H --format F] [--imgsz WxH] [-n N]
//   lookout-engine-probe nms        [--candidates 25200] [-n N]
//
// Single-threaded process apart from the engine's own threads.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/frame.hpp"
#include "engine/engine.hpp"
#include "letterbox.hpp"
#include "postprocess.hpp"
#include "preprocess.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using lookout::Frame;
using lookout::PixelFormat;

struct Args {
  std::string mode;
  std::string model;
  lookout::Backend backend = lookout::Backend::Auto;
  int threads = 0;
  int iterations = 10;
  int width = 1920, height = 1080;
  int input_w = 640, input_h = 640;
  bool input_given = false;
  std::string format = "RGB24";
  int candidates = 25200;
  bool warm_up = true;
  int fast_activations = -1;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "lookout-engine-probe: %s (see the comment at the top of engine_probe.cpp)\n", why);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  if (argc < 2) usage("no mode given");
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + k).c_str());
      return argv[++i];
    };
    if (k == "--model") a.model = value();
    else if (k == "--backend") {
      const std::string name = value();
      const auto backend = lookout::enum_from_name<lookout::Backend>(name);
      if (!backend) usage(("--backend: " + lookout::expected_one_of<lookout::Backend>(name)).c_str());
      a.backend = *backend;
    }
    else if (k == "--threads") a.threads = std::atoi(value().c_str());
    else if (k == "-n") a.iterations = std::atoi(value().c_str());
    else if (k == "--width") a.width = std::atoi(value().c_str());
    else if (k == "--height") a.height = std::atoi(value().c_str());
    else if (k == "--format") a.format = value();
    else if (k == "--candidates") a.candidates = std::atoi(value().c_str());
    else if (k == "--no-warmup") a.warm_up = false;
    else if (k == "--fast-activations") a.fast_activations = std::atoi(value().c_str());
    else if (k == "--imgsz") {
      const std::string v = value();
      a.input_w = std::atoi(v.c_str());
      const auto x = v.find('x');
      a.input_h = x == std::string::npos ? a.input_w : std::atoi(v.c_str() + x + 1);
      a.input_given = true;
    } else {
      usage(("unknown option " + k).c_str());
    }
  }
  return a;
}

// A frame with a smooth picture and some texture, in any format.
std::shared_ptr<Frame> make_frame(const Args& a) {
  const auto format = lookout::pixel_format_from_string(a.format);
  if (!format || *format == PixelFormat::MJPEG) usage("--format must be a raw pixel format");
  auto frame = Frame::allocate(*format, a.width, a.height);
  std::mt19937 rng(1);
  for (auto& b : frame->storage) b = static_cast<std::uint8_t>(rng() % 256);
  return frame;
}

// CPU time of the calling thread: on a shared, busy machine it is far steadier
// than wall time for single-threaded stages.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double cpu_mark = 0;

void report(const char* what, int n, Clock::duration total) {
  const double ms = std::chrono::duration<double, std::milli>(total).count();
  const double cpu = thread_cpu_ms() - cpu_mark;
  std::printf("%s: %d iterations, %.3f ms total, %.4f ms each (thread CPU %.4f ms each)\n", what, n,
              ms, n > 0 ? ms / n : 0.0, n > 0 ? cpu / n : 0.0);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  if (a.mode == "forward" || a.mode == "detect") {
    if (a.model.empty()) usage("--model is required");
    lookout::EngineOptions options;
    options.model_path = a.model;
    options.backend = a.backend;
    options.threads = a.threads;
    options.warm_up = a.warm_up;
    options.fast_activations = a.fast_activations;
    if (a.input_given) {
      options.input_width = a.input_w;
      options.input_height = a.input_h;
    }
    options.frame_width = a.width;
    options.frame_height = a.height;
    auto engine = lookout::Engine::load(options);
    const auto& info = engine->info();
    std::printf("model %s, backend %s, %d threads, input %dx%d\n", info.path.c_str(),
                std::string(lookout::enum_name(info.backend)).c_str(), info.threads, info.input_width, info.input_height);
    const auto frame = make_frame(a);
    // One detect sets the engine's input to this frame's size.
    if (info.task == lookout::Task::Detect) engine->detect(*frame, {});
    cpu_mark = thread_cpu_ms();
    const auto start = Clock::now();
    std::vector<double> each;
    for (int i = 0; i < a.iterations; ++i) {
      const auto t0 = Clock::now();
      if (a.mode == "forward") {
        engine->bare_forward();
      } else if (info.task == lookout::Task::Detect) {
        engine->detect(*frame, {});
      } else {
        engine->classify(*frame, 5);
      }
      each.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    report(a.mode.c_str(), a.iterations, Clock::now() - start);
    if (!each.empty()) {
      // On a shared machine the fastest runs are the ones nobody disturbed.
      std::sort(each.begin(), each.end());
      std::printf("  min %.3f ms, median %.3f ms\n", each.front(), each[each.size() / 2]);
    }
    return 0;
  }
  if (a.mode == "preprocess") {
    const auto frame = make_frame(a);
    const auto size = lookout::engine::fit_input_size(a.width, a.height, {a.input_w, a.input_h}, 32);
    const auto box = lookout::engine::make_letterbox(a.width, a.height, size.width, size.height);
    std::vector<float> input(3 * static_cast<std::size_t>(size.width) * size.height);
    lookout::engine::Preprocessor pre;
    pre.run(*frame, box, 3, 114, input.data());  // sizes the scratch buffers
    cpu_mark = thread_cpu_ms();
    const auto start = Clock::now();
    for (int i = 0; i < a.iterations; ++i) pre.run(*frame, box, 3, 114, input.data());
    std::printf("frame %dx%d %s -> input %dx%d\n", a.width, a.height, a.format.c_str(), size.width,
                size.height);
    report("preprocess", a.iterations, Clock::now() - start);
    return 0;
  }
  if (a.mode == "nms") {
    // Rows like a 640x640 YOLOv5 output (25,200 = 3 anchors x (80^2 + 40^2 +
    // 20^2) cells) where every row passes the threshold: the worst case.
    const std::size_t nc = 80, cols = 5 + nc;
    const auto n = static_cast<std::size_t>(a.candidates);
    std::vector<float> rows(n * cols, 0.0f);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    for (std::size_t r = 0; r < n; ++r) {
      float* row = &rows[r * cols];
      const float stride = r < 19200 ? 8.0f : (r < 24000 ? 16.0f : 32.0f);
      const float size = stride * (1.5f + 3 * u(rng));
      row[0] = u(rng) * 640;
      row[1] = u(rng) * 640;
      row[2] = size;
      row[3] = size * (0.5f + u(rng));
      row[4] = 0.3f + 0.7f * u(rng);
      row[5 + static_cast<std::size_t>(u(rng) * 10)] = 0.5f + 0.5f * u(rng);
    }
    lookout::DetectOptions options;
    lookout::engine::Postprocessor post;
    const auto box = lookout::engine::make_letterbox(640, 640, 640, 640);
    std::size_t kept = post.detect(rows.data(), n, cols, options, box).size();
    cpu_mark = thread_cpu_ms();
    const auto start = Clock::now();
    for (int i = 0; i < a.iterations; ++i) kept = post.detect(rows.data(), n, cols, options, box).size();
    std::printf("%zu candidates over the threshold, %zu kept\n", n, kept);
    report("decode+nms", a.iterations, Clock::now() - start);
    std::vector<lookout::engine::Candidate> candidates;
    double decode_cpu = 0, nms_cpu = 0;
    for (int i = 0; i < a.iterations; ++i) {
      candidates.clear();
      const double t0 = thread_cpu_ms();
      lookout::engine::decode_rows(rows.data(), n, cols, options, candidates);
      const double t1 = thread_cpu_ms();
      lookout::engine::non_max_suppression(candidates, options.iou, options.agnostic,
                                           options.max_detections);
      nms_cpu += thread_cpu_ms() - t1;
      decode_cpu += t1 - t0;
    }
    std::printf("  decode %.4f ms, nms %.4f ms each (thread CPU)\n", decode_cpu / a.iterations,
                nms_cpu / a.iterations);
    return 0;
  }
  usage("mode must be forward, detect, preprocess or nms");
}
