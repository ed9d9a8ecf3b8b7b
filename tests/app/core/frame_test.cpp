#include "core/frame.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

using lookout::Frame;
using lookout::PixelFormat;
using lookout::Plane;

namespace {

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
  CHECK_THROWS_WITH_AS(Frame::allocate(PixelFormat::I420, 5, 4), doctest::Contains("even width"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(Frame::allocate(PixelFormat::NV12, 4, 3), doctest::Contains("even height"),
                       std::invalid_argument);
}

// A frame borrowing `f`'s planes (Frame is not copyable: this view is what a
// source builds on a foreign buffer).
Frame view_of(const Frame& f) {
  Frame view;
  view.format = f.format;
  view.width = f.width;
  view.height = f.height;
  view.planes = f.planes;
  return view;
}

TEST_CASE("validate_layout names the first problem of a foreign buffer") {
  auto f = Frame::allocate(PixelFormat::NV12, 8, 4);
  Frame borrowed = view_of(*f);
  borrowed.planes[1].stride = 4;
  CHECK(lookout::validate_layout(borrowed) == "plane 1 stride 4 is less than its row of 8 bytes");
  borrowed = view_of(*f);
  borrowed.planes[0].size = 31;
  CHECK(lookout::validate_layout(borrowed) == "plane 0 holds 31 bytes, needs 32");
  borrowed = view_of(*f);
  borrowed.planes[1].data = nullptr;
  CHECK(lookout::validate_layout(borrowed) == "plane 1 has no data");
  // Padded rows (stride > row bytes) are fine when the last row fits.
  std::vector<std::uint8_t> padded(16 * 3 + 8 + 16 + 8);
  Frame strided = view_of(*f);
  strided.planes[0] = {padded.data(), 16, 16 * 3 + 8};
  strided.planes[1] = {padded.data() + 56, 16, 16 + 8};
  CHECK(lookout::validate_layout(strided).empty());
}

// ---- copying, moving, cloning -----------------------------------------------

static_assert(!std::is_copy_constructible_v<Frame>, "a copy's planes would point at the original");
static_assert(!std::is_copy_assignable_v<Frame>, "a copy's planes would point at the original");
static_assert(std::is_nothrow_move_constructible_v<Frame>);
static_assert(std::is_nothrow_move_assignable_v<Frame>);

// Bytes per row and rows of each plane of a packed frame (independent of
// frame.cpp's own table, so the tests check it).
std::vector<std::pair<std::size_t, std::size_t>> plane_shapes(PixelFormat format, int width,
                                                              int height) {
  const auto w = static_cast<std::size_t>(width), h = static_cast<std::size_t>(height);
  switch (format) {
    case PixelFormat::RGB24:
    case PixelFormat::BGR24:
      return {{w * 3, h}};
    case PixelFormat::I420:
      return {{w, h}, {w / 2, h / 2}, {w / 2, h / 2}};
    case PixelFormat::NV12:
      return {{w, h}, {w, h / 2}};
    case PixelFormat::YUYV:
      return {{w * 2, h}};
    case PixelFormat::GRAY8:
      return {{w, h}};
    case PixelFormat::MJPEG:
      break;
  }
  return {};
}

std::uint8_t pixel_value(std::size_t plane, std::size_t row, std::size_t column) {
  return static_cast<std::uint8_t>(plane * 71 + row * 13 + column * 7 + 1);
}

// Whether `frame`'s pixels are pixel_value(), plane by plane, row by row.
bool has_pattern(const Frame& frame) {
  const auto shapes = plane_shapes(frame.format, frame.width, frame.height);
  for (std::size_t p = 0; p < shapes.size(); ++p) {
    for (std::size_t row = 0; row < shapes[p].second; ++row) {
      for (std::size_t x = 0; x < shapes[p].first; ++x) {
        if (frame.planes[p].data[row * frame.planes[p].stride + x] != pixel_value(p, row, x)) {
          return false;
        }
      }
    }
  }
  return true;
}

bool points_into(const Plane& plane, const std::vector<std::uint8_t>& memory) {
  const std::uint8_t* begin = memory.data();
  return plane.data >= begin && plane.data + plane.size <= begin + memory.size();
}

// A frame the way a camera source delivers one: its planes borrowed from a
// buffer it does not own, rows padded (`padding` bytes after each, filled with
// 0xEE), planes one after the other.
struct Borrowed {
  std::vector<std::uint8_t> buffer;
  Frame frame;
};

Borrowed borrowed_frame(PixelFormat format, int width, int height, std::size_t padding) {
  Borrowed b;
  const auto shapes = plane_shapes(format, width, height);
  std::size_t total = 0;
  for (const auto& [row_bytes, rows] : shapes) total += (row_bytes + padding) * rows;
  b.buffer.assign(total, 0xEE);
  b.frame.format = format;
  b.frame.width = width;
  b.frame.height = height;
  std::size_t offset = 0;
  for (std::size_t p = 0; p < shapes.size(); ++p) {
    const auto [row_bytes, rows] = shapes[p];
    const std::size_t stride = row_bytes + padding;
    for (std::size_t row = 0; row < rows; ++row) {
      for (std::size_t x = 0; x < row_bytes; ++x) {
        b.buffer[offset + row * stride + x] = pixel_value(p, row, x);
      }
    }
    b.frame.planes[p] = {b.buffer.data() + offset, stride, stride * rows};
    offset += stride * rows;
  }
  return b;
}

TEST_CASE("a moved frame's planes point into its own storage, pixels intact") {
  auto owned = Frame::allocate(PixelFormat::I420, 6, 4);
  const auto shapes = plane_shapes(PixelFormat::I420, 6, 4);
  for (std::size_t p = 0; p < shapes.size(); ++p) {
    for (std::size_t i = 0; i < owned->planes[p].size; ++i) {
      owned->mutable_plane(static_cast<int>(p))[i] =
          pixel_value(p, i / shapes[p].first, i % shapes[p].first);
    }
  }
  REQUIRE(has_pattern(*owned));
  owned->sequence = 9;

  Frame moved(std::move(*owned));
  CHECK(moved.sequence == 9);
  for (int p = 0; p < 3; ++p) CHECK(points_into(moved.planes[p], moved.storage));
  CHECK(has_pattern(moved));
  CHECK(lookout::validate_layout(moved).empty());

  Frame assigned;
  assigned = std::move(moved);
  for (int p = 0; p < 3; ++p) CHECK(points_into(assigned.planes[p], assigned.storage));
  CHECK(has_pattern(assigned));

  // A borrowed frame moves its planes as they are: still the source's buffer.
  auto b = borrowed_frame(PixelFormat::NV12, 8, 4, 3);
  const std::uint8_t* luma = b.frame.planes[0].data;
  Frame view(std::move(b.frame));
  CHECK(view.planes[0].data == luma);
  CHECK(view.storage.empty());
  CHECK(has_pattern(view));
}

TEST_CASE("clone copies any format's pixels, tightly packed, into its own memory") {
  const auto t0 = std::chrono::system_clock::now();
  const auto s0 = std::chrono::steady_clock::now();
  for (const auto format : {PixelFormat::RGB24, PixelFormat::BGR24, PixelFormat::I420,
                            PixelFormat::NV12, PixelFormat::YUYV, PixelFormat::GRAY8}) {
    for (const std::size_t padding : {std::size_t{0}, std::size_t{5}, std::size_t{64}}) {
      CAPTURE(lookout::to_string(format));
      CAPTURE(padding);
      auto original = borrowed_frame(format, 10, 6, padding);
      original.frame.sequence = 42;
      original.frame.capture_time = t0;
      original.frame.capture_steady = s0;
      original.frame.truth = {{3, 1.f, 2.f, 5.f, 6.f}};
      const auto copy = original.frame.clone();
      REQUIRE(static_cast<bool>(copy));
      CHECK(copy->format == format);
      CHECK(copy->width == 10);
      CHECK(copy->height == 6);
      CHECK(copy->sequence == 42);
      CHECK(copy->capture_time == t0);
      CHECK(copy->capture_steady == s0);
      REQUIRE(copy->truth.size() == 1);
      CHECK(copy->truth[0].class_id == 3);
      CHECK(copy->truth[0].x2 == 5.f);
      CHECK(lookout::validate_layout(*copy).empty());
      CHECK(has_pattern(*copy));
      // Tightly packed, in the clone's own storage.
      const auto shapes = plane_shapes(format, 10, 6);
      std::size_t packed = 0;
      for (std::size_t p = 0; p < shapes.size(); ++p) {
        CHECK(copy->planes[p].stride == shapes[p].first);
        CHECK(points_into(copy->planes[p], copy->storage));
        packed += shapes[p].first * shapes[p].second;
      }
      CHECK(copy->storage.size() == packed);
      // Writing the clone leaves the original alone, and the clone outlives
      // the buffer the original borrowed.
      std::fill(copy->storage.begin(), copy->storage.end(), 0);
      CHECK(has_pattern(original.frame));
      const auto again = original.frame.clone();
      original = Borrowed{};
      CHECK(has_pattern(*again));
    }
  }
}

TEST_CASE("clone of an owned frame and of an MJPEG frame") {
  auto owned = Frame::allocate(PixelFormat::RGB24, 4, 2);
  for (std::size_t i = 0; i < owned->storage.size(); ++i)
    owned->storage[i] = pixel_value(0, i / 12, i % 12);
  const auto copy = owned->clone();
  CHECK(copy->storage == owned->storage);
  CHECK(copy->storage.data() != owned->storage.data());
  CHECK(copy->planes[0].data == copy->storage.data());
  copy->storage[0] ^= 0xFF;
  CHECK(owned->storage[0] == pixel_value(0, 0, 0));

  // MJPEG: the compressed bytes as they are (no decoding), borrowed or owned.
  std::vector<std::uint8_t> jpeg = {0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9};
  Frame borrowed;
  borrowed.format = PixelFormat::MJPEG;
  borrowed.width = 640;
  borrowed.height = 480;
  borrowed.planes[0] = {jpeg.data(), 0, jpeg.size()};
  borrowed.sequence = 7;
  const auto mjpeg = borrowed.clone();
  CHECK(mjpeg->format == PixelFormat::MJPEG);
  CHECK(mjpeg->width == 640);
  CHECK(mjpeg->height == 480);
  CHECK(mjpeg->sequence == 7);
  CHECK(mjpeg->planes[0].size == jpeg.size());
  CHECK(mjpeg->planes[0].stride == 0);
  CHECK(mjpeg->planes[0].data == mjpeg->storage.data());
  CHECK(mjpeg->storage == jpeg);
  mjpeg->storage[4] = 99;
  CHECK(jpeg[4] == 1);
}

TEST_CASE("clone refuses a frame whose planes don't match its format") {
  auto b = borrowed_frame(PixelFormat::NV12, 8, 4, 0);
  b.frame.planes[1].size = 5;
  CHECK_THROWS_WITH_AS(b.frame.clone(),
                       "cannot clone a NV12 frame: plane 1 holds 5 bytes, needs 16",
                       std::invalid_argument);
  Frame empty;
  CHECK_THROWS_WITH_AS(empty.clone(), doctest::Contains("is not positive"), std::invalid_argument);
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

}  // namespace
