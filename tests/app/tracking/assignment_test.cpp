// assignment.hpp: the rectangular assignment solver against brute force over
// every assignment of small random matrices (square and rectangular), both
// objectives, max_cost and non-finite gating, and empty inputs.
#include "assignment.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include <doctest/doctest.h>

namespace lookout::tracking {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

bool allowed(double cost, double max_cost) {
  return std::isfinite(cost) && !(cost > max_cost);
}

// An assignment's value, to compare: MostPairs maximises pairs then
// minimises cost; CostLimit minimises the sum of (cost - max_cost).
struct Value {
  int pairs = 0;
  double score = 0;  // lower is better
};

Value value_of(const std::vector<double>& cost, int cols, const std::vector<int>& row_to_col,
               double max_cost, AssignmentObjective objective) {
  Value v;
  for (std::size_t r = 0; r < row_to_col.size(); ++r) {
    const int c = row_to_col[r];
    if (c < 0) continue;
    const double x = cost[r * std::size_t(cols) + std::size_t(c)];
    ++v.pairs;
    v.score += objective == AssignmentObjective::CostLimit ? x - max_cost : x;
  }
  return v;
}

bool better(const Value& a, const Value& b, AssignmentObjective objective) {
  if (objective == AssignmentObjective::MostPairs && a.pairs != b.pairs) return a.pairs > b.pairs;
  return a.score < b.score - 1e-9;
}

// The best value over every injection of the smaller side into the larger,
// each forbidden (and, for CostLimit, each unprofitable) pair dropped.
Value brute_force(const std::vector<double>& cost, int rows, int cols, double max_cost,
                  AssignmentObjective objective) {
  const bool transposed = rows > cols;
  const int n = transposed ? cols : rows;
  const int m = transposed ? rows : cols;
  std::vector<int> perm(static_cast<std::size_t>(m));
  std::iota(perm.begin(), perm.end(), 0);
  Value best;
  bool first = true;
  do {
    std::vector<int> row_to_col(std::size_t(rows), -1);
    for (int i = 0; i < n; ++i) {
      const int r = transposed ? perm[std::size_t(i)] : i;
      const int c = transposed ? i : perm[std::size_t(i)];
      const double x = cost[std::size_t(r) * std::size_t(cols) + std::size_t(c)];
      if (!allowed(x, max_cost)) continue;
      row_to_col[std::size_t(r)] = c;
    }
    const Value v = value_of(cost, cols, row_to_col, max_cost, objective);
    if (first || better(v, best, objective)) best = v;
    first = false;
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

// Every assigned pair allowed, no column twice.
void check_valid(const std::vector<double>& cost, int rows, int cols, double max_cost,
                 const std::vector<int>& row_to_col) {
  REQUIRE(row_to_col.size() == std::size_t(rows));
  std::vector<int> used(std::size_t(cols), 0);
  for (int r = 0; r < rows; ++r) {
    const int c = row_to_col[std::size_t(r)];
    if (c < 0) continue;
    REQUIRE(c < cols);
    CHECK(++used[std::size_t(c)] == 1);
    CHECK(allowed(cost[std::size_t(r) * std::size_t(cols) + std::size_t(c)], max_cost));
  }
}

std::vector<double> random_costs(std::mt19937& rng, int rows, int cols, bool integers,
                                 double forbidden_fraction) {
  std::uniform_real_distribution<double> unit(0, 1);
  std::uniform_int_distribution<int> small(0, 4);
  std::vector<double> cost(std::size_t(rows) * std::size_t(cols));
  for (double& x : cost) {
    x = integers ? small(rng) : unit(rng);
    if (unit(rng) < forbidden_fraction) x = unit(rng) < 0.5 ? kInf : 100 + x;  // > max_cost
  }
  return cost;
}

}  // namespace

TEST_CASE("assignment: empty inputs give every row -1") {
  CHECK(solve_assignment({}, 0, 0, kInf).empty());
  CHECK(solve_assignment({}, 0, 5, kInf).empty());
  CHECK(solve_assignment({}, 3, 0, kInf) == std::vector<int>{-1, -1, -1});
  std::vector<int> out{7, 7};
  solve_assignment(nullptr, 0, 4, 1.0, AssignmentObjective::CostLimit, out);
  CHECK(out.empty());
}

TEST_CASE("assignment: a 1x1 pair is taken unless gated") {
  CHECK(solve_assignment({0.3}, 1, 1, 0.5) == std::vector<int>{0});
  CHECK(solve_assignment({0.5}, 1, 1, 0.5) == std::vector<int>{0});  // at max_cost: allowed
  CHECK(solve_assignment({0.6}, 1, 1, 0.5) == std::vector<int>{-1});
  CHECK(solve_assignment({kInf}, 1, 1, kInf) == std::vector<int>{-1});
  CHECK(solve_assignment({std::nan("")}, 1, 1, kInf) == std::vector<int>{-1});
  CHECK(solve_assignment({0.5}, 1, 1, 0.5, AssignmentObjective::CostLimit) == std::vector<int>{0});
  CHECK(solve_assignment({0.6}, 1, 1, 0.5, AssignmentObjective::CostLimit) == std::vector<int>{-1});
}

TEST_CASE("assignment: everything forbidden assigns nothing") {
  const std::vector<double> cost(12, kInf);
  CHECK(solve_assignment(cost, 3, 4, kInf) == std::vector<int>{-1, -1, -1});
  CHECK(solve_assignment(std::vector<double>(12, 2.0), 4, 3, 1.0) ==
        std::vector<int>{-1, -1, -1, -1});
}

TEST_CASE("assignment: the obvious cases") {
  // Square: the anti-diagonal is cheapest.
  CHECK(solve_assignment({5, 1, 1, 5}, 2, 2, kInf) == std::vector<int>{1, 0});
  // Wide: row 0 takes column 2, row 1 column 0.
  CHECK(solve_assignment({9, 9, 1, 2, 9, 9}, 2, 3, kInf) == std::vector<int>{2, 0});
  // Tall: two rows want column 0; the cheaper one gets it.
  CHECK(solve_assignment({3, 1, 2}, 3, 1, kInf) == std::vector<int>{-1, 0, -1});
  // Negative costs are fine.
  CHECK(solve_assignment({-1, -5, -2, -3}, 2, 2, kInf) == std::vector<int>{1, 0});
}

TEST_CASE("assignment: MostPairs takes two poor pairs, CostLimit the one good pair") {
  // Row 0 fits column 0 well (0.1) and column 1 poorly (0.7); row 1 only
  // column 0, poorly. Both pairs cost 0.7 + 0.7 = 1.4 with two pairs.
  const std::vector<double> cost{0.1, 0.7, 0.7, kInf};
  CHECK(solve_assignment(cost, 2, 2, 0.8, AssignmentObjective::MostPairs) ==
        std::vector<int>{1, 0});
  // Against a limit of 0.8: (0.1 - 0.8) = -0.7 beats (0.7 - 0.8) * 2 = -0.2.
  CHECK(solve_assignment(cost, 2, 2, 0.8, AssignmentObjective::CostLimit) ==
        std::vector<int>{0, -1});
}

TEST_CASE("assignment: random matrices up to 6x8 match brute force") {
  std::mt19937 rng(12345);
  int checked = 0;
  for (const auto objective : {AssignmentObjective::MostPairs, AssignmentObjective::CostLimit}) {
    for (int rows = 1; rows <= 8; ++rows) {
      for (int cols = 1; cols <= 8; ++cols) {
        if (std::min(rows, cols) > 6) continue;
        const int trials = std::max(rows, cols) >= 8 ? 3 : 10;
        for (int trial = 0; trial < trials; ++trial) {
          const bool integers = trial % 2 == 1;  // ties
          const double forbidden_fraction = (trial % 3) * 0.3;
          const double max_cost = integers ? 3.0 : (trial % 4 == 0 ? kInf : 0.7);
          const auto cost = random_costs(rng, rows, cols, integers, forbidden_fraction);
          const auto row_to_col = solve_assignment(cost, rows, cols, max_cost, objective);
          // Without a finite limit, CostLimit is MostPairs.
          const auto judged = std::isfinite(max_cost) ? objective : AssignmentObjective::MostPairs;
          CAPTURE(rows);
          CAPTURE(cols);
          CAPTURE(trial);
          CAPTURE(int(objective));
          check_valid(cost, rows, cols, max_cost, row_to_col);
          const Value got = value_of(cost, cols, row_to_col, max_cost, judged);
          const Value want = brute_force(cost, rows, cols, max_cost, judged);
          if (judged == AssignmentObjective::MostPairs) CHECK(got.pairs == want.pairs);
          CHECK(got.score == doctest::Approx(want.score).epsilon(1e-9));
          ++checked;
        }
      }
    }
  }
  CHECK(checked > 500);
}

TEST_CASE("assignment: the output vector is reused and resized") {
  std::vector<int> out(10, 3);
  solve_assignment(std::vector<double>{1, 2, 3, 4, 5, 6}.data(), 2, 3, kInf,
                   AssignmentObjective::MostPairs, out);
  CHECK(out.size() == 2);
  CHECK(out == std::vector<int>{0, 1});
}

TEST_CASE("assignment: a 50x50 dense random matrix is a valid full assignment") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<double> cost(2500);
  for (double& x : cost) x = unit(rng);
  const auto row_to_col = solve_assignment(cost, 50, 50, kInf);
  check_valid(cost, 50, 50, kInf, row_to_col);
  CHECK(std::count(row_to_col.begin(), row_to_col.end(), -1) == 0);
  // No pair of rows gains by swapping columns (a necessary condition).
  for (int a = 0; a < 50; ++a) {
    for (int b = a + 1; b < 50; ++b) {
      const auto ca = std::size_t(row_to_col[std::size_t(a)]);
      const auto cb = std::size_t(row_to_col[std::size_t(b)]);
      const double now = cost[std::size_t(a) * 50 + ca] + cost[std::size_t(b) * 50 + cb];
      const double swapped = cost[std::size_t(a) * 50 + cb] + cost[std::size_t(b) * 50 + ca];
      CHECK(now <= swapped + 1e-12);
    }
  }
}

}  // namespace lookout::tracking
