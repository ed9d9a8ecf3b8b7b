// Tracker: ByteTrack-style multi-object tracking of one camera's detections
// (Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every
// Detection Box", ECCV 2022), after NMS, on the inference thread.
//
// Per frame (update()):
//   1. every track's constant-velocity Kalman filter on its box (centre,
//      width, height and their velocities) is predicted to the frame's time;
//   2. high-score detections (score >= high_score) are matched to confirmed
//      and lost tracks by IoU cost with optimal assignment (Jonker-Volgenant),
//      pairs below match_iou refused;
//   3. low-score detections (low_score <= score < high_score) are matched to
//      the confirmed tracks still unmatched (not to lost ones), pairs below
//      low_match_iou refused: an occluded object's weak box keeps its track;
//   4. lost tracks still unmatched are recovered by the remaining
//      high-score detections near where their filters expect them: the
//      centre within the 99.9 % gate of its Mahalanobis distance under the
//      filter's uncertainty (which grows while a track coasts), the size
//      within 1.5x either way, nearest first. An object that comes out from
//      behind another has often moved off the coasted box, leaving no IoU;
//   5. tentative tracks are matched to the remaining high-score detections
//      (pairs below tentative_match_iou refused); a tentative track that
//      misses a frame is dropped;
//   6. remaining high-score detections scoring >= new_track_score start
//      tentative tracks; a track becomes confirmed after min_hits frames
//      with a match (at once when min_hits is 1);
//   7. an unmatched confirmed track becomes lost; a lost track unseen for
//      more than lost_s seconds is removed. Time, not frames, because the
//      processed rate varies with load.
// Only detections of the same class are matched, unless class_agnostic.
//
// Ids: every track gets the next id when it is created, from 1, and an id is
// never given out twice by one Tracker (reset() keeps counting).
//
// Ownership: plain value type (copyable state). Threads: not thread-safe; the
// pipeline's inference thread calls everything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/engine.hpp"

namespace lookout::tracking {

// Defaults: ByteTrack's own (track_thresh 0.5, new tracks at 0.1 above it,
// low boxes down to 0.1, 30 frames lost at 10 fps). ultralytics' 0.25 /
// 0.25 were measured against them with `lookout bench track` on the shipped
// model (app/tracking/TRACKING.md): three times the false positives, more
// than twice the id switches.
struct TrackerOptions {
  float high_score = 0.5f;       // stages 2, 4 and 5 take detections scoring this much
  float low_score = 0.1f;        // stage 3 takes those down to this; weaker ones are not used
  float new_track_score = 0.6f;  // stage 6: an unmatched detection scoring this starts a track
  float match_iou = 0.2f;        // stage 2: minimum IoU (ultralytics' match_thresh 0.8 is 1 - IoU)
  float low_match_iou = 0.5f;    // stage 3 (ByteTrack's second association: 0.5)
  float tentative_match_iou = 0.3f;  // stage 5 (ByteTrack: 0.7 cost)
  int min_hits = 3;                  // frames with a match before a track is confirmed
  double lost_s = 3.0;               // ByteTrack's track_buffer 30 frames, at 10 fps
  bool class_agnostic = false;       // match across classes
  bool operator==(const TrackerOptions& o) const {
    return high_score == o.high_score && low_score == o.low_score &&
           new_track_score == o.new_track_score && match_iou == o.match_iou &&
           low_match_iou == o.low_match_iou && tentative_match_iou == o.tentative_match_iou &&
           min_hits == o.min_hits && lost_s == o.lost_s && class_agnostic == o.class_agnostic;
  }
};

enum class TrackState { Tentative, Confirmed, Lost };

struct Track {
  std::uint64_t id = 0;
  int class_id = 0;
  TrackState state = TrackState::Tentative;
  // The filter's estimate at the last update (for a lost track: predicted,
  // at its last velocity for 0.5 s, then slowing down; tracker.cpp), frame
  // pixels.
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  // The last matched detection's score and box.
  float score = 0;
  Detection last_detection;
  int hits = 0;                          // frames with a match
  double first_seen = 0, last_seen = 0;  // update() times of the first and last match
  float vx = 0, vy = 0;                  // centre velocity estimate, pixels per second
};

class Tracker {
 public:
  explicit Tracker(TrackerOptions options = {});
  // Copyable and movable as any value; declared here and defaulted in
  // tracker.cpp only because the filter type is complete there.
  Tracker(const Tracker& other);
  Tracker(Tracker&& other) noexcept;
  Tracker& operator=(const Tracker& other);
  Tracker& operator=(Tracker&& other) noexcept;
  ~Tracker();

  // One frame's detections at `time` (seconds on a monotonic clock; must not
  // go backwards). `ids` gets one entry per detection, in order: the id of
  // the track it was matched to or started, or 0 (below low_score, a
  // low-score box no track took, or a high-score box below new_track_score
  // that started nothing).
  void update(const std::vector<Detection>& detections, double time,
              std::vector<std::uint64_t>& ids);

  // Every live track (tentative, confirmed and lost), in creation order.
  const std::vector<Track>& tracks() const { return tracks_; }
  // Tracks removed by the last update() (lost too long, or tentative and
  // unmatched); they are no longer in tracks().
  const std::vector<Track>& removed() const { return removed_; }

  // Forgets every track (a new model, a new source); ids keep counting.
  void reset();
  const TrackerOptions& options() const { return options_; }
  void set_options(const TrackerOptions& options) { options_ = options; }

 private:
  struct Filter;  // one track's Kalman filter (tracker.cpp)

  // update()'s working memory: no state between frames, kept only so that
  // every frame reuses its capacity instead of allocating.
  struct Scratch {
    std::vector<int> high, low;   // detection indices by score band
    std::vector<int> rows, cols;  // one association's tracks and detections
    std::vector<double> cost;     // rows x cols, 1 - IoU
    std::vector<int> row_to_col;  // the solver's answer
    std::vector<unsigned char> track_matched, detection_used;
  };

  // One association stage: matches tracks scratch_.rows to detections
  // scratch_.cols by IoU (pairs below min_iou refused) and applies the matches.
  // Applies scratch_'s assignment (rows = tracks, cols = detections).
  void take_assignment(const std::vector<Detection>& detections, double time,
                       std::vector<std::uint64_t>& ids);
  void recover(const std::vector<Detection>& detections, double time,
               std::vector<std::uint64_t>& ids);
  void associate(const std::vector<Detection>& detections, float min_iou, double time,
                 std::vector<std::uint64_t>& ids);
  void apply_match(std::size_t track, const Detection& detection, double time);
  void start_track(const Detection& detection, double time);

  TrackerOptions options_;
  std::vector<Track> tracks_;
  std::vector<Track> removed_;
  std::vector<Filter> filters_;  // one per track, same order
  Scratch scratch_;
  std::uint64_t next_id_ = 1;
  double last_time_ = 0;
  bool started_ = false;
};

}  // namespace lookout::tracking
