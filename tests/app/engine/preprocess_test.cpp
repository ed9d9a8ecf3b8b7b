// Each pixel format against an independent reference: the expected RGB values
// come from the BT.601 formulas written out here in floating point (not from
// libyuv), applied to the frame's own bytes.
#include "preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include <doctest/doctest.h>

#include "core/frame.hpp"
#include "letterbox.hpp"

using lookout::Frame;
using lookout::PixelFormat;
using lookout::engine::Letterbox;
using lookout::engine::make_letterbox;
using lookout::engine::Preprocessor;

namespace {

struct Rgb {
  int w, h;
  std::vector<float> px;  // R, G, B in 0..255
  float at(int x, int y, int c) const {
    return px[(static_cast<std::size_t>(y) * static_cast<std::size_t>(w) +
               static_cast<std::size_t>(x)) *
                  3 +
              static_cast<std::size_t>(c)];
  }
};

std::uint8_t clamp8(double v) {
  return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
}

// Test image: smooth colour gradients plus a random texture, so channel
// swaps, chroma misplacement and off-by-one rows all show.
std::vector<std::uint8_t> test_rgb(int w, int h, bool smooth, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-40, 40);
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const double fx = static_cast<double>(x) / w, fy = static_cast<double>(y) / h;
      double r = 128 + 100 * std::sin(6.0 * fx + 1.0);
      double g = 128 + 100 * std::cos(5.0 * fy);
      double b = 128 + 90 * std::sin(4.0 * (fx + fy));
      if (!smooth) {
        r += noise(rng);
        g += noise(rng);
        b += noise(rng);
      }
      std::uint8_t* p = &rgb[(static_cast<std::size_t>(y) * w + x) * 3];
      p[0] = clamp8(r);
      p[1] = clamp8(g);
      p[2] = clamp8(b);
    }
  }
  return rgb;
}

// BT.601 limited range, as cameras deliver it.
void to_yuv(const std::uint8_t* p, double& y, double& u, double& v) {
  y = 16 + 0.256788 * p[0] + 0.504129 * p[1] + 0.097906 * p[2];
  u = 128 - 0.148223 * p[0] - 0.290993 * p[1] + 0.439216 * p[2];
  v = 128 + 0.439216 * p[0] - 0.367788 * p[1] - 0.071427 * p[2];
}

void from_yuv(double y, double u, double v, float out[3]) {
  const double c = 1.164383 * (y - 16);
  out[0] = static_cast<float>(std::clamp(c + 1.596027 * (v - 128), 0.0, 255.0));
  out[1] =
      static_cast<float>(std::clamp(c - 0.391762 * (u - 128) - 0.812968 * (v - 128), 0.0, 255.0));
  out[2] = static_cast<float>(std::clamp(c + 2.017232 * (u - 128), 0.0, 255.0));
}

// Builds a frame of `format` from RGB (chroma averaged over its block) and
// the reference RGB it should decode to (each pixel from its own Y and its
// block's U, V).
std::shared_ptr<Frame> make_frame(PixelFormat format, int w, int h,
                                  const std::vector<std::uint8_t>& rgb, Rgb& expected) {
  auto frame = Frame::allocate(format, w, h);
  expected = {w, h, std::vector<float>(static_cast<std::size_t>(w) * h * 3)};
  const auto pix = [&](int x, int y) { return &rgb[(static_cast<std::size_t>(y) * w + x) * 3]; };
  const auto out = [&](int x, int y) {
    return &expected.px[(static_cast<std::size_t>(y) * w + x) * 3];
  };
  if (format == PixelFormat::RGB24 || format == PixelFormat::BGR24) {
    std::uint8_t* d = frame->mutable_plane(0);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const std::uint8_t* p = pix(x, y);
        std::uint8_t* q = d + static_cast<std::size_t>(y) * frame->planes[0].stride + x * 3;
        const bool bgr = format == PixelFormat::BGR24;
        q[0] = p[bgr ? 2 : 0];
        q[1] = p[1];
        q[2] = p[bgr ? 0 : 2];
        for (int c = 0; c < 3; ++c) out(x, y)[c] = p[c];
      }
    }
    return frame;
  }
  if (format == PixelFormat::GRAY8) {
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const std::uint8_t g = pix(x, y)[1];
        frame->mutable_plane(0)[static_cast<std::size_t>(y) * frame->planes[0].stride + x] = g;
        for (int c = 0; c < 3; ++c) out(x, y)[c] = g;
      }
    }
    return frame;
  }
  // YUV: chroma blocks of bw x bh pixels.
  const int bw = 2, bh = format == PixelFormat::YUYV ? 1 : 2;
  std::vector<double> Y(static_cast<std::size_t>(w) * h);
  std::vector<double> U((w / bw) * static_cast<std::size_t>(h / bh)), V(U.size());
  for (int by = 0; by < h / bh; ++by) {
    for (int bx = 0; bx < w / bw; ++bx) {
      double su = 0, sv = 0;
      for (int dy = 0; dy < bh; ++dy) {
        for (int dx = 0; dx < bw; ++dx) {
          const int x = bx * bw + dx, y = by * bh + dy;
          double yy, uu, vv;
          to_yuv(pix(x, y), yy, uu, vv);
          Y[static_cast<std::size_t>(y) * w + x] = std::lround(yy);
          su += uu;
          sv += vv;
        }
      }
      const std::size_t i = static_cast<std::size_t>(by) * (w / bw) + bx;
      U[i] = std::lround(su / (bw * bh));
      V[i] = std::lround(sv / (bw * bh));
    }
  }
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const std::size_t i = static_cast<std::size_t>(y / bh) * (w / bw) + x / bw;
      const auto yv = static_cast<std::uint8_t>(Y[static_cast<std::size_t>(y) * w + x]);
      const auto uv = static_cast<std::uint8_t>(U[i]), vv = static_cast<std::uint8_t>(V[i]);
      from_yuv(yv, uv, vv, out(x, y));
      const auto& pl = frame->planes;
      switch (format) {
        case PixelFormat::I420:
          frame->mutable_plane(0)[y * pl[0].stride + x] = yv;
          frame->mutable_plane(1)[(y / 2) * pl[1].stride + x / 2] = uv;
          frame->mutable_plane(2)[(y / 2) * pl[2].stride + x / 2] = vv;
          break;
        case PixelFormat::NV12:
          frame->mutable_plane(0)[y * pl[0].stride + x] = yv;
          frame->mutable_plane(1)[(y / 2) * pl[1].stride + (x / 2) * 2] = uv;
          frame->mutable_plane(1)[(y / 2) * pl[1].stride + (x / 2) * 2 + 1] = vv;
          break;
        case PixelFormat::YUYV: {
          std::uint8_t* q = frame->mutable_plane(0) + y * pl[0].stride + (x / 2) * 4;
          q[(x % 2) * 2] = yv;
          q[1] = uv;
          q[3] = vv;
          break;
        }
        default:
          break;
      }
    }
  }
  return frame;
}

// Largest difference (0..255 scale) between the engine's float input and
// `expected` placed by `box` (scaled size == expected size), and checks the
// padding holds exactly `pad`.
float compare(const std::vector<float>& input, const Letterbox& box, const Rgb& expected, int pad) {
  const int W = box.input_width, H = box.input_height;
  float worst = 0;
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < H; ++y) {
      for (int x = 0; x < W; ++x) {
        const float v = input[(static_cast<std::size_t>(c) * H + y) * W + x] * 255.0f;
        const int ix = x - box.left, iy = y - box.top;
        if (ix < 0 || iy < 0 || ix >= box.scaled_width || iy >= box.scaled_height) {
          REQUIRE(v == doctest::Approx(static_cast<float>(pad)).epsilon(1e-6));
        } else {
          worst = std::max(worst, std::fabs(v - expected.at(ix, iy, c)));
        }
      }
    }
  }
  return worst;
}

// Plain bilinear resize with half-pixel centres (OpenCV INTER_LINEAR /
// torch interpolate(align_corners=False)), the sampling ultralytics uses.
Rgb resize_reference(const Rgb& src, int w, int h) {
  Rgb dst{w, h, std::vector<float>(static_cast<std::size_t>(w) * h * 3)};
  const double sx = static_cast<double>(src.w) / w, sy = static_cast<double>(src.h) / h;
  for (int y = 0; y < h; ++y) {
    const double fy = std::max(0.0, (y + 0.5) * sy - 0.5);
    const int y0 = std::min(static_cast<int>(fy), src.h - 1), y1 = std::min(y0 + 1, src.h - 1);
    const double ay = fy - y0;
    for (int x = 0; x < w; ++x) {
      const double fx = std::max(0.0, (x + 0.5) * sx - 0.5);
      const int x0 = std::min(static_cast<int>(fx), src.w - 1), x1 = std::min(x0 + 1, src.w - 1);
      const double ax = fx - x0;
      for (int c = 0; c < 3; ++c) {
        const double top = src.at(x0, y0, c) * (1 - ax) + src.at(x1, y0, c) * ax;
        const double bottom = src.at(x0, y1, c) * (1 - ax) + src.at(x1, y1, c) * ax;
        dst.px[(static_cast<std::size_t>(y) * w + x) * 3 + c] =
            static_cast<float>(top * (1 - ay) + bottom * ay);
      }
    }
  }
  return dst;
}

const PixelFormat kFormats[] = {PixelFormat::RGB24, PixelFormat::BGR24, PixelFormat::I420,
                                PixelFormat::NV12,  PixelFormat::YUYV,  PixelFormat::GRAY8};

}  // namespace

TEST_CASE("each pixel format converts like the BT.601 reference (no scaling)") {
  const int w = 96, h = 64;
  const auto rgb = test_rgb(w, h, false);
  for (PixelFormat format : kFormats) {
    CAPTURE(lookout::to_string(format));
    Rgb expected;
    const auto frame = make_frame(format, w, h, rgb, expected);
    Preprocessor pre;
    // Same size: pure conversion. Then into a taller input: conversion plus padding.
    for (int input_h : {64, 96}) {
      const Letterbox box = make_letterbox(w, h, w, input_h);
      std::vector<float> input(3 * static_cast<std::size_t>(w) * input_h, -1.0f);
      pre.run(*frame, box, 3, 114, input.data());
      const float worst = compare(input, box, expected, 114);
      // RGB is exact; libyuv's fixed-point YUV maths is within 2 levels of the formula.
      const bool yuv =
          format == PixelFormat::I420 || format == PixelFormat::NV12 || format == PixelFormat::YUYV;
      CHECK(worst <= (yuv ? 2.5f : 0.0f));
    }
  }
}

TEST_CASE("strided frames (rows with padding bytes) read correctly") {
  const int w = 64, h = 32;
  const auto rgb = test_rgb(w, h, false, 3);
  Rgb expected;
  const auto packed = make_frame(PixelFormat::RGB24, w, h, rgb, expected);
  // Copy into a buffer with 40 spare bytes per row.
  const std::size_t stride = w * 3 + 40;
  std::vector<std::uint8_t> buffer(stride * h, 0xEE);
  for (int y = 0; y < h; ++y) {
    std::copy_n(packed->planes[0].data + y * packed->planes[0].stride, w * 3, &buffer[y * stride]);
  }
  Frame borrowed;
  borrowed.format = PixelFormat::RGB24;
  borrowed.width = w;
  borrowed.height = h;
  borrowed.planes[0] = {buffer.data(), stride, buffer.size()};
  Preprocessor pre;
  const Letterbox box = make_letterbox(w, h, w, h);
  std::vector<float> input(3 * static_cast<std::size_t>(w) * h);
  pre.run(borrowed, box, 3, 114, input.data());
  CHECK(compare(input, box, expected, 114) == 0.0f);
}

TEST_CASE("downscaling matches a plain bilinear resize (1920x1080 to 640x384)") {
  const int w = 1920, h = 1080;
  const auto rgb = test_rgb(w, h, true);
  for (PixelFormat format : kFormats) {
    CAPTURE(lookout::to_string(format));
    Rgb full;
    const auto frame = make_frame(format, w, h, rgb, full);
    const Letterbox box = make_letterbox(w, h, 640, 384);
    REQUIRE(box.scaled_height == 360);
    const Rgb expected = resize_reference(full, box.scaled_width, box.scaled_height);
    Preprocessor pre;
    std::vector<float> input(3 * 640 * 384);
    pre.run(*frame, box, 3, 114, input.data());
    // YUV frames are scaled before conversion (fewer pixels to convert), so
    // they differ a little more from resizing the converted image.
    const bool yuv =
        format == PixelFormat::I420 || format == PixelFormat::NV12 || format == PixelFormat::YUYV;
    CHECK(compare(input, box, expected, 114) <= (yuv ? 4.0f : 2.0f));
  }
}

TEST_CASE("upscaling matches a plain bilinear resize") {
  const int w = 160, h = 120;
  const auto rgb = test_rgb(w, h, true, 5);
  for (PixelFormat format : kFormats) {
    CAPTURE(lookout::to_string(format));
    Rgb full;
    const auto frame = make_frame(format, w, h, rgb, full);
    const Letterbox box = make_letterbox(w, h, 320, 320);
    REQUIRE(box.scaled_width == 320);
    REQUIRE(box.top == 40);
    const Rgb expected = resize_reference(full, 320, 240);
    Preprocessor pre;
    std::vector<float> input(3 * 320 * 320);
    pre.run(*frame, box, 3, 0, input.data());
    // The reference upsamples chroma by repetition before resizing; the
    // engine resizes the chroma planes themselves (smoothly), which differs
    // by a few levels where the colour changes fastest.
    const bool yuv =
        format == PixelFormat::I420 || format == PixelFormat::NV12 || format == PixelFormat::YUYV;
    CHECK(compare(input, box, expected, 0) <= (yuv ? 6.0f : 1.0f));
  }
}

TEST_CASE("RGB scaling rounds like the exact bilinear filter (non-integer ratio)") {
  // A hard pattern (noise), 27 -> 16 columns: libyuv's plane scaler is within
  // rounding of the exact filter everywhere (it rounds after each of its two
  // passes, hence a little over 1).
  const int w = 270, h = 60;
  const auto rgb = test_rgb(w, h, false, 11);
  Rgb full;
  const auto frame = make_frame(PixelFormat::RGB24, w, h, rgb, full);
  const Letterbox box = make_letterbox(w, h, 160, 96);
  REQUIRE(box.scaled_width == 160);
  const Rgb expected = resize_reference(full, box.scaled_width, box.scaled_height);
  Preprocessor pre;
  std::vector<float> input(3 * 160 * 96);
  pre.run(*frame, box, 3, 114, input.data());
  CHECK(compare(input, box, expected, 114) <= 1.5f);
}

TEST_CASE("one-channel models get luma; grey frames feed three-channel models") {
  const int w = 32, h = 16;
  const auto rgb = test_rgb(w, h, false, 9);
  Rgb expected;
  const auto frame = make_frame(PixelFormat::RGB24, w, h, rgb, expected);
  const Letterbox box = make_letterbox(w, h, w, h);
  Preprocessor pre;
  std::vector<float> grey(static_cast<std::size_t>(w) * h);
  pre.run(*frame, box, 1, 0, grey.data());
  for (int i = 0; i < w * h; ++i) {
    const float* p = &expected.px[static_cast<std::size_t>(i) * 3];
    const float luma = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
    REQUIRE(std::fabs(grey[static_cast<std::size_t>(i)] * 255 - luma) <= 0.51f);
  }
}

TEST_CASE("values are v / 255 exactly as float32 division gives them") {
  auto frame = Frame::allocate(PixelFormat::GRAY8, 16, 16);
  for (int i = 0; i < 256; ++i) frame->mutable_plane(0)[i] = static_cast<std::uint8_t>(i);
  Preprocessor pre;
  std::vector<float> input(3 * 256);
  pre.run(*frame, make_letterbox(16, 16, 16, 16), 3, 114, input.data());
  for (int i = 0; i < 256; ++i) {
    REQUIRE(input[static_cast<std::size_t>(i)] == static_cast<float>(i) / 255.0f);
  }
}

TEST_CASE("interleaved (channels-last) output holds the same values as planar") {
  const int w = 200, h = 90;
  const auto rgb = test_rgb(w, h, false, 13);
  for (PixelFormat format : kFormats) {
    CAPTURE(lookout::to_string(format));
    Rgb unused;
    const auto frame = make_frame(format, w, h, rgb, unused);
    // Scaled (into 128x96 with padding) and unscaled (200x90 into 200x96).
    for (const Letterbox& box : {make_letterbox(w, h, 128, 96), make_letterbox(w, h, 200, 96)}) {
      const std::size_t W = static_cast<std::size_t>(box.input_width);
      const std::size_t H = static_cast<std::size_t>(box.input_height);
      for (int channels : {3, 1}) {
        std::vector<float> planar(static_cast<std::size_t>(channels) * W * H, -1.0f);
        std::vector<float> nhwc(planar.size(), -2.0f);
        Preprocessor pre;
        pre.run(*frame, box, channels, 114, planar.data(), false);
        pre.run(*frame, box, channels, 114, nhwc.data(), true);
        bool same = true;
        for (std::size_t c = 0; c < static_cast<std::size_t>(channels); ++c) {
          for (std::size_t i = 0; i < W * H; ++i) {
            same =
                same && planar[c * W * H + i] == nhwc[i * static_cast<std::size_t>(channels) + c];
          }
        }
        CHECK(same);
      }
    }
  }
}

TEST_CASE("the 1/2 and 1/3 shortcut for packed RGB equals the general path exactly") {
  for (const auto& [w, h] : {std::pair{1920, 1080}, std::pair{1280, 720}, std::pair{192, 96}}) {
    const auto rgb = test_rgb(w, h, false, 17);
    for (PixelFormat format : {PixelFormat::RGB24, PixelFormat::BGR24}) {
      CAPTURE(w);
      CAPTURE(lookout::to_string(format));
      Rgb unused;
      const auto frame = make_frame(format, w, h, rgb, unused);
      const int in_w = w >= 640 ? 640 : 64, in_h = w >= 640 ? 384 : 64;
      const Letterbox box = make_letterbox(w, h, in_w, in_h);
      REQUIRE((w == 2 * box.scaled_width || w == 3 * box.scaled_width));
      for (const bool nhwc : {false, true}) {
        for (int channels : {3, 1}) {
          std::vector<float> fast(static_cast<std::size_t>(channels) * in_w * in_h, -1.0f);
          std::vector<float> general(fast.size(), -2.0f);
          Preprocessor(true).run(*frame, box, channels, 114, fast.data(), nhwc);
          Preprocessor(false).run(*frame, box, channels, 114, general.data(), nhwc);
          CHECK(fast == general);
        }
      }
    }
  }
}

TEST_CASE("bad frames are refused with a reason") {
  Preprocessor pre;
  std::vector<float> input(3 * 64 * 64);
  auto frame = Frame::allocate(PixelFormat::NV12, 64, 64);
  // The same pixels, described wrongly (Frame is not copyable: the view
  // borrows the planes on purpose).
  Frame broken;
  broken.format = frame->format;
  broken.width = frame->width;
  broken.height = frame->height;
  broken.planes = frame->planes;
  broken.planes[1].size = 10;
  CHECK_THROWS_WITH_AS(pre.run(broken, make_letterbox(64, 64, 64, 64), 3, 114, input.data()),
                       doctest::Contains("NV12 frame: plane 1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(pre.run(*frame, make_letterbox(32, 64, 64, 64), 3, 114, input.data()),
                       doctest::Contains("letterbox expects 32x64"), std::invalid_argument);
  auto jpeg = Frame::allocate(PixelFormat::MJPEG, 64, 64, 100);
  CHECK_THROWS_WITH_AS(pre.decode(*jpeg), doctest::Contains("JPEG"), std::invalid_argument);
}
