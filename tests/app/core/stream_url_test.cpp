// The stream source's URLs: which are taken, how they are shown in logs and
// hello, and how credentials from their file get into them.
#include "core/stream_url.hpp"

#include <doctest/doctest.h>

using lookout::redact_url;
using lookout::stream_url_problem;
using lookout::url_with_credentials;

TEST_CASE("stream URLs: RTSP and HTTP(S) with a host, no credentials, no spaces") {
  for (const char* good : {"rtsp://cam.local:554/stream1", "rtsps://10.0.0.2/live",
                           "http://192.168.1.5/video.mjpg", "https://cdn.example/live/index.m3u8",
                           "RTSP://Cam/x", "http://[fe80::1]:8080/stream.mjpg?fps=5"}) {
    INFO(good);
    CHECK(stream_url_problem(good).empty());
  }
  CHECK(stream_url_problem("").find("required") != std::string::npos);
  for (const char* other : {"file:///etc/passwd", "/dev/video0", "udp://239.0.0.1:1234",
                            "concat:a.ts|b.ts", "rtmp://host/app"}) {
    INFO(other);
    CHECK(stream_url_problem(other).find("is not an rtsp://, rtsps://, http:// or https:// URL") !=
          std::string::npos);
  }
  for (const char* with : {"rtsp://admin:secret@cam/x", "http://user@cam/x"}) {
    INFO(with);
    const std::string problem = stream_url_problem(with);
    CHECK(problem.find("source.credentials_file") != std::string::npos);
    CHECK(problem.find("secret") == std::string::npos);
  }
  CHECK(stream_url_problem("http:///x") == "the URL names no host");
  CHECK(stream_url_problem("rtsp://:554/x") == "the URL names no host");
  CHECK(stream_url_problem("rtsp://cam/a b").find("no spaces") != std::string::npos);
  CHECK(stream_url_problem("rtsp://cam/a\nb").find("control characters") != std::string::npos);
}

TEST_CASE("credentials go after the scheme, percent-encoded; what is shown has none") {
  CHECK(url_with_credentials("rtsp://cam:554/s", "") == "rtsp://cam:554/s");
  CHECK(url_with_credentials("rtsp://cam:554/s", "admin:pa55") == "rtsp://admin:pa55@cam:554/s");
  CHECK(url_with_credentials("rtsp://cam/s", "admin") == "rtsp://admin@cam/s");
  // '@', ':' and '/' in a password stay in the password.
  CHECK(url_with_credentials("http://cam/v", "me:p@ss:w/rd") == "http://me:p%40ss%3Aw%2Frd@cam/v");

  CHECK(redact_url("rtsp://admin:pa55@cam:554/s") == "rtsp://cam:554/s");
  CHECK(redact_url("http://cam/video.cgi?user=a&pwd=b") == "http://cam/video.cgi?...");
  CHECK(redact_url(url_with_credentials("https://h/x?t=1", "u:p")) == "https://h/x?...");
  CHECK(redact_url("rtsp://cam/live") == "rtsp://cam/live");
}
