#include <doctest/doctest.h>

#include <stdexcept>

#include "core/frame.hpp"

using lookout::Frame;
using lookout::PixelFormat;

TEST_CASE("allocate packs planes for each format") {
  SUBCASE("RGB24") {
    auto f = Frame::allocate(PixelFormat::RGB24, 4, 3);
    CHECK(f->planes[0].stride == 12);
    CHECK(f->planes[0].size == 36);
    CHECK(f->storage.size() == 36);
    CHECK(lookout::validate_layout(*f).empty());
  }
  SUBCASE("I420 has three planes with half-size chroma") {
    auto f = Frame::allocate(PixelFormat::I420, 6, 4);
    CHECK(f->planes[0].stride == 6);
    CHECK(f->planes[1].stride == 3);
    CHECK(f->planes[2].size == 6);
    CHECK(f->planes[1].data == f->planes[0].data + 24);
    CHECK(f->planes[2].data == f->planes[1].data + 6);
    CHECK(f->storage.size() == 36);
    CHECK(lookout::validate_layout(*f).empty());
  }
  SUBCASE("NV12 interleaves chroma in plane 1") {
    auto f = Frame::allocate(PixelFormat::NV12, 6, 4);
    CHECK(f->planes[1].stride == 6);
    CHECK(f->planes[1].size == 12);
    CHECK(lookout::plane_count(PixelFormat::NV12) == 2);
  }
  SUBCASE("YUYV uses two bytes a pixel") {
    auto f = Frame::allocate(PixelFormat::YUYV, 4, 2);
    CHECK(f->planes[0].stride == 8);
  }
  SUBCASE("MJPEG holds the compressed size") {
    auto f = Frame::allocate(PixelFormat::MJPEG, 640, 480, 1234);
    CHECK(f->planes[0].size == 1234);
  }
}

TEST_CASE("allocate refuses impossible sizes") {
  CHECK_THROWS_AS(Frame::allocate(PixelFormat::RGB24, 0, 10), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Frame::allocate(PixelFormat::I420, 5, 4),
                       doctest::Contains("even width"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(Frame::allocate(PixelFormat::NV12, 4, 3),
                       doctest::Contains("even height"), std::invalid_argument);
}

TEST_CASE("validate_layout names the first problem of a foreign buffer") {
  auto f = Frame::allocate(PixelFormat::NV12, 8, 4);
  Frame borrowed = *f;
  borrowed.planes[1].stride = 4;
  CHECK(lookout::validate_layout(borrowed) ==
        "plane 1 stride 4 is less than its row of 8 bytes");
  borrowed = *f;
  borrowed.planes[0].size = 31;
  CHECK(lookout::validate_layout(borrowed) == "plane 0 holds 31 bytes, needs 32");
  borrowed = *f;
  borrowed.planes[1].data = nullptr;
  CHECK(lookout::validate_layout(borrowed) == "plane 1 has no data");
  // Padded rows (stride > row bytes) are fine when the last row fits.
  std::vector<std::uint8_t> padded(16 * 3 + 8 + 16 + 8);
  Frame strided = *f;
  strided.planes[0] = {padded.data(), 16, 16 * 3 + 8};
  strided.planes[1] = {padded.data() + 56, 16, 16 + 8};
  CHECK(lookout::validate_layout(strided).empty());
}

TEST_CASE("pixel format names round-trip") {
  for (auto format : {PixelFormat::RGB24, PixelFormat::BGR24, PixelFormat::I420, PixelFormat::NV12,
                      PixelFormat::YUYV, PixelFormat::GRAY8, PixelFormat::MJPEG}) {
    auto parsed = lookout::pixel_format_from_string(lookout::to_string(format));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == format);
  }
  CHECK_FALSE(lookout::pixel_format_from_string("RGBA").has_value());
}
