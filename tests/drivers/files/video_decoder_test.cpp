// Video files through the files source: real files encoded at test time with
// libavcodec, decoded back and checked frame by frame.
#include "files/video_decoder.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "files/files_source.hpp"
#include "testing/media.hpp"

namespace lookout {
namespace {

using std::chrono::milliseconds;

SourceConfig video_config(const std::filesystem::path& path, bool loop) {
  SourceConfig c;
  c.type = lookout::SourceType::Files;
  c.path = path.string();
  c.fps = 0;
  c.loop = loop;
  return c;
}

std::vector<FramePtr> drain(FrameSource& source, int limit) {
  std::vector<FramePtr> frames;
  for (int i = 0; i < limit; ++i) {
    auto r = source.next_frame(milliseconds(2000));
    if (r.status == FrameResult::Status::EndOfStream) break;
    INFO("error: ", r.error);
    REQUIRE(r.status == FrameResult::Status::Ok);
    frames.push_back(r.frame);
  }
  return frames;
}

// RGB a full-range (JPEG) YUV colour decodes to.
std::array<double, 3> full_range_rgb(test::Yuv c) {
  const double y = c.y, u = c.u - 128.0, v = c.v - 128.0;
  return {y + 1.402 * v, y - 0.344136 * u - 0.714136 * v, y + 1.772 * u};
}

TEST_CASE("MPEG-4 in AVI: every frame, in order, as I420 without conversion") {
  test::ScratchDir dir;
  const auto path = dir / "clip.avi";
  constexpr int kFrames = 12;
  test::write_video(path, "mpeg4", 96, 64, kFrames);

  FilesSource source(video_config(path, false));
  source.start();
  CHECK(source.info().width == 96);
  CHECK(source.info().height == 64);
  CHECK(source.info().format == PixelFormat::I420);
  const auto frames = drain(source, 100);
  REQUIRE(frames.size() == kFrames);
  for (int i = 0; i < kFrames; ++i) {
    const Frame& f = *frames[i];
    CHECK(f.format == PixelFormat::I420);
    CHECK(f.width == 96);
    CHECK(f.height == 64);
    CHECK(f.sequence == static_cast<std::uint64_t>(i));
    CHECK(validate_layout(f).empty());
    const auto means = test::channel_means(f);
    const auto c = test::video_colour(i);
    CHECK(std::abs(means[0] - c.y) < 4);
    CHECK(std::abs(means[1] - c.u) < 4);
    CHECK(std::abs(means[2] - c.v) < 4);
  }
  CHECK(source.next_frame(milliseconds(0)).status == FrameResult::Status::EndOfStream);
}

TEST_CASE("frames hold their own reference: they outlive the source") {
  test::ScratchDir dir;
  const auto path = dir / "clip.mkv";
  test::write_video(path, "mpeg4", 64, 48, 3);
  std::vector<FramePtr> frames;
  {
    FilesSource source(video_config(path, false));
    source.start();
    frames = drain(source, 10);
  }  // source and decoder gone
  REQUIRE(frames.size() == 3);
  const auto means = test::channel_means(*frames[2]);
  CHECK(std::abs(means[0] - test::video_colour(2).y) < 4);
}

TEST_CASE("MJPEG (full range) is converted to RGB24; loop starts over") {
  test::ScratchDir dir;
  const auto path = dir / "cam.avi";
  constexpr int kFrames = 5;
  test::write_video(path, "mjpeg", 80, 60, kFrames);
  FilesSource source(video_config(path, true));
  source.start();
  CHECK(source.info().format == PixelFormat::RGB24);
  const auto frames = drain(source, 2 * kFrames + 1);
  REQUIRE(frames.size() == 2 * kFrames + 1);
  for (int i = 0; i < 2 * kFrames + 1; ++i) {
    const Frame& f = *frames[i];
    CHECK(f.format == PixelFormat::RGB24);
    CHECK(f.sequence == static_cast<std::uint64_t>(i));
    const auto means = test::channel_means(f);
    const auto expected = full_range_rgb(test::video_colour(i % kFrames));
    for (int ch = 0; ch < 3; ++ch) {
      CHECK(std::abs(means[ch] - std::clamp(expected[ch], 0.0, 255.0)) < 6);
    }
  }
}

TEST_CASE("format RGB24 converts I420 video too") {
  test::ScratchDir dir;
  const auto path = dir / "clip.avi";
  test::write_video(path, "mpeg4", 64, 48, 2);
  SourceConfig c = video_config(path, false);
  c.format = lookout::PixelFormat::RGB24;
  FilesSource source(c);
  source.start();
  CHECK(source.info().format == PixelFormat::RGB24);
  const auto frames = drain(source, 5);
  REQUIRE(frames.size() == 2);
  CHECK(frames[0]->format == PixelFormat::RGB24);
  // Limited-range BT.601: a mid-grey-ish Y maps near the same in all channels
  // only for neutral chroma; here just check it is a plausible conversion.
  const auto means = test::channel_means(*frames[0]);
  const auto c0 = test::video_colour(0);
  const double y = 1.164 * (c0.y - 16), u = c0.u - 128.0, v = c0.v - 128.0;
  CHECK(std::abs(means[0] - std::clamp(y + 1.596 * v, 0.0, 255.0)) < 6);
  CHECK(std::abs(means[2] - std::clamp(y + 2.018 * u, 0.0, 255.0)) < 6);
}

TEST_CASE("files that are not videos fail clearly") {
  test::ScratchDir dir;
  test::write_bytes(dir / "junk.mp4", std::string(4096, '\x42'));
  FilesSource source(video_config(dir / "junk.mp4", false));
  CHECK_THROWS_WITH_AS(source.start(), doctest::Contains((dir / "junk.mp4").string().c_str()),
                       SourceError);
  CHECK_THROWS_AS(VideoDecoder(dir / "nope.avi"), SourceError);
}

// The constructor refuses `path` with a SourceError that names the file and
// contains `why`. Each caller reaches a different failure path of the
// constructor, with more FFmpeg objects open the further it gets; under the
// ASan build LeakSanitizer fails the test run if any of them is not freed.
void check_refused(const std::filesystem::path& path, const std::string& why) {
  INFO("file: ", path.string());
  try {
    VideoDecoder decoder(path);
    FAIL("the decoder opened it (" << decoder.width() << "x" << decoder.height() << ")");
  } catch (const SourceError& e) {
    const std::string what = e.what();
    INFO("message: ", what);
    CHECK(what.find(path.string()) != std::string::npos);
    CHECK(what.find(why) != std::string::npos);
  }
}

// `bytes` with every `from` replaced by `to` (same length); at least one must be there.
std::string patched(std::string bytes, const std::string& from, const std::string& to) {
  REQUIRE(from.size() == to.size());
  std::size_t at = bytes.find(from);
  REQUIRE(at != std::string::npos);
  for (; at != std::string::npos; at = bytes.find(from, at + to.size())) {
    bytes.replace(at, from.size(), to);
  }
  return bytes;
}

TEST_CASE("files that are no video are refused by the constructor, naming the file") {
  test::ScratchDir dir;
  SUBCASE("an empty file") {
    test::write_bytes(dir / "empty.mp4", "");
    check_refused(dir / "empty.mp4", "cannot open video");
  }
  SUBCASE("a directory") {
    std::filesystem::create_directory(dir / "clips.avi");
    check_refused(dir / "clips.avi", "cannot open video");
  }
  SUBCASE("a text file") {
    std::string text;
    for (int i = 0; i < 100; ++i) text += "this is not a video\n";
    test::write_bytes(dir / "notes.mkv", text);
    check_refused(dir / "notes.mkv", "cannot open video");
  }
  SUBCASE("an audio file: opened and probed, but has no video stream") {
    test::write_wav(dir / "tone.wav", 8000);
    check_refused(dir / "tone.wav", "not a video file (no video stream)");
  }
}

TEST_CASE("truncated and corrupt videos are refused by the constructor, naming the file") {
  test::ScratchDir dir;
  SUBCASE("an AVI cut off inside its header") {
    test::write_video(dir / "full.avi", "mpeg4", 64, 48, 4);
    const std::string bytes = test::read_bytes(dir / "full.avi");
    REQUIRE(bytes.size() > 256);
    test::write_bytes(dir / "cut.avi", bytes.substr(0, 256));
    check_refused(dir / "cut.avi", "cannot open video");
  }
  SUBCASE("an AVI whose codec tag is damaged: no decoder for the stream") {
    test::write_video(dir / "full.avi", "mpeg4", 64, 48, 4);
    // FFmpeg's AVI muxer writes MPEG-4 part 2 as "FMP4" (stream and format headers).
    test::write_bytes(dir / "tag.avi", patched(test::read_bytes(dir / "full.avi"), "FMP4", "ZZZZ"));
    check_refused(dir / "tag.avi", "no decoder for its video stream");
  }
  SUBCASE("MJPEG in Matroska without a frame size, cut off before its first frame") {
    // The demuxer opens, the stream is found and its decoder opened (every
    // FFmpeg object of the decoder exists), but nothing says how big a frame is.
    test::write_video(dir / "full.mkv", "mjpeg", 96, 64, 3);
    std::string bytes = test::read_bytes(dir / "full.mkv");
    // PixelWidth (EBML id B0) 96 and PixelHeight (BA) 64, one-byte values.
    bytes = patched(patched(bytes, "\xB0\x81\x60", std::string("\xB0\x81\x00", 3)), "\xBA\x81\x40",
                    std::string("\xBA\x81\x00", 3));
    const std::size_t cluster = bytes.find("\x1F\x43\xB6\x75");  // the first frames' Cluster
    REQUIRE(cluster != std::string::npos);
    test::write_bytes(dir / "sizeless.mkv", bytes.substr(0, cluster + 16));
    check_refused(dir / "sizeless.mkv", "video stream has no frame size");
  }
}

// A TCP listener on loopback that counts connections (each closed at once),
// to tell whether anything tried to fetch from the network.
class CountingListener {
 public:
  CountingListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) > 0) {
          const int c = ::accept(fd_, nullptr, nullptr);
          if (c >= 0) {
            ++connections_;
            ::close(c);
          }
        }
        if (stop_) return;
      }
    });
  }
  ~CountingListener() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int connections() const { return connections_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// FFmpeg confines what a local playlist opens to local files itself (the
// file protocol's default whitelist); the decoder's own whitelist also keeps
// the name it is given from being a URL.
TEST_CASE("a playlist in a files source cannot make FFmpeg fetch from the network") {
  test::ScratchDir dir;
  CountingListener server;
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port());
  SUBCASE("HLS") {
    test::write_bytes(dir / "live.m3u8",
                      "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n"
                      "#EXTINF:2.0,\n" +
                          url + "/segment0.ts\n#EXT-X-ENDLIST\n");
    check_refused(dir / "live.m3u8", "");
  }
  SUBCASE("ffconcat") {
    test::write_bytes(dir / "list.ffconcat", "ffconcat version 1.0\nfile '" + url + "/a.avi'\n");
    check_refused(dir / "list.ffconcat", "");
  }
  SUBCASE("a URL, or a concat: URL, where a file name belongs") {
    check_refused(url + "/clip.avi", "cannot open video");
    check_refused("concat:" + url + "/a.avi|" + url + "/b.avi", "cannot open video");
  }
  SUBCASE("a local playlist of local segments still opens") {
    test::write_video(dir / "local.avi", "mpeg4", 64, 48, 4);
    test::write_bytes(dir / "list.ffconcat", "ffconcat version 1.0\nfile 'local.avi'\n");
    VideoDecoder decoder(dir / "list.ffconcat");
    CHECK(decoder.width() == 64);
  }
  CHECK(server.connections() == 0);
}

}  // namespace
}  // namespace lookout
