// JPEG frames against an independent decoder: Pillow (Debian's python3-pil),
// which is what the Python reference pipeline reads images with.
#include <doctest/doctest.h>

#include <turbojpeg.h>

#include <cmath>
#include <stdexcept>
#include <fstream>
#include <vector>

#include "app/engine/test_util.hpp"
#include "letterbox.hpp"
#include "preprocess.hpp"

namespace {

std::vector<unsigned char> encode(const std::vector<unsigned char>& pixels, int w, int h,
                                  int format, int subsampling) {
  tjhandle tj = tjInitCompress();
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  REQUIRE(tjCompress2(tj, pixels.data(), w, 0, h, format, &jpeg, &size, subsampling, 85, 0) == 0);
  std::vector<unsigned char> out(jpeg, jpeg + size);
  tjFree(jpeg);
  tjDestroy(tj);
  return out;
}

std::shared_ptr<lookout::Frame> mjpeg(const std::vector<unsigned char>& bytes, int w, int h) {
  auto frame = lookout::Frame::allocate(lookout::PixelFormat::MJPEG, w, h, bytes.size());
  std::copy(bytes.begin(), bytes.end(), frame->mutable_plane(0));
  return frame;
}

}  // namespace

TEST_CASE("JPEG frames decode as Pillow decodes them") {
  namespace t = lookout::test;
  const auto dir = t::scratch_dir("jpeg");
  const int w = 200, h = 120;
  for (const bool grey : {false, true}) {
    CAPTURE(grey);
    std::vector<unsigned char> pixels(static_cast<std::size_t>(w) * h * (grey ? 1 : 3));
    for (std::size_t i = 0; i < pixels.size(); ++i) {
      pixels[i] = static_cast<unsigned char>((i * 7 + (i / 600) * 13 + (i % 3) * 50) % 256);
    }
    const auto bytes = grey ? encode(pixels, w, h, TJPF_GRAY, TJSAMP_GRAY)
                            : encode(pixels, w, h, TJPF_RGB, TJSAMP_420);
    const auto jpg = dir / "image.jpg";
    std::ofstream(jpg, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                static_cast<std::streamsize>(bytes.size()));
    const auto raw = dir / "image.rgb";
    const auto r = t::run_command(
        t::quote(t::python()) +
        " -c 'import sys; from PIL import Image; "
        "open(sys.argv[2], \"wb\").write(Image.open(sys.argv[1]).convert(\"RGB\").tobytes())' " +
        t::quote(jpg.string()) + " " + t::quote(raw.string()));
    REQUIRE(r.exit_code == 0);
    const std::string reference = t::read_text(raw);
    REQUIRE(reference.size() == static_cast<std::size_t>(w) * h * 3);

    lookout::engine::Preprocessor pre;
    const auto frame = mjpeg(bytes, w, h);
    const lookout::Frame& decoded = pre.decode(*frame);
    REQUIRE(decoded.format == lookout::PixelFormat::RGB24);
    REQUIRE(decoded.width == w);
    const auto box = lookout::engine::make_letterbox(w, h, w, h);
    std::vector<float> input(3 * static_cast<std::size_t>(w) * h);
    pre.run(decoded, box, 3, 114, input.data());
    float worst = 0;
    for (int c = 0; c < 3; ++c) {
      for (int i = 0; i < w * h; ++i) {
        const float expected = static_cast<unsigned char>(reference[static_cast<std::size_t>(i) * 3 + c]);
        // Compared in the input's units: `input * 255 - expected` would be
        // contracted into a fused multiply-add on aarch64 and leave ~1e-5.
        worst = std::max(worst, std::fabs(input[static_cast<std::size_t>(c) * w * h + i] - expected / 255.0f));
      }
    }
    // Same libjpeg-turbo underneath, same settings: identical pixels.
    CHECK(worst == 0.0f);
  }
}

TEST_CASE("corrupt or mislabelled JPEG frames are refused") {
  lookout::engine::Preprocessor pre;
  std::vector<unsigned char> garbage = {0xFF, 0xD8, 0xFF, 0x00, 1, 2, 3, 4, 5, 6, 7, 8};
  CHECK_THROWS_WITH_AS(pre.decode(*mjpeg(garbage, 16, 16)), doctest::Contains("JPEG"),
                       std::invalid_argument);
  std::vector<unsigned char> pixels(32 * 16 * 3, 128);
  const auto bytes = encode(pixels, 32, 16, TJPF_RGB, TJSAMP_444);
  CHECK_THROWS_WITH_AS(pre.decode(*mjpeg(bytes, 16, 16)),
                       doctest::Contains("JPEG is 32x16 but the frame says 16x16"),
                       std::invalid_argument);
  CHECK(pre.decode(*mjpeg(bytes, 32, 16)).width == 32);
}
