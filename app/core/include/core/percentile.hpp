// percentile: the one definition of a percentile in lookout, so the daemon's
// stats (p50/p90 of inference times) and `lookout bench` (p50/p99 per stage)
// report the same number for the same samples.
//
// Nearest rank: the p-th percentile of n samples is the smallest sample with
// at least p% of the samples at or below it, i.e. the ceil(p/100 * n)-th
// smallest (the smallest for p = 0). It is always one of the samples, never
// an interpolation: 1..100 gives p50 = 50, p90 = 90, p99 = 99, p100 = 100;
// {1, 2, 3, 4} gives p50 = 2.
//
// Header-only; a pure function, callable from any thread.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace lookout {

// The p-th percentile (p in percent, clamped to 0..100) of unsorted
// `values`; 0 for no values (the daemon's stats before the first frame).
// Takes the samples by value because it reorders them (nth_element, O(n)).
inline double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  const double n = static_cast<double>(values.size());
  p = std::clamp(p, 0.0, 100.0);
  // p * n first: exact for the usual whole percentages, where p / 100 (0.9,
  // 0.99) is not, and a rank just above a whole number would take the next
  // sample. The tolerance covers fractional p (99.9) the same way.
  const double rank = std::ceil(p * n / 100.0 - 1e-9);
  const std::size_t k = rank < 1 ? 0 : std::min(values.size(), static_cast<std::size_t>(rank)) - 1;
  const auto kth = values.begin() + static_cast<std::ptrdiff_t>(k);
  std::nth_element(values.begin(), kth, values.end());
  return *kth;
}

}  // namespace lookout
