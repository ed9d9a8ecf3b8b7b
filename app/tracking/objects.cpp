#include "tracking/objects.hpp"

#include <algorithm>
#include <cmath>

#include "box_iou.hpp"

namespace lookout::tracking {

namespace {

using WallClock = std::chrono::system_clock;

double iou(const BoxF& a, const BoxF& b) {
  return box_iou(a.x1, a.y1, a.x2, a.y2, b.x1, b.y1, b.x2, b.y2);
}

BoxF box_of(const Detection& d) {
  return {d.x1, d.y1, d.x2, d.y2};
}

// Fully inside: not touching an edge (detections are clipped to the frame, so
// a box cut by the edge ends exactly on it).
bool fully_inside(const BoxF& b, int width, int height) {
  constexpr float kMargin = 1.0f;
  return b.x1 >= kMargin && b.y1 >= kMargin && b.x2 <= float(width) - kMargin &&
         b.y2 <= float(height) - kMargin;
}

std::string event_id(WallClock::time_point first_seen, std::uint64_t track_id) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(first_seen.time_since_epoch()).count();
  return std::to_string(ms) + "-" + std::to_string(track_id);
}

std::vector<bool> class_mask(const std::vector<std::string>& classes,
                             const std::vector<std::string>& names) {
  if (classes.empty()) return {};
  std::vector<bool> mask(names.size(), false);
  for (const auto& c : classes) {
    const auto it = std::find(names.begin(), names.end(), c);
    if (it != names.end()) mask[static_cast<std::size_t>(it - names.begin())] = true;
  }
  return mask;
}

bool allowed(const std::vector<bool>& mask, int class_id) {
  if (mask.empty()) return true;
  return class_id >= 0 && static_cast<std::size_t>(class_id) < mask.size() &&
         mask[static_cast<std::size_t>(class_id)];
}

}  // namespace

bool Counts::operator==(const Counts& o) const {
  if (zones.size() != o.zones.size() || lines.size() != o.lines.size()) return false;
  for (std::size_t i = 0; i < zones.size(); ++i) {
    if (zones[i].name != o.zones[i].name || zones[i].per_class != o.zones[i].per_class)
      return false;
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].name != o.lines[i].name || lines[i].per_class != o.lines[i].per_class)
      return false;
  }
  return true;
}

struct ObjectTracker::Object {
  ObjectState state;
  std::vector<ZoneMembership> zones;  // per configured zone
  std::vector<LineSide> lines;        // per configured line
  BoxF rest_box;                      // where it came to rest (stationary)
  double rest_since = 0;              // steady seconds
  double last_update = 0;             // steady seconds of its last event
  double last_best = -1e18;           // steady seconds of its last new best
  bool best_inside = false;           // the best picture so far is fully inside
  bool score_pending = false;         // a new top score not yet announced
  bool seen = false;                  // matched on the current frame
};

ObjectTracker::ObjectTracker(TrackingSetup setup)
    : setup_(std::move(setup)), tracker_(setup_.tracker) {
  zone_classes_.clear();
  for (const auto& z : setup_.zones)
    zone_classes_.push_back(class_mask(z.config.classes, setup_.class_names));
  for (const auto& l : setup_.lines)
    line_classes_.push_back(class_mask(l.config.classes, setup_.class_names));
  Output ignored;
  recount(ignored);
}

ObjectTracker::~ObjectTracker() = default;

void ObjectTracker::configure(TrackingSetup setup, Output& out) {
  const bool new_classes = setup.class_names != setup_.class_names;
  if (new_classes) {
    finish(out);
    tracker_.reset();
  }
  // Line counts survive for lines that keep their name (and, with new
  // classes, start again: the per-class counters mean other things now).
  std::vector<Counts::Line> kept;
  for (const auto& line : setup.lines) {
    Counts::Line entry{line.name,
                       std::vector<std::array<std::uint64_t, 2>>(setup.class_names.size())};
    if (!new_classes) {
      for (const auto& old : counts_.lines) {
        if (old.name == line.name) entry.per_class = old.per_class;
      }
    }
    kept.push_back(std::move(entry));
  }
  // Objects keep their memberships by zone and line name.
  for (auto& object : objects_) {
    std::vector<ZoneMembership> zones(setup.zones.size());
    for (std::size_t i = 0; i < setup.zones.size(); ++i) {
      for (std::size_t j = 0; j < setup_.zones.size(); ++j) {
        if (setup_.zones[j].name == setup.zones[i].name) zones[i] = object->zones[j];
      }
    }
    std::vector<LineSide> lines(setup.lines.size());
    for (std::size_t i = 0; i < setup.lines.size(); ++i) {
      for (std::size_t j = 0; j < setup_.lines.size(); ++j) {
        if (setup_.lines[j].name == setup.lines[i].name) lines[i] = object->lines[j];
      }
    }
    object->zones = std::move(zones);
    object->lines = std::move(lines);
  }
  setup_ = std::move(setup);
  tracker_.set_options(setup_.tracker);
  zone_classes_.clear();
  line_classes_.clear();
  for (const auto& z : setup_.zones)
    zone_classes_.push_back(class_mask(z.config.classes, setup_.class_names));
  for (const auto& l : setup_.lines)
    line_classes_.push_back(class_mask(l.config.classes, setup_.class_names));
  // A zone that no longer counts an object's class lets it go.
  for (auto& object : objects_) {
    for (std::size_t z = 0; z < object->zones.size(); ++z) {
      if (!allowed(zone_classes_[z], object->state.class_id)) object->zones[z] = ZoneMembership{};
    }
    object->state.zones.clear();
    for (std::size_t z = 0; z < object->zones.size(); ++z) {
      if (object->zones[z].in()) object->state.zones.push_back(setup_.zones[z].name);
    }
  }
  frame_width_ = frame_height_ = 0;  // geometry again at the next frame
  counts_.lines = std::move(kept);
  recount(out);
}

void ObjectTracker::rebuild_geometry(int width, int height) {
  frame_width_ = width;
  frame_height_ = height;
  zone_pixels_.clear();
  line_pixels_.clear();
  for (const auto& z : setup_.zones)
    zone_pixels_.push_back(to_pixels(z.config.points, width, height));
  for (const auto& l : setup_.lines) {
    const auto p = to_pixels(l.config.points, width, height);
    line_pixels_.push_back({p.size() > 0 ? p[0] : PointF{}, p.size() > 1 ? p[1] : PointF{}});
  }
}

void ObjectTracker::recount(Output& out) {
  Counts next;
  const std::size_t classes = setup_.class_names.size();
  for (std::size_t z = 0; z < setup_.zones.size(); ++z) {
    Counts::Zone zone{setup_.zones[z].name, std::vector<int>(classes, 0), 0};
    for (const auto& object : objects_) {
      if (z >= object->zones.size() || !object->zones[z].in() ||
          !allowed(zone_classes_[z], object->state.class_id)) {
        continue;
      }
      const int c = object->state.class_id;
      if (c >= 0 && static_cast<std::size_t>(c) < classes)
        ++zone.per_class[static_cast<std::size_t>(c)];
      ++zone.total;
    }
    next.zones.push_back(std::move(zone));
  }
  next.lines = counts_.lines;
  if (next.lines.size() != setup_.lines.size()) {  // first call: no lines counted yet
    next.lines.clear();
    for (const auto& l : setup_.lines) {
      next.lines.push_back({l.name, std::vector<std::array<std::uint64_t, 2>>(classes)});
    }
  }
  if (!(next == counts_)) {
    counts_ = std::move(next);
    out.counts_changed = true;
  }
}

void ObjectTracker::end_object(Object& object, Output& out) {
  // Leaving: the object is no longer in any zone.
  object.state.zones.clear();
  for (auto& z : object.zones) z = ZoneMembership{};
  out.events.push_back({EventType::End, object.state});
}

void ObjectTracker::process(const std::vector<Detection>& detections, int width, int height,
                            double now, WallClock::time_point wall, Output& out,
                            bool picture_kept) {
  if (width != frame_width_ || height != frame_height_) rebuild_geometry(width, height);
  tracker_.update(detections, now, ids_);
  // Clients see the ids of confirmed tracks only: a tentative track may be
  // a one-frame false positive, whose id would mean nothing to them.
  out.track_ids.assign(ids_.size(), 0);
  for (std::size_t i = 0; i < ids_.size(); ++i) {
    if (ids_[i] == 0) continue;
    for (const Track& track : tracker_.tracks()) {
      if (track.id == ids_[i]) {
        if (track.state == TrackState::Confirmed) out.track_ids[i] = ids_[i];
        break;
      }
    }
  }

  for (auto& object : objects_) object->seen = false;

  // Objects for confirmed tracks, updated by this frame's matches.
  for (const Track& track : tracker_.tracks()) {
    if (track.state != TrackState::Confirmed || track.last_seen != now) continue;
    auto it = std::find_if(objects_.begin(), objects_.end(),
                           [&](const auto& o) { return o->state.track_id == track.id; });
    const Detection& d = track.last_detection;
    const BoxF box = box_of(d);
    bool is_new = false;
    if (it == objects_.end()) {
      auto object = std::make_unique<Object>();
      ObjectState& s = object->state;
      s.track_id = track.id;
      s.class_id = track.class_id;
      // The track's first match was (now - first_seen) seconds before this frame.
      s.first_seen = wall - std::chrono::duration_cast<WallClock::duration>(
                                std::chrono::duration<double>(now - track.first_seen));
      s.id = event_id(s.first_seen, track.id);
      s.top_score = 0;
      object->zones.resize(setup_.zones.size());
      object->lines.resize(setup_.lines.size());
      object->rest_box = box;
      object->rest_since = now;
      object->last_update = now;
      objects_.push_back(std::move(object));
      it = objects_.end() - 1;
      is_new = true;
    }
    Object& o = **it;
    ObjectState& s = o.state;
    o.seen = true;
    s.last_seen = wall;
    s.score = d.score;
    s.box = box;
    // Steady seconds: the wall times move when the clock is set (NTP at boot
    // on a Pi without a battery clock), the object's age does not.
    s.duration_s = now - track.first_seen;
    bool changed = false;

    if (d.score > s.top_score) {
      s.top_score = d.score;
      o.score_pending = !is_new;
    }

    // Best picture: fully inside beats cut by an edge; then the higher score.
    bool new_best = false;
    const bool inside_now = fully_inside(box, width, height);
    const bool better = !s.has_best || (inside_now && !o.best_inside) ||
                        (inside_now == o.best_inside && d.score > s.best_score);
    if (picture_kept && better &&
        (now - o.last_best >= setup_.objects.best_interval_s || !s.has_best ||
         (inside_now && !o.best_inside))) {
      s.has_best = true;
      s.best_box = box;
      s.best_score = d.score;
      o.best_inside = inside_now;
      o.last_best = now;
      new_best = true;
    }

    // Zones, by the anchor of the filter's box (steadier than the detection's).
    for (std::size_t z = 0; z < setup_.zones.size(); ++z) {
      if (!allowed(zone_classes_[z], s.class_id)) continue;
      const auto& zone = setup_.zones[z];
      const PointF anchor = anchor_of(zone.config.anchor, track.x1, track.y1, track.x2, track.y2);
      if (o.zones[z].update(inside(zone_pixels_[z], anchor), zone.config.inertia)) {
        changed = true;
        if (o.zones[z].in() && std::find(s.entered_zones.begin(), s.entered_zones.end(),
                                         zone.name) == s.entered_zones.end()) {
          s.entered_zones.push_back(zone.name);
        }
      }
    }
    s.zones.clear();
    for (std::size_t z = 0; z < setup_.zones.size(); ++z) {
      if (o.zones[z].in()) s.zones.push_back(setup_.zones[z].name);
    }

    // Lines.
    for (std::size_t l = 0; l < setup_.lines.size(); ++l) {
      if (!allowed(line_classes_[l], s.class_id)) continue;
      const auto& line = setup_.lines[l];
      const PointF anchor = anchor_of(line.config.anchor, track.x1, track.y1, track.x2, track.y2);
      const auto crossed =
          o.lines[l].update(anchor, line_pixels_[l][0], line_pixels_[l][1], line.config.inertia);
      if (!crossed) continue;
      s.crossings.push_back({line.name, *crossed, wall});
      if (s.crossings.size() > kMaxCrossings) s.crossings.erase(s.crossings.begin());
      auto& per_class = counts_.lines[l].per_class;
      if (s.class_id >= 0 && static_cast<std::size_t>(s.class_id) < per_class.size()) {
        ++per_class[static_cast<std::size_t>(s.class_id)][*crossed == Direction::In ? 0 : 1];
        out.counts_changed = true;
      }
      changed = true;
    }

    // Stationary: the filter's box stays on where it came to rest.
    const BoxF estimate{track.x1, track.y1, track.x2, track.y2};
    if (iou(estimate, o.rest_box) < setup_.objects.stationary_iou) {
      o.rest_box = estimate;
      o.rest_since = now;
      if (s.stationary) {
        s.stationary = false;
        changed = true;
      }
    } else if (!s.stationary && now - o.rest_since >= setup_.objects.stationary_s) {
      s.stationary = true;
      changed = true;
    }

    if (o.score_pending && now - o.last_update >= setup_.objects.score_update_interval_s) {
      changed = true;
    }
    if (now - o.last_update >= setup_.objects.update_interval_s) changed = true;

    if (is_new || changed) {
      out.events.push_back({is_new ? EventType::New : EventType::Update, s});
      o.last_update = now;
      o.score_pending = false;
    }
    if (new_best) out.new_bests.push_back(s);
  }

  // Ended tracks end their objects.
  for (const Track& removed : tracker_.removed()) {
    auto it = std::find_if(objects_.begin(), objects_.end(),
                           [&](const auto& o) { return o->state.track_id == removed.id; });
    if (it == objects_.end()) continue;
    end_object(**it, out);
    objects_.erase(it);
  }
  recount(out);
}

bool ObjectTracker::may_want_picture(double now) const {
  for (const Track& track : tracker_.tracks()) {
    if (track.state == TrackState::Tentative && track.hits + 1 >= setup_.tracker.min_hits) {
      return true;
    }
  }
  for (const auto& object : objects_) {
    const ObjectState& s = object->state;
    if (!s.has_best || !object->best_inside) return true;
    if (now - object->last_best >= setup_.objects.best_interval_s &&
        s.score >= s.best_score - kBestReach) {
      return true;
    }
  }
  return false;
}

void ObjectTracker::finish(Output& out) {
  for (auto& object : objects_) end_object(*object, out);
  objects_.clear();
  recount(out);
}

}  // namespace lookout::tracking
