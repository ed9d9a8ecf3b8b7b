#include "tracking/mot_metrics.hpp"

#include <algorithm>
#include <limits>

#include "assignment.hpp"
#include "box_iou.hpp"

namespace lookout::tracking {

namespace {

constexpr double kNever = std::numeric_limits<double>::infinity();

double iou(const MotBox& a, const MotBox& b) {
  if (a.class_id != b.class_id) return 0;
  return box_iou(a.x1, a.y1, a.x2, a.y2, b.x1, b.y1, b.x2, b.y2);
}

double ratio(double numerator, double denominator) {
  return denominator > 0 ? numerator / denominator : 0;
}

// Optimal matching of the still free `objects` (indices into `boxes`) to the
// still free hypotheses, most pairs first, then the greatest total IoU; pairs
// below the threshold (or not overlapping) refused. Writes the matches to
// object_match (hypothesis index per box index) and marks the hypotheses.
void match_free(const std::vector<MotBox>& boxes, const std::vector<std::size_t>& objects,
                const std::vector<MotBox>& hypotheses, double iou_threshold,
                std::vector<int>& object_match, std::vector<unsigned char>& hypothesis_taken) {
  std::vector<std::size_t> rows;
  for (const std::size_t g : objects) {
    if (object_match[g] < 0) rows.push_back(g);
  }
  std::vector<std::size_t> cols;
  for (std::size_t j = 0; j < hypotheses.size(); ++j) {
    if (!hypothesis_taken[j]) cols.push_back(j);
  }
  if (rows.empty() || cols.empty()) return;
  std::vector<double> cost(rows.size() * cols.size(), kNever);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < cols.size(); ++c) {
      const double overlap = iou(boxes[rows[r]], hypotheses[cols[c]]);
      if (overlap > 0 && overlap >= iou_threshold) cost[r * cols.size() + c] = 1 - overlap;
    }
  }
  const std::vector<int> row_to_col =
      solve_assignment(cost, int(rows.size()), int(cols.size()), kNever);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const int c = row_to_col[r];
    if (c < 0) continue;
    object_match[rows[r]] = int(cols[std::size_t(c)]);
    hypothesis_taken[cols[std::size_t(c)]] = 1;
  }
}

}  // namespace

MotAccumulator::MotAccumulator(float iou_threshold, float min_visibility)
    : iou_threshold_(iou_threshold), min_visibility_(min_visibility) {}

void MotAccumulator::add_frame(const std::vector<MotBox>& ground_truth,
                               const std::vector<MotBox>& hypotheses) {
  ++frames_;
  const std::size_t frame = frames_;
  const double threshold = double(iou_threshold_);

  std::vector<std::size_t> required, ignored;
  for (std::size_t g = 0; g < ground_truth.size(); ++g) {
    (ground_truth[g].visibility >= min_visibility_ ? required : ignored).push_back(g);
  }
  std::vector<int> object_match(ground_truth.size(), -1);
  std::vector<unsigned char> hypothesis_taken(hypotheses.size(), 0);

  // 1. Correspondences of the previous frame, kept while still valid.
  for (const std::size_t g : required) {
    const auto it = ground_truth_history_.find(ground_truth[g].id);
    if (it == ground_truth_history_.end() || !it->second.ever_matched ||
        it->second.last_matched_frame + 1 != frame) {
      continue;
    }
    for (std::size_t j = 0; j < hypotheses.size(); ++j) {
      if (hypothesis_taken[j] || hypotheses[j].id != it->second.last_hypothesis) continue;
      const double overlap = iou(ground_truth[g], hypotheses[j]);
      if (overlap > 0 && overlap >= threshold) {
        object_match[g] = int(j);
        hypothesis_taken[j] = 1;
      }
      break;
    }
  }
  // 2. The other required objects, by optimal assignment.
  match_free(ground_truth, required, hypotheses, threshold, object_match, hypothesis_taken);
  // 3. Ignored objects take what they overlap among the rest; those
  // hypotheses then count for nothing.
  std::vector<unsigned char> counted(hypotheses.size(), 1);
  {
    std::vector<unsigned char> before = hypothesis_taken;
    match_free(ground_truth, ignored, hypotheses, threshold, object_match, hypothesis_taken);
    for (std::size_t j = 0; j < hypotheses.size(); ++j) {
      if (hypothesis_taken[j] && !before[j]) counted[j] = 0;
    }
  }

  for (const std::size_t g : required) {
    const MotBox& object = ground_truth[g];
    GroundTruthHistory& history = ground_truth_history_[object.id];
    ++history.required_frames;
    ++ground_truth_;
    const int j = object_match[g];
    if (j < 0) {
      ++misses_;
      history.matched_when_last_required = false;
      continue;
    }
    const MotBox& hypothesis = hypotheses[std::size_t(j)];
    ++matches_;
    iou_sum_ += iou(object, hypothesis);
    if (history.ever_matched) {
      if (history.last_hypothesis != hypothesis.id) ++id_switches_;
      if (!history.matched_when_last_required) ++fragmentations_;
    }
    history.ever_matched = true;
    history.last_hypothesis = hypothesis.id;
    history.last_matched_frame = frame;
    history.matched_when_last_required = true;
  }

  for (std::size_t j = 0; j < hypotheses.size(); ++j) {
    if (!counted[j]) continue;
    ++hypotheses_;
    if (!hypothesis_taken[j]) ++false_positives_;
    ++hypothesis_frames_[hypotheses[j].id];
    // Identity overlaps, independent of the CLEAR MOT matching above.
    for (const std::size_t g : required) {
      const double overlap = iou(ground_truth[g], hypotheses[j]);
      if (overlap > 0 && overlap >= threshold)
        ++pair_frames_[{ground_truth[g].id, hypotheses[j].id}];
    }
  }
}

MotSummary MotAccumulator::summary() const {
  MotSummary s;
  s.frames = frames_;
  s.ground_truth = ground_truth_;
  s.hypotheses = hypotheses_;
  s.matches = matches_;
  s.false_positives = false_positives_;
  s.misses = misses_;
  s.id_switches = id_switches_;
  s.fragmentations = fragmentations_;
  for (const auto& [id, history] : ground_truth_history_) {
    if (history.required_frames > 0) ++s.gt_trajectories;
  }
  const double gt = double(ground_truth_);
  s.mota = gt > 0 ? 1 - double(misses_ + false_positives_ + id_switches_) / gt : 0;
  s.motp = ratio(iou_sum_, double(matches_));
  s.id_switches_per_1000 = ratio(1000.0 * double(id_switches_), gt);

  // Identity: the trajectory pairing with the most frames in common. Only
  // trajectories that overlap some other one can be paired at all.
  std::map<std::int64_t, int> row_of, col_of;
  for (const auto& [pair, frames] : pair_frames_) {
    row_of.emplace(pair.first, 0);
    col_of.emplace(pair.second, 0);
  }
  int rows = 0, cols = 0;
  for (auto& [id, index] : row_of) index = rows++;
  for (auto& [id, index] : col_of) index = cols++;
  std::vector<double> cost(std::size_t(rows) * std::size_t(cols), 0.0);
  for (const auto& [pair, frames] : pair_frames_) {
    cost[std::size_t(row_of[pair.first]) * std::size_t(cols) + std::size_t(col_of[pair.second])] =
        -double(frames);
  }
  // Every pair is allowed (a pair with nothing in common costs 0 and adds
  // nothing), so this is the plain least-cost assignment.
  const std::vector<int> row_to_col = solve_assignment(cost, rows, cols, kNever);
  double id_true_positives = 0;
  for (int r = 0; r < rows; ++r) {
    const int c = row_to_col[std::size_t(r)];
    if (c >= 0) id_true_positives -= cost[std::size_t(r) * std::size_t(cols) + std::size_t(c)];
  }
  const double id_false_negatives = gt - id_true_positives;
  const double id_false_positives = double(hypotheses_) - id_true_positives;
  s.idp = ratio(id_true_positives, id_true_positives + id_false_positives);
  s.idr = ratio(id_true_positives, id_true_positives + id_false_negatives);
  s.idf1 =
      ratio(2 * id_true_positives, 2 * id_true_positives + id_false_positives + id_false_negatives);
  return s;
}

}  // namespace lookout::tracking
