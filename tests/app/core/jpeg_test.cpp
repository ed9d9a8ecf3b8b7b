// The turbojpeg wrapper (core/jpeg.hpp) on real JPEGs: made by its own
// compressor, damaged on purpose, decoded back and checked pixel by pixel.
#include "core/jpeg.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <vector>

#include <doctest/doctest.h>

using lookout::jpeg::Compressor;
using lookout::jpeg::Decompressor;
using lookout::jpeg::JpegBytes;
using lookout::jpeg::JpegError;
using lookout::jpeg::Subsampling;

namespace {

struct Rgb {
  std::uint8_t r, g, b;
};

// Four solid quadrants, easy to check after lossy compression.
constexpr Rgb kQuadrants[4] = {{220, 30, 30}, {30, 200, 40}, {40, 50, 210}, {128, 128, 128}};

Rgb quadrant_at(int x, int y, int width, int height) {
  return kQuadrants[(y >= height / 2 ? 2 : 0) + (x >= width / 2 ? 1 : 0)];
}

// Packed RGB rows `stride` bytes apart; the padding holds 0xEE.
std::vector<std::uint8_t> quadrants(int width, int height, std::size_t stride) {
  std::vector<std::uint8_t> rgb(stride * static_cast<std::size_t>(height), 0xEE);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const Rgb c = quadrant_at(x, y, width, height);
      std::uint8_t* p =
          &rgb[static_cast<std::size_t>(y) * stride + static_cast<std::size_t>(x) * 3];
      p[0] = c.r, p[1] = c.g, p[2] = c.b;
    }
  }
  return rgb;
}

std::vector<std::uint8_t> bytes_of(const JpegBytes& jpeg) {
  return {jpeg.data(), jpeg.data() + jpeg.size()};
}

std::vector<std::uint8_t> encode(int width, int height, Subsampling subsampling = Subsampling::S444,
                                 int quality = 95) {
  const std::size_t stride = static_cast<std::size_t>(width) * 3;
  const auto rgb = quadrants(width, height, stride);
  Compressor compressor;
  return bytes_of(compressor.compress_rgb(rgb.data(), width, height, stride, quality, subsampling));
}

// Whether the pixel at (x, y) of a decoded picture is its quadrant's colour,
// within JPEG's loss. Pixels near the quadrant borders blur: callers check
// quadrant centres.
bool near(const std::uint8_t* p, Rgb c, int tolerance = 6) {
  return std::abs(p[0] - c.r) <= tolerance && std::abs(p[1] - c.g) <= tolerance &&
         std::abs(p[2] - c.b) <= tolerance;
}

// Offset of the first start-of-scan marker (FF DA), 0 if there is none.
std::size_t find_sos(const std::vector<std::uint8_t>& jpeg) {
  for (std::size_t i = 2; i + 1 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA) return i;
  }
  return 0;
}

}  // namespace

TEST_CASE("a JPEG made by the compressor decodes back, into rows of any stride") {
  const int w = 64, h = 48;
  for (const auto subsampling : {Subsampling::S444, Subsampling::S420}) {
    CAPTURE(static_cast<int>(subsampling));
    // Compress from padded rows too: the stride is honoured on the way in.
    const std::size_t in_stride = w * 3 + 10;
    const auto rgb = quadrants(w, h, in_stride);
    Compressor compressor;
    const JpegBytes jpeg = compressor.compress_rgb(rgb.data(), w, h, in_stride, 95, subsampling);
    REQUIRE(jpeg.size() > 4);
    CHECK(jpeg.data()[0] == 0xFF);
    CHECK(jpeg.data()[1] == 0xD8);  // SOI
    CHECK(jpeg.data()[jpeg.size() - 2] == 0xFF);
    CHECK(jpeg.data()[jpeg.size() - 1] == 0xD9);  // EOI

    Decompressor decompressor;
    const auto header = decompressor.header(jpeg.data(), jpeg.size());
    CHECK(header.width == w);
    CHECK(header.height == h);
    const std::size_t out_stride = w * 3 + 7;
    std::vector<std::uint8_t> out(out_stride * h, 0x5A);
    CHECK(decompressor.decode_rgb(jpeg.data(), jpeg.size(), out.data(), out_stride).empty());
    for (const auto& [x, y] : {std::pair{w / 4, h / 4}, std::pair{3 * w / 4, h / 4},
                               std::pair{w / 4, 3 * h / 4}, std::pair{3 * w / 4, 3 * h / 4}}) {
      CAPTURE(x);
      CAPTURE(y);
      CHECK(near(&out[y * out_stride + x * 3], quadrant_at(x, y, w, h)));
    }
    // The padding after each row is not written.
    for (int y = 0; y < h; ++y) {
      for (std::size_t i = w * 3; i < out_stride; ++i) REQUIRE(out[y * out_stride + i] == 0x5A);
    }
    // Stride 0: rows of width * 3 bytes.
    std::vector<std::uint8_t> packed(static_cast<std::size_t>(w) * h * 3);
    decompressor.decode_rgb(jpeg.data(), jpeg.size(), packed.data(), 0);
    CHECK(near(&packed[(3 * h / 4 * w + w / 4) * 3], kQuadrants[2]));
  }
}

TEST_CASE("header refuses what is not a JPEG, naming the problem") {
  Decompressor decompressor;
  const std::string garbage(512, '\x42');
  const auto* data = reinterpret_cast<const std::uint8_t*>(garbage.data());
  try {
    decompressor.header(data, garbage.size());
    FAIL("garbage has a JPEG header");
  } catch (const JpegError& e) {
    const std::string what = e.what();
    CHECK(what.rfind("not a readable JPEG: ", 0) == 0);
    CHECK_FALSE(e.reason().empty());
    CHECK(what == "not a readable JPEG: " + e.reason());
    // libjpeg's own words: the bytes don't start with a JPEG marker.
    CHECK(e.reason().find("Not a JPEG file") != std::string::npos);
  }
  // An empty buffer and a JPEG cut off before its frame header are refused too.
  CHECK_THROWS_WITH_AS(decompressor.header(data, 0), doctest::Contains("not a readable JPEG"),
                       JpegError);
  const auto jpeg = encode(32, 32);
  CHECK_THROWS_AS(decompressor.header(jpeg.data(), 20), JpegError);
  // The decompressor still works after a refusal.
  CHECK(decompressor.header(jpeg.data(), jpeg.size()).width == 32);
}

TEST_CASE("a truncated JPEG still decodes, with turbojpeg's warning") {
  const int w = 64, h = 64;
  const auto jpeg = encode(w, h);
  // Keep the headers and the first half of the scan: the top of the picture.
  const std::size_t sos = find_sos(jpeg);
  REQUIRE(sos != 0);
  const std::size_t cut = sos + (jpeg.size() - sos) / 2;
  Decompressor decompressor;
  const auto header = decompressor.header(jpeg.data(), cut);
  CHECK(header.width == w);
  CHECK(header.height == h);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(w) * h * 3);
  const std::string warning = decompressor.decode_rgb(jpeg.data(), cut, out.data(), 0);
  INFO("warning: ", warning);
  CHECK_FALSE(warning.empty());
  CHECK(warning.find("Premature end of JPEG file") != std::string::npos);
  // What was there is decoded.
  CHECK(near(&out[(h / 4 * w + w / 4) * 3], kQuadrants[0]));
  CHECK(near(&out[(h / 4 * w + 3 * w / 4) * 3], kQuadrants[1]));
}

TEST_CASE("a JPEG whose scan uses an undefined Huffman table fails to decode") {
  auto jpeg = encode(32, 32);
  // SOS: FF DA, length (2), component count, then (id, DC/AC tables) pairs.
  // Table 3 is never defined, so the header reads fine and decoding is fatal.
  const std::size_t sos = find_sos(jpeg);
  REQUIRE(sos != 0);
  jpeg[sos + 6] = 0x33;  // first component's DC and AC tables
  Decompressor decompressor;
  CHECK(decompressor.header(jpeg.data(), jpeg.size()).width == 32);
  std::vector<std::uint8_t> out(32 * 32 * 3);
  try {
    decompressor.decode_rgb(jpeg.data(), jpeg.size(), out.data(), 0);
    FAIL("decoded a scan without its Huffman table");
  } catch (const JpegError& e) {
    CHECK(std::string(e.what()) == "corrupt JPEG: " + e.reason());
    CHECK(e.reason().find("Huffman table") != std::string::npos);
  }
}

TEST_CASE("the compressor refuses impossible input, naming the problem") {
  const auto rgb = quadrants(8, 8, 24);
  Compressor compressor;
  CHECK_THROWS_WITH_AS(compressor.compress_rgb(rgb.data(), 0, 8, 24, 90),
                       doctest::Contains("JPEG compression failed: "), JpegError);
  CHECK_THROWS_AS(compressor.compress_rgb(rgb.data(), 8, 8, 24, 101), JpegError);
  // And works afterwards.
  CHECK(compressor.compress_rgb(rgb.data(), 8, 8, 24, 90).size() > 0);
}

TEST_CASE("codecs move their handle and cannot be copied") {
  static_assert(!std::is_copy_constructible_v<Decompressor>);
  static_assert(!std::is_copy_assignable_v<Decompressor>);
  static_assert(std::is_nothrow_move_constructible_v<Decompressor>);
  static_assert(std::is_nothrow_move_assignable_v<Decompressor>);
  static_assert(!std::is_copy_constructible_v<Compressor>);
  static_assert(std::is_nothrow_move_constructible_v<Compressor>);
  static_assert(!std::is_copy_constructible_v<JpegBytes>);
  static_assert(std::is_nothrow_move_constructible_v<JpegBytes>);

  const auto jpeg = encode(40, 24);
  Decompressor first;
  Decompressor second(std::move(first));
  CHECK(second.header(jpeg.data(), jpeg.size()).width == 40);
  // The moved-from object has no handle left; using it is a programming error.
  CHECK_THROWS_AS(first.header(jpeg.data(), jpeg.size()), std::logic_error);
  Decompressor third;
  third = std::move(second);  // third's own handle is destroyed, second's taken
  CHECK(third.header(jpeg.data(), jpeg.size()).height == 24);
  CHECK_THROWS_AS(second.header(jpeg.data(), jpeg.size()), std::logic_error);
  first = std::move(third);  // a moved-from object can be assigned again
  CHECK(first.header(jpeg.data(), jpeg.size()).width == 40);

  const auto rgb = quadrants(16, 16, 48);
  Compressor compressor;
  Compressor moved = std::move(compressor);
  CHECK_THROWS_AS(compressor.compress_rgb(rgb.data(), 16, 16, 48, 90), std::logic_error);
  JpegBytes bytes = moved.compress_rgb(rgb.data(), 16, 16, 48, 90);
  const std::uint8_t* data = bytes.data();
  const std::size_t size = bytes.size();
  JpegBytes taken = std::move(bytes);
  CHECK(taken.data() == data);  // the same turbojpeg buffer, not a copy
  CHECK(taken.size() == size);
  CHECK(first.header(taken.data(), taken.size()).width == 16);
}
