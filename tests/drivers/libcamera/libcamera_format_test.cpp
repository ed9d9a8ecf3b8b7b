// libcamera's pure parts: format mapping (with DRM's byte-order naming), the
// stream format choice, and plane layouts as the Pi's pipeline delivers them.
#include "libcamera/libcamera_format.hpp"

#include <libyuv.h>

#include <vector>

#include <doctest/doctest.h>
#include <libcamera/formats.h>

namespace lookout::lc {
namespace {

TEST_CASE("libcamera formats map to ours; RGB888 is B,G,R in memory") {
  namespace f = libcamera::formats;
  CHECK(to_pixel_format(f::YUV420.fourcc()) == PixelFormat::I420);
  CHECK(to_pixel_format(f::NV12.fourcc()) == PixelFormat::NV12);
  CHECK(to_pixel_format(f::RGB888.fourcc()) == PixelFormat::BGR24);
  CHECK(to_pixel_format(f::BGR888.fourcc()) == PixelFormat::RGB24);
  CHECK(to_pixel_format(f::YUYV.fourcc()) == PixelFormat::YUYV);
  CHECK(to_pixel_format(f::R8.fourcc()) == PixelFormat::GRAY8);
  CHECK(to_pixel_format(f::MJPEG.fourcc()) == PixelFormat::MJPEG);
  CHECK_FALSE(to_pixel_format(f::SRGGB10_CSI2P.fourcc()));  // raw Bayer: not for us
  CHECK_FALSE(to_pixel_format(f::XRGB8888.fourcc()));
  CHECK(to_fourcc(PixelFormat::RGB24) == f::BGR888.fourcc());
  CHECK(to_fourcc(PixelFormat::BGR24) == f::RGB888.fourcc());
  CHECK(fourcc_name(f::YUV420.fourcc()) == "YU12");
  CHECK(fourcc_name(f::R8.fourcc()) == "R8");
}

TEST_CASE("stream format choice") {
  namespace f = libcamera::formats;
  // What the Pi 4's ISP offers on its output (a subset).
  const std::vector<std::uint32_t> pi{f::YUYV.fourcc(),   f::XBGR8888.fourcc(), f::BGR888.fourcc(),
                                      f::RGB888.fourcc(), f::YUV420.fourcc(),   f::NV12.fourcc()};
  CHECK(choose_format(pi, std::nullopt) == f::BGR888.fourcc());  // R,G,B memory order
  CHECK(choose_format(pi, PixelFormat::I420) == f::YUV420.fourcc());
  CHECK(choose_format(pi, PixelFormat::BGR24) == f::RGB888.fourcc());
  const std::vector<std::uint32_t> yuv_only{f::NV12.fourcc(), f::YUV420.fourcc()};
  CHECK(choose_format(yuv_only, std::nullopt) == f::YUV420.fourcc());
  std::string why;
  CHECK_FALSE(choose_format(yuv_only, PixelFormat::GRAY8, &why));
  CHECK(why == "the camera offers no GRAY8 (it offers: NV12, YU12)");
  CHECK_FALSE(choose_format({f::SRGGB10_CSI2P.fourcc()}, std::nullopt, &why));
  CHECK(why.find("no format lookout can use") != std::string::npos);
}

TEST_CASE("YUV420 in three planes of one dmabuf, strides padded as on the Pi") {
  // 6x4 picture; the Pi aligns the luma stride (here to 32 bytes).
  const int w = 6, h = 4;
  const std::size_t stride = 32, cstride = 16;
  std::vector<std::uint8_t> dmabuf(stride * h + 2 * cstride * (h / 2), 0xEE);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) dmabuf[y * stride + x] = static_cast<std::uint8_t>(20 + y * 10 + x);
  const std::size_t u_off = stride * h, v_off = u_off + cstride * (h / 2);
  for (int y = 0; y < h / 2; ++y)
    for (int x = 0; x < w / 2; ++x) {
      dmabuf[u_off + y * cstride + x] = static_cast<std::uint8_t>(100 + y * 5 + x);
      dmabuf[v_off + y * cstride + x] = static_cast<std::uint8_t>(150 + y * 5 + x);
    }
  const std::vector<MappedPlane> planes{{dmabuf.data(), u_off, 0},
                                        {dmabuf.data() + u_off, cstride * h / 2, 0},
                                        {dmabuf.data() + v_off, cstride * h / 2, 0}};
  Frame frame;
  REQUIRE(describe_planes(PixelFormat::I420, w, h, stride, planes, frame) == "");
  CHECK(frame.planes[0].stride == stride);
  CHECK(frame.planes[1].stride == cstride);
  CHECK(frame.planes[2].stride == cstride);
  CHECK(frame.planes[1].data[cstride + 1] == 106);
  CHECK(frame.planes[2].data[2] == 152);

  // The same picture with all planes in one FrameBuffer plane: split by offset.
  Frame single;
  REQUIRE(describe_planes(PixelFormat::I420, w, h, stride, {{dmabuf.data(), dmabuf.size(), 0}},
                          single) == "");
  for (int i = 0; i < 3; ++i) {
    CHECK(single.planes[i].data == frame.planes[i].data);
    CHECK(single.planes[i].stride == frame.planes[i].stride);
  }

  // And a converter reading through the strides sees the tight picture.
  std::vector<std::uint8_t> tight(w * h + 2 * (w / 2) * (h / 2));
  libyuv::I420Copy(frame.planes[0].data, int(stride), frame.planes[1].data, int(cstride),
                   frame.planes[2].data, int(cstride), tight.data(), w, tight.data() + w * h, w / 2,
                   tight.data() + w * h + (w / 2) * (h / 2), w / 2, w, h);
  CHECK(tight[w + 2] == 20 + 10 + 2);
  CHECK(tight[w * h + 3 + 1] == 106);
}

TEST_CASE("NV12 and packed RGB layouts") {
  const int w = 4, h = 2;
  std::vector<std::uint8_t> nv12(64 * h + 64 * (h / 2), 1);
  Frame f;
  REQUIRE(describe_planes(PixelFormat::NV12, w, h, 64,
                          {{nv12.data(), 64 * h, 0}, {nv12.data() + 64 * h, 64, 0}}, f) == "");
  CHECK(f.planes[1].stride == 64);
  REQUIRE(describe_planes(PixelFormat::NV12, w, h, 64, {{nv12.data(), nv12.size(), 0}}, f) == "");
  CHECK(f.planes[1].data == nv12.data() + 128);

  std::vector<std::uint8_t> rgb(32 * h, 2);  // 4 px * 3 = 12 bytes per row, stride 32
  REQUIRE(describe_planes(PixelFormat::BGR24, w, h, 32, {{rgb.data(), rgb.size(), 0}}, f) == "");
  CHECK(f.format == PixelFormat::BGR24);
  CHECK(f.planes[0].size == rgb.size());
  // bytesused from the metadata wins over the plane length.
  REQUIRE(describe_planes(PixelFormat::BGR24, w, h, 32, {{rgb.data(), rgb.size(), 44}}, f) == "");
  CHECK(f.planes[0].size == 44);
}

TEST_CASE("layouts that do not fit are refused") {
  std::vector<std::uint8_t> small(10, 0);
  Frame f;
  CHECK_FALSE(
      describe_planes(PixelFormat::I420, 6, 4, 8, {{small.data(), small.size(), 0}}, f).empty());
  CHECK_FALSE(
      describe_planes(PixelFormat::NV12, 6, 4, 8, {{small.data(), small.size(), 0}}, f).empty());
  CHECK_FALSE(describe_planes(PixelFormat::RGB24, 6, 4, 8, {{small.data(), small.size(), 0}}, f)
                  .empty());  // stride < row
  CHECK(describe_planes(PixelFormat::RGB24, 6, 4, 18, {}, f) == "buffer has no mapped planes");
}

}  // namespace
}  // namespace lookout::lc

TEST_CASE("a Pi 5 with Debian's libcamera 0.0.x is told why it sees no camera, and what to do") {
  const std::string advice = lookout::lc::pi5_camera_advice("Raspberry Pi 5 Model B Rev 1.0", 3);
  CHECK(advice.find("Raspberry Pi 5") != std::string::npos);
  CHECK(advice.find("libcamera 0.0.3") != std::string::npos);
  CHECK(advice.find("scripts/make-deb.sh on the Pi") != std::string::npos);
  CHECK(advice.find("source.type stream") != std::string::npos);
  // A libcamera that has the Pi 5's pipeline (Raspberry Pi OS's), another
  // board, or no device tree: nothing to add.
  CHECK(lookout::lc::pi5_camera_advice("Raspberry Pi 5 Model B Rev 1.0", 302).empty());
  CHECK(lookout::lc::pi5_camera_advice("Raspberry Pi 4 Model B Rev 1.5", 3).empty());
  CHECK(lookout::lc::pi5_camera_advice("", 3).empty());
  // This machine is no Pi: the model is whatever the device tree says, or nothing.
  CHECK(lookout::lc::board_model().find("Raspberry Pi 5") == std::string::npos);
}
