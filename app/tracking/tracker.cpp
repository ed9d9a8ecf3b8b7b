#include "tracking/tracker.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "assignment.hpp"
#include "box_iou.hpp"
#include "kalman.hpp"

namespace lookout::tracking {

namespace {

// A lost track is predicted at its last velocity for this long after its
// last match (an object passing behind another keeps moving), then its
// velocity decays with this time constant, so however long it stays lost it
// drifts at most velocity * (kCoastFullVelocityS + kVelocityDecayS) beyond
// where it was last seen instead of running away across the frame.
constexpr double kCoastFullVelocityS = 0.5;
constexpr double kVelocityDecayS = 0.5;

KalmanBox kalman_box(const Detection& d) {
  return {0.5 * (double(d.x1) + double(d.x2)), 0.5 * (double(d.y1) + double(d.y2)),
          double(d.x2) - double(d.x1), double(d.y2) - double(d.y1)};
}

double iou(const Track& t, const Detection& d) {
  return box_iou(t.x1, t.y1, t.x2, t.y2, d.x1, d.y1, d.x2, d.y2);
}

}  // namespace

struct Tracker::Filter {
  BoxKalmanFilter kalman;

  // Copies the filter's estimate into the track's public fields.
  void publish(Track& track) const {
    const KalmanBox b = kalman.box();
    track.x1 = float(b.cx - 0.5 * b.w);
    track.y1 = float(b.cy - 0.5 * b.h);
    track.x2 = float(b.cx + 0.5 * b.w);
    track.y2 = float(b.cy + 0.5 * b.h);
    track.vx = float(kalman.vcx());
    track.vy = float(kalman.vcy());
  }
};

Tracker::Tracker(TrackerOptions options) : options_(options) {}
Tracker::Tracker(const Tracker& other) = default;
Tracker::Tracker(Tracker&& other) noexcept = default;
Tracker& Tracker::operator=(const Tracker& other) = default;
Tracker& Tracker::operator=(Tracker&& other) noexcept = default;
Tracker::~Tracker() = default;

void Tracker::reset() {
  tracks_.clear();
  filters_.clear();
  removed_.clear();
  last_time_ = 0;
  started_ = false;
}

void Tracker::update(const std::vector<Detection>& detections, double time,
                     std::vector<std::uint64_t>& ids) {
  ids.assign(detections.size(), 0);
  removed_.clear();
  // Time must not go backwards; if it does, nothing moves (dt 0).
  const double previous_time = started_ ? last_time_ : time;
  if (!started_ || time > last_time_) last_time_ = time;
  started_ = true;
  const double dt = std::max(0.0, time - previous_time);

  // 1. Predict every track to this frame's time.
  for (std::size_t k = 0; k < tracks_.size(); ++k) {
    Track& track = tracks_[k];
    BoxKalmanFilter& kalman = filters_[k].kalman;
    if (track.state == TrackState::Lost) {
      // The part of this step beyond the full-velocity coasting time.
      const double unseen_before = std::max(kCoastFullVelocityS, previous_time - track.last_seen);
      const double beyond = (time - track.last_seen) - unseen_before;
      if (beyond > 0) kalman.damp_velocity(std::exp(-beyond / kVelocityDecayS));
    }
    kalman.predict(dt);
    filters_[k].publish(track);
  }

  Scratch& s = scratch_;
  s.high.clear();
  s.low.clear();
  for (std::size_t i = 0; i < detections.size(); ++i) {
    const float score = detections[i].score;
    if (score >= options_.high_score) {
      s.high.push_back(int(i));
    } else if (score >= options_.low_score) {
      s.low.push_back(int(i));
    }
  }
  s.track_matched.assign(tracks_.size(), 0);
  s.detection_used.assign(detections.size(), 0);

  // 2. High-score detections to confirmed and lost tracks.
  s.rows.clear();
  for (std::size_t k = 0; k < tracks_.size(); ++k) {
    if (tracks_[k].state != TrackState::Tentative) s.rows.push_back(int(k));
  }
  s.cols = s.high;
  associate(detections, options_.match_iou, time, ids);

  // 3. Low-score detections to the confirmed tracks still unmatched. A lost
  // track matched in stage 2 is confirmed again but matched, so this takes
  // exactly the tracks that were confirmed at the start of the frame.
  s.rows.clear();
  for (std::size_t k = 0; k < tracks_.size(); ++k) {
    if (tracks_[k].state == TrackState::Confirmed && !s.track_matched[k]) s.rows.push_back(int(k));
  }
  s.cols = s.low;
  associate(detections, options_.low_match_iou, time, ids);

  // 4. Lost tracks to the remaining high-score detections by where their
  // filters expect them (see recover()).
  recover(detections, time, ids);

  // 5. Tentative tracks to the remaining high-score detections.
  s.rows.clear();
  for (std::size_t k = 0; k < tracks_.size(); ++k) {
    if (tracks_[k].state == TrackState::Tentative) s.rows.push_back(int(k));
  }
  s.cols.clear();
  for (const int i : s.high) {
    if (!s.detection_used[std::size_t(i)]) s.cols.push_back(i);
  }
  associate(detections, options_.tentative_match_iou, time, ids);

  // 7 (before 6, which only adds matched tracks): unmatched tentative tracks
  // go, unmatched confirmed ones are lost, and lost ones unseen for too long
  // go. Removal keeps creation order.
  std::size_t kept = 0;
  for (std::size_t k = 0; k < tracks_.size(); ++k) {
    Track& track = tracks_[k];
    bool remove = false;
    if (!s.track_matched[k]) {
      if (track.state == TrackState::Tentative) {
        remove = true;
      } else {
        track.state = TrackState::Lost;
        remove = time - track.last_seen > options_.lost_s;
      }
    }
    if (remove) {
      removed_.push_back(track);
      continue;
    }
    if (kept != k) {
      tracks_[kept] = track;
      filters_[kept] = filters_[k];
    }
    ++kept;
  }
  tracks_.resize(kept);
  filters_.resize(kept);

  // 6. New tentative tracks from the high-score detections nobody took.
  for (const int i : s.high) {
    const Detection& detection = detections[std::size_t(i)];
    if (s.detection_used[std::size_t(i)] || detection.score < options_.new_track_score) continue;
    start_track(detection, time);
    ids[std::size_t(i)] = tracks_.back().id;
  }
}

void Tracker::associate(const std::vector<Detection>& detections, float min_iou, double time,
                        std::vector<std::uint64_t>& ids) {
  Scratch& s = scratch_;
  const int rows = int(s.rows.size());
  const int cols = int(s.cols.size());
  if (rows == 0 || cols == 0) return;
  constexpr double kNever = std::numeric_limits<double>::infinity();
  s.cost.resize(std::size_t(rows) * std::size_t(cols));
  double* cost = s.cost.data();
  for (const int k : s.rows) {
    const Track& track = tracks_[std::size_t(k)];
    for (const int i : s.cols) {
      const Detection& detection = detections[std::size_t(i)];
      double pair_cost = kNever;
      if (options_.class_agnostic || detection.class_id == track.class_id) {
        // Boxes that do not overlap never match, even with min_iou 0.
        const double overlap = iou(track, detection);
        if (overlap > 0 && overlap >= double(min_iou)) pair_cost = 1 - overlap;
      }
      *cost++ = pair_cost;
    }
  }
  // CostLimit: one good pair is never traded for two poor ones (a new
  // object beside a track whose own object just left must not steal it).
  solve_assignment(s.cost.data(), rows, cols, 1 - double(min_iou), AssignmentObjective::CostLimit,
                   s.row_to_col);
  take_assignment(detections, time, ids);
}

void Tracker::take_assignment(const std::vector<Detection>& detections, double time,
                              std::vector<std::uint64_t>& ids) {
  Scratch& s = scratch_;
  for (std::size_t r = 0; r < s.rows.size(); ++r) {
    const int c = s.row_to_col[r];
    if (c < 0) continue;
    const auto k = std::size_t(s.rows[r]);
    const auto i = std::size_t(s.cols[std::size_t(c)]);
    apply_match(k, detections[i], time);
    s.track_matched[k] = 1;
    s.detection_used[i] = 1;
    ids[i] = tracks_[k].id;
  }
}

void Tracker::recover(const std::vector<Detection>& detections, double time,
                      std::vector<std::uint64_t>& ids) {
  // An object that comes out from behind another has often moved off the
  // box its filter coasted, so no IoU is left to match it by; the filter's
  // uncertainty, grown while it coasted, says how far it may have gone.
  // Pairs within the 99.9 % gate of the centre's Mahalanobis distance whose
  // sizes agree (within kRecoverySize either way) are matched optimally,
  // nearest first. The same class only, unless class_agnostic.
  constexpr double kGate = 13.816;  // chi-square, 2 degrees of freedom, 99.9 %
  constexpr double kRecoverySize = 1.5;
  constexpr double kNever = std::numeric_limits<double>::infinity();
  Scratch& s = scratch_;
  s.rows.clear();
  for (std::size_t k = 0; k < tracks_.size(); ++k) {
    if (tracks_[k].state == TrackState::Lost && !s.track_matched[k]) s.rows.push_back(int(k));
  }
  s.cols.clear();
  for (const int i : s.high) {
    if (!s.detection_used[std::size_t(i)]) s.cols.push_back(i);
  }
  const int rows = int(s.rows.size());
  const int cols = int(s.cols.size());
  if (rows == 0 || cols == 0) return;
  s.cost.resize(std::size_t(rows) * std::size_t(cols));
  double* cost = s.cost.data();
  for (const int k : s.rows) {
    const Track& track = tracks_[std::size_t(k)];
    const BoxKalmanFilter& kalman = filters_[std::size_t(k)].kalman;
    const KalmanBox predicted = kalman.box();
    for (const int i : s.cols) {
      const Detection& detection = detections[std::size_t(i)];
      double pair_cost = kNever;
      if (options_.class_agnostic || detection.class_id == track.class_id) {
        const KalmanBox measured = kalman_box(detection);
        const double rw = measured.w / predicted.w, rh = measured.h / predicted.h;
        const bool similar = rw <= kRecoverySize && rw >= 1 / kRecoverySize &&
                             rh <= kRecoverySize && rh >= 1 / kRecoverySize;
        const double d2 = similar ? kalman.centre_distance2(measured) : kNever;
        if (d2 <= kGate) pair_cost = d2;
      }
      *cost++ = pair_cost;
    }
  }
  solve_assignment(s.cost.data(), rows, cols, kGate, AssignmentObjective::CostLimit, s.row_to_col);
  take_assignment(detections, time, ids);
}

void Tracker::apply_match(std::size_t k, const Detection& detection, double time) {
  Track& track = tracks_[k];
  Filter& filter = filters_[k];
  filter.kalman.update(kalman_box(detection));
  filter.publish(track);
  track.score = detection.score;
  track.last_detection = detection;
  // Only differs when class_agnostic: the latest evidence wins.
  track.class_id = detection.class_id;
  ++track.hits;
  track.last_seen = time;
  if (track.state == TrackState::Lost ||
      (track.state == TrackState::Tentative && track.hits >= options_.min_hits)) {
    track.state = TrackState::Confirmed;
  }
}

void Tracker::start_track(const Detection& detection, double time) {
  Track track;
  track.id = next_id_++;
  track.class_id = detection.class_id;
  track.state = options_.min_hits <= 1 ? TrackState::Confirmed : TrackState::Tentative;
  track.score = detection.score;
  track.last_detection = detection;
  track.hits = 1;
  track.first_seen = time;
  track.last_seen = time;
  Filter filter{BoxKalmanFilter(kalman_box(detection))};
  filter.publish(track);
  tracks_.push_back(track);
  filters_.push_back(filter);
}

}  // namespace lookout::tracking
