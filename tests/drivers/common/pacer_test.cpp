// Pacing decisions that do not depend on how fast this machine is: an
// unpaced source is always due; a paced one is due right after reset() and
// not again until a period (here 100 s) has passed.
#include "common/pacer.hpp"

#include <limits>

#include <doctest/doctest.h>

namespace lookout {
namespace {

using std::chrono::milliseconds;

TEST_CASE("fps 0 is unpaced: every frame is due at once") {
  Pacer pacer(0);
  CHECK_FALSE(pacer.paced());
  for (int i = 0; i < 3; ++i) {
    CHECK(pacer.wait(milliseconds(0)));
    pacer.delivered();
  }
}

TEST_CASE("a paced source is due after reset, then not before its period") {
  Pacer pacer(0.01);  // one frame per 100 s
  CHECK(pacer.paced());
  CHECK(pacer.wait(milliseconds(0)));
  pacer.delivered();
  CHECK_FALSE(pacer.wait(milliseconds(0)));
  CHECK_FALSE(pacer.wait(milliseconds(1)));  // sleeps the timeout, still not due
  pacer.reset();
  CHECK(pacer.wait(milliseconds(0)));
}

TEST_CASE("negative or non-finite rates mean unpaced") {
  CHECK_FALSE(Pacer(-5).paced());
  CHECK_FALSE(Pacer(std::numeric_limits<double>::infinity()).paced());
}

}  // namespace
}  // namespace lookout
