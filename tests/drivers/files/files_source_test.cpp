// The files source on real JPEG/PNG files written at test time.
#include "files/files_source.hpp"

#include <cstdlib>

#include <doctest/doctest.h>

#include "core/log.hpp"
#include "drivers/image_decoder.hpp"
#include "drivers/supervised_source.hpp"
#include "testing/media.hpp"

namespace lookout {
namespace {

using std::chrono::milliseconds;
using test::ScratchDir;

SourceConfig files_config(const std::filesystem::path& path, bool loop = false) {
  SourceConfig c;
  c.type = lookout::SourceType::Files;
  c.path = path.string();
  c.fps = 0;
  c.loop = loop;
  return c;
}

FramePtr next_ok(FrameSource& source) {
  auto r = source.next_frame(milliseconds(1000));
  INFO("error: ", r.error);
  REQUIRE(r.status == FrameResult::Status::Ok);
  return r.frame;
}

const std::uint8_t* pixel(const Frame& f, int x, int y) {
  return f.planes[0].data + static_cast<std::size_t>(y) * f.planes[0].stride +
         static_cast<std::size_t>(x) * 3;
}

void check_near(const std::uint8_t* p, int r, int g, int b, int tolerance) {
  CHECK(std::abs(p[0] - r) <= tolerance);
  CHECK(std::abs(p[1] - g) <= tolerance);
  CHECK(std::abs(p[2] - b) <= tolerance);
}

struct QuietLogs {
  log::Level before = log::level();
  QuietLogs() { log::set_level(log::Level::Error); }
  ~QuietLogs() { log::set_level(before); }
};

TEST_CASE("one JPEG: decoded to RGB24 at its size, once, delivered until stop or end") {
  ScratchDir dir;
  const int w = 65, h = 48;  // odd width: RGB24 doesn't care
  test::write_jpeg(dir / "photo.jpeg", test::quadrants(w, h), w, h);

  SUBCASE("without loop: one frame, then the end") {
    FilesSource source(files_config(dir / "photo.jpeg"));
    source.start();
    CHECK(source.info().width == w);
    CHECK(source.info().height == h);
    const auto f = next_ok(source);
    CHECK(f->format == PixelFormat::RGB24);
    CHECK(f->width == w);
    CHECK(f->height == h);
    CHECK(validate_layout(*f).empty());
    check_near(pixel(*f, 5, 5), 220, 30, 30, 12);      // red quadrant
    check_near(pixel(*f, 60, 5), 30, 200, 40, 12);     // green
    check_near(pixel(*f, 5, 40), 40, 50, 210, 12);     // blue
    check_near(pixel(*f, 60, 40), 128, 128, 128, 12);  // grey
    CHECK(source.next_frame(milliseconds(0)).status == FrameResult::Status::EndOfStream);
  }
  SUBCASE("with loop: the same decoded pixels, new numbers") {
    FilesSource source(files_config(dir / "photo.jpeg", true));
    source.start();
    const auto a = next_ok(source), b = next_ok(source), c = next_ok(source);
    CHECK(a->sequence == 0);
    CHECK(b->sequence == 1);
    CHECK(c->sequence == 2);
    CHECK(a->planes[0].data == c->planes[0].data);  // decoded once, shared
    CHECK(b->capture_steady >= a->capture_steady);
  }
}

#if LOOKOUT_WITH_FFMPEG
TEST_CASE("PNG: lossless RGB, and grey and RGBA converted to RGB") {
  ScratchDir dir;
  const auto rgb = test::quadrants(32, 20);
  test::write_png(dir / "rgb.png", rgb, 32, 20, 3);
  FilesSource source(files_config(dir / "rgb.png"));
  source.start();
  const auto f = next_ok(source);
  REQUIRE(f->planes[0].stride == 32 * 3);
  CHECK(std::equal(rgb.begin(), rgb.end(), f->planes[0].data));

  std::vector<std::uint8_t> grey(16 * 8);
  for (std::size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<std::uint8_t>(i);
  test::write_png(dir / "grey.png", grey, 16, 8, 1);
  const auto g = decode_image(dir / "grey.png");
  CHECK(g->format == PixelFormat::RGB24);
  check_near(pixel(*g, 3, 2), 35, 35, 35, 0);

  std::vector<std::uint8_t> rgba(4 * 4 * 4, 255);
  for (std::size_t i = 0; i < rgba.size(); i += 4) rgba[i + 1] = 0;  // magenta, opaque
  test::write_png(dir / "rgba.png", rgba, 4, 4, 4);
  const auto a = decode_image(dir / "rgba.png");
  check_near(pixel(*a, 1, 1), 255, 0, 255, 0);
}

TEST_CASE("PPM/PGM and BMP: lossless, from memory, sniffed by their bytes") {
  ScratchDir dir;
  const auto rgb = test::quadrants(30, 18);  // odd row length: BMP rows are padded
  test::write_bytes(dir / "a", test::encode_ppm(rgb, 30, 18));
  test::write_bytes(dir / "b", test::encode_bmp(rgb, 30, 18));
  for (const char* name : {"a", "b"}) {
    CAPTURE(name);
    const auto f = decode_image(dir / name);
    REQUIRE(f->format == PixelFormat::RGB24);
    REQUIRE(f->width == 30);
    REQUIRE(f->height == 18);
    for (int y = 0; y < 18; ++y) {
      CHECK(std::equal(rgb.begin() + y * 90, rgb.begin() + y * 90 + 90,
                       f->planes[0].data + static_cast<std::size_t>(y) * f->planes[0].stride));
    }
  }
  CHECK(sniff_image(dir / "a") == ImageKind::Netpbm);
  CHECK(sniff_image(dir / "b") == ImageKind::Bmp);
  // Text that happens to start like one is not an image: a files source
  // leaves it alone instead of counting it as a corrupt frame every pass.
  test::write_bytes(dir / "notes.txt", "BM: bought more milk, and some cheese for the weekend\n");
  test::write_bytes(dir / "todo.txt", "P1 is the first priority: fix the gate\n");
  test::write_bytes(dir / "long.pgm",
                    "P5\n# a comment longer than the bytes the sniffer reads ahead\n2 1\n255\nab");
  CHECK(sniff_image(dir / "notes.txt") == ImageKind::Other);
  CHECK(sniff_image(dir / "todo.txt") == ImageKind::Other);
  CHECK(sniff_image(dir / "long.pgm") == ImageKind::Netpbm);
  CHECK(decode_image(dir / "long.pgm")->width == 2);
  // Plain (ASCII) PGM, kept grey when asked (the CLI, for 1-channel models).
  test::write_bytes(dir / "c.pgm", "P2\n# a comment\n3 2\n255\n0 1 2\n250 251 255\n");
  const auto g = decode_image(dir / "c.pgm", DecodedColour::Rgb24OrGray8);
  REQUIRE(g->format == PixelFormat::GRAY8);
  CHECK(g->planes[0].data[1] == 1);
  CHECK(g->planes[0].data[g->planes[0].stride + 2] == 255);
  CHECK(decode_image(dir / "c.pgm")->format == PixelFormat::RGB24);
  CHECK(enum_name(ImageKind::Netpbm) == "PPM/PGM");

  // Truncated and lying headers are refused naming the file, and a header
  // declaring more than kMaxFramePixels is refused before the pixels exist.
  const auto bmp = test::encode_bmp(rgb, 30, 18);
  test::write_bytes(dir / "cut.bmp", bmp.substr(0, 80));
  CHECK_THROWS_WITH_AS(decode_image(dir / "cut.bmp"), doctest::Contains("cut.bmp"),
                       ImageDecodeError);
  test::write_bytes(dir / "cut.ppm", test::encode_ppm(rgb, 30, 18).substr(0, 100));
  CHECK_THROWS_WITH_AS(decode_image(dir / "cut.ppm"), doctest::Contains("cut.ppm"),
                       ImageDecodeError);
  test::write_bytes(dir / "huge.ppm", "P6\n30000 30000\n255\n" + std::string(64, 'x'));
  CHECK_THROWS_WITH_AS(decode_image(dir / "huge.ppm"), doctest::Contains("huge.ppm"),
                       ImageDecodeError);
  std::string huge_bmp = bmp;
  huge_bmp[18] = huge_bmp[22] = 0x30;  // 30000 = 0x7530, little-endian
  huge_bmp[19] = huge_bmp[23] = 0x75;
  test::write_bytes(dir / "huge.bmp", huge_bmp);
  CHECK_THROWS_WITH_AS(decode_image(dir / "huge.bmp"), doctest::Contains("huge.bmp"),
                       ImageDecodeError);
}

TEST_CASE("a directory: images in name order, others skipped, loop or end") {
  QuietLogs quiet;
  ScratchDir dir;
  // Sizes tell the frames apart.
  test::write_png(dir / "b.png", test::quadrants(20, 10), 20, 10);
  test::write_jpeg(dir / "a.jpg", test::quadrants(10, 10), 10, 10);
  test::write_png(dir / "c_no_extension", test::quadrants(30, 10), 30, 10);  // sniffed, not named
  test::write_bytes(dir / "notes.txt", "not an image");
  test::write_bytes(dir / "broken.jpg", std::string("\xFF\xD8\xFF\xE0garbage", 11));
  std::filesystem::create_directory(dir / "subdir");

  SUBCASE("without loop") {
    FilesSource source(files_config(dir.path()));
    source.start();
    CHECK(source.info().width == 10);  // the first image
    std::vector<int> widths;
    std::vector<std::string> corrupt;
    for (;;) {
      auto r = source.next_frame(milliseconds(1000));
      if (r.status == FrameResult::Status::EndOfStream) break;
      if (r.status == FrameResult::Status::Corrupt) {
        corrupt.push_back(r.error);
        continue;
      }
      REQUIRE(r.status == FrameResult::Status::Ok);
      CHECK(r.frame->sequence == widths.size());
      widths.push_back(r.frame->width);
    }
    CHECK(widths == std::vector<int>{10, 20, 30});  // a.jpg, b.png, (broken.jpg), c
    // The broken file is a corrupt frame, named, in its place; notes.txt and
    // the directory are not images at all and are not counted.
    REQUIRE(corrupt.size() == 1);
    CHECK(corrupt[0].find("broken.jpg") != std::string::npos);
  }
  SUBCASE("files broken before the first decodable one are reported too") {
    test::write_bytes(dir / "0-truncated.png", std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16));
    FilesSource source(files_config(dir.path()));
    source.start();
    auto r = source.next_frame(milliseconds(1000));
    REQUIRE(r.status == FrameResult::Status::Corrupt);
    CHECK(r.error.find("0-truncated.png") != std::string::npos);
    CHECK(next_ok(source)->width == 10);
  }
  SUBCASE("with loop") {
    FilesSource source(files_config(dir.path(), true));
    source.start();
    std::vector<int> widths;
    int corrupt = 0;
    while (widths.size() < 7) {
      auto r = source.next_frame(milliseconds(1000));
      if (r.status == FrameResult::Status::Corrupt) {
        ++corrupt;
        continue;
      }
      REQUIRE(r.status == FrameResult::Status::Ok);
      widths.push_back(r.frame->width);
    }
    CHECK(widths == std::vector<int>{10, 20, 30, 10, 20, 30, 10});
    CHECK(corrupt == 2);  // broken.jpg on each pass
  }
}

#endif  // LOOKOUT_WITH_FFMPEG

TEST_CASE("clear errors naming the path") {
  QuietLogs quiet;
  ScratchDir dir;
  {
    FilesSource source(files_config(dir / "missing"));
    CHECK_THROWS_WITH_AS(
        source.start(), doctest::Contains(((dir / "missing").string() + " does not exist").c_str()),
        SourceError);
  }
  {
    FilesSource source(files_config(dir.path()));
    CHECK_THROWS_WITH_AS(source.start(),
                         doctest::Contains("no JPEG, PNG, PPM/PGM or BMP images in"), SourceError);
  }
  {
    test::write_bytes(dir / "bad.png", std::string("\x89PNG\r\n\x1a\nthis is not a png", 25));
    FilesSource source(files_config(dir / "bad.png"));
    CHECK_THROWS_WITH_AS(source.start(), doctest::Contains((dir / "bad.png").string().c_str()),
                         SourceError);
  }
  {
    std::filesystem::create_directory(dir / "only_broken");
    test::write_bytes(dir / "only_broken" / "x.jpg", std::string("\xFF\xD8\xFF\xE0zz", 6));
    FilesSource source(files_config(dir / "only_broken"));
    CHECK_THROWS_WITH_AS(source.start(), doctest::Contains("no decodable images"), SourceError);
  }
  {
    test::write_bytes(dir / "notes.txt", "hello");
    FilesSource source(files_config(dir / "notes.txt"));
    CHECK_THROWS_WITH_AS(source.start(), doctest::Contains((dir / "notes.txt").string().c_str()),
                         SourceError);
  }
  CHECK_THROWS_WITH_AS(FilesSource(SourceConfig{}), doctest::Contains("no path"), SourceError);
}

// A JPEG whose frame header (SOF0) declares `width` x `height`, cut after a
// little scan data: a few hundred bytes that a decoder would fill in as a
// whole (grey) picture of that size.
std::string jpeg_declaring(int width, int height) {
  const auto small = test::encode_jpeg(test::quadrants(64, 64), 64, 64);
  std::string bytes(small.begin(), small.end());
  for (std::size_t i = 2; i + 4 < bytes.size();) {
    const auto marker = static_cast<unsigned char>(bytes[i + 1]);
    const std::size_t length =
        (static_cast<unsigned char>(bytes[i + 2]) << 8) | static_cast<unsigned char>(bytes[i + 3]);
    if (marker == 0xC0) {
      bytes[i + 5] = static_cast<char>(height >> 8);
      bytes[i + 6] = static_cast<char>(height & 0xFF);
      bytes[i + 7] = static_cast<char>(width >> 8);
      bytes[i + 8] = static_cast<char>(width & 0xFF);
    }
    if (marker == 0xDA) return bytes.substr(0, i + 2 + length + 64) + "\xFF\xD9";
    i += 2 + length;
  }
  FAIL("no scan in the test JPEG");
  return {};
}

TEST_CASE("images declaring more than kMaxFramePixels are refused before decoding") {
  ScratchDir dir;
  SUBCASE("a JPEG of 689 bytes declaring 16000x16000") {
    test::write_bytes(dir / "bomb.jpg", jpeg_declaring(16000, 16000));
    CHECK_THROWS_WITH_AS(decode_image(dir / "bomb.jpg"),
                         doctest::Contains("bomb.jpg: image is 16000x16000 = 256000000 pixels; at "
                                           "most 67108864 (8192x8192) are taken"),
                         ImageDecodeError);
    // A side past kMaxFrameSide (libyuv's scalers overflow from 32768 on).
    test::write_bytes(dir / "long.jpg", jpeg_declaring(20, 55050));
    CHECK_THROWS_WITH_AS(decode_image(dir / "long.jpg"),
                         doctest::Contains("image is 20x55050; sides of at most 16384 pixels"),
                         ImageDecodeError);
    // At the limit it is still taken.
    test::write_bytes(dir / "big.jpg", jpeg_declaring(8192, 8192));
    const auto frame = decode_image(dir / "big.jpg");
    CHECK(frame->width == 8192);
  }
  SUBCASE("a PNG one row over the limit") {
    test::write_png(dir / "tall.png", std::vector<std::uint8_t>(8192u * 8193u, 0), 8192, 8193, 1);
    CHECK_THROWS_WITH_AS(decode_image(dir / "tall.png"), doctest::Contains("tall.png"),
                         ImageDecodeError);
  }
  SUBCASE("a directory goes on past one") {
    QuietLogs quiet;
    std::filesystem::create_directory(dir / "mixed");
    test::write_bytes(dir / "mixed" / "a.jpg", jpeg_declaring(30000, 30000));
    test::write_jpeg(dir / "mixed" / "b.jpg", test::quadrants(64, 48), 64, 48);
    FilesSource source(files_config(dir / "mixed"));
    source.start();
    auto r = source.next_frame(std::chrono::milliseconds(2000));
    REQUIRE(r.status == FrameResult::Status::Corrupt);
    CHECK(r.error.find("a.jpg: image is 30000x30000") != std::string::npos);
    r = source.next_frame(std::chrono::milliseconds(2000));
    REQUIRE(r.status == FrameResult::Status::Ok);
    CHECK(r.frame->width == 64);
  }
}

TEST_CASE("a directory that disappears and comes back: supervised recovery") {
  QuietLogs quiet;
  ScratchDir root;
  const auto dir = root / "frames";
  const auto parked = root / "parked";
  std::filesystem::create_directory(dir);
  for (int i = 0; i < 3; ++i) {
    test::write_jpeg(dir / ("f" + std::to_string(i) + ".jpg"), test::quadrants(16, 16), 16, 16);
  }
  SupervisorOptions options;
  options.frame_timeout = milliseconds(200);
  options.backoff_initial = milliseconds(1);
  options.backoff_max = milliseconds(16);
  SupervisedSource source(std::make_unique<FilesSource>(files_config(dir, true)), options);
  source.start();
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  const auto pump_until = [&](auto done) {
    while (std::chrono::steady_clock::now() < give_up) {
      auto r = source.next_frame(milliseconds(5));
      REQUIRE(r.status != FrameResult::Status::Error);
      if (done(r)) return r;
    }
    FAIL("condition not reached");
    return FrameResult{};
  };
  const auto ok = [](const FrameResult& r) { return r.status == FrameResult::Status::Ok; };
  pump_until(ok);
  CHECK(source.health().state == SourceHealth::State::Running);

  std::filesystem::rename(dir, parked);  // the disk went away
  pump_until([&](const FrameResult&) { return source.health().consecutive_failures >= 3; });
  auto h = source.health();
  CHECK(h.state == SourceHealth::State::Restarting);
  CHECK(h.last_error.find("does not exist") != std::string::npos);

  std::filesystem::rename(parked, dir);  // and came back
  const auto r = pump_until(ok);
  h = source.health();
  CHECK(h.state == SourceHealth::State::Running);
  CHECK(h.restarts >= 1);
  CHECK(r.frame->sequence >= 1);  // numbering continued
}

}  // namespace
}  // namespace lookout
