#include "picture/annotate.hpp"

#include <algorithm>
#include <cstring>

#include <doctest/doctest.h>

#include "app/picture/test_frames.hpp"
#include "picture/draw.hpp"
#include "picture/image.hpp"

namespace t = lookout::test;
using lookout::Detection;
using lookout::Frame;
using lookout::PixelFormat;
using lookout::picture::annotated_jpeg;
using lookout::picture::JpegOptions;
using lookout::picture::RgbImage;

namespace {

// The picture the daemon keeps of a 2560x1440 camera frame: a 1280x720
// RGB24 small copy, mid grey.
constexpr int kFrameWidth = 2560, kFrameHeight = 1440;

std::shared_ptr<Frame> grey_picture(int width, int height) {
  auto frame = Frame::allocate(PixelFormat::RGB24, width, height);
  std::fill(frame->mutable_plane(0), frame->mutable_plane(0) + frame->planes[0].size,
            std::uint8_t{128});
  return frame;
}

// One detection of class 0 (a strong red), in the camera frame's pixels.
const std::vector<Detection> kDetections = {{0, 0.9f, 400, 300, 2000, 1200}};
const std::vector<std::string> kNames = {"person"};

t::Rgb class_rgb(int class_id) {
  std::uint8_t c[3];
  lookout::picture::class_colour(class_id, c);
  return {c[0], c[1], c[2]};
}

const t::Rgb kGrey{128, 128, 128};

struct Codecs {
  lookout::jpeg::Decompressor decompressor;
  lookout::jpeg::Compressor compressor;
};

std::string encode(Codecs& codecs, const Frame& picture, const JpegOptions& options,
                   int frame_width = kFrameWidth, int frame_height = kFrameHeight) {
  return annotated_jpeg(codecs.decompressor, codecs.compressor, picture, frame_width, frame_height,
                        kDetections, kNames, options);
}

// Whether a pixel shows class 0's red. JPEG's 4:2:0 chroma (upsampled
// smoothly) halves the saturation of a line a few pixels wide, and the red's
// luma is close to the grey's, so the exact colour does not survive; its hue
// does: R well above G and B, where the grey has them equal.
bool reddish(t::Rgb c) {
  return c.r - c.g >= 60 && c.r - c.b >= 60;
}

}  // namespace

TEST_CASE("annotated_jpeg scales the picture and draws the boxes at scaled coordinates") {
  Codecs codecs;
  const auto picture = grey_picture(1280, 720);
  JpegOptions options;
  options.width = 640;
  options.quality = 90;
  const RgbImage image = t::decode(encode(codecs, *picture, options));
  REQUIRE(image.width == 640);
  REQUIRE(image.height == 360);
  // 2560 -> 640: the box (400, 300) - (2000, 1200) lands at (100, 75) - (500, 300),
  // its lines 2 pixels wide at this size.
  REQUIRE(reddish(class_rgb(0)));
  for (const auto& [x, y] :
       {std::pair{100, 200}, std::pair{101, 200}, std::pair{499, 200}, std::pair{500, 200},
        std::pair{400, 75}, std::pair{400, 76}, std::pair{300, 299}, std::pair{300, 300}}) {
    INFO("(", x, ",", y, ") is ", t::str(t::pixel(image, x, y)));
    CHECK(reddish(t::pixel(image, x, y)));
  }
  // Inside and outside the box the picture is untouched, and nothing was
  // drawn where the box would be scaled by the picture's size alone
  // (1280 -> 640: x = 200) or not at all.
  for (const auto& [x, y] : {std::pair{300, 200}, std::pair{200, 200}, std::pair{50, 200},
                             std::pair{600, 340}, std::pair{400, 150}}) {
    INFO("(", x, ",", y, ") is ", t::str(t::pixel(image, x, y)));
    CHECK(t::near(t::pixel(image, x, y), kGrey, 6));
  }
  // The label sits above the box.
  CHECK(reddish(t::pixel(image, 101, 70)));
}

TEST_CASE("annotated_jpeg without boxes leaves the picture as it is") {
  Codecs codecs;
  const auto picture = grey_picture(1280, 720);
  JpegOptions options;
  options.width = 640;
  options.boxes = false;
  options.quality = 90;
  const RgbImage image = t::decode(encode(codecs, *picture, options));
  REQUIRE(image.width == 640);
  REQUIRE(image.height == 360);
  for (const auto& [x, y] : {std::pair{100, 200}, std::pair{101, 200}, std::pair{500, 200},
                             std::pair{400, 75}, std::pair{101, 70}}) {
    INFO("(", x, ",", y, ") is ", t::str(t::pixel(image, x, y)));
    CHECK(t::near(t::pixel(image, x, y), kGrey, 6));
  }
  // The frame's size is not needed without boxes.
  CHECK(t::decode(encode(codecs, *picture, options, 0, 0)).pixels == image.pixels);
}

TEST_CASE("annotated_jpeg keeps the picture's size unless asked smaller") {
  Codecs codecs;
  const auto picture = grey_picture(1280, 720);
  for (const int width : {0, 1280, 5000}) {
    CAPTURE(width);
    JpegOptions options;
    options.width = width;
    options.quality = 90;
    const RgbImage image = t::decode(encode(codecs, *picture, options));
    REQUIRE(image.width == 1280);
    REQUIRE(image.height == 720);
    // 2560 -> 1280: the left edge at x = 200, 3 pixels wide at this size.
    for (int x = 200; x < 203; ++x) CHECK(reddish(t::pixel(image, x, 400)));
    CHECK(t::near(t::pixel(image, 210, 400), kGrey, 6));
  }
}

TEST_CASE("annotated_jpeg decodes MJPEG pictures and any raw format") {
  Codecs codecs;
  JpegOptions options;
  options.width = 320;
  options.boxes = false;
  options.quality = 95;
  const auto jpeg = t::quadrant_jpeg(640, 360);
  const RgbImage from_jpeg = t::decode(encode(codecs, *jpeg, options));
  REQUIRE(from_jpeg.width == 320);
  REQUIRE(from_jpeg.height == 180);
  t::check_quadrants(from_jpeg, PixelFormat::MJPEG, 12);
  const auto nv12 = t::quadrant_frame(PixelFormat::NV12, 640, 360);
  const RgbImage from_nv12 = t::decode(encode(codecs, *nv12, options));
  REQUIRE(from_nv12.width == 320);
  REQUIRE(from_nv12.height == 180);
  t::check_quadrants(from_nv12, PixelFormat::NV12, 12);
  // The same handles serve call after call (the caller keeps one pair per thread).
  options.width = 100;
  CHECK(t::decode(encode(codecs, *jpeg, options)).height == 56);
}

TEST_CASE("annotated_jpeg's quality trades size for fidelity") {
  Codecs codecs;
  // Texture to compress: a deterministic noise over the quadrants.
  RgbImage image = t::quadrant_image(640, 360);
  std::uint32_t state = 12345;
  for (auto& byte : image.pixels) {
    state = state * 1664525u + 1013904223u;
    byte = static_cast<std::uint8_t>(std::clamp(byte + static_cast<int>(state >> 27) - 16, 0, 255));
  }
  const auto picture = t::jpeg_frame(image, 100);
  JpegOptions options;
  options.quality = 20;
  const std::string low = encode(codecs, *picture, options, 640, 360);
  options.quality = 95;
  const std::string high = encode(codecs, *picture, options, 640, 360);
  CHECK(low.size() * 2 < high.size());
  CHECK(t::decode(low).width == 640);
  CHECK(t::decode(high).width == 640);
}

TEST_CASE("annotated_jpeg refuses bad requests naming the problem") {
  Codecs codecs;
  const auto picture = grey_picture(64, 36);
  JpegOptions options;
  for (const int quality : {0, 101, -5}) {
    options.quality = quality;
    CHECK_THROWS_WITH_AS(encode(codecs, *picture, options),
                         doctest::Contains("quality must be 1..100"), std::runtime_error);
  }
  options.quality = 70;
  CHECK_THROWS_WITH_AS(encode(codecs, *picture, options, 0, 36),
                       doctest::Contains("size of their frame"), std::runtime_error);
  auto garbage = Frame::allocate(PixelFormat::MJPEG, 64, 36, 11);
  std::memcpy(garbage->mutable_plane(0), "\xFF\xD8\xFF\x00garbage", 11);
  CHECK_THROWS_AS(encode(codecs, *garbage, options), lookout::jpeg::JpegError);
  // After a failure the handles still work.
  CHECK(t::decode(encode(codecs, *picture, options)).width == 64);
}
