// BoxKalmanFilter (private to lookout_tracking): a constant-velocity Kalman
// filter on one track's box, as SORT and ByteTrack run one per track.
//
// State [cx, cy, w, h, vcx, vcy, vw, vh]: the box's centre and size in frame
// pixels and their rates in pixels per SECOND; measurement [cx, cy, w, h].
// Time steps are in seconds because the processed frame rate varies.
//
// Noise: ByteTrack's, scaled with the box's size (std_weight_position 1/20,
// std_weight_velocity 1/160 per frame), each axis by its own extent (cx and
// w by the width, cy and h by the height, as BoT-SORT's xywh filter does, so
// a wide box is not held to its height's precision horizontally). ByteTrack
// adds its per-frame process noise once per frame; here it is specified for
// a nominal frame of kNominalFramePeriodS (10 fps) and scaled to the actual
// step as a random walk: variance proportional to dt. Velocities per frame
// become per second by dividing by the nominal period. At 10 fps this is
// exactly ByteTrack's filter.
//
// Widths and heights are kept at kMinSizePx or more (a shrinking box that
// is only predicted would otherwise turn inside out).
//
// Ownership: plain value type, fixed-size arrays, no allocation. Threads:
// none of its own; one user at a time.
#pragma once

#include <array>
#include <cstddef>

namespace lookout::tracking {

struct KalmanBox {
  double cx = 0, cy = 0, w = 0, h = 0;
};

class BoxKalmanFilter {
 public:
  static constexpr int kStateSize = 8;
  static constexpr int kMeasurementSize = 4;
  static constexpr double kNominalFramePeriodS = 0.1;
  static constexpr double kPositionStdWeight = 1.0 / 20;   // per nominal frame
  static constexpr double kVelocityStdWeight = 1.0 / 160;  // per nominal frame
  static constexpr double kMinSizePx = 1.0;

  BoxKalmanFilter() = default;
  // Starts at `box` with zero velocity and ByteTrack's initial uncertainty
  // (position 2, velocity 10 times the per-frame noise).
  explicit BoxKalmanFilter(const KalmanBox& box) { initiate(box); }
  void initiate(const KalmanBox& box);

  // Moves the estimate dt seconds ahead (dt <= 0: no change).
  void predict(double dt);
  // Corrects the estimate with a measured box.
  void update(const KalmanBox& measurement);
  // The squared Mahalanobis distance of a measured box's centre from the
  // predicted centre, under the innovation covariance of the centre (two
  // degrees of freedom: 5.99 is the 95 % gate). It grows slower the longer a
  // track is only predicted, as its uncertainty grows.
  double centre_distance2(const KalmanBox& measurement) const;
  // Scales the velocity estimate (0..1), e.g. for a track that is no longer
  // seen; the uncertainty is left as it is.
  void damp_velocity(double factor);

  KalmanBox box() const { return {mean_[0], mean_[1], mean_[2], mean_[3]}; }
  double vcx() const { return mean_[4]; }
  double vcy() const { return mean_[5]; }
  double vw() const { return mean_[6]; }
  double vh() const { return mean_[7]; }
  const std::array<double, kStateSize>& mean() const { return mean_; }
  // Row-major kStateSize x kStateSize.
  const std::array<double, kStateSize * kStateSize>& covariance() const { return covariance_; }

 private:
  double& cov(int row, int col) {
    return covariance_[static_cast<std::size_t>(row * kStateSize + col)];
  }
  double cov(int row, int col) const {
    return covariance_[static_cast<std::size_t>(row * kStateSize + col)];
  }
  void keep_size_positive();

  std::array<double, kStateSize> mean_{};
  std::array<double, kStateSize * kStateSize> covariance_{};
};

}  // namespace lookout::tracking
