// Postprocessing of raw model output, without libtorch: YOLOv5 row decoding,
// confidence and class filtering, non-maximum suppression, mapping boxes back
// to frame pixels; top-k for classifiers.
//
// Semantics follow ultralytics' non_max_suppression() with its detect.py
// defaults (multi_label off: each row votes for its best class only):
//   score = objectness * class score; keep rows with objectness > conf and
//   score > conf (or the class's own threshold); sort by score; greedy NMS
//   suppressing IoU > iou within a class (across classes when agnostic);
//   keep at most max_detections.
//
// Ownership: Postprocessor owns scratch vectors reused across frames.
// Threads: one thread at a time.
#pragma once

#include <cstddef>
#include <vector>

#include "engine/engine.hpp"
#include "letterbox.hpp"

namespace lookout::engine {

// A detection in model-input pixels, before mapping to the frame.
struct Candidate {
  float x1, y1, x2, y2;
  float score;
  int class_id;
  int row;  // index of the output row, for stable ordering of ties
};

// Decodes `rows` rows of `cols` floats ([cx, cy, w, h, obj, cls...]) into
// candidates that pass the confidence and class filters. Appends to `out`.
void decode_rows(const float* data, std::size_t rows, std::size_t cols,
                 const DetectOptions& options, std::vector<Candidate>& out);

// Greedy NMS over `candidates` (reordered in place: by score, ties by row).
// Returns the kept ones, best first, at most `max_detections`.
std::vector<Candidate> non_max_suppression(std::vector<Candidate>& candidates, float iou,
                                           bool agnostic, int max_detections);

// Input pixels to frame pixels (scale_coords), clipped to the frame.
Detection to_frame(const Candidate& candidate, const Letterbox& box);

// Intersection over union of two boxes (x1, y1, x2, y2), 0 for empty ones.
float iou(const float* a, const float* b);

class Postprocessor {
 public:
  Postprocessor() = default;
  Postprocessor(const Postprocessor&) = delete;
  Postprocessor& operator=(const Postprocessor&) = delete;

  std::vector<Detection> detect(const float* data, std::size_t rows, std::size_t cols,
                                const DetectOptions& options, const Letterbox& box);

 private:
  std::vector<Candidate> candidates_;
};

// The `k` best classes of `scores` (k <= 0 or > n: all), best first, ties by id.
std::vector<ClassScore> top_k(const float* scores, std::size_t n, int k);

}  // namespace lookout::engine
