// The stream source against real servers on loopback: another lookoutd's
// HTTP MJPEG stream (/stream.mjpg), which is killed and started again on the
// same port mid-stream, and an HLS rendition (H.264 in MPEG-TS segments,
// written by FFmpeg's own muxer) served by Python's http.server. RTSP takes
// the same path through FFmpeg; no RTSP server is installed here.
#include "stream/stream_source.hpp"

#include <thread>

#include <doctest/doctest.h>

#include "harness.hpp"
#include "testing/media.hpp"

namespace t = lookout::test;
using lookout::FrameResult;
using lookout::SourceConfig;
using lookout::SourceError;
using lookout::SourceType;
using lookout::StreamSource;

namespace {

SourceConfig stream_config(const std::string& url) {
  SourceConfig c;
  c.type = SourceType::Stream;
  c.url = url;
  c.width = c.height = 0;
  c.frame_timeout = std::chrono::milliseconds(3000);
  return c;
}

// A free TCP port on 127.0.0.1 (bound, then let go for the server to take).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  const int port = t::local_port_of(fd);
  ::close(fd);
  return port;
}

FrameResult next_ok(StreamSource& source) {
  for (int i = 0; i < 20; ++i) {
    FrameResult r = source.next_frame(std::chrono::milliseconds(1000));
    if (r.status != FrameResult::Status::Timeout) return r;
  }
  return FrameResult::timeout();
}

}  // namespace

TEST_CASE("stream source: a real MJPEG server's frames, the newest first, and a reconnect") {
  t::DaemonConfig server;
  server.http_port = free_port();
  auto camera = std::make_unique<t::RunningDaemon>(server);
  const std::string url =
      "http://127.0.0.1:" + std::to_string(server.http_port) + "/stream.mjpg?fps=10&boxes=0";
  SourceConfig config = stream_config(url);
  config.credentials = "viewer:not-needed";  // lookoutd ignores them; they must not show
  StreamSource source(config);
  source.start();
  const auto info = source.info();
  CHECK(info.name ==
        "stream:http://127.0.0.1:" + std::to_string(server.http_port) + "/stream.mjpg?...");
  CHECK(info.width == 320);
  CHECK(info.height == 240);
  CHECK(source.decoder_name() == "mjpeg");

  std::uint64_t last = 0;
  for (int i = 0; i < 5; ++i) {
    const FrameResult r = next_ok(source);
    REQUIRE_MESSAGE(r.status == FrameResult::Status::Ok, r.error);
    CHECK(r.frame->width == 320);
    CHECK(r.frame->height == 240);
    if (i > 0) CHECK(r.frame->sequence > last);
    last = r.frame->sequence;
  }
  // Nobody takes frames for a second and a half: the stream goes on, the
  // waiting ones are replaced, and the next one taken is the newest.
  const auto replaced_before = source.replaced();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const FrameResult fresh = source.next_frame(std::chrono::milliseconds(0));
  REQUIRE(fresh.status == FrameResult::Status::Ok);
  // (at 10 fps about 15 came meanwhile; the bounds leave room for a loaded
  // machine: without newest-wins the frame taken would be 1.5 s old)
  CHECK(fresh.frame->sequence >= last + 3);
  CHECK(source.replaced() >= replaced_before + 2);
  CHECK(std::chrono::steady_clock::now() - fresh.frame->capture_steady <
        std::chrono::milliseconds(1000));

  // The server goes away: the source says so, and cannot start until it is back.
  camera.reset();
  FrameResult broken;
  for (int i = 0; i < 30 && broken.status != FrameResult::Status::Error; ++i) {
    broken = source.next_frame(std::chrono::milliseconds(1000));
  }
  CHECK(broken.status == FrameResult::Status::Error);
  CHECK(broken.error.find("127.0.0.1") != std::string::npos);
  CHECK(broken.error.find("not-needed") == std::string::npos);
  source.stop();
  try {
    source.start();
    FAIL("started with no server");
  } catch (const SourceError& e) {
    CHECK(std::string(e.what()).find("stream.mjpg?...") != std::string::npos);
    CHECK(std::string(e.what()).find("not-needed") == std::string::npos);
  }
  camera = std::make_unique<t::RunningDaemon>(server);
  source.start();
  const FrameResult back = next_ok(source);
  REQUIRE_MESSAGE(back.status == FrameResult::Status::Ok, back.error);
  CHECK(back.frame->width == 320);
  source.stop();
}

namespace {

// Python's http.server serving `dir` on 127.0.0.1:`port` while it lives.
class FileServer {
 public:
  FileServer(const std::filesystem::path& dir, int port) {
    pid_ = t::Daemon::spawn({LOOKOUT_PYTHON, "-m", "http.server", "--bind", "127.0.0.1",
                             "--directory", dir.string(), std::to_string(port)},
                            {"PATH=/usr/bin:/bin"}, dir / "server.log");
    const auto deadline = std::chrono::steady_clock::now() + t::kPatience;
    while (std::chrono::steady_clock::now() < deadline) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<std::uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      if (up) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("http.server did not start");
  }
  ~FileServer() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  FileServer(const FileServer&) = delete;
  FileServer& operator=(const FileServer&) = delete;

 private:
  pid_t pid_;
};

}  // namespace

TEST_CASE(
    "stream source: HLS over HTTP, H.264 decoded, to the end; nothing but the network is opened") {
  lookout::test::ScratchDir dir;
  const std::string decoder = lookout::test::write_hls(dir.path() / "index.m3u8", 320, 240, 40, 10);
  // A playlist that names a local file as its segment: a stream source may
  // not be turned into a file reader.
  lookout::test::write_bytes(dir.path() / "sneaky.m3u8",
                             "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n" +
                                 (dir.path() / "index0.ts").string() + "\n#EXT-X-ENDLIST\n");
  const int port = free_port();
  const FileServer server(dir.path(), port);
  const std::string base = "http://127.0.0.1:" + std::to_string(port) + "/";

  StreamSource source(stream_config(base + "index.m3u8"));
  source.start();
  CHECK(source.info().width == 320);
  CHECK(source.info().height == 240);
  CHECK(source.decoder_name() == decoder);
  const FrameResult first = next_ok(source);
  REQUIRE_MESSAGE(first.status == FrameResult::Status::Ok, first.error);
  CHECK(first.frame->width == 320);
  // A VOD playlist ends: the source says so (the supervisor would reconnect).
  FrameResult r = first;
  int frames = 1;
  for (int i = 0; i < 100 && r.status != FrameResult::Status::Error; ++i) {
    r = source.next_frame(std::chrono::milliseconds(1000));
    frames += r.status == FrameResult::Status::Ok;
  }
  CHECK(r.status == FrameResult::Status::Error);
  CHECK(r.error.find("ended") != std::string::npos);
  // What the probe read is not replayed (nobuffer: for a live camera those
  // pictures are already old); the rest were decoded, taken or replaced.
  const int decoded = frames + static_cast<int>(source.replaced());
  CHECK(decoded >= 10);
  CHECK(decoded <= 40);
  source.stop();

  StreamSource sneaky(stream_config(base + "sneaky.m3u8"));
  bool refused = false;
  try {
    sneaky.start();
    refused = next_ok(sneaky).status != FrameResult::Status::Ok;
  } catch (const SourceError& e) {
    refused = true;
    CHECK(std::string(e.what()).find("sneaky.m3u8") != std::string::npos);
  }
  CHECK(refused);
}

TEST_CASE("stream source: a URL the configuration refuses is refused here too") {
  CHECK_THROWS_AS(StreamSource(stream_config("file:///etc/passwd")), SourceError);
  CHECK_THROWS_AS(StreamSource(stream_config("rtsp://admin:pw@cam/x")), SourceError);
  // Nothing listens on port 1: a clear error naming the URL.
  StreamSource nowhere(stream_config("rtsp://127.0.0.1:1/live"));
  try {
    nowhere.start();
    FAIL("started");
  } catch (const SourceError& e) {
    CHECK(std::string(e.what()).find("rtsp://127.0.0.1:1/live") != std::string::npos);
  }
}
