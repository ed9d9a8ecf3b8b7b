// tracker.hpp: the ByteTrack-style tracker on scripted box sequences:
// crossing objects, occlusion gaps against lost_s, low-score detections,
// confirmation, id uniqueness (also across reset()), irregular frame times
// and class_agnostic.
#include "tracking/tracker.hpp"

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include <doctest/doctest.h>

namespace lookout::tracking {

namespace {

Detection box(double cx, double cy, float score = 0.9f, int class_id = 0, double w = 40,
              double h = 80) {
  Detection d;
  d.class_id = class_id;
  d.score = score;
  d.x1 = float(cx - w / 2);
  d.y1 = float(cy - h / 2);
  d.x2 = float(cx + w / 2);
  d.y2 = float(cy + h / 2);
  return d;
}

const Track* find_track(const Tracker& tracker, std::uint64_t id) {
  for (const Track& t : tracker.tracks()) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

bool was_removed(const Tracker& tracker, std::uint64_t id) {
  for (const Track& t : tracker.removed()) {
    if (t.id == id) return true;
  }
  return false;
}

// A tracker fed one frame at a time, keeping the ids of the last frame.
struct Run {
  explicit Run(TrackerOptions options = {}) : tracker(options) {}
  const std::vector<std::uint64_t>& step(const std::vector<Detection>& detections, double t) {
    tracker.update(detections, t, ids);
    REQUIRE(ids.size() == detections.size());
    return ids;
  }
  Tracker tracker;
  std::vector<std::uint64_t> ids;
};

// Two objects moving towards each other along almost the same line, one
// (b) hidden behind the other while they overlap when `hide_b_while_crossing`.
void run_crossing(int class_a, int class_b, double y_b, bool hide_b_while_crossing) {
  Run run;
  std::uint64_t id_a = 0, id_b = 0;
  int frames_b_hidden = 0;
  for (int k = 0; k <= 40; ++k) {
    const double t = k * 0.1;
    const double xa = 100 + 100 * t;  // 100 px/s right
    const double xb = 500 - 100 * t;  // 100 px/s left
    std::vector<Detection> dets{box(xa, 200, 0.9f, class_a)};
    const bool b_hidden = hide_b_while_crossing && std::abs(xa - xb) < 40;
    if (!b_hidden) dets.push_back(box(xb, y_b, 0.9f, class_b));
    frames_b_hidden += b_hidden;
    const auto& ids = run.step(dets, t);
    CAPTURE(k);
    if (k == 0) {
      id_a = ids[0];
      id_b = ids[1];
      CHECK(id_a != 0);
      CHECK(id_b != 0);
      CHECK(id_a != id_b);
    }
    CHECK(ids[0] == id_a);
    if (!b_hidden) CHECK(ids[1] == id_b);
  }
  if (hide_b_while_crossing) CHECK(frames_b_hidden >= 3);
  // Nothing else was ever started.
  CHECK(run.tracker.tracks().size() == 2);
}

}  // namespace

TEST_CASE("tracker: two objects of one class crossing paths keep their ids") {
  SUBCASE("both seen throughout") {
    run_crossing(0, 0, 230, false);
  }
  SUBCASE("the far one hidden while they overlap") {
    run_crossing(0, 0, 230, true);
  }
}

TEST_CASE("tracker: two objects of different classes crossing on one line keep their ids") {
  // At the crossing the boxes coincide exactly; only the class tells them apart.
  run_crossing(0, 1, 200, false);
}

TEST_CASE("tracker: an id lasts through a gap shorter than lost_s, not a longer one") {
  TrackerOptions options;
  options.lost_s = 3.0;
  for (const double gap_s : {2.0, 4.0}) {
    CAPTURE(gap_s);
    Run run(options);
    double t = 0;
    std::uint64_t id = 0;
    for (int k = 0; k < 10; ++k, t += 0.1) id = run.step({box(300, 200)}, t)[0];
    REQUIRE(find_track(run.tracker, id) != nullptr);
    CHECK(find_track(run.tracker, id)->state == TrackState::Confirmed);
    const double last_seen = t - 0.1;
    bool removed_seen = false;
    for (; t < last_seen + gap_s - 1e-9; t += 0.1) {
      run.step({}, t);
      if (was_removed(run.tracker, id)) {
        removed_seen = true;
        // Removed at the first update more than lost_s after its last match.
        CHECK(t - last_seen > options.lost_s);
        CHECK(t - last_seen < options.lost_s + 0.1 + 1e-9);
      } else if (!removed_seen) {
        REQUIRE(find_track(run.tracker, id) != nullptr);
        CHECK(find_track(run.tracker, id)->state == TrackState::Lost);
      }
    }
    const std::uint64_t after = run.step({box(300, 200)}, t)[0];
    if (gap_s < options.lost_s) {
      CHECK_FALSE(removed_seen);
      CHECK(after == id);
      CHECK(find_track(run.tracker, id)->state == TrackState::Confirmed);
    } else {
      CHECK(removed_seen);
      CHECK(after != id);
      CHECK(after > id);
      CHECK(find_track(run.tracker, id) == nullptr);
    }
  }
}

TEST_CASE("tracker: a moving object hidden for a few frames is found where it went") {
  Run run;
  std::uint64_t id = 0;
  for (int k = 0; k < 30; ++k) {
    const double t = k * 0.1;
    const bool hidden = k >= 15 && k < 19;  // 0.4 s: it moves 32 px, about its width
    const auto& ids =
        run.step(hidden ? std::vector<Detection>{} : std::vector{box(100 + 80 * t, 200)}, t);
    if (k == 0) id = ids[0];
    if (!hidden) CHECK(ids[0] == id);
  }
}

TEST_CASE("tracker: a lost track coasts, then slows down instead of running away") {
  Run run;
  std::uint64_t id = 0;
  double t = 0;
  for (int k = 0; k < 20; ++k, t += 0.1) id = run.step({box(100 + 100 * t, 200)}, t)[0];
  const Track* track = find_track(run.tracker, id);
  REQUIRE(track != nullptr);
  CHECK(track->vx == doctest::Approx(100).epsilon(0.05));
  const double last_x = 0.5 * (track->x1 + track->x2);
  for (int k = 0; k < 25; ++k, t += 0.1) run.step({}, t);
  track = find_track(run.tracker, id);
  REQUIRE(track != nullptr);
  CHECK(track->state == TrackState::Lost);
  const double drift = 0.5 * (track->x1 + track->x2) - last_x;
  // Unseen for 2.5 s at 100 px/s; a free run would be 250 px ahead.
  CHECK(drift > 30);
  CHECK(drift < 110);
  CHECK(std::abs(track->vx) < 5);
}

TEST_CASE("tracker: a low-score detection keeps a confirmed track alive but starts nothing") {
  TrackerOptions options;
  options.lost_s = 1.0;
  Run run(options);
  double t = 0;
  std::uint64_t id = 0;
  for (int k = 0; k < 5; ++k, t += 0.1) id = run.step({box(300, 200)}, t)[0];
  REQUIRE(find_track(run.tracker, id)->state == TrackState::Confirmed);

  // 3 s of weak boxes (longer than lost_s): stage 3 keeps the track.
  for (int k = 0; k < 30; ++k, t += 0.1) {
    const auto& ids = run.step({box(300, 200, 0.15f), box(600, 200, 0.15f)}, t);
    CHECK(ids[0] == id);
    CHECK(ids[1] == 0);  // far from any track: nothing starts
    REQUIRE(find_track(run.tracker, id) != nullptr);
    CHECK(find_track(run.tracker, id)->state == TrackState::Confirmed);
    CHECK(find_track(run.tracker, id)->score == doctest::Approx(0.15f));
  }
  CHECK(run.tracker.tracks().size() == 1);
  // Below low_score a detection is not used at all.
  CHECK(run.step({box(300, 200, 0.05f)}, t)[0] == 0);
  t += 0.1;
  // Now lost: a weak box does not bring a lost track back (stage 3 is for
  // confirmed tracks only), a strong one does (stage 2).
  REQUIRE(find_track(run.tracker, id)->state == TrackState::Lost);
  CHECK(run.step({box(300, 200, 0.15f)}, t)[0] == 0);
  t += 0.1;
  CHECK(find_track(run.tracker, id)->state == TrackState::Lost);
  CHECK(run.step({box(300, 200, 0.9f)}, t)[0] == id);
  CHECK(find_track(run.tracker, id)->state == TrackState::Confirmed);
}

TEST_CASE("tracker: a weak low-score box does not steal a strong match") {
  Run run;
  double t = 0;
  std::uint64_t id = 0;
  for (int k = 0; k < 5; ++k, t += 0.1) id = run.step({box(300, 200)}, t)[0];
  // The high-score box is matched in stage 2; the overlapping weak one is
  // left with 0.
  const auto& ids = run.step({box(305, 200, 0.15f), box(300, 200, 0.9f)}, t);
  CHECK(ids[0] == 0);
  CHECK(ids[1] == id);
}

TEST_CASE("tracker: tentative tracks are confirmed after min_hits; a one-frame box never") {
  TrackerOptions options;
  options.min_hits = 3;
  Run run(options);
  const auto first = run.step({box(300, 200)}, 0.0)[0];
  CHECK(first == 1);
  CHECK(find_track(run.tracker, first)->state == TrackState::Tentative);
  CHECK(find_track(run.tracker, first)->hits == 1);
  CHECK(run.step({box(300, 200)}, 0.1)[0] == first);
  CHECK(find_track(run.tracker, first)->state == TrackState::Tentative);
  CHECK(run.step({box(300, 200)}, 0.2)[0] == first);
  CHECK(find_track(run.tracker, first)->state == TrackState::Confirmed);
  CHECK(find_track(run.tracker, first)->hits == 3);
  CHECK(find_track(run.tracker, first)->first_seen == 0.0);
  CHECK(find_track(run.tracker, first)->last_seen == 0.2);

  // A false positive for one frame: tentative, then dropped at the next.
  const auto& ids = run.step({box(300, 200), box(700, 100)}, 0.3);
  const auto false_positive = ids[1];
  CHECK(false_positive == 2);
  CHECK(find_track(run.tracker, false_positive)->state == TrackState::Tentative);
  run.step({box(300, 200)}, 0.4);
  CHECK(find_track(run.tracker, false_positive) == nullptr);
  REQUIRE(run.tracker.removed().size() == 1);
  CHECK(run.tracker.removed()[0].id == false_positive);
  CHECK(run.tracker.removed()[0].state == TrackState::Tentative);
  // removed() is only the last update's.
  run.step({box(300, 200)}, 0.5);
  CHECK(run.tracker.removed().empty());

  SUBCASE("min_hits 1 confirms at once") {
    TrackerOptions once;
    once.min_hits = 1;
    Run quick(once);
    const auto id = quick.step({box(300, 200)}, 0.0)[0];
    CHECK(find_track(quick.tracker, id)->state == TrackState::Confirmed);
  }
  SUBCASE("a box below new_track_score starts nothing") {
    TrackerOptions picky;
    picky.new_track_score = 0.6f;
    Run strict(picky);
    CHECK(strict.step({box(300, 200, 0.5f)}, 0.0)[0] == 0);
    CHECK(strict.tracker.tracks().empty());
    CHECK(strict.step({box(300, 200, 0.7f)}, 0.1)[0] == 1);
  }
}

TEST_CASE("tracker: ids are never given out twice, also after reset()") {
  std::mt19937 rng(2024);
  std::uniform_real_distribution<double> unit(0, 1);
  TrackerOptions options;
  options.lost_s = 1.0;
  Tracker tracker(options);
  std::vector<std::uint64_t> ids;

  // Up to 12 objects on their own lanes, appearing, moving, missing frames
  // and disappearing at random, plus random false positives.
  struct Object {
    bool present = false;
    double x = 0, v = 0;
  };
  std::vector<Object> lanes(12);
  std::set<std::uint64_t> seen, gone;
  std::uint64_t highest = 0;
  double t = 0;
  for (int k = 0; k < 3000; ++k) {
    if (k == 1500) {
      tracker.reset();
      CHECK(tracker.tracks().empty());
      for (const std::uint64_t id : seen) gone.insert(id);
    }
    t += 0.05 + 0.1 * unit(rng);
    std::vector<Detection> dets;
    for (std::size_t lane = 0; lane < lanes.size(); ++lane) {
      Object& o = lanes[lane];
      if (!o.present && unit(rng) < 0.02) o = {true, 50 + 500 * unit(rng), 100 * (unit(rng) - 0.5)};
      if (o.present && unit(rng) < 0.01) o.present = false;
      if (!o.present) continue;
      o.x += o.v * 0.1;
      if (unit(rng) < 0.1) continue;  // missed by the detector
      dets.push_back(box(o.x, 60 + 100 * double(lane), float(0.2 + 0.8 * unit(rng))));
    }
    if (unit(rng) < 0.2) dets.push_back(box(1000 * unit(rng), 1400 * unit(rng)));
    std::shuffle(dets.begin(), dets.end(), rng);
    tracker.update(dets, t, ids);
    REQUIRE(ids.size() == dets.size());

    for (const Track& removed : tracker.removed()) gone.insert(removed.id);
    std::set<std::uint64_t> live;
    for (const Track& track : tracker.tracks()) {
      CAPTURE(k);
      CHECK(live.insert(track.id).second);  // unique among live tracks
      CHECK(gone.count(track.id) == 0);     // never back from the dead
      if (seen.insert(track.id).second) {
        CHECK(track.id > highest);  // new ones count up
        highest = track.id;
      }
    }
    std::set<std::uint64_t> frame_ids;
    for (const std::uint64_t id : ids) {
      if (id != 0) CHECK(frame_ids.insert(id).second);  // one detection per track
    }
  }
  CHECK(highest > 100);
}

TEST_CASE("tracker: half the frame rate, and irregular steps, keep the ids") {
  Run run;
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> jitter(0.05, 0.25);
  double t = 0;
  std::uint64_t id_a = 0, id_b = 0;
  for (int k = 0; k < 80; ++k) {
    // 10 fps, then 5 fps, then irregular.
    t += k < 20 ? 0.1 : k < 40 ? 0.2 : jitter(rng);
    const std::vector<Detection> dets{box(100 + 60 * t, 200), box(100 + 60 * t, 300)};
    const auto& ids = run.step(dets, t);
    if (k == 0) {
      id_a = ids[0];
      id_b = ids[1];
    }
    CAPTURE(k);
    CHECK(ids[0] == id_a);
    CHECK(ids[1] == id_b);
  }
  const Track* a = find_track(run.tracker, id_a);
  REQUIRE(a != nullptr);
  // Velocities are per second, whatever the rate.
  CHECK(a->vx == doctest::Approx(60).epsilon(0.05));
  CHECK(std::abs(a->vy) < 3);
}

TEST_CASE("tracker: class_agnostic matches across classes") {
  for (const bool agnostic : {false, true}) {
    CAPTURE(agnostic);
    TrackerOptions options;
    options.class_agnostic = agnostic;
    Run run(options);
    std::set<std::uint64_t> ids;
    // A detector that cannot decide between car (2) and truck (7).
    for (int k = 0; k < 10; ++k)
      ids.insert(run.step({box(300, 200, 0.9f, k % 2 ? 2 : 7)}, k * 0.1)[0]);
    if (agnostic) {
      CHECK(ids.size() == 1);
      REQUIRE(run.tracker.tracks().size() == 1);
      CHECK(run.tracker.tracks()[0].class_id == 2);  // the last match's
      CHECK(run.tracker.tracks()[0].state == TrackState::Confirmed);
    } else {
      CHECK(ids.size() == 10);
    }
  }
}

TEST_CASE("tracker: a track reports the filter's box and the matched detection") {
  Run run;
  for (int k = 0; k < 10; ++k) run.step({box(100 + 10 * k, 200, 0.8f)}, k * 0.1);
  const Track& track = run.tracker.tracks().at(0);
  CHECK(track.score == doctest::Approx(0.8f));
  CHECK(track.last_detection.x1 == doctest::Approx(100 + 90 - 20));
  // The estimate is close to, not necessarily at, the last detection.
  CHECK(std::abs(0.5 * (track.x1 + track.x2) - 190) < 3);
  CHECK(track.x2 - track.x1 == doctest::Approx(40).epsilon(0.05));
  CHECK(track.vx == doctest::Approx(100).epsilon(0.1));
}

TEST_CASE(
    "tracker: copies are independent; reset keeps counting; time going backwards is harmless") {
  Run run;
  run.step({box(300, 200)}, 0.0);
  Tracker copy = run.tracker;
  run.step({box(300, 200)}, 0.1);
  CHECK(copy.tracks().at(0).hits == 1);
  CHECK(run.tracker.tracks().at(0).hits == 2);
  run.tracker.reset();
  CHECK(run.tracker.tracks().empty());
  CHECK(run.step({box(300, 200)}, 0.0)[0] == 2);
  // Backwards: treated as no time passing.
  CHECK(run.step({box(300, 200)}, -5.0)[0] == 2);
  Tracker moved = std::move(copy);
  CHECK(moved.tracks().size() == 1);
}

}  // namespace lookout::tracking
