// lookout detect / lookout classify: one JSON line per image on stdout.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "engine/prepare_ahead.hpp"
#include "image_io.hpp"
#include "picture/draw.hpp"
#include "picture/image.hpp"

namespace lookout::cli {

namespace {

// Rounded to `digits` decimals for output (dividing last gives the double
// nearest to the decimal, so the JSON shows it short).
double round_to(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

nlohmann::json timing_json(const StageTimes& t) {
  return {{"decode", round_to(t.decode_ms, 3)},
          {"preprocess", round_to(t.preprocess_ms, 3)},
          {"forward", round_to(t.forward_ms, 3)},
          {"postprocess", round_to(t.postprocess_ms, 3)},
          {"total", round_to(t.total_ms(), 3)}};
}

std::string class_name(const std::vector<std::string>& names, int id) {
  return id >= 0 && static_cast<std::size_t>(id) < names.size() ? names[static_cast<std::size_t>(id)]
                                                                : std::to_string(id);
}

// The start of an image's output line: its path and the frame's size (JPEG
// frames carry it from their header).
nlohmann::json image_line(const std::string& path, const Frame& frame) {
  return {{"image", path}, {"width", frame.width}, {"height", frame.height}};
}

// Runs `handle(path, frame, prepared)` for each image in order; it prints the
// image's line. Image i+1 is read and handed to a PrepareAhead helper (JPEG
// decoding, letterboxing) before the model runs on image i, so with a free
// core the work overlaps. An image that cannot be read, decoded or run gets
// an error line instead and the others go on. Returns the exit status.
template <typename Handle>
int for_each_prepared(Engine& engine, const std::vector<std::string>& images, std::ostream& out,
                      Handle handle) {
  int status = kExitOk;
  const auto fail = [&](const std::string& path, const std::string& error) {
    out << nlohmann::json{{"image", path}, {"error", error}}.dump() << "\n" << std::flush;
    std::cerr << "lookout: " << path << ": " << error << "\n";
    status = kExitFailure;
  };
  PrepareAhead ahead(engine);
  struct Loaded {
    FramePtr frame;  // null if reading failed
    std::string error;
  };
  const auto load = [&](const std::string& path) -> Loaded {
    try {
      FramePtr frame = read_image(path);
      ahead.submit(frame);
      return {std::move(frame), {}};
    } catch (const std::exception& e) {
      return {nullptr, e.what()};
    }
  };
  Loaded next = images.empty() ? Loaded{} : load(images[0]);
  for (std::size_t i = 0; i < images.size(); ++i) {
    const Loaded current = std::move(next);
    PreparedFrame prepared;
    std::string error = current.error;
    if (current.frame) {
      try {
        prepared = ahead.take();
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    if (i + 1 < images.size()) next = load(images[i + 1]);
    if (!current.frame || prepared.empty()) {
      fail(images[i], error);
      continue;
    }
    try {
      handle(images[i], *current.frame, std::move(prepared));
    } catch (const std::exception& e) {
      fail(images[i], e.what());
    }
  }
  return status;
}

// Where --save writes the annotated copy of `image` (one of `count` images).
std::string save_path(const std::string& save, const std::string& image, std::size_t count) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(save, ec) || (!save.empty() && save.back() == '/') || count > 1) {
    return (fs::path(save) / fs::path(image).stem()).string() + ".jpg";
  }
  return save;
}

std::unique_ptr<Engine> load_engine(const EngineOptions& options) {
  try {
    return Engine::load(options);
  } catch (const ModelError& e) {
    std::cerr << "lookout: model error: " << e.what() << "\n";
  }
  return nullptr;
}

}  // namespace

bool parse_input_size(const std::string& text, EngineOptions& options) {
  char* end = nullptr;
  const long w = std::strtol(text.c_str(), &end, 10);
  if (end == text.c_str() || w <= 0 || w > 8192) return false;
  long h = w;
  if (*end == 'x' || *end == 'X') {
    const char* start = end + 1;
    h = std::strtol(start, &end, 10);
    if (end == start || h <= 0 || h > 8192) return false;
  }
  if (*end != '\0') return false;
  options.input_width = static_cast<int>(w);
  options.input_height = static_cast<int>(h);
  return true;
}

std::vector<int> resolve_classes(const std::vector<std::string>& entries,
                                 const std::vector<std::string>& names) {
  std::vector<int> ids;
  for (const std::string& entry : entries) {
    const auto it = std::find(names.begin(), names.end(), entry);
    if (it != names.end()) {
      ids.push_back(static_cast<int>(it - names.begin()));
      continue;
    }
    char* end = nullptr;
    const long id = std::strtol(entry.c_str(), &end, 10);
    if (!entry.empty() && *end == '\0' && id >= 0 && id < static_cast<long>(names.size())) {
      ids.push_back(static_cast<int>(id));
      continue;
    }
    throw std::invalid_argument("--classes: \"" + entry + "\" is neither a class name nor an id 0.." +
                                std::to_string(names.size() - 1) + " of this model");
  }
  return ids;
}

int run_detect(const DetectArgs& args, std::ostream& out) {
  auto engine = load_engine(args.engine);
  if (!engine) return kExitUsage;
  const ModelInfo& info = engine->info();
  if (info.task != Task::Detect) {
    std::cerr << "lookout: " << info.path << " is a " << enum_name(info.task)
              << " model; use `lookout classify`\n";
    return kExitUsage;
  }
  DetectOptions options = args.detect;
  try {
    options.classes = resolve_classes(args.classes, info.class_names);
  } catch (const std::invalid_argument& e) {
    std::cerr << "lookout: " << e.what() << "\n";
    return kExitUsage;
  }
  if (!args.save.empty() && args.images.size() > 1) {
    std::error_code ec;
    std::filesystem::create_directories(args.save, ec);
    if (ec) {
      std::cerr << "lookout: --save " << args.save << ": cannot create directory: " << ec.message()
                << "\n";
      return kExitUsage;
    }
  }

  const auto handle = [&](const std::string& path, const Frame& frame, PreparedFrame prepared) {
    const DetectResult result = engine->detect(std::move(prepared), options);
    nlohmann::json line = image_line(path, frame);
    auto& list = line["detections"] = nlohmann::json::array();
    for (const Detection& d : result.detections) {
      list.push_back({{"class", class_name(info.class_names, d.class_id)},
                      {"class_id", d.class_id},
                      {"score", round_to(d.score, 4)},
                      {"box",
                       {round_to(d.x1, 2), round_to(d.y1, 2), round_to(d.x2, 2),
                        round_to(d.y2, 2)}}});
    }
    line["timing_ms"] = timing_json(result.times);
    if (!args.save.empty()) {
      picture::RgbImage image = picture::to_rgb(frame);
      picture::draw_detections(image, result.detections, info.class_names);
      write_jpeg(save_path(args.save, path, args.images.size()), image);
    }
    out << line.dump() << "\n" << std::flush;
  };
  return for_each_prepared(*engine, args.images, out, handle);
}

int run_classify(const ClassifyArgs& args, std::ostream& out) {
  auto engine = load_engine(args.engine);
  if (!engine) return kExitUsage;
  const ModelInfo& info = engine->info();
  if (info.task != Task::Classify) {
    std::cerr << "lookout: " << info.path << " is a " << enum_name(info.task)
              << " model; use `lookout detect`\n";
    return kExitUsage;
  }
  const auto handle = [&](const std::string& path, const Frame& frame, PreparedFrame prepared) {
    const ClassifyResult result = engine->classify(std::move(prepared), args.top_k);
    nlohmann::json line = image_line(path, frame);
    auto& list = line["classes"] = nlohmann::json::array();
    for (const ClassScore& c : result.top) {
      list.push_back({{"class", class_name(info.class_names, c.class_id)},
                      {"class_id", c.class_id},
                      {"score", round_to(c.score, 4)}});
    }
    line["timing_ms"] = timing_json(result.times);
    out << line.dump() << "\n" << std::flush;
  };
  return for_each_prepared(*engine, args.images, out, handle);
}

}  // namespace lookout::cli
