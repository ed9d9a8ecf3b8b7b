// core/percentile.hpp: the one percentile definition (nearest rank) that the
// daemon's stats (p50/p90) and `lookout bench` (p50/p99) both call, so they
// agree by construction; tests/app/daemon/pipeline_test.cpp checks the
// daemon's stats against this function on the times its frames reported.
#include "core/percentile.hpp"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include <doctest/doctest.h>

using lookout::percentile;

namespace {

std::vector<double> one_to(int n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 1.0);
  return v;
}

}  // namespace

TEST_CASE("1..100: each percentile is the value with that many samples at or below it") {
  const auto v = one_to(100);
  CHECK(percentile(v, 50) == 50);
  CHECK(percentile(v, 90) == 90);
  CHECK(percentile(v, 99) == 99);
  CHECK(percentile(v, 100) == 100);
  CHECK(percentile(v, 1) == 1);
  CHECK(percentile(v, 0) == 1);  // the smallest
  // Between ranks: the next sample up, never an interpolation.
  CHECK(percentile(v, 50.5) == 51);
  CHECK(percentile(v, 99.9) == 100);
}

TEST_CASE("whole percentages of sizes where p / 100 is inexact land on the right rank") {
  // 0.9 * 10, 0.99 * 100 and the like are not whole numbers in floating point;
  // taking the next sample up for them would be off by one.
  for (int n : {10, 20, 50, 100, 200, 1000}) {
    const auto v = one_to(n);
    for (int p = 1; p <= 100; ++p) {
      // The smallest rank r with r / n >= p / 100, in integers.
      const int rank = (p * n + 99) / 100;
      CAPTURE(n);
      CAPTURE(p);
      CHECK(percentile(v, p) == rank);
    }
  }
}

TEST_CASE("small samples") {
  CHECK(percentile({7}, 0) == 7);
  CHECK(percentile({7}, 50) == 7);
  CHECK(percentile({7}, 100) == 7);
  // Two values: up to half of them is the lower one, above that the upper.
  CHECK(percentile({3, 8}, 50) == 3);
  CHECK(percentile({3, 8}, 51) == 8);
  CHECK(percentile({3, 8}, 90) == 8);
  CHECK(percentile({3, 8}, 99) == 8);
  // The median of an even count is the lower middle value: {1, 2, 3, 4} gives 2
  // (the daemon's former rounded index gave 3, the bench 2).
  CHECK(percentile({1, 2, 3, 4}, 50) == 2);
  CHECK(percentile({1, 2, 3}, 50) == 2);
}

TEST_CASE("no samples give 0, and p outside 0..100 is clamped") {
  CHECK(percentile({}, 50) == 0);
  CHECK(percentile({}, 99) == 0);
  CHECK(percentile({5, 6}, -10) == 5);
  CHECK(percentile({5, 6}, 250) == 6);
}

TEST_CASE("unsorted input, repeated values and negative values") {
  CHECK(percentile({9, 1, 5, 3, 7}, 50) == 5);
  CHECK(percentile({9, 1, 5, 3, 7}, 90) == 9);
  CHECK(percentile({9, 1, 5, 3, 7}, 20) == 1);
  CHECK(percentile({2, 2, 2, 1}, 25) == 1);
  CHECK(percentile({2, 2, 2, 1}, 26) == 2);
  CHECK(percentile({-1.5, -3, 4}, 50) == -1.5);

  // A shuffled 1..100 gives what the sorted one does, for every p.
  auto v = one_to(100);
  std::mt19937 rng(42);
  std::shuffle(v.begin(), v.end(), rng);
  for (int p = 0; p <= 100; ++p) {
    CAPTURE(p);
    CHECK(percentile(v, p) == std::max(p, 1));
  }
}
