#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "postprocess.hpp"

using lookout::DetectOptions;
using lookout::engine::Candidate;
using lookout::engine::decode_rows;
using lookout::engine::non_max_suppression;

namespace {

// Rows of a YOLOv5 output: cx, cy, w, h, obj, class scores.
struct Rows {
  std::size_t nc;
  std::vector<float> data;
  void add(float cx, float cy, float w, float h, float obj, int cls, float cls_score) {
    const std::size_t at = data.size();
    data.resize(at + 5 + nc, 0.0f);
    data[at] = cx;
    data[at + 1] = cy;
    data[at + 2] = w;
    data[at + 3] = h;
    data[at + 4] = obj;
    data[at + 5 + static_cast<std::size_t>(cls)] = cls_score;
  }
  std::size_t count() const { return data.size() / (5 + nc); }
};

std::vector<Candidate> run(const Rows& rows, const DetectOptions& options) {
  std::vector<Candidate> c;
  decode_rows(rows.data.data(), rows.count(), 5 + rows.nc, options, c);
  return non_max_suppression(c, options.iou, options.agnostic, options.max_detections);
}

// ultralytics' non_max_suppression (single label), written out the slow,
// obvious way: an independent check of the engine's faster one.
std::vector<Candidate> reference_nms(const float* data, std::size_t n, std::size_t cols,
                                     float conf, float iou_thr, int max_det) {
  std::vector<Candidate> c;
  for (std::size_t r = 0; r < n; ++r) {
    const float* row = data + r * cols;
    if (!(row[4] > conf)) continue;
    int best = 0;
    for (std::size_t k = 0; k < cols - 5; ++k) {
      if (row[5 + k] * row[4] > row[5 + best] * row[4]) best = static_cast<int>(k);
    }
    const float score = row[5 + best] * row[4];
    if (!(score > conf)) continue;
    c.push_back({row[0] - row[2] / 2, row[1] - row[3] / 2, row[0] + row[2] / 2,
                 row[1] + row[3] / 2, score, best, static_cast<int>(r)});
  }
  std::stable_sort(c.begin(), c.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::vector<bool> removed(c.size(), false);
  std::vector<Candidate> kept;
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (removed[i]) continue;
    kept.push_back(c[i]);
    for (std::size_t j = i + 1; j < c.size(); ++j) {
      const float a[4] = {c[i].x1, c[i].y1, c[i].x2, c[i].y2};
      const float b[4] = {c[j].x1, c[j].y1, c[j].x2, c[j].y2};
      if (c[i].class_id == c[j].class_id && lookout::engine::iou(a, b) > iou_thr) removed[j] = true;
    }
  }
  if (kept.size() > static_cast<std::size_t>(max_det)) kept.resize(static_cast<std::size_t>(max_det));
  return kept;
}

}  // namespace

TEST_CASE("no candidates gives no detections") {
  Rows rows{3, {}};
  CHECK(run(rows, {}).empty());
  rows.add(50, 50, 10, 10, 0.2f, 0, 1.0f);  // objectness under conf
  rows.add(50, 50, 10, 10, 0.9f, 1, 0.2f);  // score 0.18 under conf
  CHECK(run(rows, {}).empty());
}

TEST_CASE("a score equal to the threshold is not kept (ultralytics uses >)") {
  Rows rows{1, {}};
  rows.add(50, 50, 10, 10, 0.5f, 0, 0.5f);  // 0.25 exactly
  CHECK(run(rows, {}).empty());
  DetectOptions lower;
  lower.conf = 0.24f;
  CHECK(run(rows, lower).size() == 1);
}

TEST_CASE("all boxes overlapping leave the best one") {
  Rows rows{2, {}};
  for (int i = 0; i < 200; ++i) {
    rows.add(100 + (i % 5) * 0.5f, 100, 40, 40, 0.5f + static_cast<float>(i) / 1000, 1, 0.9f);
  }
  const auto kept = run(rows, {});
  REQUIRE(kept.size() == 1);
  CHECK(kept[0].row == 199);
  CHECK(kept[0].class_id == 1);
  CHECK(kept[0].x1 == doctest::Approx(100 + 4 * 0.5f - 20));
}

TEST_CASE("ties: equal scores keep the earlier row, every time") {
  Rows rows{1, {}};
  for (int i = 0; i < 50; ++i) rows.add(30, 30, 20, 20, 0.8f, 0, 0.8f);
  rows.add(300, 300, 20, 20, 0.8f, 0, 0.8f);
  const auto kept = run(rows, {});
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].row == 0);
  CHECK(kept[1].row == 50);
}

TEST_CASE("IoU just under the threshold does not suppress; just over it does") {
  // Two 10x10 boxes shifted by 5 px: IoU = 50 / 150 = 1/3.
  Rows rows{1, {}};
  rows.add(10, 10, 10, 10, 0.9f, 0, 1.0f);
  rows.add(15, 10, 10, 10, 0.8f, 0, 1.0f);
  DetectOptions options;
  options.iou = 0.34f;
  CHECK(run(rows, options).size() == 2);
  options.iou = 0.33f;
  CHECK(run(rows, options).size() == 1);
}

TEST_CASE("class-aware by default, across classes when agnostic") {
  Rows rows{3, {}};
  rows.add(50, 50, 20, 20, 0.9f, 0, 1.0f);
  rows.add(51, 50, 20, 20, 0.9f, 2, 0.9f);
  DetectOptions options;
  auto kept = run(rows, options);
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].class_id == 0);
  CHECK(kept[1].class_id == 2);
  options.agnostic = true;
  kept = run(rows, options);
  REQUIRE(kept.size() == 1);
  CHECK(kept[0].class_id == 0);
}

TEST_CASE("each row votes for its best class only, then the class filter applies") {
  Rows rows{3, {}};
  rows.add(50, 50, 20, 20, 0.9f, 1, 0.9f);
  rows.data[5 + 2] = 0.5f;  // class 2 also scores, but lower
  DetectOptions options;
  options.classes = {2};
  CHECK(run(rows, options).empty());
  options.classes = {1, 2};
  REQUIRE(run(rows, options).size() == 1);
}

TEST_CASE("per-class thresholds") {
  Rows rows{2, {}};
  rows.add(50, 50, 20, 20, 0.5f, 0, 0.5f);    // 0.25
  rows.add(300, 50, 20, 20, 0.4f, 1, 0.5f);   // 0.20
  DetectOptions options;
  options.conf = 0.3f;
  CHECK(run(rows, options).empty());
  options.class_conf = {{1, 0.1f}};
  auto kept = run(rows, options);
  REQUIRE(kept.size() == 1);
  CHECK(kept[0].class_id == 1);
  options.class_conf = {{0, 0.2f}, {1, 0.1f}};
  CHECK(run(rows, options).size() == 2);
}

TEST_CASE("at most max_detections, the best ones") {
  Rows rows{1, {}};
  for (int i = 0; i < 3000; ++i) {
    rows.add(static_cast<float>(i % 60) * 30, static_cast<float>(i / 60) * 30, 10, 10,
             0.3f + static_cast<float>(i) / 10000, 0, 1.0f);
  }
  DetectOptions options;
  options.max_detections = 1000;
  const auto kept = run(rows, options);
  REQUIRE(kept.size() == 1000);
  CHECK(kept.front().row == 2999);
  CHECK(kept.back().row == 2000);
}

TEST_CASE("25,200 candidates (a 640x640 YOLOv5 output) match the reference NMS") {
  // Rows laid out as YOLOv5's three levels (80x80, 40x40, 20x20 cells, 3
  // anchors each), boxes near their cells, random scores: the case a real
  // model gives, with far more rows over the threshold than usual.
  const std::size_t nc = 80;
  Rows rows{nc, {}};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  for (int level = 0; level < 3; ++level) {
    const int cells = 80 >> level;
    const float stride = static_cast<float>(8 << level);
    for (int a = 0; a < 3; ++a) {
      for (int y = 0; y < cells; ++y) {
        for (int x = 0; x < cells; ++x) {
          const float size = stride * (1.5f + 3 * u(rng));
          rows.add((static_cast<float>(x) + u(rng)) * stride, (static_cast<float>(y) + u(rng)) * stride,
                   size, size * (0.5f + u(rng)), u(rng), static_cast<int>(u(rng) * 10),
                   0.3f + 0.7f * u(rng));
          // Some weaker votes for other classes.
          rows.data[rows.data.size() - nc + static_cast<std::size_t>(u(rng) * 79)] += 0.2f * u(rng);
        }
      }
    }
  }
  REQUIRE(rows.count() == 25200);
  for (float conf : {0.25f, 0.001f}) {
    DetectOptions options;
    options.conf = conf;
    const auto kept = run(rows, options);
    const auto expected = reference_nms(rows.data.data(), rows.count(), 5 + nc, conf, 0.45f, 1000);
    REQUIRE(kept.size() == expected.size());
    CHECK(kept.size() > 100);
    for (std::size_t i = 0; i < kept.size(); ++i) {
      CHECK(kept[i].row == expected[i].row);
      CHECK(kept[i].class_id == expected[i].class_id);
      CHECK(kept[i].score == expected[i].score);
    }
  }
}

TEST_CASE("top-k of class scores, ties by class id") {
  const float scores[] = {0.1f, 0.5f, 0.2f, 0.5f, 0.05f};
  auto top = lookout::engine::top_k(scores, 5, 3);
  REQUIRE(top.size() == 3);
  CHECK(top[0].class_id == 1);
  CHECK(top[1].class_id == 3);
  CHECK(top[2].class_id == 2);
  CHECK(lookout::engine::top_k(scores, 5, 0).size() == 5);
  CHECK(lookout::engine::top_k(scores, 5, 9).size() == 5);
}
