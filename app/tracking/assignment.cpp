#include "assignment.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>

namespace lookout::tracking {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Working memory of one solve, kept per thread so that repeated solves of
// similar sizes reuse it.
struct Workspace {
  std::vector<double> cost;  // n x m, n <= m, every entry finite
  std::vector<double> row_price, col_price;
  std::vector<double> path_cost;  // per column: the shortest path to it found so far
  std::vector<int> col_of_row, row_of_col;
  std::vector<int> path_row;        // per column: the row the shortest path reaches it from
  std::vector<int> unvisited_cols;  // columns the current search has not settled
  std::vector<int> visited_rows, visited_cols;
  std::vector<int> free_rows;    // rows the warm start left unassigned
  std::vector<int> columns_won;  // per row, in the column reduction
};

Workspace& workspace() {
  thread_local Workspace instance;
  return instance;
}

bool allowed(double cost, double max_cost) {
  return std::isfinite(cost) && !(cost > max_cost);
}

// Jonker and Volgenant's column reduction and reduction transfer, for a
// square problem: every column's price is its lowest cost, a row that is the
// lowest of some column takes one of them, and a row with exactly one
// column passes the slack of its second best to that column's price. Leaves
// the rows still unassigned in w.free_rows. Prices stay feasible (no reduced
// cost below zero), every pair taken is its row's lowest reduced cost.
// Square only: a rectangular problem's free columns must keep price 0.
void column_reduction(Workspace& w, int n) {
  const auto un = static_cast<std::size_t>(n);
  const double* cost = w.cost.data();
  double* col_price = w.col_price.data();
  int* col_of_row = w.col_of_row.data();
  int* row_of_col = w.row_of_col.data();
  w.columns_won.assign(un, 0);
  int* columns_won = w.columns_won.data();
  // Each column's lowest cost and its row (the first on a tie), row by row
  // for the cache; the path buffer is free until the searches.
  int* lowest_row_of = w.path_row.data();
  for (int j = 0; j < n; ++j) {
    col_price[j] = cost[static_cast<std::size_t>(j)];
    lowest_row_of[j] = 0;
  }
  for (int i = 1; i < n; ++i) {
    const double* row_cost = cost + static_cast<std::size_t>(i) * un;
    for (int j = 0; j < n; ++j) {
      if (row_cost[j] < col_price[j]) {
        col_price[j] = row_cost[j];
        lowest_row_of[j] = i;
      }
    }
  }
  for (int j = n - 1; j >= 0; --j) {
    const int lowest_row = lowest_row_of[j];
    const double lowest = col_price[j];
    if (++columns_won[lowest_row] == 1) {
      col_of_row[lowest_row] = j;
      row_of_col[j] = lowest_row;
    } else if (lowest < col_price[col_of_row[lowest_row]]) {
      row_of_col[col_of_row[lowest_row]] = -1;
      col_of_row[lowest_row] = j;
      row_of_col[j] = lowest_row;
    }
  }
  w.free_rows.clear();
  for (int i = 0; i < n; ++i) {
    if (columns_won[i] == 0) {
      w.free_rows.push_back(i);
    } else if (columns_won[i] == 1) {
      const int own = col_of_row[i];
      const double* row_cost = cost + static_cast<std::size_t>(i) * un;
      double second = kInfinity;
      for (int j = 0; j < n; ++j) {
        if (j != own) second = std::min(second, row_cost[j] - col_price[j]);
      }
      col_price[own] -= second;
    }
  }
}

// Jonker and Volgenant's augmenting row reduction: each row of w.free_rows
// in turn takes the column where its reduced cost (cost - column price) is
// lowest, and that column's price drops until it is only as good for this
// row as the row's second best; the row that had the column is free again
// and bids next. Two passes settle most rows of a dense problem cheaply,
// leaving few (in w.free_rows) for the shortest path searches.
//
// Prices only drop, and only on columns that are assigned (and stay so), so
// a rectangular problem starting at price 0 keeps its conditions: column
// prices <= 0, and 0 on every free column. Each assigned row's pair stays
// its lowest reduced cost. Needs m >= 2 (a second best).
void augmenting_row_reduction(Workspace& w, int m) {
  const auto um = static_cast<std::size_t>(m);
  const double* cost = w.cost.data();
  double* col_price = w.col_price.data();
  int* col_of_row = w.col_of_row.data();
  int* row_of_col = w.row_of_col.data();
  std::vector<int>& free_rows = w.free_rows;
  std::size_t free_count = free_rows.size();
  for (int pass = 0; pass < 2 && free_count > 0; ++pass) {
    const std::size_t to_process = free_count;
    free_count = 0;  // rows left free by this pass, gathered at the front
    std::size_t k = 0;
    // Bids can go on for long where costs differ by little; past this the
    // searches (polynomial whatever the costs) take over.
    std::size_t bids_left = 4 * w.col_of_row.size();
    while (k < to_process && bids_left-- > 0) {
      const int row = free_rows[k++];
      const double* row_cost = cost + static_cast<std::size_t>(row) * um;
      // The lowest and second lowest reduced costs of the row.
      double best = row_cost[0] - col_price[0];
      int best_col = 0;
      double second = kInfinity;
      int second_col = -1;
      for (int j = 1; j < m; ++j) {
        const double h = row_cost[j] - col_price[j];
        if (h < second) {
          if (h >= best) {
            second = h;
            second_col = j;
          } else {
            second = best;
            second_col = best_col;
            best = h;
            best_col = j;
          }
        }
      }
      int col = best_col;
      int displaced = row_of_col[col];
      // Lowering the price must change it, or two rows could take the
      // column from each other for ever.
      const double lowered = col_price[col] - (second - best);
      const bool strictly_best = lowered < col_price[col];
      if (strictly_best) {
        col_price[col] = lowered;
      } else if (displaced >= 0) {
        // A tie: taking the other column avoids bouncing between two rows.
        col = second_col;
        displaced = row_of_col[col];
      }
      if (displaced >= 0) col_of_row[displaced] = -1;
      col_of_row[row] = col;
      row_of_col[col] = row;
      if (displaced < 0) continue;
      if (strictly_best) {
        free_rows[--k] = displaced;  // bids at once, in this pass
      } else {
        free_rows[free_count++] = displaced;
      }
    }
    while (k < to_process) free_rows[free_count++] = free_rows[k++];  // out of bids
  }
  free_rows.resize(free_count);
}

// Assigns every one of the n rows of w.cost (n x m, n <= m, finite) to its
// own column with the least total cost; the result is in w.col_of_row.
void solve_dense(Workspace& w, int n, int m) {
  const auto un = static_cast<std::size_t>(n);
  const auto um = static_cast<std::size_t>(m);
  w.row_price.assign(un, 0.0);
  w.col_price.assign(um, 0.0);
  w.col_of_row.assign(un, -1);
  w.row_of_col.assign(um, -1);
  w.path_cost.resize(um);
  w.path_row.resize(um);
  w.unvisited_cols.resize(um);
  w.visited_rows.clear();
  w.visited_cols.clear();
  w.visited_rows.reserve(un);
  w.visited_cols.reserve(um);
  const double* cost = w.cost.data();
  double* row_price = w.row_price.data();
  double* col_price = w.col_price.data();
  double* path_cost = w.path_cost.data();
  int* path_row = w.path_row.data();
  int* unvisited = w.unvisited_cols.data();
  int* col_of_row = w.col_of_row.data();
  int* row_of_col = w.row_of_col.data();

  if (n == m && n > 1) {
    column_reduction(w, n);
  } else {
    w.free_rows.resize(un);
    for (int r = 0; r < n; ++r) w.free_rows[static_cast<std::size_t>(r)] = r;
  }
  if (m > 1) augmenting_row_reduction(w, m);
  // Row prices making every reduced cost non-negative and the pairs taken
  // tight, for the searches.
  for (int r = 0; r < n; ++r) {
    const double* row_cost = cost + static_cast<std::size_t>(r) * um;
    if (col_of_row[r] >= 0) {
      row_price[r] = row_cost[col_of_row[r]] - col_price[col_of_row[r]];
      continue;
    }
    double lowest = kInfinity;
    for (int j = 0; j < m; ++j) lowest = std::min(lowest, row_cost[j] - col_price[j]);
    row_price[r] = lowest;
  }

  for (const int new_row : w.free_rows) {
    // Dijkstra from new_row over the residual graph, in reduced costs
    // (cost - row price - column price, non-negative for every edge the
    // matching does not use), until it settles a free column.
    std::fill(path_cost, path_cost + m, kInfinity);
    for (int j = 0; j < m; ++j) unvisited[j] = j;
    int unvisited_count = m;
    w.visited_rows.clear();
    w.visited_cols.clear();
    double settled_cost = 0;  // the length of the path to the last settled column
    int row = new_row;
    int free_col = -1;
    while (free_col < 0) {
      w.visited_rows.push_back(row);
      const double* row_cost = cost + static_cast<std::size_t>(row) * um;
      const double base = settled_cost - row_price[row];
      double lowest = kInfinity;
      int lowest_index = -1;
      for (int k = 0; k < unvisited_count; ++k) {
        const int j = unvisited[k];
        const double through_row = base + row_cost[j] - col_price[j];
        if (through_row < path_cost[j]) {
          path_cost[j] = through_row;
          path_row[j] = row;
        }
        // On a tie, a free column ends the search at once.
        if (path_cost[j] < lowest || (path_cost[j] == lowest && row_of_col[j] < 0)) {
          lowest = path_cost[j];
          lowest_index = k;
        }
      }
      // Every cost is finite, so some column is always reachable, unless
      // costs near the limits of a double overflowed: then leave the row.
      if (lowest_index < 0) break;
      settled_cost = lowest;
      const int col = unvisited[lowest_index];
      unvisited[lowest_index] = unvisited[--unvisited_count];
      w.visited_cols.push_back(col);
      if (row_of_col[col] < 0) {
        free_col = col;
      } else {
        row = row_of_col[col];
      }
    }

    if (free_col < 0) continue;

    // New prices keep every reduced cost non-negative and those of the
    // matching's edges (and the augmenting path's) zero.
    row_price[new_row] += settled_cost;
    for (const int r : w.visited_rows) {
      if (r != new_row) row_price[r] += settled_cost - path_cost[col_of_row[r]];
    }
    for (const int c : w.visited_cols) col_price[c] -= settled_cost - path_cost[c];

    // Flip the path: every row on it takes the column the path reached it by.
    int col = free_col;
    for (;;) {
      const int r = path_row[col];
      row_of_col[col] = r;
      std::swap(col_of_row[r], col);
      if (r == new_row) break;
    }
  }
}

}  // namespace

void solve_assignment(const double* cost, int rows, int cols, double max_cost,
                      AssignmentObjective objective, std::vector<int>& row_to_col) {
  row_to_col.assign(static_cast<std::size_t>(std::max(rows, 0)), -1);
  if (rows <= 0 || cols <= 0) return;

  if (!std::isfinite(max_cost)) objective = AssignmentObjective::MostPairs;
  const bool transposed = rows > cols;
  const int n = transposed ? cols : rows;
  const int m = transposed ? rows : cols;
  const auto ucols = static_cast<std::size_t>(cols);
  const auto um = static_cast<std::size_t>(m);
  // CostLimit: an allowed pair counts by how far it is below max_cost (and
  // a hair more, so that a pair exactly at max_cost is taken rather than
  // left); a forbidden one is as good as no pair, 0.
  const double allowed_shift = objective == AssignmentObjective::CostLimit
                                   ? -max_cost - 1e-12 * (1 + std::abs(max_cost))
                                   : 0.0;
  const double forbidden_mark = objective == AssignmentObjective::CostLimit ? 0.0 : kInfinity;

  // The dense problem the solver sees, rows <= columns, with the allowed
  // costs' range for MostPairs' padding.
  Workspace& w = workspace();
  w.cost.resize(static_cast<std::size_t>(n) * um);
  double lowest_allowed = kInfinity;
  double highest_allowed = -kInfinity;
  for (int r = 0; r < rows; ++r) {
    const double* row_cost = cost + static_cast<std::size_t>(r) * ucols;
    for (int c = 0; c < cols; ++c) {
      const double value = row_cost[c];
      double dense = forbidden_mark;
      if (allowed(value, max_cost)) {
        lowest_allowed = std::min(lowest_allowed, value);
        highest_allowed = std::max(highest_allowed, value);
        dense = value + allowed_shift;
      }
      const std::size_t at = transposed
                                 ? static_cast<std::size_t>(c) * um + static_cast<std::size_t>(r)
                                 : static_cast<std::size_t>(r) * um + static_cast<std::size_t>(c);
      w.cost[at] = dense;
    }
  }
  if (lowest_allowed == kInfinity) return;  // nothing may be assigned
  if (objective == AssignmentObjective::MostPairs) {
    // One forbidden pair more must cost more than any difference in the
    // allowed pairs' totals: with all n rows assigned, k allowed pairs and
    // the rest forbidden differ from k + 1 allowed ones by at least
    // forbidden - highest - k * range, for k < n.
    const double range = highest_allowed - lowest_allowed;
    const double forbidden_cost = highest_allowed + (n + 1) * (range + 1);
    for (double& x : w.cost) {
      if (x == kInfinity) x = forbidden_cost;
    }
  }
  solve_dense(w, n, m);

  for (int i = 0; i < n; ++i) {
    const int j = w.col_of_row[static_cast<std::size_t>(i)];
    const int r = transposed ? j : i;
    const int c = transposed ? i : j;
    if (allowed(cost[static_cast<std::size_t>(r) * ucols + static_cast<std::size_t>(c)],
                max_cost)) {
      row_to_col[static_cast<std::size_t>(r)] = c;
    }
  }
}

std::vector<int> solve_assignment(const std::vector<double>& cost, int rows, int cols,
                                  double max_cost, AssignmentObjective objective) {
  std::vector<int> row_to_col;
  if (rows > 0 && cols > 0 &&
      cost.size() < static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols)) {
    assert(false && "solve_assignment: cost holds fewer than rows * cols entries");
    row_to_col.assign(static_cast<std::size_t>(rows), -1);
    return row_to_col;
  }
  solve_assignment(cost.data(), rows, cols, max_cost, objective, row_to_col);
  return row_to_col;
}

}  // namespace lookout::tracking
