// V4L2 format negotiation and buffer layouts, without a device: the device
// side is replaced by what real webcams advertise and by buffers laid out the
// way drivers lay them out (padding after each row, planes back to back).
#include "v4l2/v4l2_format.hpp"

#include <libyuv.h>

#include <vector>

#include <doctest/doctest.h>

#include "testing/media.hpp"

namespace lookout::v4l2 {
namespace {

// What a Logitech C920-class USB 2 webcam reports: YUYV limited by USB
// bandwidth at large sizes, MJPEG at full rate, and H.264 we don't take.
std::vector<FormatCaps> c920() {
  FormatCaps yuyv{
      kYuyv, false, {{640, 480, 30}, {1280, 720, 10}, {1920, 1080, 5}, {320, 240, 30}}, {}};
  FormatCaps mjpg{kMjpeg, false, {{640, 480, 30}, {1280, 720, 30}, {1920, 1080, 30}}, {}};
  FormatCaps h264{fourcc('H', '2', '6', '4'), false, {{1920, 1080, 30}}, {}};
  return {yuyv, mjpg, h264};
}

Request req(int w, int h, double fps, std::optional<PixelFormat> format = std::nullopt) {
  Request r;
  r.width = w;
  r.height = h;
  r.fps = fps;
  r.format = format;
  return r;
}

TEST_CASE("fourcc names and mapping") {
  CHECK(fourcc_name(kYuyv) == "YUYV");
  CHECK(fourcc_name(kMjpeg) == "MJPG");
  CHECK(fourcc_name(kGrey) == "GREY");
  CHECK(to_pixel_format(kYuyv) == PixelFormat::YUYV);
  CHECK(to_pixel_format(kMjpeg) == PixelFormat::MJPEG);
  CHECK(to_pixel_format(kJpeg) == PixelFormat::MJPEG);
  CHECK(to_pixel_format(kNv12) == PixelFormat::NV12);
  CHECK(to_pixel_format(kYu12) == PixelFormat::I420);
  CHECK(to_pixel_format(kRgb24) == PixelFormat::RGB24);
  CHECK(to_pixel_format(kBgr24) == PixelFormat::BGR24);
  CHECK_FALSE(to_pixel_format(fourcc('H', '2', '6', '4')));
  for (auto f : {PixelFormat::RGB24, PixelFormat::BGR24, PixelFormat::I420, PixelFormat::NV12,
                 PixelFormat::YUYV, PixelFormat::GRAY8, PixelFormat::MJPEG}) {
    CHECK(to_pixel_format(*to_fourcc(f)) == f);
  }
}

TEST_CASE("negotiation on a typical USB webcam") {
  const auto caps = c920();
  SUBCASE("VGA at 30: uncompressed YUYV, nothing to decode") {
    const auto c = negotiate(caps, req(640, 480, 30));
    REQUIRE(c);
    CHECK(c->fourcc == kYuyv);
    CHECK(c->width == 640);
    CHECK(c->height == 480);
  }
  SUBCASE("720p at 30: only MJPEG is fast enough") {
    const auto c = negotiate(caps, req(1280, 720, 30));
    REQUIRE(c);
    CHECK(c->fourcc == kMjpeg);
    CHECK(c->width == 1280);
  }
  SUBCASE("720p at 10: YUYV reaches it") {
    const auto c = negotiate(caps, req(1280, 720, 10));
    REQUIRE(c);
    CHECK(c->fourcc == kYuyv);
  }
  SUBCASE("1080p, no rate asked: the fastest rate at that size") {
    const auto c = negotiate(caps, req(1920, 1080, 0));
    REQUIRE(c);
    CHECK(c->fourcc == kMjpeg);
    CHECK(c->max_fps == 30);
  }
  SUBCASE("an odd request gets the nearest size") {
    const auto c = negotiate(caps, req(700, 500, 30));
    REQUIRE(c);
    CHECK(c->width == 640);
    CHECK(c->height == 480);
  }
  SUBCASE("an explicit format is honoured") {
    const auto c = negotiate(caps, req(640, 480, 30, PixelFormat::MJPEG));
    REQUIRE(c);
    CHECK(c->fourcc == kMjpeg);
  }
  SUBCASE("an explicit format the device lacks is a clear refusal") {
    std::string why;
    CHECK_FALSE(negotiate(caps, req(640, 480, 30, PixelFormat::NV12), &why));
    CHECK(why == "the device offers no NV12 (it offers: YUYV, MJPG, H264)");
  }
}

TEST_CASE("negotiation preferences") {
  SUBCASE("NV12 beats YUYV at the same size and rate") {
    std::vector<FormatCaps> caps{{kYuyv, false, {{640, 480, 30}}, {}},
                                 {kNv12, false, {{640, 480, 30}}, {}}};
    CHECK(negotiate(caps, req(640, 480, 30))->fourcc == kNv12);
  }
  SUBCASE("hardware YUYV beats a libv4l-emulated I420") {
    std::vector<FormatCaps> caps{{kYu12, true, {{640, 480, 30}}, {}},
                                 {kYuyv, false, {{640, 480, 30}}, {}}};
    CHECK(negotiate(caps, req(640, 480, 30))->fourcc == kYuyv);
  }
  SUBCASE("a stepwise range offers the request itself, stepped") {
    FormatCaps caps{kYuyv, false, {}, SizeRange{160, 1920, 16, 120, 1080, 8, 0}};
    const auto c = negotiate({caps}, req(1000, 700, 30));
    REQUIRE(c);
    CHECK(c->width == 1008);  // 160 + 53 * 16
    CHECK(c->height == 704);  // 120 + round(72.5) * 8
    const auto big = negotiate({caps}, req(4000, 3000, 30));
    CHECK(big->width == 1920);
    CHECK(big->height == 1080);
  }
  SUBCASE("a device listing no sizes is asked for the request") {
    const auto c = negotiate({{kYuyv, false, {}, {}}}, req(800, 600, 15));
    REQUIRE(c);
    CHECK(c->width == 800);
    CHECK(c->height == 600);
  }
  SUBCASE("nothing usable") {
    std::string why;
    CHECK_FALSE(negotiate({{fourcc('H', '2', '6', '4'), false, {{640, 480, 30}}, {}}},
                          req(640, 480, 30), &why));
    CHECK(why == "the device offers no format lookout can use (it offers: H264)");
    CHECK_FALSE(negotiate({}, req(640, 480, 30), &why));
    CHECK(why.find("offers: nothing") != std::string::npos);
  }
}

// Converts a frame to ARGB with libyuv, as a consumer of the layout would.
std::vector<std::uint8_t> to_argb(const Frame& f) {
  std::vector<std::uint8_t> argb(static_cast<std::size_t>(f.width * f.height * 4));
  const auto& p = f.planes;
  int r = -1;
  switch (f.format) {
    case PixelFormat::YUYV:
      r = libyuv::YUY2ToARGB(p[0].data, int(p[0].stride), argb.data(), f.width * 4, f.width,
                             f.height);
      break;
    case PixelFormat::NV12:
      r = libyuv::NV12ToARGB(p[0].data, int(p[0].stride), p[1].data, int(p[1].stride), argb.data(),
                             f.width * 4, f.width, f.height);
      break;
    case PixelFormat::I420:
      r = libyuv::I420ToARGB(p[0].data, int(p[0].stride), p[1].data, int(p[1].stride), p[2].data,
                             int(p[2].stride), argb.data(), f.width * 4, f.width, f.height);
      break;
    default:
      break;
  }
  REQUIRE(r == 0);
  return argb;
}

// Bytes of a packed row pattern, distinct per (plane, row, column).
std::uint8_t value(int plane, int row, int col) {
  return static_cast<std::uint8_t>(16 + plane * 70 + row * 13 + col * 3);
}

// Writes `rows` rows of `row_bytes` into `dst` with `stride`, padding with 0xEE.
void put_plane(std::vector<std::uint8_t>& buf, std::size_t offset, int plane, int rows,
               int row_bytes, std::size_t stride) {
  for (int y = 0; y < rows; ++y) {
    for (std::size_t x = 0; x < stride; ++x) {
      buf[offset + y * stride + x] =
          x < static_cast<std::size_t>(row_bytes) ? value(plane, y, int(x)) : 0xEE;
    }
  }
}

TEST_CASE("YUYV with padded rows: the padding is skipped, the pixels are the same") {
  const int w = 6, h = 4;
  const std::size_t padded = 16, tight = w * 2;
  std::vector<std::uint8_t> driver(padded * h + 100, 0x55), packed(tight * h);
  put_plane(driver, 0, 0, h, w * 2, padded);
  put_plane(packed, 0, 0, h, w * 2, tight);
  Frame a, b;
  REQUIRE(describe_buffer({kYuyv, w, h, padded, std::uint32_t(padded * h)}, driver.data(),
                          driver.size(), padded * h, a) == "");
  REQUIRE(describe_buffer({kYuyv, w, h, tight, std::uint32_t(tight * h)}, packed.data(),
                          packed.size(), 0, b) == "");
  CHECK(a.format == PixelFormat::YUYV);
  CHECK(a.planes[0].stride == padded);
  CHECK(to_argb(a) == to_argb(b));
}

TEST_CASE("NV12 with a stride: chroma follows the padded luma plane") {
  const int w = 6, h = 4;
  const std::size_t stride = 8;
  std::vector<std::uint8_t> driver(stride * h * 3 / 2), packed(w * h * 3 / 2);
  put_plane(driver, 0, 0, h, w, stride);
  put_plane(driver, stride * h, 1, h / 2, w, stride);
  put_plane(packed, 0, 0, h, w, w);
  put_plane(packed, w * h, 1, h / 2, w, w);
  Frame a, b;
  REQUIRE(describe_buffer({kNv12, w, h, stride, std::uint32_t(driver.size())}, driver.data(),
                          driver.size(), driver.size(), a) == "");
  REQUIRE(describe_buffer({kNv12, w, h, w, std::uint32_t(packed.size())}, packed.data(),
                          packed.size(), packed.size(), b) == "");
  CHECK(a.planes[1].data == driver.data() + stride * h);
  CHECK(a.planes[1].stride == stride);
  CHECK(a.planes[1].data[0] == value(1, 0, 0));
  CHECK(to_argb(a) == to_argb(b));
}

TEST_CASE("I420 (YU12) with a stride: chroma strides are half") {
  const int w = 6, h = 4;
  const std::size_t stride = 8, cstride = 4;
  std::vector<std::uint8_t> driver(stride * h + 2 * cstride * h / 2), packed(w * h + 2 * 3 * 2);
  put_plane(driver, 0, 0, h, w, stride);
  put_plane(driver, stride * h, 1, h / 2, w / 2, cstride);
  put_plane(driver, stride * h + cstride * h / 2, 2, h / 2, w / 2, cstride);
  put_plane(packed, 0, 0, h, w, w);
  put_plane(packed, w * h, 1, h / 2, w / 2, w / 2);
  put_plane(packed, w * h + 6, 2, h / 2, w / 2, w / 2);
  Frame a, b;
  REQUIRE(describe_buffer({kYu12, w, h, stride, 0}, driver.data(), driver.size(), driver.size(),
                          a) == "");
  REQUIRE(describe_buffer({kYu12, w, h, w, 0}, packed.data(), packed.size(), packed.size(), b) ==
          "");
  CHECK(a.planes[2].stride == cstride);
  CHECK(a.planes[2].data[0] == value(2, 0, 0));
  CHECK(to_argb(a) == to_argb(b));
}

TEST_CASE("damaged or short buffers are refused with a reason") {
  std::vector<std::uint8_t> buf(64, 0);
  Frame f;
  CHECK(describe_buffer({kYuyv, 6, 4, 12, 48}, buf.data(), buf.size(), 20, f).find("malformed") ==
        0);
  CHECK(describe_buffer({kNv12, 6, 4, 6, 36}, buf.data(), buf.size(), 24, f).find("short frame") ==
        0);
  CHECK(describe_buffer({kYuyv, 6, 4, 12, 48}, buf.data(), buf.size(), 100, f)
            .find("driver reports") == 0);
  CHECK(describe_buffer({kMjpeg, 6, 4, 0, 64}, buf.data(), buf.size(), 30, f) ==
        "MJPEG frame lacks a JPEG header");
  CHECK(describe_buffer({fourcc('H', '2', '6', '4'), 6, 4, 0, 64}, buf.data(), buf.size(), 30, f) ==
        "unsupported pixel format H264");
  CHECK(describe_buffer({kYuyv, 6, 4, 12, 48}, nullptr, 0, 0, f) == "buffer is not mapped");
}

TEST_CASE("an MJPEG buffer is passed on as the bytes the driver filled") {
  const auto jpeg = test::encode_jpeg(test::quadrants(16, 8), 16, 8);
  std::vector<std::uint8_t> buf(jpeg);
  buf.resize(jpeg.size() + 500, 0);  // drivers' buffers are larger than the image
  Frame f;
  REQUIRE(describe_buffer({kMjpeg, 16, 8, 0, std::uint32_t(buf.size())}, buf.data(), buf.size(),
                          jpeg.size(), f) == "");
  CHECK(f.format == PixelFormat::MJPEG);
  CHECK(f.planes[0].size == jpeg.size());
  CHECK(f.width == 16);
}

}  // namespace
}  // namespace lookout::v4l2
