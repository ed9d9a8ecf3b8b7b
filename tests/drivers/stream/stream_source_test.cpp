// The stream source against a real server on loopback: another lookoutd's
// HTTP MJPEG stream (/stream.mjpg), which is killed and started again on the
// same port mid-stream. RTSP and HLS take the same path through FFmpeg; no
// RTSP server or HLS packager is installed here (see the source's note).
#include <doctest/doctest.h>

#include <thread>

#include "harness.hpp"
#include "stream/stream_source.hpp"

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
  CHECK(info.name == "stream:http://127.0.0.1:" + std::to_string(server.http_port) + "/stream.mjpg?...");
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
  CHECK(fresh.frame->sequence >= last + 5);
  CHECK(source.replaced() >= replaced_before + 4);
  CHECK(std::chrono::steady_clock::now() - fresh.frame->capture_steady < std::chrono::milliseconds(400));

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
