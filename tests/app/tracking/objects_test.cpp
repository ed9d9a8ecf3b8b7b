// objects.hpp: events made from tracks on scripted box sequences: new after
// confirmation, updates on zones, lines, stationary, top score and the
// interval, end after lost_s and at finish(); zone and line counts (kept
// across configure()); the best picture rule.
#include "tracking/objects.hpp"

#include <algorithm>
#include <chrono>

#include <doctest/doctest.h>

namespace lookout::tracking {
namespace {

using WallClock = std::chrono::system_clock;

const std::vector<std::string> kClasses{"person", "car"};

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

WallClock::time_point wall(double t) {
  return WallClock::time_point(std::chrono::milliseconds(1'764'000'000'000)) +
         std::chrono::duration_cast<WallClock::duration>(std::chrono::duration<double>(t));
}

TrackingSetup setup(std::vector<NamedZone> zones = {}, std::vector<NamedLine> lines = {}) {
  TrackingSetup s;
  s.zones = std::move(zones);
  s.lines = std::move(lines);
  s.class_names = kClasses;
  return s;
}

// Feeds frames at 10 fps from `t`, collecting everything.
struct Run {
  ObjectTracker objects;
  double t = 0;
  std::vector<ObjectEvent> events;
  std::vector<ObjectState> bests;
  ObjectTracker::Output last;

  explicit Run(TrackingSetup s) : objects(std::move(s)) {}
  void frame(const std::vector<Detection>& detections, double dt = 0.1) {
    last.clear();
    objects.process(detections, 640, 480, t, wall(t), last);
    events.insert(events.end(), last.events.begin(), last.events.end());
    bests.insert(bests.end(), last.new_bests.begin(), last.new_bests.end());
    t += dt;
  }
  std::vector<ObjectEvent> of_type(EventType type) const {
    std::vector<ObjectEvent> out;
    for (const auto& e : events) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }
};

TEST_CASE("an object: new once confirmed, end after lost_s, with an id that says when") {
  Run run(setup());
  run.frame({box(100, 200)});
  run.frame({box(102, 200)});
  CHECK(run.events.empty());  // tentative: min_hits is 3
  run.frame({box(104, 200)});
  REQUIRE(run.events.size() == 1);
  const ObjectEvent started = run.events[0];  // a copy: run.events grows below
  CHECK(started.type == EventType::New);
  CHECK(started.object.track_id == run.last.track_ids[0]);
  CHECK(started.object.class_id == 0);
  // The event id is the first sighting in Unix milliseconds and the track id.
  CHECK(started.object.id == "1764000000000-" + std::to_string(started.object.track_id));
  CHECK(started.object.first_seen == wall(0));
  CHECK(started.object.last_seen == wall(0.2));
  CHECK(started.object.duration_s == doctest::Approx(0.2));
  CHECK(run.objects.object_count() == 1);

  // Unseen: no end before lost_s (3 s), an end after.
  for (int i = 0; i < 25; ++i) run.frame({});
  CHECK(run.of_type(EventType::End).empty());
  for (int i = 0; i < 10; ++i) run.frame({});
  const auto ended = run.of_type(EventType::End);
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].object.id == started.object.id);
  CHECK(ended[0].object.last_seen == wall(0.2));  // last seen, not when it ended
  CHECK(run.objects.object_count() == 0);
}

TEST_CASE("a one-frame false positive makes no event") {
  Run run(setup());
  run.frame({box(100, 200)});
  for (int i = 0; i < 40; ++i) run.frame({});
  CHECK(run.events.empty());
}

TEST_CASE("zones: enter and leave after inertia, entered_zones kept, counts per class") {
  NamedZone door{"door", {}};
  door.config.points = {{0, 0}, {0.5, 0}, {0.5, 1}, {0, 1}};  // normalised: the left half
  door.config.inertia = 3;
  NamedZone cars{"drive", {}};
  cars.config.points = {{0, 0}, {640, 0}, {640, 480}, {0, 480}};  // the whole frame
  cars.config.classes = {"car"};
  Run run(setup({door, cars}));
  // A person walks from the right half into the left half and back.
  double x = 420;
  for (int i = 0; i < 5; ++i) run.frame({box(x -= 5, 200)});
  CHECK(run.objects.counts().zones[0].total == 0);
  while (x > 280) run.frame({box(x -= 10, 200)});
  // In the zone for a few frames now (anchor at the bottom centre, x < 320).
  const auto& door_count = run.objects.counts().zones[0];
  CHECK(door_count.name == "door");
  CHECK(door_count.total == 1);
  CHECK(door_count.per_class == std::vector<int>{1, 0});
  CHECK(run.objects.counts().zones[1].total == 0);  // "drive" counts cars only
  const auto updates = run.of_type(EventType::Update);
  const auto entered = std::find_if(updates.begin(), updates.end(), [](const ObjectEvent& e) {
    return e.object.zones == std::vector<std::string>{"door"};
  });
  REQUIRE(entered != updates.end());
  CHECK(entered->object.entered_zones == std::vector<std::string>{"door"});
  // Back out: left after 3 frames outside; entered_zones remembers.
  while (x < 400) run.frame({box(x += 10, 200)});
  CHECK(run.objects.counts().zones[0].total == 0);
  const ObjectEvent& last = run.events.back();
  CHECK(last.object.zones.empty());
  CHECK(last.object.entered_zones == std::vector<std::string>{"door"});

  // A car is counted in "drive".
  run.frame({box(400, 200), box(100, 300, 0.9f, 1, 120, 60)});
  run.frame({box(400, 200), box(102, 300, 0.9f, 1, 120, 60)});
  for (int i = 0; i < 4; ++i) run.frame({box(400, 200), box(104, 300, 0.9f, 1, 120, 60)});
  CHECK(run.objects.counts().zones[1].per_class == std::vector<int>{0, 1});
  CHECK(run.objects.counts().zones[0].per_class == std::vector<int>{0, 1});  // and in the door
}

TEST_CASE("lines: crossings per class and direction, kept across configure()") {
  NamedLine gate{"gate", {}};
  gate.config.points = {{0, 300}, {640, 300}};
  Run run(setup({}, {gate}));
  // A person walks down across y = 300 (their feet: y + 40).
  double y = 150;
  while (y < 330) run.frame({box(200, y += 10)});
  const auto& line = run.objects.counts().lines.at(0);
  CHECK(line.name == "gate");
  CHECK(line.per_class[0][0] == 1);  // in
  CHECK(line.per_class[0][1] == 0);
  const auto crossed = std::find_if(run.events.begin(), run.events.end(), [](const ObjectEvent& e) {
    return !e.object.crossings.empty();
  });
  REQUIRE(crossed != run.events.end());
  CHECK(crossed->type == EventType::Update);
  CHECK(crossed->object.crossings[0].line == "gate");
  CHECK(crossed->object.crossings[0].direction == Direction::In);
  // And back up: out.
  while (y > 150) run.frame({box(200, y -= 10)});
  CHECK(run.objects.counts().lines[0].per_class[0][1] == 1);

  // A reload with the same line (and another): the counts stay.
  NamedLine other{"fence", {}};
  other.config.points = {{320, 0}, {320, 480}};
  ObjectTracker::Output out;
  run.objects.configure(setup({}, {other, gate}), out);
  CHECK(out.events.empty());  // same classes: objects carry on
  REQUIRE(run.objects.counts().lines.size() == 2);
  CHECK(run.objects.counts().lines[0].name == "fence");
  CHECK(run.objects.counts().lines[0].per_class[0] == std::array<std::uint64_t, 2>{0, 0});
  CHECK(run.objects.counts().lines[1].per_class[0] == std::array<std::uint64_t, 2>{1, 1});
  // The object still crosses "gate" from where it was.
  while (y < 330) run.frame({box(200, y += 10)});
  CHECK(run.objects.counts().lines[1].per_class[0][0] == 2);

  // New class names: every object ends, and the counts start again.
  TrackingSetup renamed = setup({}, {gate});
  renamed.class_names = {"cat", "dog"};
  out.clear();
  run.objects.configure(renamed, out);
  REQUIRE(out.events.size() == 1);
  CHECK(out.events[0].type == EventType::End);
  CHECK(run.objects.counts().lines[0].per_class[0] == std::array<std::uint64_t, 2>{0, 0});
}

TEST_CASE("a class filter on a line leaves other classes uncounted") {
  NamedLine gate{"gate", {}};
  gate.config.points = {{0, 300}, {640, 300}};
  gate.config.classes = {"car"};
  Run run(setup({}, {gate}));
  double y = 150;
  while (y < 330) run.frame({box(200, y += 10)});
  CHECK(run.objects.counts().lines[0].per_class[0][0] == 0);
}

TEST_CASE("stationary after stationary_s without moving, and not once it moves") {
  TrackingSetup s = setup();
  s.objects.stationary_s = 2;
  s.objects.update_interval_s = 100;  // no periodic updates in the way
  Run run(s);
  for (int i = 0; i < 15; ++i) run.frame({box(200, 200)});
  CHECK_FALSE(run.events.back().object.stationary);
  for (int i = 0; i < 10; ++i) run.frame({box(200, 200)});
  REQUIRE_FALSE(run.of_type(EventType::Update).empty());
  CHECK(run.events.back().object.stationary);
  const std::size_t before = run.events.size();
  double x = 200;
  for (int i = 0; i < 5; ++i) run.frame({box(x += 15, 200)});
  REQUIRE(run.events.size() > before);
  CHECK_FALSE(run.events.back().object.stationary);
}

TEST_CASE("updates: at most every score_update_interval_s for a new top score, else the interval") {
  TrackingSetup s = setup();
  s.objects.update_interval_s = 5;
  s.objects.stationary_s = 1000;
  Run run(s);
  float score = 0.65f;
  for (int i = 0; i < 3; ++i) run.frame({box(200, 200, score)});
  REQUIRE(run.events.size() == 1);  // new
  // The score climbs every frame for 2 s: updates come at most once a second.
  for (int i = 0; i < 20; ++i) run.frame({box(200, 200, score += 0.015f)});
  const auto updates = run.of_type(EventType::Update);
  CHECK(updates.size() >= 1);
  CHECK(updates.size() <= 2);
  CHECK(updates.back().object.top_score > 0.8f);
  // Then nothing changes: the next update comes after update_interval_s.
  const std::size_t count = run.events.size();
  for (int i = 0; i < 45; ++i) run.frame({box(200, 200, 0.7f)});
  CHECK(run.events.size() == count);
  for (int i = 0; i < 10; ++i) run.frame({box(200, 200, 0.7f)});
  CHECK(run.events.size() == count + 1);
  CHECK(run.events.back().object.score == doctest::Approx(0.7f));
  CHECK(run.events.back().object.top_score > 0.8f);
}

TEST_CASE("the best picture: first at confirmation, then higher scores fully inside the frame") {
  TrackingSetup s = setup();
  s.objects.best_interval_s = 0.5;
  Run run(s);
  // Cut by the left edge at first (x1 = 0), with a high score.
  for (int i = 0; i < 3; ++i) run.frame({box(20, 200, 0.95f)});
  REQUIRE(run.bests.size() == 1);
  CHECK(run.bests[0].best_box.x1 == 0);
  // Fully inside with a lower score: better, because it is inside, at once.
  run.frame({box(30, 200, 0.7f)});
  REQUIRE(run.bests.size() == 2);
  CHECK(run.bests[1].best_score == doctest::Approx(0.7f));
  // Lower still: not better.
  for (int i = 0; i < 10; ++i) run.frame({box(30, 200, 0.6f)});
  CHECK(run.bests.size() == 2);
  // Higher, inside: better, but at most one per best_interval_s.
  run.frame({box(30, 200, 0.8f)});
  CHECK(run.bests.size() == 3);
  run.frame({box(30, 200, 0.85f)});
  CHECK(run.bests.size() == 3);
  for (int i = 0; i < 5; ++i) run.frame({box(30, 200, 0.9f)});
  CHECK(run.bests.size() == 4);
  CHECK(run.bests.back().best_score == doctest::Approx(0.9f));
  CHECK(run.events.back().object.has_best);
}

TEST_CASE("finish ends every object and empties the zones") {
  NamedZone all{"all", {}};
  all.config.points = {{0, 0}, {1, 0}, {1, 1}, {0, 1}};
  Run run(setup({all}));
  for (int i = 0; i < 6; ++i) run.frame({box(100, 200), box(400, 200, 0.9f, 1)});
  CHECK(run.objects.counts().zones[0].total == 2);
  ObjectTracker::Output out;
  run.objects.finish(out);
  REQUIRE(out.events.size() == 2);
  for (const auto& e : out.events) {
    CHECK(e.type == EventType::End);
    CHECK(e.object.zones.empty());
  }
  CHECK(out.counts_changed);
  CHECK(run.objects.counts().zones[0].total == 0);
  CHECK(run.objects.object_count() == 0);
}

TEST_CASE("track ids come back per detection: confirmed tracks only, 0 for the rest") {
  Run run(setup());
  for (int i = 0; i < 2; ++i) {
    run.frame({box(100, 200), box(400, 200, 0.15f)});
    REQUIRE(run.last.track_ids.size() == 2);
    CHECK(run.last.track_ids == std::vector<std::uint64_t>{0, 0});  // tentative; weak
  }
  run.frame({box(100, 200), box(400, 200, 0.15f)});
  CHECK(run.last.track_ids[0] != 0);  // confirmed at the third
  CHECK(run.last.track_ids[1] == 0);  // a weak box starts nothing
  CHECK(run.last.track_ids[0] == run.events.at(0).object.track_id);
}

TEST_CASE("a zone that stops counting a class lets its objects go at once") {
  NamedZone door{"door", {}};
  door.config.points = {{0, 0}, {1, 0}, {1, 1}, {0, 1}};
  Run run(setup({door}));
  for (int i = 0; i < 6; ++i) run.frame({box(100, 200)});
  CHECK(run.objects.counts().zones[0].total == 1);
  door.config.classes = {"car"};
  ObjectTracker::Output out;
  run.objects.configure(setup({door}), out);
  CHECK(out.counts_changed);
  CHECK(run.objects.counts().zones[0].total == 0);
  run.frame({box(100, 200)});
  CHECK(run.objects.counts().zones[0].total == 0);
}

TEST_CASE(
    "without a copy of the frame there is no new best (no snapshot named that was not taken)") {
  Run run(setup());
  ObjectTracker::Output out;
  for (int i = 0; i < 3; ++i) {
    out.clear();
    run.objects.process({box(100, 200)}, 640, 480, run.t, wall(run.t), out, false);
    run.t += 0.1;
  }
  REQUIRE(out.events.size() == 1);  // new
  CHECK(out.new_bests.empty());
  CHECK_FALSE(out.events[0].object.has_best);
  run.frame({box(100, 200)});  // with a copy: the best now
  REQUIRE(run.bests.size() == 1);
  CHECK(run.bests[0].has_best);
}

TEST_CASE("an object jittering across a line keeps only its latest crossings; counts keep all") {
  NamedLine gate{"gate", {}};
  gate.config.points = {{0, 300}, {640, 300}};
  gate.config.inertia = 1;
  Run run(setup({}, {gate}));
  double y = 240;
  for (int i = 0; i < 6; ++i) run.frame({box(200, y)});
  // Its feet (y + 40) cross y = 300 back and forth, 60 times.
  for (int i = 0; i < 60; ++i) run.frame({box(200, y = (i % 2 == 0) ? 270 : 250)});
  const auto& counts = run.objects.counts().lines[0].per_class[0];
  CHECK(counts[0] + counts[1] == 60);
  CHECK(run.events.back().object.crossings.size() == kMaxCrossings);
}

TEST_CASE("frames that stop coming: an empty update loses the objects, which end after lost_s") {
  Run run(setup());
  for (int i = 0; i < 5; ++i) run.frame({box(100, 200)});
  REQUIRE(run.objects.object_count() == 1);
  // What the pipeline does while no frame is processed: empty updates.
  for (int i = 0; i < 4; ++i) run.frame({}, 1.0);
  CHECK(run.objects.object_count() == 0);
  CHECK(run.of_type(EventType::End).size() == 1);
}

TEST_CASE("a copy of the frame is wanted only when an object may reach a new best on it") {
  TrackingSetup s = setup();
  s.objects.best_interval_s = 1;
  Run run(s);
  CHECK_FALSE(run.objects.may_want_picture(run.t));  // nothing tracked
  run.frame({box(100, 200, 0.9f)});
  CHECK_FALSE(run.objects.may_want_picture(run.t));  // tentative, 2 hits short
  run.frame({box(100, 200, 0.9f)});
  CHECK(run.objects.may_want_picture(run.t));  // confirmed on the next frame
  run.frame({box(100, 200, 0.9f)});
  REQUIRE(run.bests.size() == 1);
  // Its best is fully inside; within the interval nothing is wanted.
  CHECK_FALSE(run.objects.may_want_picture(run.t));
  for (int i = 0; i < 10; ++i) run.frame({box(100, 200, 0.7f)});
  // Interval passed, but its score is far below its best: not wanted.
  CHECK_FALSE(run.objects.may_want_picture(run.t));
  run.frame({box(100, 200, 0.89f)});
  CHECK(run.objects.may_want_picture(run.t));  // within reach of its best again
}
}  // namespace
}  // namespace lookout::tracking
