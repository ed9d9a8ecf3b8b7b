#include <doctest/doctest.h>

#include <turbojpeg.h>

#include <fstream>

#include "app/engine/test_util.hpp"
#include "image_io.hpp"
#include "picture/image.hpp"

namespace t = lookout::test;
using lookout::PixelFormat;
using lookout::cli::ImageError;
using lookout::cli::read_image;

namespace {

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

TEST_CASE("JPEG files become MJPEG frames with the size from their header") {
  const auto dir = t::scratch_dir("image-io-jpeg");
  lookout::picture::RgbImage image{48, 32, std::vector<std::uint8_t>(48 * 32 * 3, 200)};
  lookout::cli::write_jpeg((dir / "a.jpg").string(), image);
  const auto frame = read_image((dir / "a.jpg").string());
  CHECK(frame->format == PixelFormat::MJPEG);
  CHECK(frame->width == 48);
  CHECK(frame->height == 32);
  const auto rgb = lookout::picture::to_rgb(*frame);
  REQUIRE(rgb.width == 48);
  CHECK(std::abs(rgb.pixels[100] - 200) <= 2);
}

TEST_CASE("PPM and PGM files decode to RGB24 and GRAY8") {
  const auto dir = t::scratch_dir("image-io-pnm");
  write_file(dir / "a.ppm", std::string("P6\n2 1\n255\n") + std::string("\x0a\x14\x1e\x28\x32\x3c", 6));
  auto frame = read_image((dir / "a.ppm").string());
  CHECK(frame->format == PixelFormat::RGB24);
  CHECK(frame->width == 2);
  CHECK(frame->planes[0].data[0] == 10);
  CHECK(frame->planes[0].data[5] == 60);
  write_file(dir / "a.pgm", std::string("P5\n3 1\n255\n") + std::string("\x01\x02\x03", 3));
  frame = read_image((dir / "a.pgm").string());
  CHECK(frame->format == PixelFormat::GRAY8);
  CHECK(frame->planes[0].data[2] == 3);
  const auto rgb = lookout::picture::to_rgb(*frame);
  CHECK(rgb.pixels[6] == 3);
  CHECK(rgb.pixels[8] == 3);
}

TEST_CASE("unreadable images are refused naming the file") {
  const auto dir = t::scratch_dir("image-io-bad");
  CHECK_THROWS_WITH_AS(read_image((dir / "missing.jpg").string()), doctest::Contains("missing.jpg: cannot open"),
                       ImageError);
  write_file(dir / "empty.jpg", "");
  CHECK_THROWS_WITH_AS(read_image((dir / "empty.jpg").string()), doctest::Contains("file is empty"),
                       ImageError);
  write_file(dir / "text.jpg", "hello, world");
  CHECK_THROWS_WITH_AS(read_image((dir / "text.jpg").string()),
                       doctest::Contains("not a JPEG, PNG, PPM/PGM or BMP image"), ImageError);
  write_file(dir / "bad.jpg", std::string("\xFF\xD8\xFF\x00garbage", 11));
  CHECK_THROWS_WITH_AS(read_image((dir / "bad.jpg").string()), doctest::Contains("not a readable JPEG"),
                       ImageError);
}
