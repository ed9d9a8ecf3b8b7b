// Fuzz target "model_file": what a model file tells the engine about itself
// (its class names in config.txt, its output's shape and type on the dry
// forward and on every frame) through Engine::load and detect/classify.
//
// Input: the first bytes choose a TorchScript forward, which this harness
// compiles and saves with the rest of the input as config.txt; the forward
// returns a tensor of any rank, size, type and values (NaN, infinities,
// huge), a tuple, list or dict of them, a number or None, or a shape that
// depends on the frame, or changes between the dry forward and the frames.
// The engine must either refuse the file with ModelError, or load it and
// then give, for each frame, detections whose class ids name a class and
// whose numbers are finite, or throw std::exception for that frame (the
// pipeline skips and counts it).
//
// Not here: raw bytes as the archive. A first version fed them to the
// engine in-process and found that libtorch's own reader trusts the archive
// (a 1.7 KB file made it allocate 20 GB: tests/app/daemon/data). That is
// not lookout's code to fix; lookoutd reads every model file in a probe
// process under a memory limit first (EngineOptions::probe_command), and
// daemon_test checks that containment against the real process.
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/script.h>

#include "core/frame.hpp"
#include "engine/engine.hpp"

namespace {

struct Bytes {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  std::uint8_t next() { return at < size ? data[at++] : 0; }
  std::string rest() const {
    return at < size ? std::string(reinterpret_cast<const char*>(data + at), size - at) : "";
  }
};

const char* const kTypes[] = {"torch.float32", "torch.float64", "torch.int64",
                              "torch.bool",    "torch.float16", "torch.uint8"};
const char* const kValues[] = {"0.0",           "0.9",   "1.0",          "-1.0",
                               "1e30",          "-1e30", "float('nan')", "float('inf')",
                               "float('-inf')", "320.0", "3e38",         "1e-40"};

// A dimension: mostly small and typical sizes, sometimes 0 or large.
std::int64_t dimension(std::uint8_t b) {
  static const std::int64_t kCommon[] = {0, 1, 1, 1, 2, 3, 5, 6, 7, 8, 10, 85, 300, 4096};
  return b < 200 ? kCommon[b % 14] : static_cast<std::int64_t>(b - 200);
}

std::string shape_of(Bytes& in, int rank) {
  std::string shape = "[";
  std::int64_t elements = 1;
  for (int i = 0; i < rank; ++i) {
    std::int64_t d = dimension(in.next());
    if (elements * std::max<std::int64_t>(d, 1) > (1 << 20)) d = 1;  // bounded memory
    elements *= std::max<std::int64_t>(d, 1);
    shape += (i ? ", " : "") + std::to_string(d);
  }
  return shape + "]";
}

std::string tensor_expression(Bytes& in) {
  const int rank = in.next() % 5;
  const std::string shape = shape_of(in, rank);
  const std::string value = kValues[in.next() % (sizeof kValues / sizeof *kValues)];
  const std::string type = kTypes[in.next() % (sizeof kTypes / sizeof *kTypes)];
  return "torch.full(" + shape + ", " + value + ", dtype=" + type + ")";
}

// The body of forward(self, x) for x of [1, C, H, W].
std::string forward_body(Bytes& in) {
  const std::string t = tensor_expression(in);
  switch (in.next() % 10) {
    case 0:
    case 1:
      return "    return " + t + "\n";
    case 2:
      return "    return (" + t + ", 7)\n";
    case 3:
      return "    return [" + t + ", " + tensor_expression(in) + "]\n";
    case 4:
      return "    return {'out': " + t + "}\n";
    case 5:
      return "    return 3\n";
    case 6:
      return "    return None\n";
    case 7: {
      // Rows from the frame's pixels, plus columns of a constant: a shape
      // that follows the input size, values that follow the frame.
      const int extra = dimension(in.next()) % 90;
      return "    y = x.flatten(2).permute(0, 2, 1)\n"
             "    return torch.cat([y, torch.full([1, y.size(1), " +
             std::to_string(extra) + "], " + kValues[in.next() % 12] + ")], 2)\n";
    }
    case 8:
      // Another shape, type or rank on frames than on the dry forward (whose
      // input is uniform random, mean 0.5; frames are mostly padding, 0.447).
      return "    if bool(x.mean() > 0.48):\n        return " + t + "\n    return " +
             tensor_expression(in) + "\n";
    default: {
      // As many rows as the frame's content says.
      const int columns = 5 + static_cast<int>(dimension(in.next()) % 90);
      return "    n = int(x.sum().item()) % 300\n    return torch.rand([1, n, " +
             std::to_string(columns) + "])\n";
    }
  }
}

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path =
      (std::filesystem::temp_directory_path() / ("lookout-fuzz-model-" + std::to_string(getpid())))
          .string();
  Bytes in{data, size};
  in.next();  // reserved (was the raw mode; kept so the corpus keeps its meaning)
  lookout::EngineOptions options;
  options.model_path = path;
  options.threads = 1;
  options.warm_up = false;
  options.input_width = options.input_height = 32 * (1 + in.next() % 3);
  static const lookout::Backend kBackends[] = {lookout::Backend::Blas, lookout::Backend::OneDnn,
                                               lookout::Backend::Xnnpack};
  options.backend = kBackends[in.next() % 3];
  const std::uint8_t shade = in.next();
  {
    const std::string source = "def forward(self, x):\n" + forward_body(in);
    torch::jit::Module module("FuzzModel");
    try {
      module.define(source);
    } catch (const std::exception&) {
      return 0;  // the harness wrote something TorchScript refuses: not the engine's concern
    }
    torch::jit::ExtraFilesMap extra;
    const std::string config = in.rest();
    if (!config.empty()) extra["config.txt"] = config;
    module.save(path, extra);
  }

  std::unique_ptr<lookout::Engine> engine;
  try {
    engine = lookout::Engine::load(options);
  } catch (const lookout::ModelError&) {
    return 0;
  }
  const lookout::ModelInfo& info = engine->info();
  check(!info.class_names.empty());
  check(info.input_width > 0 && info.input_height > 0);
  auto frame = lookout::Frame::allocate(lookout::PixelFormat::RGB24, 64, 48);
  for (int y = 0; y < 48; ++y) {
    std::uint8_t* row = frame->mutable_plane(0) + y * frame->planes[0].stride;
    for (int x = 0; x < 64 * 3; ++x) row[x] = static_cast<std::uint8_t>(shade + x + y);
  }
  for (int round = 0; round < 2; ++round) {
    try {
      if (info.task == lookout::Task::Detect) {
        const auto result = engine->detect(*frame, lookout::DetectOptions{});
        for (const auto& d : result.detections) {
          check(d.class_id >= 0 && static_cast<std::size_t>(d.class_id) < info.class_names.size());
          check(std::isfinite(d.score) && std::isfinite(d.x1) && std::isfinite(d.y1) &&
                std::isfinite(d.x2) && std::isfinite(d.y2));
          check(d.x1 >= 0 && d.x2 <= 64 && d.y1 >= 0 && d.y2 <= 48);
        }
      } else {
        const auto result = engine->classify(*frame, 5);
        for (const auto& c : result.top) {
          check(c.class_id >= 0 && static_cast<std::size_t>(c.class_id) < info.class_names.size());
        }
      }
    } catch (const std::exception&) {
      // This frame is refused; the next one may be fine.
    }
    for (int y = 0; y < 48; ++y) {  // a brighter second frame: mean above 0.48
      std::memset(frame->mutable_plane(0) + y * frame->planes[0].stride, 250, 64 * 3);
    }
  }
  return 0;
}
