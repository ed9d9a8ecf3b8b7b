#include "engine/postprocess.hpp"

#include <algorithm>
#include <cassert>
#include <numeric>

namespace lookout::engine {

namespace {

// ultralytics' max_nms: at most this many candidates (the best) enter NMS.
constexpr std::size_t kMaxNms = 30000;

bool better(const Candidate& a, const Candidate& b) {
  return a.score > b.score || (a.score == b.score && a.row < b.row);
}

// Greedy NMS over one group of boxes that may suppress each other, already in
// `better` order. Appends the survivors to `kept`, at most `limit` of them.
// Structure-of-arrays so the inner loop vectorises.
void suppress_group(const Candidate* group, std::size_t n, float iou_threshold,
                    std::size_t limit, std::vector<Candidate>& kept) {
  std::vector<float> x1(n), y1(n), x2(n), y2(n), area(n);
  std::vector<unsigned char> dead(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    x1[i] = group[i].x1;
    y1[i] = group[i].y1;
    x2[i] = group[i].x2;
    y2[i] = group[i].y2;
    area[i] = (x2[i] - x1[i]) * (y2[i] - y1[i]);
  }
  std::size_t count = 0;
  for (std::size_t i = 0; i < n && count < limit; ++i) {
    if (dead[i]) continue;
    kept.push_back(group[i]);
    ++count;
    const float ax1 = x1[i], ay1 = y1[i], ax2 = x2[i], ay2 = y2[i], aarea = area[i];
    for (std::size_t j = i + 1; j < n; ++j) {
      const float w = std::max(0.0f, std::min(ax2, x2[j]) - std::max(ax1, x1[j]));
      const float h = std::max(0.0f, std::min(ay2, y2[j]) - std::max(ay1, y1[j]));
      const float inter = w * h;
      // As torchvision's nms: IoU > threshold suppresses (0/0 = NaN never does).
      const float overlap = inter / (aarea + area[j] - inter);
      dead[j] |= static_cast<unsigned char>(overlap > iou_threshold);
    }
  }
}

}  // namespace

float iou(const float* a, const float* b) {
  const float w = std::max(0.0f, std::min(a[2], b[2]) - std::max(a[0], b[0]));
  const float h = std::max(0.0f, std::min(a[3], b[3]) - std::max(a[1], b[1]));
  const float inter = w * h;
  const float uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return uni > 0 ? inter / uni : 0.0f;
}

void decode_rows(const float* data, std::size_t rows, std::size_t cols,
                 const DetectOptions& options, std::vector<Candidate>& out) {
  assert(cols > 5);
  const std::size_t nc = cols - 5;
  // Per-class thresholds, and the lowest one as the objectness pre-filter
  // (score = obj * cls <= obj, so obj <= lowest threshold can never pass).
  std::vector<float> threshold(nc, options.conf);
  for (const auto& [id, conf] : options.class_conf) {
    if (id >= 0 && static_cast<std::size_t>(id) < nc) threshold[static_cast<std::size_t>(id)] = conf;
  }
  std::vector<bool> wanted(nc, options.classes.empty());
  for (int id : options.classes) {
    if (id >= 0 && static_cast<std::size_t>(id) < nc) wanted[static_cast<std::size_t>(id)] = true;
  }
  const float prefilter = *std::min_element(threshold.begin(), threshold.end());

  for (std::size_t r = 0; r < rows; ++r) {
    const float* row = data + r * cols;
    const float obj = row[4];
    if (!(obj > prefilter)) continue;
    // ultralytics multiplies every class score by objectness, then takes the
    // first maximum; doing the same keeps ties identical.
    std::size_t best = 0;
    float best_score = row[5] * obj;
    for (std::size_t c = 1; c < nc; ++c) {
      const float s = row[5 + c] * obj;
      if (s > best_score) {
        best_score = s;
        best = c;
      }
    }
    if (!(best_score > threshold[best]) || !wanted[best]) continue;
    const float cx = row[0], cy = row[1], hw = row[2] / 2, hh = row[3] / 2;
    out.push_back({cx - hw, cy - hh, cx + hw, cy + hh, best_score, static_cast<int>(best),
                   static_cast<int>(r)});
  }
}

std::vector<Candidate> non_max_suppression(std::vector<Candidate>& candidates, float iou_threshold,
                                           bool agnostic, int max_detections) {
  std::vector<Candidate> kept;
  if (candidates.empty() || max_detections <= 0) return kept;
  const auto limit = static_cast<std::size_t>(max_detections);
  if (candidates.size() > kMaxNms) {
    std::nth_element(candidates.begin(), candidates.begin() + kMaxNms, candidates.end(), better);
    candidates.resize(kMaxNms);
  }
  if (agnostic) {
    std::sort(candidates.begin(), candidates.end(), better);
    suppress_group(candidates.data(), candidates.size(), iou_threshold, limit, kept);
    return kept;
  }
  // Class-aware: boxes of different classes never suppress each other, so run
  // each class alone (far fewer pairs), then merge the survivors by score.
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.class_id < b.class_id || (a.class_id == b.class_id && better(a, b));
  });
  for (std::size_t begin = 0; begin < candidates.size();) {
    std::size_t end = begin;
    while (end < candidates.size() && candidates[end].class_id == candidates[begin].class_id) ++end;
    suppress_group(candidates.data() + begin, end - begin, iou_threshold, limit, kept);
    begin = end;
  }
  std::sort(kept.begin(), kept.end(), better);
  if (kept.size() > limit) kept.resize(limit);
  return kept;
}

Detection to_frame(const Candidate& c, const Letterbox& box) {
  const auto fx = [&](float x) {
    const double v = (x - box.pad_x) / box.gain;
    return static_cast<float>(std::clamp(v, 0.0, static_cast<double>(box.frame_width)));
  };
  const auto fy = [&](float y) {
    const double v = (y - box.pad_y) / box.gain;
    return static_cast<float>(std::clamp(v, 0.0, static_cast<double>(box.frame_height)));
  };
  Detection d;
  d.class_id = c.class_id;
  d.score = c.score;
  d.x1 = fx(c.x1);
  d.y1 = fy(c.y1);
  d.x2 = fx(c.x2);
  d.y2 = fy(c.y2);
  return d;
}

std::vector<Detection> Postprocessor::detect(const float* data, std::size_t rows,
                                             std::size_t cols, const DetectOptions& options,
                                             const Letterbox& box) {
  candidates_.clear();
  decode_rows(data, rows, cols, options, candidates_);
  const std::vector<Candidate> kept =
      non_max_suppression(candidates_, options.iou, options.agnostic, options.max_detections);
  std::vector<Detection> detections;
  detections.reserve(kept.size());
  for (const Candidate& c : kept) detections.push_back(to_frame(c, box));
  return detections;
}

std::vector<ClassScore> top_k(const float* scores, std::size_t n, int k) {
  std::vector<ClassScore> all(n);
  for (std::size_t i = 0; i < n; ++i) all[i] = {static_cast<int>(i), scores[i]};
  const std::size_t keep = (k <= 0 || static_cast<std::size_t>(k) > n) ? n : static_cast<std::size_t>(k);
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(),
                    [](const ClassScore& a, const ClassScore& b) {
                      return a.score > b.score || (a.score == b.score && a.class_id < b.class_id);
                    });
  all.resize(keep);
  return all;
}

}  // namespace lookout::engine
