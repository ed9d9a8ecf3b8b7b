// Which devices `source.type: auto` tries, in which order, and why it skips
// the others: rank() with device lists like those of a Pi with a CSI camera
// and a USB webcam, and the scans on real directories of this machine.
#include "auto/camera_discovery.hpp"

#include <unistd.h>

#include <doctest/doctest.h>

#include "common/fourcc.hpp"
#include "testing/media.hpp"

namespace lookout::discovery {
namespace {

constexpr std::uint32_t kYuyv = fourcc('Y', 'U', 'Y', 'V');
constexpr std::uint32_t kMjpeg = fourcc('M', 'J', 'P', 'G');
constexpr std::uint32_t kYu12 = fourcc('Y', 'U', '1', '2');
constexpr std::uint32_t kBayer10 = fourcc('p', 'R', 'A', 'A');
constexpr std::uint32_t kBayer8 = fourcc('R', 'G', 'G', 'B');

V4l2Node node(int number, std::string driver, std::uint32_t caps,
              std::vector<std::uint32_t> formats = {}, std::string card = "") {
  V4l2Node n;
  n.path = "/dev/video" + std::to_string(number);
  n.number = number;
  n.driver = std::move(driver);
  n.card = std::move(card);
  n.caps = caps;
  n.capture_formats = std::move(formats);
  return n;
}

constexpr std::uint32_t kCapture = kCapVideoCapture | kCapStreaming;
constexpr std::uint32_t kVideoOutput = 0x00000002;  // V4L2_CAP_VIDEO_OUTPUT

std::string why_skipped(const Discovery& d, const std::string& path) {
  for (const Skipped& s : d.skipped) {
    if (s.what == path) return s.why;
  }
  return "(not skipped)";
}

TEST_CASE("libcamera's cameras come first, then V4L2 webcams by node number") {
  SourceConfig base;
  base.width = 1280;
  base.height = 720;
  base.fps = 15;
  // A Pi 4 on Raspberry Pi OS with a Camera Module 3 and a USB webcam: the
  // webcam's nodes are numbered after the Pi's codec and ISP nodes.
  const std::vector<V4l2Node> nodes = {
      node(14, "bcm2835-isp", kCapture, {kYu12}, "bcm2835-isp"),
      node(10, "bcm2835-codec", kCapVideoM2mMplane | kCapStreaming, {}, "bcm2835-codec-decode"),
      node(0, "unicam", kCapture, {kBayer10, kBayer8}, "unicam"),
      node(21, "uvcvideo", kCapMetaCapture | kCapStreaming, {}, "HD Pro Webcam C920"),
      node(20, "uvcvideo", kCapture, {kYuyv, kMjpeg}, "HD Pro Webcam C920"),
      node(2, "vivid", kCapture, {kYuyv}, "vivid"),
  };
  const Discovery d =
      rank(base, {"/base/soc/i2c0mux/i2c@1/imx708@1a", "\\_SB_.PCI0-2:1.0-046d:082d"}, nodes);
  REQUIRE(d.candidates.size() == 4);
  CHECK(d.candidates[0].label == "libcamera:/base/soc/i2c0mux/i2c@1/imx708@1a");
  CHECK(d.candidates[0].config.type == SourceType::Libcamera);
  CHECK(d.candidates[0].config.camera == "/base/soc/i2c0mux/i2c@1/imx708@1a");
  CHECK(d.candidates[1].config.type == SourceType::Libcamera);
  CHECK(d.candidates[2].label == "v4l2:/dev/video2 (vivid)");
  CHECK(d.candidates[2].config.type == SourceType::V4l2);
  CHECK(d.candidates[2].config.device == "/dev/video2");
  CHECK(d.candidates[3].config.device == "/dev/video20");
  for (const Candidate& c : d.candidates) {
    // The user's settings come along.
    CHECK(c.config.width == 1280);
    CHECK(c.config.height == 720);
    CHECK(c.config.fps == 15);
  }
  CHECK(why_skipped(d, "/dev/video0") == "no format lookout takes (offers pRAA, RGGB)");
  CHECK(why_skipped(d, "/dev/video10") == "memory-to-memory node (a codec or converter)");
  CHECK(why_skipped(d, "/dev/video14") ==
        "a stage of the image pipeline (bcm2835-isp), not a camera");
  CHECK(why_skipped(d, "/dev/video21") == "metadata node");
  CHECK(d.summary().find("/dev/video21: metadata node") != std::string::npos);
}

TEST_CASE("the legacy camera stack's V4L2 node is a candidate; broken nodes say why") {
  V4l2Node broken = node(3, "", 0);
  broken.error = "permission denied (is the user in the 'video' group?)";
  const Discovery d =
      rank(SourceConfig{}, {},
           {node(0, "bm2835 mmal", kCapture, {kYu12, kYuyv}, "mmal service 16.1"), broken,
            node(1, "rp1-cfe", kCapVideoCaptureMplane | kCapStreaming),
            node(4, "x", kCapVideoCapture, {kYuyv}), node(5, "y", kVideoOutput | kCapStreaming)});
  REQUIRE(d.candidates.size() == 1);
  CHECK(d.candidates[0].label == "v4l2:/dev/video0 (mmal service 16.1)");
  CHECK(why_skipped(d, "/dev/video3") == "permission denied (is the user in the 'video' group?)");
  CHECK(why_skipped(d, "/dev/video1") ==
        "multi-planar only (a camera receiver or ISP node; libcamera drives those)");
  CHECK(why_skipped(d, "/dev/video4") == "no streaming I/O");
  CHECK(why_skipped(d, "/dev/video5") == "not a video capture node");
}

TEST_CASE("nothing found says so") {
  const Discovery d = rank(SourceConfig{}, {}, {});
  CHECK(d.candidates.empty());
  CHECK(d.summary() == "no cameras and no video devices");
  Discovery failed = d;
  failed.libcamera_error = "camera manager failed to start";
  CHECK(failed.summary() == "libcamera: camera manager failed to start");
}

TEST_CASE("video node numbers") {
  CHECK(video_node_number("video0") == 0);
  CHECK(video_node_number("video21") == 21);
  CHECK(video_node_number("video") == -1);
  CHECK(video_node_number("video0a") == -1);
  CHECK(video_node_number("videox") == -1);
  CHECK(video_node_number("media0") == -1);
  CHECK(video_node_number("v4l-subdev0") == -1);
  CHECK(video_node_number("video12345678") == -1);
}

TEST_CASE("scanning a directory: only character devices named videoN are probed") {
  test::ScratchDir dev;
  test::write_bytes(dev / "video0", "a regular file, not a device");
  test::write_bytes(dev / "media0", "");
  test::write_bytes(dev / "null", "");
  // A character device that is not V4L2.
  REQUIRE(::symlink("/dev/null", (dev / "video7").c_str()) == 0);
  const std::vector<V4l2Node> nodes = list_v4l2_nodes(dev.path());
#if LOOKOUT_WITH_V4L2
  REQUIRE(nodes.size() == 1);
  CHECK(nodes[0].path == (dev / "video7").string());
  CHECK(nodes[0].number == 7);
  // qemu-user adds why (it cannot translate the ioctl).
  CHECK(nodes[0].error.rfind("not a V4L2 device", 0) == 0);
  const Discovery d = rank(SourceConfig{}, {}, nodes);
  CHECK(d.candidates.empty());
  CHECK(why_skipped(d, (dev / "video7").string()) == nodes[0].error);
#else
  CHECK(nodes.empty());
#endif
  CHECK(capture_node_names(dev.path()) == std::vector<std::string>{"media0", "video0", "video7"});
  CHECK(capture_node_names(dev / "missing").empty());
}

}  // namespace
}  // namespace lookout::discovery
