#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "activations.hpp"

namespace {

double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

TEST_CASE("SiLU and sigmoid agree with the formula in double, across the float range") {
  // Dense in the interesting range, then the extremes.
  std::vector<float> xs;
  for (float x = -30.0f; x <= 30.0f; x += 0.0007f) xs.push_back(x);
  for (float x : {-1e30f, -1000.0f, -88.7f, -87.0f, -1e-30f, 0.0f, 1e-30f, 87.0f, 88.7f, 1000.0f,
                  1e30f, std::numeric_limits<float>::denorm_min()}) {
    xs.push_back(x);
  }
  std::vector<float> s(xs.size()), si(xs.size());
  lookout::engine::sigmoid(xs.data(), s.data(), xs.size());
  lookout::engine::silu(xs.data(), si.data(), xs.size());
  double worst_sigmoid = 0, worst_silu_rel = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double x = xs[i];
    const double e = ref_sigmoid(x);
    REQUIRE(std::isfinite(s[i]));
    REQUIRE(std::isfinite(si[i]));
    worst_sigmoid = std::max(worst_sigmoid, std::fabs(s[i] - e));
    const double silu = x * e;
    worst_silu_rel = std::max(worst_silu_rel, std::fabs(si[i] - silu) / std::max(1.0, std::fabs(silu)));
  }
  CHECK(worst_sigmoid < 1e-6);
  CHECK(worst_silu_rel < 1e-6);
}

TEST_CASE("in place, and lengths that are not multiples of the vector width") {
  for (std::size_t n : {0u, 1u, 3u, 4u, 5u, 17u}) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) - 4.0f;
    const std::vector<float> in = v;
    lookout::engine::silu(v.data(), v.data(), n);
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(v[i] == doctest::Approx(in[i] * ref_sigmoid(in[i])).epsilon(1e-6));
    }
  }
}
