// The fourcc helper both camera sources' format tables are built from:
// byte order as the kernel packs codes, and names as messages print them.
#include "common/fourcc.hpp"

#if __has_include(<linux/videodev2.h>)
#include <linux/videodev2.h>
#define LOOKOUT_HAVE_VIDEODEV2 1
#endif

#include <doctest/doctest.h>

namespace lookout {
namespace {

TEST_CASE("fourcc packs the first letter into the lowest byte") {
  static_assert(fourcc('A', 'B', 'C', 'D') == 0x44434241u);
  CHECK(fourcc('Y', 'U', 'Y', 'V') == 0x56595559u);
  // Bytes above 0x7F are not sign-extended into the neighbouring letters.
  CHECK(fourcc('\xFF', 0, 0, 0) == 0x000000FFu);
  CHECK(fourcc(0, 0, 0, '\x80') == 0x80000000u);
#if LOOKOUT_HAVE_VIDEODEV2
  // The kernel's own macro (v4l2_fourcc) agrees.
  CHECK(fourcc('Y', 'U', 'Y', 'V') == V4L2_PIX_FMT_YUYV);
  CHECK(fourcc('M', 'J', 'P', 'G') == V4L2_PIX_FMT_MJPEG);
  CHECK(fourcc('Y', '1', '6', ' ') == V4L2_PIX_FMT_Y16);
#endif
}

TEST_CASE("fourcc names: four letters as they are, padding spaces trimmed") {
  CHECK(fourcc_name(fourcc('Y', 'U', 'Y', 'V')) == "YUYV");
  CHECK(fourcc_name(fourcc('M', 'J', 'P', 'G')) == "MJPG");
  CHECK(fourcc_name(fourcc('Y', '1', '6', ' ')) == "Y16");  // three letters
  CHECK(fourcc_name(fourcc('R', '8', ' ', ' ')) == "R8");   // two (DRM's R8)
  // Only trailing spaces are padding.
  CHECK(fourcc_name(fourcc(' ', 'A', ' ', 'B')) == " A B");
  CHECK(fourcc_name(fourcc(' ', ' ', ' ', ' ')).empty());
  // Read from the lowest byte up, like the packing.
  CHECK(fourcc_name(0x32315559u) == "YU12");
}

TEST_CASE("fourcc names show non-printable bytes as '?'") {
  CHECK(fourcc_name(0) == "????");
  CHECK(fourcc_name(0x04030201u) == "????");
  CHECK(fourcc_name(fourcc('A', '\x7F', 'B', '\x1F')) == "A?B?");
  // A space after a non-printable byte is still trailing padding.
  CHECK(fourcc_name(fourcc('G', '\xE9', ' ', ' ')) == "G?");
  // V4L2's big-endian flag (bit 31) makes the last letter non-printable.
  CHECK(fourcc_name(fourcc('R', 'G', 'B', 'R') | (1u << 31)) == "RGB?");
}

}  // namespace
}  // namespace lookout
