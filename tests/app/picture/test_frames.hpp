// Frames of known colours in every pixel format, for the picture tests: four
// quadrants of distinct colours (so scaling and orientation mistakes show),
// built by hand from the BT.601 limited-range equations (not with libyuv,
// which the library under test uses), with optional padding after each row.
//
// Plain functions; the test thread.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "core/frame.hpp"
#include "core/jpeg.hpp"
#include "picture/image.hpp"

namespace lookout::test {

struct Rgb {
  int r = 0, g = 0, b = 0;
};

// Top-left, top-right, bottom-left, bottom-right. Inside the YUV gamut, so
// a round trip through YUV keeps them.
inline const Rgb kQuadrants[4] = {{220, 40, 40}, {40, 200, 60}, {30, 60, 210}, {230, 230, 230}};

inline std::uint8_t clamp_byte(double v) {
  return static_cast<std::uint8_t>(std::lround(std::fmin(255.0, std::fmax(0.0, v))));
}

// What a pixel of `format` shows: the quadrant's colour, grey for GRAY8 (its
// luma as R = G = B).
inline Rgb expected_colour(PixelFormat format, int quadrant) {
  const Rgb c = kQuadrants[quadrant];
  if (format != PixelFormat::GRAY8) return c;
  const int v = clamp_byte(0.299 * c.r + 0.587 * c.g + 0.114 * c.b);
  return {v, v, v};
}

// The quadrant a pixel of a `width` x `height` picture is in.
inline int quadrant_of(int x, int y, int width, int height) {
  return (x >= width / 2 ? 1 : 0) + (y >= height / 2 ? 2 : 0);
}

struct Yuv {
  std::uint8_t y, u, v;
};
inline Yuv to_yuv(Rgb c) {
  return {clamp_byte(16 + (65.481 * c.r + 128.553 * c.g + 24.966 * c.b) / 255),
          clamp_byte(128 + (-37.797 * c.r - 74.203 * c.g + 112.0 * c.b) / 255),
          clamp_byte(128 + (112.0 * c.r - 93.786 * c.g - 18.214 * c.b) / 255)};
}

inline Rgb colour_at(PixelFormat format, int x, int y, int width, int height) {
  return expected_colour(format, quadrant_of(x, y, width, height));
}

// A `width` x `height` quadrant frame of a raw format that owns its pixels,
// each row followed by `padding` bytes of junk (0xAB). width and height even.
inline std::shared_ptr<Frame> quadrant_frame(PixelFormat format, int width, int height,
                                             std::size_t padding = 0) {
  auto frame = std::make_shared<Frame>();
  frame->format = format;
  frame->width = width;
  frame->height = height;
  const auto w = static_cast<std::size_t>(width);
  const auto h = static_cast<std::size_t>(height);
  // Plane shapes: bytes per row and rows.
  std::size_t rows[3] = {h, 0, 0}, row_bytes[3] = {0, 0, 0};
  switch (format) {
    case PixelFormat::RGB24:
    case PixelFormat::BGR24:
      row_bytes[0] = 3 * w;
      break;
    case PixelFormat::GRAY8:
      row_bytes[0] = w;
      break;
    case PixelFormat::YUYV:
      row_bytes[0] = 2 * w;
      break;
    case PixelFormat::I420:
      row_bytes[0] = w;
      row_bytes[1] = row_bytes[2] = w / 2;
      rows[1] = rows[2] = h / 2;
      break;
    case PixelFormat::NV12:
      row_bytes[0] = row_bytes[1] = w;
      rows[1] = h / 2;
      break;
    case PixelFormat::MJPEG:
      FAIL("quadrant_frame makes raw frames; use quadrant_jpeg");
  }
  std::size_t offsets[3] = {}, total = 0;
  for (int i = 0; i < 3; ++i) {
    offsets[i] = total;
    total += (row_bytes[i] + padding) * rows[i];
  }
  frame->storage.assign(total, 0xAB);
  for (int i = 0; i < plane_count(format); ++i) {
    frame->planes[static_cast<std::size_t>(i)] = {frame->storage.data() + offsets[i],
                                                  row_bytes[i] + padding,
                                                  (row_bytes[i] + padding) * rows[i]};
  }
  const auto at = [&](int plane, std::size_t x, std::size_t y) -> std::uint8_t& {
    return frame->mutable_plane(
        plane)[y * frame->planes[static_cast<std::size_t>(plane)].stride + x];
  };
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const Rgb c = colour_at(format, x, y, width, height);
      const Yuv yuv = to_yuv(c);
      const auto ux = static_cast<std::size_t>(x), uy = static_cast<std::size_t>(y);
      switch (format) {
        case PixelFormat::RGB24:
          at(0, 3 * ux, uy) = static_cast<std::uint8_t>(c.r);
          at(0, 3 * ux + 1, uy) = static_cast<std::uint8_t>(c.g);
          at(0, 3 * ux + 2, uy) = static_cast<std::uint8_t>(c.b);
          break;
        case PixelFormat::BGR24:
          at(0, 3 * ux, uy) = static_cast<std::uint8_t>(c.b);
          at(0, 3 * ux + 1, uy) = static_cast<std::uint8_t>(c.g);
          at(0, 3 * ux + 2, uy) = static_cast<std::uint8_t>(c.r);
          break;
        case PixelFormat::GRAY8:
          at(0, ux, uy) = static_cast<std::uint8_t>(c.r);
          break;
        case PixelFormat::YUYV:
          // Y0 U Y1 V: each pair of pixels shares its chroma (the quadrant
          // edges are at even columns, so both pixels of a pair agree).
          at(0, 2 * ux, uy) = yuv.y;
          at(0, 2 * ux + 1, uy) = x % 2 == 0 ? yuv.u : yuv.v;
          break;
        case PixelFormat::I420:
          at(0, ux, uy) = yuv.y;
          if (x % 2 == 0 && y % 2 == 0) {
            at(1, ux / 2, uy / 2) = yuv.u;
            at(2, ux / 2, uy / 2) = yuv.v;
          }
          break;
        case PixelFormat::NV12:
          at(0, ux, uy) = yuv.y;
          if (x % 2 == 0 && y % 2 == 0) {
            at(1, ux, uy / 2) = yuv.u;
            at(1, ux + 1, uy / 2) = yuv.v;
          }
          break;
        case PixelFormat::MJPEG:
          break;
      }
    }
  }
  return frame;
}

// Packed R,G,B quadrants.
inline picture::RgbImage quadrant_image(int width, int height) {
  picture::RgbImage image{width, height, {}};
  image.pixels.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const Rgb c = colour_at(PixelFormat::RGB24, x, y, width, height);
      std::uint8_t* p = &image.pixels[(static_cast<std::size_t>(y) * width + x) * 3];
      p[0] = static_cast<std::uint8_t>(c.r);
      p[1] = static_cast<std::uint8_t>(c.g);
      p[2] = static_cast<std::uint8_t>(c.b);
    }
  }
  return image;
}

// An MJPEG frame holding `image` compressed (4:4:4 so colours stay exact up
// to the DCT's rounding).
inline std::shared_ptr<Frame> jpeg_frame(const picture::RgbImage& image, int quality = 95) {
  jpeg::Compressor compressor;
  const jpeg::JpegBytes bytes = compressor.compress_rgb(
      image.pixels.data(), image.width, image.height, 0, quality, jpeg::Subsampling::S444);
  auto frame = Frame::allocate(PixelFormat::MJPEG, image.width, image.height, bytes.size());
  std::memcpy(frame->mutable_plane(0), bytes.data(), bytes.size());
  return frame;
}

inline std::shared_ptr<Frame> quadrant_jpeg(int width, int height) {
  return jpeg_frame(quadrant_image(width, height));
}

// Decodes JPEG bytes (as annotated_jpeg returns them).
inline picture::RgbImage decode(const std::string& bytes) {
  jpeg::Decompressor decompressor;
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  const jpeg::Header header = decompressor.header(data, bytes.size());
  picture::RgbImage image{header.width, header.height, {}};
  image.pixels.resize(static_cast<std::size_t>(header.width) * header.height * 3);
  CHECK(decompressor.decode_rgb(data, bytes.size(), image.pixels.data(), 0).empty());
  return image;
}

inline Rgb pixel(const picture::RgbImage& image, int x, int y) {
  REQUIRE(x >= 0);
  REQUIRE(y >= 0);
  REQUIRE(x < image.width);
  REQUIRE(y < image.height);
  const std::uint8_t* p = &image.pixels[(static_cast<std::size_t>(y) * image.width + x) * 3];
  return {p[0], p[1], p[2]};
}

inline bool near(Rgb a, Rgb b, int tolerance) {
  return std::abs(a.r - b.r) <= tolerance && std::abs(a.g - b.g) <= tolerance &&
         std::abs(a.b - b.b) <= tolerance;
}

inline std::string str(Rgb c) {
  return "(" + std::to_string(c.r) + "," + std::to_string(c.g) + "," + std::to_string(c.b) + ")";
}

// Checks that the centre of each quadrant of `image` shows `format`'s
// quadrant colour within `tolerance`.
inline void check_quadrants(const picture::RgbImage& image, PixelFormat format, int tolerance) {
  for (int q = 0; q < 4; ++q) {
    const int x = (q % 2 == 0 ? 1 : 3) * image.width / 4;
    const int y = (q < 2 ? 1 : 3) * image.height / 4;
    const Rgb got = pixel(image, x, y);
    const Rgb want = expected_colour(format, q);
    INFO("quadrant ", q, " at (", x, ",", y, "): got ", str(got), " want ", str(want));
    CHECK(near(got, want, tolerance));
  }
}

}  // namespace lookout::test
