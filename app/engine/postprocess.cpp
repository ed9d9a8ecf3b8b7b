#include "postprocess.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>

namespace lookout::engine {

namespace {

// ultralytics' max_nms: at most this many candidates (the best) enter NMS.
constexpr std::size_t kMaxNms = 30000;

bool better(const Candidate& a, const Candidate& b) {
  return a.score > b.score || (a.score == b.score && a.row < b.row);
}

// Greedy NMS, exactly as the textbook loop (and torchvision's nms) decides
// it: in score order, a candidate survives unless a box kept before it (of
// its class, unless agnostic) overlaps it with IoU > threshold; stop at
// `limit` survivors. Instead of each kept box scanning all later candidates,
// each candidate asks only the kept boxes of its class near it: kept boxes are
// registered in the cells of a coarse grid (one per class) that they cover,
// and a candidate looks in the cells it covers (or at all kept boxes of its
// class, when that is fewer). Boxes that share no cell don't overlap, so the
// outcome is the same; the work drops from O(candidates x kept) to about
// O(candidates) for realistic boxes.
class GridNms {
 public:
  // `order`: indices into `c`, best first.
  GridNms(const std::vector<Candidate>& c, float threshold, bool agnostic)
      : c_(c), threshold_(threshold), agnostic_(agnostic) {
    float x0 = c_[0].x1, y0 = c_[0].y1, x1 = c_[0].x2, y1 = c_[0].y2;
    int max_class = 0;
    for (const Candidate& b : c_) {
      x0 = std::min(x0, b.x1);
      y0 = std::min(y0, b.y1);
      x1 = std::max(x1, b.x2);
      y1 = std::max(y1, b.y2);
      max_class = std::max(max_class, b.class_id);
    }
    origin_x_ = x0;
    origin_y_ = y0;
    // A square grid of at most kGrid x kGrid cells over the candidates' extent.
    const float extent = std::max({x1 - x0, y1 - y0, 1.0f});
    cell_ = extent / kGrid;
    if (!(cell_ > 0) || !std::isfinite(cell_)) cell_ = 1.0f;
    groups_.resize(agnostic ? 1 : static_cast<std::size_t>(max_class) + 1);
  }

  std::vector<Candidate> run(const std::vector<std::uint32_t>& order, std::size_t limit) {
    std::vector<Candidate> kept;
    std::vector<std::uint32_t> seen;  // per kept box: the last candidate that looked at it
    std::uint32_t stamp = 0;
    for (std::uint32_t index : order) {
      if (kept.size() >= limit) break;
      const Candidate& cand = c_[index];
      Group& group = groups_[agnostic_ ? 0 : static_cast<std::size_t>(std::max(cand.class_id, 0))];
      int gx0, gy0, gx1, gy1;
      cell_range(cand, gx0, gy0, gx1, gy1);
      const std::size_t ncells =
          static_cast<std::size_t>(gx1 - gx0 + 1) * static_cast<std::size_t>(gy1 - gy0 + 1);
      bool suppressed = false;
      if (ncells >= group.members.size()) {
        for (std::uint32_t k : group.members) {
          if (overlaps(kept[k], cand)) {
            suppressed = true;
            break;
          }
        }
      } else {
        ++stamp;
        for (int gy = gy0; gy <= gy1 && !suppressed; ++gy) {
          for (int gx = gx0; gx <= gx1 && !suppressed; ++gx) {
            for (std::uint32_t k :
                 group.cells[static_cast<std::size_t>(gy) * kGrid + static_cast<std::size_t>(gx)]) {
              if (seen[k] == stamp) continue;
              seen[k] = stamp;
              if (overlaps(kept[k], cand)) {
                suppressed = true;
                break;
              }
            }
          }
        }
      }
      if (suppressed) continue;
      const auto id = static_cast<std::uint32_t>(kept.size());
      kept.push_back(cand);
      seen.push_back(0);
      group.members.push_back(id);
      if (group.cells.empty()) group.cells.resize(static_cast<std::size_t>(kGrid) * kGrid);
      for (int gy = gy0; gy <= gy1; ++gy) {
        for (int gx = gx0; gx <= gx1; ++gx) {
          group.cells[static_cast<std::size_t>(gy) * kGrid + static_cast<std::size_t>(gx)]
              .push_back(id);
        }
      }
    }
    return kept;
  }

 private:
  static constexpr int kGrid = 16;

  // Kept boxes of one class (or of all, when agnostic).
  struct Group {
    std::vector<std::uint32_t> members;
    std::vector<std::vector<std::uint32_t>> cells;  // allocated with the first member
  };

  int cell_of(float v, float origin) const {
    const float f = (v - origin) / cell_;
    if (!(f >= 0)) return 0;  // also NaN
    // Before the cast: a float beyond int's range (boxes near +-3e38 make the
    // extent infinite and the cell 1) would be undefined behaviour.
    if (!(f < kGrid)) return kGrid - 1;
    return static_cast<int>(f);
  }
  void cell_range(const Candidate& c, int& gx0, int& gy0, int& gx1, int& gy1) const {
    gx0 = cell_of(std::min(c.x1, c.x2), origin_x_);
    gx1 = cell_of(std::max(c.x1, c.x2), origin_x_);
    gy0 = cell_of(std::min(c.y1, c.y2), origin_y_);
    gy1 = cell_of(std::max(c.y1, c.y2), origin_y_);
  }
  // IoU > threshold, as torchvision computes it (0/0 = NaN never suppresses).
  bool overlaps(const Candidate& k, const Candidate& c) const {
    const float w = std::max(0.0f, std::min(k.x2, c.x2) - std::max(k.x1, c.x1));
    const float h = std::max(0.0f, std::min(k.y2, c.y2) - std::max(k.y1, c.y1));
    const float inter = w * h;
    const float area_k = (k.x2 - k.x1) * (k.y2 - k.y1);
    const float area_c = (c.x2 - c.x1) * (c.y2 - c.y1);
    return inter / (area_k + area_c - inter) > threshold_;
  }

  const std::vector<Candidate>& c_;
  float threshold_;
  bool agnostic_;
  float origin_x_ = 0, origin_y_ = 0, cell_ = 1;
  std::vector<Group> groups_;
};

// Sort key: score descending, then row ascending (scores are >= 0, so their
// IEEE bit patterns order like the values).
std::uint64_t order_key(const Candidate& c) {
  std::uint32_t bits;
  std::memcpy(&bits, &c.score, sizeof bits);
  return (static_cast<std::uint64_t>(~bits) << 32) | static_cast<std::uint32_t>(c.row);
}

// Indices 0..n-1 ordered by `keys` ascending, equal keys in index order: a
// stable LSD radix sort, 8 bits a pass, skipping passes in which every key
// has the same digit (the top byte of similar scores). For 25,200 candidates
// about 10x faster than std::sort of 64-bit keys, which was most of the NMS
// time (app/engine/BENCHMARKS.md).
std::vector<std::uint32_t> stable_order(const std::vector<std::uint32_t>& keys) {
  const std::size_t n = keys.size();
  std::vector<std::uint32_t> order(n), next(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(i);
  std::array<std::array<std::uint32_t, 256>, 4> counts{};
  for (const std::uint32_t k : keys) {
    for (std::size_t pass = 0; pass < 4; ++pass) ++counts[pass][(k >> (8 * pass)) & 0xFF];
  }
  for (std::size_t pass = 0; pass < 4 && n > 0; ++pass) {
    auto& start = counts[pass];
    const unsigned shift = static_cast<unsigned>(8 * pass);
    if (start[(keys[0] >> shift) & 0xFF] == n) continue;  // one digit: order unchanged
    std::uint32_t sum = 0;
    for (std::uint32_t& c : start) sum += std::exchange(c, sum);
    for (const std::uint32_t i : order) next[start[(keys[i] >> shift) & 0xFF]++] = i;
    order.swap(next);
  }
  return order;
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
    if (id >= 0 && static_cast<std::size_t>(id) < nc)
      threshold[static_cast<std::size_t>(id)] = conf;
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
    // ultralytics multiplies every class score by objectness and takes the
    // first maximum of the products. The largest raw score gives the largest
    // product (obj > 0, rounding is monotonic); the first index whose product
    // equals it is then the one torch picks, even in the rare case where
    // rounding makes two different scores' products equal.
    const float* cls = row + 5;
    float top = cls[0];
    for (std::size_t c = 1; c < nc; ++c) top = cls[c] > top ? cls[c] : top;
    const float best_score = top * obj;
    std::size_t best = 0;
    while (cls[best] * obj != best_score && best + 1 < nc) ++best;
    if (!(best_score > threshold[best]) || !wanted[best]) continue;
    const float cx = row[0], cy = row[1], hw = row[2] / 2, hh = row[3] / 2;
    // A broken or overflowing model (NaN, infinities) makes no detection:
    // nothing downstream (NMS, tracking, JSON) has a meaning for them.
    if (!std::isfinite(best_score) || !std::isfinite(cx - hw) || !std::isfinite(cy - hh) ||
        !std::isfinite(cx + hw) || !std::isfinite(cy + hh)) {
      continue;
    }
    out.push_back({cx - hw, cy - hh, cx + hw, cy + hh, best_score, static_cast<int>(best),
                   static_cast<int>(r)});
  }
}

std::vector<Candidate> non_max_suppression(std::vector<Candidate>& candidates, float iou_threshold,
                                           bool agnostic, int max_detections) {
  if (candidates.empty() || max_detections <= 0) return {};
  if (candidates.size() > kMaxNms) {
    std::nth_element(candidates.begin(), candidates.begin() + kMaxNms, candidates.end(), better);
    candidates.resize(kMaxNms);
  }
  // Ties in score keep row order: candidates are in row order here except
  // after the max_nms cut, which is re-sorted by row first.
  if (!std::is_sorted(candidates.begin(), candidates.end(),
                      [](const Candidate& a, const Candidate& b) { return a.row < b.row; })) {
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& a, const Candidate& b) { return a.row < b.row; });
  }
  std::vector<std::uint32_t> keys(candidates.size());
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    keys[i] = static_cast<std::uint32_t>(order_key(candidates[i]) >> 32);
  }
  const std::vector<std::uint32_t> order = stable_order(keys);
  return GridNms(candidates, iou_threshold, agnostic)
      .run(order, static_cast<std::size_t>(max_detections));
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

std::vector<Detection> Postprocessor::detect(const float* data, std::size_t rows, std::size_t cols,
                                             const DetectOptions& options, const Letterbox& box) {
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
  // NaN ranks last (as -inf), so the order is a strict weak one.
  for (std::size_t i = 0; i < n; ++i) {
    all[i] = {static_cast<int>(i),
              std::isnan(scores[i]) ? -std::numeric_limits<float>::infinity() : scores[i]};
  }
  const std::size_t keep =
      (k <= 0 || static_cast<std::size_t>(k) > n) ? n : static_cast<std::size_t>(k);
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(),
                    [](const ClassScore& a, const ClassScore& b) {
                      return a.score > b.score || (a.score == b.score && a.class_id < b.class_id);
                    });
  all.resize(keep);
  return all;
}

}  // namespace lookout::engine
