// ObjectTracker: objects, not frames. Runs the Tracker over each frame's
// detections and keeps, for every confirmed track, an object: when it was
// first and last seen, its score and top score, its box and best box, the
// zones it is in and has entered, the lines it crossed, whether it is
// stationary. From those it makes the events of app/tracking/TRACKING.md:
//   new     a track is confirmed;
//   update  the object enters or leaves a zone, crosses a line, becomes or
//           stops being stationary, or reaches a new top score (at most one
//           such update per score_update_interval_s); otherwise at most every
//           update_interval_s while it is seen;
//   end     its track is lost longer than the tracker's lost_s, or finish()
//           (the daemon stops, the model changes).
// It also counts, per zone and class, the objects in each zone now, and, per
// line, class and direction, the crossings since start (kept across
// configure() for lines that keep their name).
//
// Best picture: the frame on which an object scored highest while its box was
// fully inside the frame (not touching an edge); until it has been fully
// inside once, its highest-scoring frame. A frame that is some object's new
// best (at most one per best_interval_s per object, but at once when it is
// the first fully inside) lists the object in new_bests, so the caller keeps a
// copy of that frame for the object's snapshot.
//
// Event ids: "<first seen, Unix milliseconds>-<track id>", unique across
// restarts (a track id alone starts from 1 again) and safe in file names,
// URLs and MQTT topics.
//
// Ownership: owns its Tracker. Threads: not thread-safe; the pipeline's
// inference thread calls everything.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tracking/tracker.hpp"
#include "tracking/zones.hpp"

namespace lookout::tracking {

enum class EventType { New, Update, End };

}  // namespace lookout::tracking

template <>
struct lookout::EnumTable<lookout::tracking::EventType> {
  using T = tracking::EventType;
  static constexpr std::array<EnumName<T>, 3> entries{{
      {T::New, "new"},
      {T::Update, "update"},
      {T::End, "end"},
  }};
};

namespace lookout::tracking {

struct ObjectOptions {
  double stationary_s = 10;            // still this long (see stationary_iou) = stationary
  float stationary_iou = 0.6f;         // still = box overlaps where it came to rest this much
  double update_interval_s = 5;        // an update at least this often while the object is seen
  double score_update_interval_s = 1;  // new top scores are announced at most this often
  double best_interval_s = 1;          // a new best picture at most this often per object
  bool operator==(const ObjectOptions& o) const {
    return stationary_s == o.stationary_s && stationary_iou == o.stationary_iou &&
           update_interval_s == o.update_interval_s &&
           score_update_interval_s == o.score_update_interval_s &&
           best_interval_s == o.best_interval_s;
  }
};

struct NamedZone {
  std::string name;
  ZoneConfig config;
};
struct NamedLine {
  std::string name;
  LineConfig config;
};

struct BoxF {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
};

struct LineCrossing {
  std::string line;
  Direction direction = Direction::In;
  std::chrono::system_clock::time_point time{};
};

// An object as events describe it.
struct ObjectState {
  std::string id;  // the event id (see the top of this file)
  std::uint64_t track_id = 0;
  int class_id = 0;
  std::chrono::system_clock::time_point first_seen{}, last_seen{};
  float score = 0, top_score = 0;
  BoxF box;       // the last matched detection's box
  BoxF best_box;  // the box on the best picture
  float best_score = 0;
  bool has_best = false;           // a best picture was taken (listed in new_bests) at least once
  std::vector<std::string> zones;  // in now
  std::vector<std::string> entered_zones;  // ever entered, in order
  std::vector<LineCrossing> crossings;     // in order, the latest kMaxCrossings
  bool stationary = false;
  double duration_s = 0;  // last_seen - first_seen

  // The detection on its best picture (for drawing it there).
  Detection best_detection() const {
    return {class_id, best_score, best_box.x1, best_box.y1, best_box.x2, best_box.y2};
  }
};

// An object jittering across a line would otherwise make its events grow
// without bound; the counts still count every crossing.
inline constexpr std::size_t kMaxCrossings = 20;

struct ObjectEvent {
  EventType type = EventType::New;
  ObjectState object;
};

// Objects in each zone now, and line crossings since start.
struct Counts {
  struct Zone {
    std::string name;
    std::vector<int> per_class;  // by class id
    int total = 0;
  };
  struct Line {
    std::string name;
    std::vector<std::array<std::uint64_t, 2>> per_class;  // by class id: [in, out]
  };
  std::vector<Zone> zones;
  std::vector<Line> lines;
  bool operator==(const Counts& o) const;
};

struct TrackingSetup {
  TrackerOptions tracker;
  ObjectOptions objects;
  std::vector<NamedZone> zones;
  std::vector<NamedLine> lines;
  std::vector<std::string> class_names;  // the model's, for the zones' and lines' class filters
};

class ObjectTracker {
 public:
  explicit ObjectTracker(TrackingSetup setup);
  ~ObjectTracker();
  ObjectTracker(const ObjectTracker&) = delete;
  ObjectTracker& operator=(const ObjectTracker&) = delete;

  // What one frame (or finish()) produced.
  struct Output {
    // Per detection given to process(): the id of the confirmed track it
    // belongs to; 0 = none (a tentative track's, or one no track took).
    std::vector<std::uint64_t> track_ids;
    std::vector<ObjectEvent> events;
    // Objects for which this frame is the new best picture: the caller keeps
    // a copy of the frame for their snapshots.
    std::vector<ObjectState> new_bests;
    bool counts_changed = false;  // counts() differs from before this call
    void clear() {
      track_ids.clear();
      events.clear();
      new_bests.clear();
      counts_changed = false;
    }
  };

  // Applies a new setup. New class names end every object first (their
  // events go to `out`) and restart tracking; otherwise objects and tracks
  // carry on, and line counts are kept for lines whose name stays.
  void configure(TrackingSetup setup, Output& out);

  // One processed frame: detections after NMS, the frame's size, its capture
  // time on the monotonic clock (seconds) and on the wall clock.
  // `picture_kept`: the caller has a copy of this frame for snapshots; only
  // then can it be an object's new best (otherwise an event would name a
  // snapshot that was never taken). Also called with no detections while no
  // frame is processed (detection paused, the source stalled), so that
  // objects are lost and end on time.
  void process(const std::vector<Detection>& detections, int frame_width, int frame_height,
               double steady_seconds, std::chrono::system_clock::time_point wall, Output& out,
               bool picture_kept = true);

  // Ends every object (end events), e.g. when the daemon stops.
  void finish(Output& out);

  // Whether the next frame at `steady_seconds` may be some object's new best
  // picture: a track about to be confirmed, an object without a best (or
  // without one fully inside the frame), or one whose interval has passed and
  // whose latest score came within kBestReach of its best. The caller copies
  // the frame only then (a copy costs a conversion of the frame); a marginal
  // improvement missed by this is no loss.
  bool may_want_picture(double steady_seconds) const;
  static constexpr float kBestReach = 0.03f;

  const Counts& counts() const { return counts_; }
  const Tracker& tracker() const { return tracker_; }
  std::size_t object_count() const { return objects_.size(); }

 private:
  struct Object;
  void rebuild_geometry(int frame_width, int frame_height);
  void recount(Output& out);
  void end_object(Object& object, Output& out);

  TrackingSetup setup_;
  Tracker tracker_;
  std::vector<std::unique_ptr<Object>> objects_;  // by creation; confirmed tracks only
  std::vector<std::vector<PointF>> zone_pixels_;  // per zone, for frame_size_
  std::vector<std::array<PointF, 2>> line_pixels_;
  std::vector<std::vector<bool>> zone_classes_;  // per zone, by class id (empty = all)
  std::vector<std::vector<bool>> line_classes_;
  int frame_width_ = 0, frame_height_ = 0;
  Counts counts_;
  std::vector<std::uint64_t> ids_;  // scratch
};

}  // namespace lookout::tracking
