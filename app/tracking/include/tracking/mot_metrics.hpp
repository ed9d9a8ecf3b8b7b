// Multi-object tracking metrics over sequences with ground-truth identities:
// CLEAR MOT (Bernardin and Stiefelhagen, "Evaluating Multiple Object Tracking
// Performance: The CLEAR MOT Metrics", 2008) and the identity measures of
// Ristani et al., "Performance Measures and a Data Set for Multi-Target,
// Multi-Camera Tracking" (2016): IDF1, IDP, IDR. Computed here, in the
// project, so `lookout bench track` needs nothing else.
//
// Matching per frame (CLEAR MOT): a ground-truth object and a hypothesis may
// match when they are of the same class (multi-class tracking is scored per
// class, as KITTI and BDD100K do: a box of the wrong class is a false
// positive) and their boxes overlap with IoU >= iou_threshold. Correspondences
// of the previous frame are kept while still valid; the rest are made by
// optimal assignment maximising the total IoU. A ground-truth object matched
// to another hypothesis id than at its previous match is an id switch; a
// ground-truth trajectory that is tracked, then not, then tracked again has
// a fragmentation per interruption.
//
// Ignored ground truth: objects with visibility below min_visibility (cut by
// the frame edge, covered by others) are neither required nor penalised: a
// hypothesis matched to one is neither a true nor a false positive, and
// missing one is no miss. They are matched after the required objects.
//
// Identity (IDF1): one global optimal assignment between ground-truth and
// hypothesis trajectories maximising the frames on which the pair matches
// (IoU >= iou_threshold); IDTP is that count, IDFP and IDFN the rest of the
// hypotheses' and ground truth's detections (required objects only).
//
// Boxes that do not overlap at all never match, whatever the threshold.
// Ratios whose denominator is zero (no ground truth, no matches) are 0.
//
// Ownership: plain value type. Threads: none; one user at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

namespace lookout::tracking {

struct MotBox {
  std::int64_t id = 0;  // a trajectory's identity (ground truth or hypothesis)
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  float visibility = 1;  // ground truth only
  int class_id = 0;      // a hypothesis matches ground truth of its own class only
};

struct MotSummary {
  std::size_t frames = 0;
  std::size_t ground_truth = 0;  // required object-frames
  std::size_t hypotheses = 0;    // hypothesis boxes not matched to ignored objects
  std::size_t matches = 0;       // true positives (id switches included: each is a matched pair)
  std::size_t false_positives = 0;
  std::size_t misses = 0;
  std::size_t id_switches = 0;
  std::size_t fragmentations = 0;
  std::size_t gt_trajectories = 0;  // ground-truth ids seen as required at least once
  double mota = 0;                  // 1 - (misses + false positives + id switches) / ground truth
  double motp = 0;                  // mean IoU of the matches
  double idf1 = 0, idp = 0, idr = 0;
  double id_switches_per_1000 = 0;  // per 1,000 required object-frames
};

class MotAccumulator {
 public:
  explicit MotAccumulator(float iou_threshold = 0.5f, float min_visibility = 0.5f);

  // One frame: its ground truth and the tracker's output.
  void add_frame(const std::vector<MotBox>& ground_truth, const std::vector<MotBox>& hypotheses);
  // Over every frame added so far (the identity measures are global, so this
  // does the trajectory assignment each time it is called).
  MotSummary summary() const;

 private:
  // What the CLEAR MOT matching remembers of one ground-truth trajectory.
  struct GroundTruthHistory {
    std::size_t required_frames = 0;
    bool ever_matched = false;
    std::int64_t last_hypothesis = 0;         // the hypothesis id at its last match
    std::size_t last_matched_frame = 0;       // 1-based frame number of that match
    bool matched_when_last_required = false;  // in the last frame it was required
  };

  float iou_threshold_;
  float min_visibility_;
  std::size_t frames_ = 0;
  std::size_t ground_truth_ = 0, hypotheses_ = 0, matches_ = 0, false_positives_ = 0, misses_ = 0,
              id_switches_ = 0, fragmentations_ = 0;
  double iou_sum_ = 0;
  std::map<std::int64_t, GroundTruthHistory> ground_truth_history_;
  std::map<std::int64_t, std::size_t> hypothesis_frames_;  // counted frames per hypothesis id
  // Frames on which a required ground-truth id and a counted hypothesis id
  // overlap with IoU >= iou_threshold, per (gt id, hypothesis id).
  std::map<std::pair<std::int64_t, std::int64_t>, std::size_t> pair_frames_;
};

}  // namespace lookout::tracking
