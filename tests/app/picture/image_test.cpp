#include "picture/image.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>

#include <doctest/doctest.h>

#include "app/picture/test_frames.hpp"

namespace t = lookout::test;
using lookout::Frame;
using lookout::PixelFormat;
using lookout::picture::RgbImage;
using lookout::picture::scaled;
using lookout::picture::small_copy;
using lookout::picture::small_copy_into;
using lookout::picture::to_rgb;

namespace {

const PixelFormat kRawFormats[] = {PixelFormat::RGB24, PixelFormat::BGR24, PixelFormat::I420,
                                   PixelFormat::NV12,  PixelFormat::YUYV,  PixelFormat::GRAY8};

// The round trip through 8-bit YUV (and libyuv's fixed-point conversion)
// moves a colour by a few levels; exact formats must be exact.
int tolerance_of(PixelFormat format) {
  switch (format) {
    case PixelFormat::RGB24:
    case PixelFormat::BGR24:
    case PixelFormat::GRAY8:
      return 0;
    case PixelFormat::MJPEG:
      return 6;
    default:
      return 5;
  }
}

}  // namespace

TEST_CASE("to_rgb converts every raw format at its own size, honouring row padding") {
  for (const PixelFormat format : kRawFormats) {
    for (const std::size_t padding : {std::size_t{0}, std::size_t{13}}) {
      CAPTURE(to_string(format));
      CAPTURE(padding);
      const auto frame = t::quadrant_frame(format, 64, 48, padding);
      const RgbImage image = to_rgb(*frame);
      REQUIRE(image.width == 64);
      REQUIRE(image.height == 48);
      REQUIRE(image.pixels.size() == 64u * 48u * 3u);
      t::check_quadrants(image, format, tolerance_of(format));
      // Every pixel, not only the centres: the padding's junk must not show.
      int wrong = 0;
      for (int y = 0; y < 48; ++y) {
        for (int x = 0; x < 64; ++x) {
          if (!t::near(t::pixel(image, x, y), t::colour_at(format, x, y, 64, 48),
                       tolerance_of(format))) {
            ++wrong;
          }
        }
      }
      CHECK(wrong == 0);
    }
  }
}

TEST_CASE("to_rgb decodes MJPEG at its own size, with its own or the caller's decompressor") {
  const auto frame = t::quadrant_jpeg(64, 48);
  const RgbImage own = to_rgb(*frame);
  REQUIRE(own.width == 64);
  REQUIRE(own.height == 48);
  t::check_quadrants(own, PixelFormat::MJPEG, tolerance_of(PixelFormat::MJPEG));
  lookout::jpeg::Decompressor decompressor;
  const RgbImage shared = to_rgb(*frame, decompressor);
  CHECK(shared.pixels == own.pixels);
  // The handle stays usable for the next frame.
  CHECK(to_rgb(*frame, decompressor, 32).width == 32);
}

TEST_CASE("to_rgb scales every format to exactly the width asked, height in proportion") {
  std::vector<std::shared_ptr<const Frame>> frames;
  for (const PixelFormat format : kRawFormats)
    frames.push_back(t::quadrant_frame(format, 64, 48, 5));
  frames.push_back(t::quadrant_jpeg(64, 48));
  lookout::jpeg::Decompressor decompressor;
  for (const auto& frame : frames) {
    CAPTURE(to_string(frame->format));
    // Exactly half, then a ratio that is not a whole number (48 * 20 / 64 = 15).
    for (const auto& [width, height] : {std::pair{32, 24}, std::pair{20, 15}}) {
      CAPTURE(width);
      const RgbImage image = to_rgb(*frame, decompressor, width);
      REQUIRE(image.width == width);
      REQUIRE(image.height == height);
      REQUIRE(image.pixels.size() == static_cast<std::size_t>(width * height * 3));
      // Scaling averages within a quadrant: its colour survives (YUV formats
      // a little further off: their chroma is scaled separately).
      t::check_quadrants(image, frame->format, tolerance_of(frame->format) + 3);
    }
    // 48 * 50 / 64 = 37.5: rounded.
    const RgbImage rounded = to_rgb(*frame, decompressor, 50);
    CHECK(rounded.width == 50);
    CHECK(rounded.height == 38);
    // Never upscaled, and width <= 0 is the frame's own size.
    for (const int width : {0, -3, 64, 65, 1000}) {
      CAPTURE(width);
      const RgbImage image = to_rgb(*frame, decompressor, width);
      CHECK(image.width == 64);
      CHECK(image.height == 48);
    }
  }
}

TEST_CASE("a scaled height is at least one row") {
  const auto wide = t::quadrant_frame(PixelFormat::GRAY8, 64, 2);
  const RgbImage image = to_rgb(*wide, 1);
  CHECK(image.width == 1);
  CHECK(image.height == 1);
  CHECK(image.pixels.size() == 3u);
  const auto i420 = t::quadrant_frame(PixelFormat::I420, 128, 2);
  const RgbImage small = to_rgb(*i420, 3);
  CHECK(small.width == 3);
  CHECK(small.height == 1);
}

TEST_CASE("to_rgb refuses frames whose planes do not fit, and broken JPEGs") {
  auto frame = t::quadrant_frame(PixelFormat::I420, 64, 48);
  frame->planes[1].size = 10;
  CHECK_THROWS_WITH_AS(to_rgb(*frame), doctest::Contains("I420 frame: plane 1"),
                       std::runtime_error);
  auto empty = std::make_shared<Frame>();
  empty->format = PixelFormat::RGB24;
  CHECK_THROWS_AS(to_rgb(*empty), std::runtime_error);
  CHECK_THROWS_AS(small_copy(*empty, 10), std::runtime_error);

  auto garbage = Frame::allocate(PixelFormat::MJPEG, 64, 48, 11);
  std::memcpy(garbage->mutable_plane(0), "\xFF\xD8\xFF\x00garbage", 11);
  CHECK_THROWS_WITH_AS(to_rgb(*garbage), doctest::Contains("not a readable JPEG"),
                       lookout::jpeg::JpegError);
  auto no_bytes = Frame::allocate(PixelFormat::MJPEG, 64, 48, 0);
  CHECK_THROWS_AS(to_rgb(*no_bytes), lookout::jpeg::JpegError);
}

TEST_CASE("scaled shrinks an RGB image and copies it at its own size") {
  const RgbImage image = t::quadrant_image(64, 48);
  const RgbImage half = scaled(image, 32);
  REQUIRE(half.width == 32);
  REQUIRE(half.height == 24);
  REQUIRE(half.pixels.size() == 32u * 24u * 3u);
  t::check_quadrants(half, PixelFormat::RGB24, 0);  // box filter inside a solid quadrant
  const RgbImage odd = scaled(image, 7);
  CHECK(odd.width == 7);
  CHECK(odd.height == 5);  // 5.25
  for (const int width : {0, 64, 200}) {
    const RgbImage same = scaled(image, width);
    CHECK(same.width == 64);
    CHECK(same.height == 48);
    CHECK(same.pixels == image.pixels);
  }
  RgbImage broken{4, 4, std::vector<std::uint8_t>(10)};
  CHECK_THROWS_WITH_AS(scaled(broken, 2), doctest::Contains("holds 10 bytes"), std::runtime_error);
}

TEST_CASE("small_copy keeps MJPEG frames as they are") {
  auto frame = t::quadrant_jpeg(64, 48);
  frame->sequence = 17;
  frame->capture_time = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  frame->capture_steady = std::chrono::steady_clock::time_point(std::chrono::milliseconds(1234));
  frame->truth = {{2, 1, 2, 30, 40}};
  const auto copy = small_copy(*frame, 16);
  REQUIRE(copy->format == PixelFormat::MJPEG);
  CHECK(copy->width == 64);
  CHECK(copy->height == 48);
  REQUIRE(copy->planes[0].size == frame->planes[0].size);
  CHECK(std::equal(copy->planes[0].data, copy->planes[0].data + copy->planes[0].size,
                   frame->planes[0].data));
  CHECK(copy->planes[0].data != frame->planes[0].data);  // its own bytes
  CHECK(copy->sequence == 17);
  CHECK(copy->capture_time == frame->capture_time);
  CHECK(copy->capture_steady == frame->capture_steady);
  REQUIRE(copy->truth.size() == 1);
  CHECK(copy->truth[0].x2 == 30);
}

TEST_CASE("small_copy turns raw frames into small RGB24 frames with the frame's metadata") {
  for (const PixelFormat format : kRawFormats) {
    CAPTURE(to_string(format));
    auto frame = t::quadrant_frame(format, 640, 360, 8);
    frame->sequence = 42;
    frame->capture_time = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
    frame->capture_steady = std::chrono::steady_clock::time_point(std::chrono::seconds(99));
    frame->truth = {{1, 100, 50, 300, 200}};
    const auto copy = small_copy(*frame, 160);
    REQUIRE(copy->format == PixelFormat::RGB24);
    REQUIRE(copy->width == 160);
    REQUIRE(copy->height == 90);
    CHECK(lookout::validate_layout(*copy).empty());
    CHECK(copy->planes[0].stride == 160u * 3u);
    // It owns its pixels (they sit in its storage).
    REQUIRE(copy->storage.size() == 160u * 90u * 3u);
    CHECK(copy->planes[0].data == copy->storage.data());
    CHECK(copy->sequence == 42);
    CHECK(copy->capture_time == frame->capture_time);
    CHECK(copy->capture_steady == frame->capture_steady);
    REQUIRE(copy->truth.size() == 1);
    CHECK(copy->truth[0].class_id == 1);
    CHECK(copy->truth[0].x1 == doctest::Approx(25));
    CHECK(copy->truth[0].y1 == doctest::Approx(12.5));
    CHECK(copy->truth[0].x2 == doctest::Approx(75));
    CHECK(copy->truth[0].y2 == doctest::Approx(50));
    t::check_quadrants(to_rgb(*copy), format, tolerance_of(format) + 3);
  }
}

TEST_CASE("small_copy keeps the aspect and never enlarges") {
  const auto frame = t::quadrant_frame(PixelFormat::NV12, 640, 360);
  const auto odd = small_copy(*frame, 100);
  CHECK(odd->width == 100);
  CHECK(odd->height == 56);  // 56.25
  for (const int width : {640, 1000, 0}) {
    CAPTURE(width);
    const auto same = small_copy(*frame, width);
    CHECK(same->format == PixelFormat::RGB24);
    CHECK(same->width == 640);
    CHECK(same->height == 360);
    t::check_quadrants(to_rgb(*same), PixelFormat::NV12, tolerance_of(PixelFormat::NV12));
  }
}

TEST_CASE("a small copy outlives the buffer its frame borrowed") {
  // A frame lending a camera's buffer: its planes point into memory it does not own.
  const auto owner = t::quadrant_frame(PixelFormat::I420, 320, 240);
  auto buffer = std::make_unique<std::vector<std::uint8_t>>(owner->storage);
  auto lent = std::make_shared<Frame>();
  lent->format = PixelFormat::I420;
  lent->width = 320;
  lent->height = 240;
  for (int i = 0; i < 3; ++i) {
    const auto index = static_cast<std::size_t>(i);
    lent->planes[index] = owner->planes[index];
    lent->planes[index].data = buffer->data() + (owner->planes[index].data - owner->storage.data());
  }
  REQUIRE(lent->storage.empty());
  const auto copy = small_copy(*lent, 80);
  // The camera reuses the buffer for the next frame, then it is gone.
  std::fill(buffer->begin(), buffer->end(), std::uint8_t{0});
  lent.reset();
  buffer.reset();
  REQUIRE(copy->width == 80);
  REQUIRE(copy->height == 60);
  t::check_quadrants(to_rgb(*copy), PixelFormat::I420, tolerance_of(PixelFormat::I420) + 3);
}

TEST_CASE("small_copy_into reuses the buffer it is given and overwrites everything") {
  Frame out;
  auto first = t::quadrant_frame(PixelFormat::I420, 640, 360, 0);
  first->sequence = 1;
  first->truth = {{1, 100, 50, 300, 200}};
  small_copy_into(*first, 320, out);
  REQUIRE(out.format == PixelFormat::RGB24);
  REQUIRE(out.width == 320);
  const std::uint8_t* buffer = out.storage.data();
  // Another frame of the same size: the same buffer, new pixels and metadata.
  auto second = t::quadrant_frame(PixelFormat::NV12, 640, 360, 0);
  second->sequence = 2;
  small_copy_into(*second, 320, out);
  CHECK(out.storage.data() == buffer);
  CHECK(out.sequence == 2);
  CHECK(out.truth.empty());
  CHECK(lookout::validate_layout(out).empty());
  // The same picture as a fresh copy of that frame.
  const auto fresh = small_copy(*second, 320);
  REQUIRE(fresh->planes[0].size == out.planes[0].size);
  CHECK(std::equal(out.planes[0].data, out.planes[0].data + out.planes[0].size,
                   fresh->planes[0].data));
  // A smaller frame fits in the same buffer; its plane covers only its pixels.
  small_copy_into(*first, 160, out);
  CHECK(out.storage.data() == buffer);
  CHECK(out.width == 160);
  CHECK(out.planes[0].size == 160u * 90u * 3u);
  CHECK(lookout::validate_layout(out).empty());
  // An MJPEG frame after a raw one: its compressed bytes, its format.
  const auto jpeg = t::quadrant_jpeg(64, 48);
  small_copy_into(*jpeg, 320, out);
  CHECK(out.format == PixelFormat::MJPEG);
  CHECK(out.width == 64);
  REQUIRE(out.planes[0].size == jpeg->planes[0].size);
  CHECK(std::equal(out.planes[0].data, out.planes[0].data + out.planes[0].size,
                   jpeg->planes[0].data));
}
