// mot_metrics.hpp: CLEAR MOT and IDF1 on hand-computed cases: perfect
// tracking, a miss, a false positive, id switches, fragmentations, kept
// correspondences, ignored low-visibility objects and empty frames.
#include "tracking/mot_metrics.hpp"

#include <vector>

#include <doctest/doctest.h>

namespace lookout::tracking {

namespace {

// A 10 x 10 box at (x, y); shifted by d along x its IoU with the original is
// (10 - d) / (10 + d): d = 1 gives 9/11, d = 2 gives 2/3, d = 4 gives 3/7.
MotBox box(std::int64_t id, float x, float y = 0, float visibility = 1) {
  MotBox b;
  b.id = id;
  b.x1 = x;
  b.y1 = y;
  b.x2 = x + 10;
  b.y2 = y + 10;
  b.visibility = visibility;
  return b;
}

}  // namespace

TEST_CASE("mot: perfect tracking") {
  MotAccumulator acc;
  for (int f = 0; f < 5; ++f) {
    acc.add_frame({box(1, float(f)), box(2, 50)}, {box(10, float(f)), box(20, 50)});
  }
  const MotSummary s = acc.summary();
  CHECK(s.frames == 5);
  CHECK(s.ground_truth == 10);
  CHECK(s.hypotheses == 10);
  CHECK(s.matches == 10);
  CHECK(s.misses == 0);
  CHECK(s.false_positives == 0);
  CHECK(s.id_switches == 0);
  CHECK(s.fragmentations == 0);
  CHECK(s.gt_trajectories == 2);
  CHECK(s.mota == 1.0);
  CHECK(s.motp == doctest::Approx(1.0));
  CHECK(s.idf1 == doctest::Approx(1.0));
  CHECK(s.idp == doctest::Approx(1.0));
  CHECK(s.idr == doctest::Approx(1.0));
  CHECK(s.id_switches_per_1000 == 0);
}

TEST_CASE("mot: one miss") {
  MotAccumulator acc;
  // Four frames of one object; the tracker loses it in the last.
  for (int f = 0; f < 3; ++f) acc.add_frame({box(1, 0)}, {box(7, 0)});
  acc.add_frame({box(1, 0)}, {});
  const MotSummary s = acc.summary();
  CHECK(s.ground_truth == 4);
  CHECK(s.matches == 3);
  CHECK(s.misses == 1);
  CHECK(s.fragmentations == 0);  // never tracked again
  CHECK(s.mota == doctest::Approx(0.75));
  // IDTP 3, IDFN 1, IDFP 0: IDF1 = 6 / 7, IDP 1, IDR 3/4.
  CHECK(s.idf1 == doctest::Approx(6.0 / 7.0));
  CHECK(s.idp == doctest::Approx(1.0));
  CHECK(s.idr == doctest::Approx(0.75));
}

TEST_CASE("mot: one false positive, and a box below the IoU threshold") {
  MotAccumulator acc;
  acc.add_frame({box(1, 0)}, {box(7, 0)});
  acc.add_frame({box(1, 0)}, {box(7, 0), box(8, 100)});  // 8 overlaps nothing
  acc.add_frame({box(1, 0)}, {box(7, 4)});               // IoU 3/7 < 0.5: FP and miss
  const MotSummary s = acc.summary();
  CHECK(s.ground_truth == 3);
  CHECK(s.hypotheses == 4);
  CHECK(s.matches == 2);
  CHECK(s.false_positives == 2);
  CHECK(s.misses == 1);
  // 1 - (1 miss + 2 FP + 0 switches) / 3
  CHECK(s.mota == doctest::Approx(0.0));
  CHECK(s.motp == doctest::Approx(1.0));
  // IDTP 2 (gt 1 with hyp 7), IDFN 1, IDFP 2: 4 / 7.
  CHECK(s.idf1 == doctest::Approx(4.0 / 7.0));
  CHECK(s.idp == doctest::Approx(0.5));
  CHECK(s.idr == doctest::Approx(2.0 / 3.0));
}

TEST_CASE("mot: one id switch") {
  MotAccumulator acc;
  // Ten frames of one object: hypothesis 1 for seven, then hypothesis 2.
  for (int f = 0; f < 10; ++f) acc.add_frame({box(5, 0)}, {box(f < 7 ? 1 : 2, 1)});
  const MotSummary s = acc.summary();
  CHECK(s.matches == 10);
  CHECK(s.id_switches == 1);
  CHECK(s.fragmentations == 0);
  CHECK(s.mota == doctest::Approx(0.9));
  CHECK(s.motp == doctest::Approx(9.0 / 11.0));
  CHECK(s.id_switches_per_1000 == doctest::Approx(100.0));
  // The identity assignment pairs gt 5 with hypothesis 1 (7 frames):
  // IDTP 7, IDFN 3, IDFP 3 (hypothesis 2's frames): IDF1 = 14 / 20.
  CHECK(s.idf1 == doctest::Approx(0.7));
  CHECK(s.idp == doctest::Approx(0.7));
  CHECK(s.idr == doctest::Approx(0.7));
}

TEST_CASE("mot: two objects whose hypotheses swap") {
  MotAccumulator acc;
  // Objects A (at 0) and B (at 50), 8 frames; the tracker swaps their ids
  // after frame 5.
  for (int f = 0; f < 8; ++f) {
    const bool swapped = f >= 5;
    acc.add_frame({box(1, 0), box(2, 50)}, {box(swapped ? 20 : 10, 0), box(swapped ? 10 : 20, 50)});
  }
  const MotSummary s = acc.summary();
  CHECK(s.ground_truth == 16);
  CHECK(s.id_switches == 2);
  CHECK(s.mota == doctest::Approx(1.0 - 2.0 / 16.0));
  // Best pairing: 1-10 and 2-20, 5 frames each: IDTP 10 of 16 on both sides.
  CHECK(s.idf1 == doctest::Approx(10.0 / 16.0));
}

TEST_CASE("mot: fragmentations count each interruption that is tracked again") {
  MotAccumulator acc;
  // Tracked, missed, missed, tracked, missed, tracked, missed: two
  // interruptions followed by tracking, and a final one that is not.
  const bool tracked[] = {true, false, false, true, false, true, false};
  for (const bool t : tracked)
    acc.add_frame({box(1, 0)}, t ? std::vector{box(4, 0)} : std::vector<MotBox>{});
  // Frames where the object is absent from the ground truth interrupt nothing.
  acc.add_frame({}, {});
  acc.add_frame({box(1, 0)}, {box(4, 0)});  // after a miss: a third fragmentation
  acc.add_frame({}, {});
  acc.add_frame({box(1, 0)}, {box(4, 0)});  // previous presence tracked: none
  const MotSummary s = acc.summary();
  CHECK(s.ground_truth == 9);
  CHECK(s.matches == 5);
  CHECK(s.misses == 4);
  CHECK(s.fragmentations == 3);
  CHECK(s.id_switches == 0);
  CHECK(s.mota == doctest::Approx(1.0 - 4.0 / 9.0));
}

TEST_CASE("mot: a kept correspondence beats a better overlap, and is no switch") {
  MotAccumulator acc;
  acc.add_frame({box(1, 0)}, {box(7, 2)});  // IoU 2/3
  // Hypothesis 8 now fits better (IoU 1), but 7 is still valid (2/3): kept.
  acc.add_frame({box(1, 0)}, {box(7, 2), box(8, 0)});
  // 7 no longer valid (IoU 3/7): the object goes to 8, a switch.
  acc.add_frame({box(1, 0)}, {box(7, 4), box(8, 0)});
  const MotSummary s = acc.summary();
  CHECK(s.matches == 3);
  CHECK(s.false_positives == 2);
  CHECK(s.id_switches == 1);
  CHECK(s.motp == doctest::Approx((2.0 / 3.0 + 2.0 / 3.0 + 1.0) / 3.0));
  CHECK(s.mota == doctest::Approx(1.0 - 3.0 / 3.0));
}

TEST_CASE("mot: ignored low-visibility objects are neither required nor penalised") {
  MotAccumulator acc(0.5f, 0.5f);
  for (int f = 0; f < 4; ++f) {
    // Object 1 fully visible and tracked; object 2 mostly hidden (0.2),
    // covered by hypothesis 9 in the first two frames only; object 3 hidden
    // and never covered.
    std::vector<MotBox> hyps{box(10, 0)};
    if (f < 2) hyps.push_back(box(9, 50));
    acc.add_frame({box(1, 0), box(2, 50, 0, 0.2f), box(3, 100, 0, 0.1f)}, hyps);
  }
  const MotSummary s = acc.summary();
  CHECK(s.ground_truth == 4);
  CHECK(s.hypotheses == 4);  // hypothesis 9's boxes count for nothing
  CHECK(s.matches == 4);
  CHECK(s.misses == 0);
  CHECK(s.false_positives == 0);
  CHECK(s.gt_trajectories == 1);
  CHECK(s.mota == doctest::Approx(1.0));
  CHECK(s.idf1 == doctest::Approx(1.0));

  SUBCASE("required objects are matched first") {
    // A hypothesis between a required and an ignored object goes to the
    // required one even though it overlaps the ignored one better.
    MotAccumulator first(0.3f, 0.5f);
    first.add_frame({box(1, 0), box(2, 3, 0, 0.1f)}, {box(5, 2)});
    const MotSummary t = first.summary();
    CHECK(t.matches == 1);
    CHECK(t.misses == 0);
    CHECK(t.false_positives == 0);
  }
  SUBCASE("an object that becomes visible is then required") {
    MotAccumulator later;
    later.add_frame({box(1, 0, 0, 0.3f)}, {});
    later.add_frame({box(1, 0, 0, 0.9f)}, {});
    const MotSummary t = later.summary();
    CHECK(t.ground_truth == 1);
    CHECK(t.misses == 1);
    CHECK(t.mota == doctest::Approx(0.0));
  }
}

TEST_CASE("mot: empty frames, and nothing at all") {
  SUBCASE("nothing") {
    const MotSummary s = MotAccumulator().summary();
    CHECK(s.frames == 0);
    CHECK(s.mota == 0);
    CHECK(s.motp == 0);
    CHECK(s.idf1 == 0);
    CHECK(s.id_switches_per_1000 == 0);
  }
  SUBCASE("empty frames count as frames and change nothing else") {
    MotAccumulator acc;
    acc.add_frame({}, {});
    acc.add_frame({box(1, 0)}, {box(3, 0)});
    acc.add_frame({}, {});
    acc.add_frame({box(1, 0)}, {box(3, 0)});
    const MotSummary s = acc.summary();
    CHECK(s.frames == 4);
    CHECK(s.ground_truth == 2);
    CHECK(s.matches == 2);
    CHECK(s.fragmentations == 0);
    CHECK(s.mota == 1.0);
    CHECK(s.idf1 == doctest::Approx(1.0));
  }
  SUBCASE("only false positives") {
    MotAccumulator acc;
    acc.add_frame({}, {box(3, 0)});
    const MotSummary s = acc.summary();
    CHECK(s.false_positives == 1);
    CHECK(s.mota == 0);  // no ground truth: 0, not -infinity
    CHECK(s.idf1 == 0);
    CHECK(s.idp == 0);
  }
}

}  // namespace lookout::tracking
