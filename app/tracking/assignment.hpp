// Optimal rectangular linear assignment (private to lookout_tracking): which
// column each row gets so that the total cost is least, for the tracker's
// track-to-detection matching and the MOT metrics' per-frame and trajectory
// matching.
//
// The solver is Jonker and Volgenant's (1987): a cheap warm start (column
// reduction for square problems, then two passes of augmenting row
// reduction) settles most rows, and each row still free is added by a
// shortest augmenting path, a Dijkstra search over reduced costs for the
// cheapest way to a free column, with dual prices keeping reduced costs
// non-negative; on rectangular problems as Crouse ("On implementing 2D
// rectangular assignment algorithms", 2016) describes them (a taller
// problem is transposed). O(rows^2 * cols) for rows <= cols at worst, and
// far less on the sparse, well-separated costs that tracking produces.
//
// Pairs costing more than max_cost, and non-finite costs (inf, NaN: "never"),
// are never assigned. What "least total cost" then means is the objective:
//   MostPairs:   as many allowed pairs as possible, and among those the least
//                total cost (padding forbidden pairs with a cost larger than
//                any allowed total, then dropping them). py-motmetrics'
//                per-frame CLEAR MOT matching does this.
//   CostLimit:   the least total of (cost - max_cost) over the assigned pairs,
//                i.e. leaving a row or a column unassigned costs max_cost / 2:
//                a pair is only worth taking if it beats leaving both sides
//                free (lap.lapjv's cost_limit, which ByteTrack uses). Unlike
//                MostPairs it does not give up a good pair for two poor ones
//                just to have more pairs. With max_cost infinite it is
//                MostPairs.
//
// Threads: any; the working memory is per thread (thread_local), grown to the
// largest problem seen, so repeated calls do not allocate.
#pragma once

#include <vector>

namespace lookout::tracking {

enum class AssignmentObjective { MostPairs, CostLimit };

// `cost` is rows x cols, row-major. Writes to `row_to_col` (resized to rows)
// each row's column, or -1 for a row left unassigned. rows or cols may be 0.
void solve_assignment(const double* cost, int rows, int cols, double max_cost,
                      AssignmentObjective objective, std::vector<int>& row_to_col);

// Convenience form of the above; `cost` must hold rows * cols entries.
std::vector<int> solve_assignment(const std::vector<double>& cost, int rows, int cols,
                                  double max_cost,
                                  AssignmentObjective objective = AssignmentObjective::MostPairs);

}  // namespace lookout::tracking
