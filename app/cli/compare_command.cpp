// lookout model compare: two models (fp32 and int8, two exports, or one file
// on two backends) side by side: do they find the same objects on these
// images, what do they weigh, and where does each spend its time here.
//
// The two run one after the other, never at once: libtorch's thread and
// backend settings are process-wide (see engine::profile_model).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "engine/inspect.hpp"
#include "graph_picture.hpp"
#include "image_io.hpp"

namespace lookout::cli {

namespace {

// One model's side: its profile and, per image, its detections (or why the
// image gave none).
struct Side {
  engine::ModelProfile profile;
  std::vector<std::vector<Detection>> detections;
  std::vector<std::string> errors;  // per image; empty = it ran
};

Side run_side(const EngineOptions& options, const CompareArgs& args) {
  Side side;
  side.profile = engine::profile_model(options, args.runs);
  side.detections.resize(args.images.size());
  side.errors.resize(args.images.size());
  if (args.images.empty()) return side;
  if (side.profile.info.task != Task::Detect) {
    throw ModelError(options.model_path + " is a '" +
                     std::string(enum_name(side.profile.info.task)) +
                     "' model; comparing detections needs two detectors");
  }
  const auto engine = Engine::load(options);
  for (std::size_t i = 0; i < args.images.size(); ++i) {
    try {
      side.detections[i] = engine->detect(*read_image(args.images[i]), args.detect).detections;
    } catch (const std::exception& e) {
      side.errors[i] = e.what();
    }
  }
  return side;
}

float iou(const Detection& a, const Detection& b) {
  const float w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const float h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const float inter = w * h;
  const float area_a = (a.x2 - a.x1) * (a.y2 - a.y1), area_b = (b.x2 - b.x1) * (b.y2 - b.y1);
  return inter / (area_a + area_b - inter);
}

// How one image's two sets of detections agree: pairs of the same class at
// IoU >= the threshold, taken greedily from the best overlap down (as
// detection metrics match predictions to ground truth).
struct Agreement {
  std::size_t a = 0, b = 0, matched = 0;
  double iou_sum = 0;
  double score_delta_sum = 0, score_delta_max = 0;
  // 2·matched / (a + b): 1 when both found the same objects (or none).
  double share() const { return a + b == 0 ? 1.0 : 2.0 * matched / static_cast<double>(a + b); }
};

Agreement agree(const std::vector<Detection>& a, const std::vector<Detection>& b, float threshold) {
  struct Pair {
    float iou;
    std::size_t i, j;
  };
  std::vector<Pair> pairs;
  for (std::size_t i = 0; i < a.size(); ++i) {
    for (std::size_t j = 0; j < b.size(); ++j) {
      if (a[i].class_id != b[j].class_id) continue;
      const float o = iou(a[i], b[j]);
      if (o >= threshold) pairs.push_back({o, i, j});
    }
  }
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const Pair& x, const Pair& y) { return x.iou > y.iou; });
  std::vector<bool> used_a(a.size()), used_b(b.size());
  Agreement out;
  out.a = a.size();
  out.b = b.size();
  for (const Pair& p : pairs) {
    if (used_a[p.i] || used_b[p.j]) continue;
    used_a[p.i] = used_b[p.j] = true;
    ++out.matched;
    out.iou_sum += p.iou;
    const double delta = std::fabs(static_cast<double>(a[p.i].score) - b[p.j].score);
    out.score_delta_sum += delta;
    out.score_delta_max = std::max(out.score_delta_max, delta);
  }
  return out;
}

// The layers of both graphs, in A's order then B's others, paired by name
// and by which occurrence of that name they are (the decoding's operators all
// carry "decode").
struct LayerPair {
  std::string name, title, shape;
  int a = -1, b = -1;  // layer index in each graph, -1 = not in it
};

std::vector<LayerPair> pair_layers(const engine::ModelGraph& a, const engine::ModelGraph& b) {
  std::vector<LayerPair> out;
  std::map<std::pair<std::string, int>, std::size_t> at;
  std::map<std::string, int> seen;
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    const int k = seen[a.layers[i].name]++;
    at[{a.layers[i].name, k}] = out.size();
    out.push_back(
        {a.layers[i].name, a.layers[i].title, shapes_text(a.layers[i]), static_cast<int>(i), -1});
  }
  seen.clear();
  for (std::size_t j = 0; j < b.layers.size(); ++j) {
    const int k = seen[b.layers[j].name]++;
    const auto it = at.find({b.layers[j].name, k});
    if (it != at.end() && out[it->second].b < 0) {
      out[it->second].b = static_cast<int>(j);
    } else {
      out.push_back(
          {b.layers[j].name, b.layers[j].title, shapes_text(b.layers[j]), -1, static_cast<int>(j)});
    }
  }
  return out;
}

nlohmann::json side_json(const Side& s) {
  const auto& p = s.profile;
  return {{"model", p.info.path},
          {"name", p.info.name},
          {"backend", enum_name(p.info.backend)},
          {"threads", p.info.threads},
          {"input_shape", p.graph.input_shape},
          {"dynamic", p.info.dynamic},
          {"parameters", p.graph.parameters},
          {"macs", p.graph.macs},
          {"layers", p.graph.layers.size()},
          {"forward_ms", p.plain_forward_ms},
          {"profiled_forward_ms", p.forward_ms}};
}

std::string ms_text(const engine::ModelProfile& p, int layer) {
  if (layer < 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.4f", p.layer_ms[static_cast<std::size_t>(layer)]);
  return text;
}

}  // namespace

int run_model_compare(const CompareArgs& args, std::ostream& out) {
  Side a, b;
  try {
    a = run_side(args.a, args);
    b = run_side(args.b, args);
  } catch (const ModelError& e) {
    std::cerr << "lookout: model error: " << e.what() << "\n";
    return kExitUsage;
  }
  int status = kExitOk;
  Agreement total;
  std::size_t compared = 0;
  nlohmann::json images = nlohmann::json::array();
  for (std::size_t i = 0; i < args.images.size(); ++i) {
    const std::string& error = !a.errors[i].empty() ? a.errors[i] : b.errors[i];
    if (!error.empty()) {
      // (image errors mostly name the file already)
      const bool named = error.compare(0, args.images[i].size(), args.images[i]) == 0;
      std::cerr << "lookout: " << (named ? "" : args.images[i] + ": ") << error << "\n";
      images.push_back({{"image", args.images[i]}, {"error", error}});
      status = kExitFailure;
      continue;
    }
    const Agreement g = agree(a.detections[i], b.detections[i], args.match_iou);
    images.push_back({{"image", args.images[i]},
                      {"a", g.a},
                      {"b", g.b},
                      {"matched", g.matched},
                      {"agreement", g.share()}});
    ++compared;
    total.a += g.a;
    total.b += g.b;
    total.matched += g.matched;
    total.iou_sum += g.iou_sum;
    total.score_delta_sum += g.score_delta_sum;
    total.score_delta_max = std::max(total.score_delta_max, g.score_delta_max);
  }
  const double mean_iou = total.matched ? total.iou_sum / static_cast<double>(total.matched) : 0.0;
  const double mean_delta =
      total.matched ? total.score_delta_sum / static_cast<double>(total.matched) : 0.0;
  const auto layers = pair_layers(a.profile.graph, b.profile.graph);

  if (args.json) {
    nlohmann::json j;
    j["a"] = side_json(a);
    j["b"] = side_json(b);
    j["detections"] = {{"images", images},
                       {"compared", compared},
                       {"a", total.a},
                       {"b", total.b},
                       {"matched", total.matched},
                       {"only_a", total.a - total.matched},
                       {"only_b", total.b - total.matched},
                       {"agreement", total.share()},
                       {"match_iou", args.match_iou},
                       {"mean_iou", mean_iou},
                       {"mean_score_delta", mean_delta},
                       {"max_score_delta", total.score_delta_max}};
    auto& rows = j["layers"] = nlohmann::json::array();
    for (const auto& l : layers) {
      nlohmann::json row = {{"name", l.name}, {"title", l.title}, {"output", l.shape}};
      row["a_ms"] =
          l.a >= 0 ? nlohmann::json(a.profile.layer_ms[static_cast<std::size_t>(l.a)]) : nullptr;
      row["b_ms"] =
          l.b >= 0 ? nlohmann::json(b.profile.layer_ms[static_cast<std::size_t>(l.b)]) : nullptr;
      rows.push_back(row);
    }
    out << j.dump() << "\n";
    return status;
  }

  char line[512];
  const auto side_line = [&](const char* label, const Side& s) {
    const auto& p = s.profile;
    std::snprintf(line, sizeof line,
                  "%s  %s (%s, %d threads)\n   input %s%s, %s parameters, %s MACs, "
                  "forward %.3f ms\n",
                  label, p.info.path.c_str(), std::string(enum_name(p.info.backend)).c_str(),
                  p.info.threads, shape_text(p.graph.input_shape).c_str(),
                  p.info.dynamic ? " (any size: each image is fitted)" : "",
                  human_count(p.graph.parameters).c_str(), human_count(p.graph.macs).c_str(),
                  p.plain_forward_ms);
    out << line;
  };
  side_line("A", a);
  side_line("B", b);
  if (a.profile.plain_forward_ms > 0) {
    std::snprintf(line, sizeof line, "   B/A forward time %.3f\n",
                  b.profile.plain_forward_ms / a.profile.plain_forward_ms);
    out << line;
  }
  if (!args.images.empty()) {
    std::snprintf(line, sizeof line,
                  "\ndetections on %zu of %zu images (same class, IoU >= %.2f): A %zu, B %zu, "
                  "matched %zu, only A %zu, only B %zu; agreement %.4f, mean IoU %.4f, "
                  "score difference mean %.4f max %.4f\n",
                  compared, args.images.size(), static_cast<double>(args.match_iou), total.a,
                  total.b, total.matched, total.a - total.matched, total.b - total.matched,
                  total.share(), mean_iou, mean_delta, total.score_delta_max);
    out << line;
    for (const auto& im : images) {
      if (im.contains("error")) {
        out << "  " << im["image"].get<std::string>() << ": " << im["error"].get<std::string>()
            << "\n";
        continue;
      }
      std::snprintf(line, sizeof line, "  %-40s A %3zu  B %3zu  matched %3zu  agreement %.4f\n",
                    im["image"].get<std::string>().c_str(), im["a"].get<std::size_t>(),
                    im["b"].get<std::size_t>(), im["matched"].get<std::size_t>(),
                    im["agreement"].get<double>());
      out << line;
    }
  }
  out << "\n  layer                      operation                    output                    "
         "A ms       B ms\n";
  for (const auto& l : layers) {
    std::snprintf(line, sizeof line, "  %-26s %-28s %-20s %10s %10s\n", l.name.c_str(),
                  l.title.c_str(), l.shape.c_str(), ms_text(a.profile, l.a).c_str(),
                  ms_text(b.profile, l.b).c_str());
    out << line;
  }
  return status;
}

}  // namespace lookout::cli
