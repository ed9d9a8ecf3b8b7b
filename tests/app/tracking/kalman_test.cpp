// kalman.hpp: the box filter converges to a constant-velocity motion's
// velocity, predicts v * dt ahead for any dt, still tracks with irregular
// frame times, and keeps widths and heights positive.
#include "kalman.hpp"

#include <cmath>
#include <random>

#include <doctest/doctest.h>

namespace lookout::tracking {

namespace {

// A box moving at constant velocity (pixels per second), growing too.
struct Motion {
  double cx0 = 100, cy0 = 200, w0 = 40, h0 = 80;
  double vcx = 60, vcy = -25, vw = 2, vh = 4;
  KalmanBox at(double t) const { return {cx0 + vcx * t, cy0 + vcy * t, w0 + vw * t, h0 + vh * t}; }
};

}  // namespace

TEST_CASE("kalman: starts at the box with zero velocity") {
  const BoxKalmanFilter filter(KalmanBox{10, 20, 30, 40});
  CHECK(filter.box().cx == 10);
  CHECK(filter.box().cy == 20);
  CHECK(filter.box().w == 30);
  CHECK(filter.box().h == 40);
  CHECK(filter.vcx() == 0);
  CHECK(filter.vcy() == 0);
  // The covariance is symmetric positive: diagonal entries above zero.
  for (int i = 0; i < BoxKalmanFilter::kStateSize; ++i) {
    CHECK(filter.covariance()[std::size_t(i * BoxKalmanFilter::kStateSize + i)] > 0);
  }
}

TEST_CASE("kalman: converges to a constant-velocity motion's velocity at 10 fps") {
  const Motion motion;
  BoxKalmanFilter filter(motion.at(0));
  const double dt = 0.1;
  for (int k = 1; k <= 60; ++k) {
    filter.predict(dt);
    filter.update(motion.at(k * dt));
  }
  CHECK(filter.vcx() == doctest::Approx(motion.vcx).epsilon(0.02));
  CHECK(filter.vcy() == doctest::Approx(motion.vcy).epsilon(0.02));
  CHECK(filter.vw() == doctest::Approx(motion.vw).epsilon(0.1));
  CHECK(filter.vh() == doctest::Approx(motion.vh).epsilon(0.1));
  CHECK(filter.box().cx == doctest::Approx(motion.at(6.0).cx).epsilon(0.002));
}

TEST_CASE("kalman: a prediction moves the box by velocity * dt") {
  const Motion motion;
  BoxKalmanFilter filter(motion.at(0));
  for (int k = 1; k <= 30; ++k) {
    filter.predict(0.1);
    filter.update(motion.at(k * 0.1));
  }
  for (const double dt : {0.05, 0.1, 0.37, 1.5}) {
    BoxKalmanFilter ahead = filter;
    ahead.predict(dt);
    CAPTURE(dt);
    CHECK(ahead.box().cx == doctest::Approx(filter.box().cx + filter.vcx() * dt));
    CHECK(ahead.box().cy == doctest::Approx(filter.box().cy + filter.vcy() * dt));
    CHECK(ahead.box().w == doctest::Approx(filter.box().w + filter.vw() * dt));
    CHECK(ahead.box().h == doctest::Approx(filter.box().h + filter.vh() * dt));
    // Velocity is unchanged by a prediction; uncertainty grows.
    CHECK(ahead.vcx() == filter.vcx());
    CHECK(ahead.covariance()[0] > filter.covariance()[0]);
  }
  // No time, no change.
  BoxKalmanFilter same = filter;
  same.predict(0);
  CHECK(same.mean() == filter.mean());
  CHECK(same.covariance() == filter.covariance());
}

TEST_CASE("kalman: irregular frame times still track the motion") {
  const Motion motion;
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> step(0.03, 0.35);
  std::normal_distribution<double> noise(0, 1.0);  // pixels of detector jitter
  BoxKalmanFilter filter(motion.at(0));
  double t = 0;
  for (int k = 0; k < 80; ++k) {
    const double dt = step(rng);
    t += dt;
    filter.predict(dt);
    // Before the update, the prediction is already close to the truth.
    if (k > 20) CHECK(std::abs(filter.box().cx - motion.at(t).cx) < 6);
    KalmanBox measured = motion.at(t);
    measured.cx += noise(rng);
    measured.cy += noise(rng);
    filter.update(measured);
  }
  CHECK(filter.vcx() == doctest::Approx(motion.vcx).epsilon(0.1));
  CHECK(filter.vcy() == doctest::Approx(motion.vcy).epsilon(0.2));
  CHECK(std::abs(filter.box().cx - motion.at(t).cx) < 3);
  CHECK(std::abs(filter.box().cy - motion.at(t).cy) < 3);
}

TEST_CASE("kalman: the same motion sampled at 5 and 20 fps gives the same velocity") {
  const Motion motion;
  for (const double dt : {0.05, 0.2}) {
    BoxKalmanFilter filter(motion.at(0));
    for (int k = 1; k * dt <= 6.0 + 1e-9; ++k) {
      filter.predict(dt);
      filter.update(motion.at(k * dt));
    }
    CAPTURE(dt);
    CHECK(filter.vcx() == doctest::Approx(motion.vcx).epsilon(0.02));
  }
}

TEST_CASE("kalman: a shrinking box only predicted keeps a positive size") {
  BoxKalmanFilter filter(KalmanBox{100, 100, 40, 40});
  // Shrinks by 20 px/s.
  for (int k = 1; k <= 10; ++k) {
    filter.predict(0.1);
    filter.update(KalmanBox{100, 100, 40 - 2.0 * k, 40 - 2.0 * k});
  }
  CHECK(filter.vw() < 0);
  for (int k = 0; k < 100; ++k) filter.predict(0.1);
  CHECK(filter.box().w >= BoxKalmanFilter::kMinSizePx);
  CHECK(filter.box().h >= BoxKalmanFilter::kMinSizePx);
  CHECK(filter.vw() >= 0);
}

TEST_CASE("kalman: damping the velocity scales it and leaves the box") {
  const Motion motion;
  BoxKalmanFilter filter(motion.at(0));
  for (int k = 1; k <= 20; ++k) {
    filter.predict(0.1);
    filter.update(motion.at(k * 0.1));
  }
  const BoxKalmanFilter before = filter;
  filter.damp_velocity(0.5);
  CHECK(filter.vcx() == doctest::Approx(before.vcx() * 0.5));
  CHECK(filter.vh() == doctest::Approx(before.vh() * 0.5));
  CHECK(filter.box().cx == before.box().cx);
}

}  // namespace lookout::tracking
