#include "kalman.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lookout::tracking {

namespace {

constexpr int kN = BoxKalmanFilter::kStateSize;
constexpr int kM = BoxKalmanFilter::kMeasurementSize;

// The extent each measured component's noise scales with: cx and w with the
// width (mean[2]), cy and h with the height (mean[3]).
double extent(const std::array<double, kN>& mean, int component) {
  return component % 2 == 0 ? mean[2] : mean[3];
}

double square(double x) {
  return x * x;
}

}  // namespace

void BoxKalmanFilter::initiate(const KalmanBox& box) {
  mean_ = {box.cx, box.cy, box.w, box.h, 0, 0, 0, 0};
  mean_[2] = std::max(mean_[2], kMinSizePx);
  mean_[3] = std::max(mean_[3], kMinSizePx);
  covariance_.fill(0);
  for (int i = 0; i < kM; ++i) {
    const double size = extent(mean_, i);
    cov(i, i) = square(2 * kPositionStdWeight * size);
    cov(i + kM, i + kM) = square(10 * kVelocityStdWeight * size / kNominalFramePeriodS);
  }
}

void BoxKalmanFilter::predict(double dt) {
  if (!(dt > 0)) return;
  // Process noise from the box before the step, as ByteTrack does; a random
  // walk, so its variance grows in proportion to the time step.
  const double steps = dt / kNominalFramePeriodS;
  double position_variance[kM];
  double velocity_variance[kM];
  for (int i = 0; i < kM; ++i) {
    const double size = extent(mean_, i);
    position_variance[i] = square(kPositionStdWeight * size) * steps;
    velocity_variance[i] = square(kVelocityStdWeight * size / kNominalFramePeriodS) * steps;
  }

  for (int i = 0; i < kM; ++i) mean_[i] += dt * mean_[i + kM];

  // F P F^T with F = [I dt*I; 0 I], block by block: P = [A B; C D] becomes
  // [A + dt (B + C) + dt^2 D, B + dt D; C + dt D, D]. Entry (i, j) of each
  // new block only needs entry (i, j) of the old blocks, so in place is safe.
  for (int i = 0; i < kM; ++i) {
    for (int j = 0; j < kM; ++j) {
      const double a = cov(i, j);
      const double b = cov(i, j + kM);
      const double c = cov(i + kM, j);
      const double d = cov(i + kM, j + kM);
      cov(i, j) = a + dt * (b + c) + dt * dt * d;
      cov(i, j + kM) = b + dt * d;
      cov(i + kM, j) = c + dt * d;
    }
  }
  for (int i = 0; i < kM; ++i) {
    cov(i, i) += position_variance[i];
    cov(i + kM, i + kM) += velocity_variance[i];
  }
  keep_size_positive();
}

double BoxKalmanFilter::centre_distance2(const KalmanBox& measurement) const {
  const double s00 = cov(0, 0) + square(kPositionStdWeight * extent(mean_, 0));
  const double s11 = cov(1, 1) + square(kPositionStdWeight * extent(mean_, 1));
  const double s01 = cov(0, 1);
  const double det = s00 * s11 - s01 * s01;
  if (!(det > 0)) return std::numeric_limits<double>::infinity();
  const double dx = measurement.cx - mean_[0], dy = measurement.cy - mean_[1];
  return (s11 * dx * dx - 2 * s01 * dx * dy + s00 * dy * dy) / det;
}

void BoxKalmanFilter::update(const KalmanBox& measurement) {
  // Innovation covariance S = H P H^T + R: P's top-left block plus the
  // measurement noise, from the predicted box's size.
  double s[kM][kM];
  for (int i = 0; i < kM; ++i) {
    for (int j = 0; j < kM; ++j) s[i][j] = cov(i, j);
    s[i][i] += square(kPositionStdWeight * extent(mean_, i));
  }
  // Cholesky S = L L^T. S is positive definite unless the state is corrupt;
  // then the measurement is ignored rather than poisoning the state.
  double l[kM][kM] = {};
  for (int i = 0; i < kM; ++i) {
    for (int j = 0; j <= i; ++j) {
      double sum = s[i][j];
      for (int k = 0; k < j; ++k) sum -= l[i][k] * l[j][k];
      if (i == j) {
        if (!(sum > 0)) return;
        l[i][i] = std::sqrt(sum);
      } else {
        l[i][j] = sum / l[j][j];
      }
    }
  }
  // Gain K = P H^T S^-1, i.e. S K^T = H P: solve for each of the 8 columns
  // of H P (P's first four rows) by forward and back substitution.
  double hp[kM][kN];
  for (int i = 0; i < kM; ++i) {
    for (int j = 0; j < kN; ++j) hp[i][j] = cov(i, j);
  }
  double gain_t[kM][kN];  // K^T
  for (int col = 0; col < kN; ++col) {
    double y[kM];
    for (int i = 0; i < kM; ++i) {
      double sum = hp[i][col];
      for (int k = 0; k < i; ++k) sum -= l[i][k] * y[k];
      y[i] = sum / l[i][i];
    }
    for (int i = kM - 1; i >= 0; --i) {
      double sum = y[i];
      for (int k = i + 1; k < kM; ++k) sum -= l[k][i] * gain_t[k][col];
      gain_t[i][col] = sum / l[i][i];
    }
  }

  const double innovation[kM] = {measurement.cx - mean_[0], measurement.cy - mean_[1],
                                 measurement.w - mean_[2], measurement.h - mean_[3]};
  for (int r = 0; r < kN; ++r) {
    double correction = 0;
    for (int k = 0; k < kM; ++k) correction += gain_t[k][r] * innovation[k];
    mean_[r] += correction;
  }
  // P -= K S K^T, which is K (H P).
  for (int r = 0; r < kN; ++r) {
    for (int c = 0; c < kN; ++c) {
      double sum = 0;
      for (int k = 0; k < kM; ++k) sum += gain_t[k][r] * hp[k][c];
      cov(r, c) -= sum;
    }
  }
  // Rounding leaves P slightly asymmetric; keep it exactly symmetric.
  for (int r = 0; r < kN; ++r) {
    for (int c = r + 1; c < kN; ++c) {
      const double mid = 0.5 * (cov(r, c) + cov(c, r));
      cov(r, c) = mid;
      cov(c, r) = mid;
    }
  }
  keep_size_positive();
}

void BoxKalmanFilter::damp_velocity(double factor) {
  for (int i = kM; i < kN; ++i) mean_[i] *= factor;
}

void BoxKalmanFilter::keep_size_positive() {
  for (int i = 2; i < 4; ++i) {
    if (mean_[i] < kMinSizePx) {
      mean_[i] = kMinSizePx;
      // Still shrinking would push it under again at the next step.
      double& rate = mean_[i + kM];
      if (rate < 0) rate = 0;
    }
  }
}

}  // namespace lookout::tracking
