// The HTTP server (app/daemon/http_server.cpp, HTTP.md), tested against the
// real lookoutd process (real model, synthetic source) with a real HTTP
// client over TCP: every endpoint, every error status, a client trickling
// its headers, a refused address, the token (cookie, Bearer, login form),
// connection limits, a reload, and `promtool check metrics` on the real
// /metrics. The real browser is in viewer_test.cpp.
#include <cerrno>
#include <memory>
#include <set>
#include <thread>

#include <doctest/doctest.h>
#include <sys/stat.h>

#include "core/jpeg.hpp"
#include "http_client.hpp"

using namespace lookout::test;

namespace {

const std::vector<std::string> kShapes = {"circle", "square", "triangle", "star", "cross"};

RunningDaemon& shared_daemon() {
  static RunningDaemon daemon{DaemonConfig{}};
  return daemon;
}

lookout::jpeg::Header jpeg_size(const std::string& bytes) {
  lookout::jpeg::Decompressor d;
  return d.header(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

// Polls `target` until it answers 200 (the daemon's first frames and stats
// take a moment), returning the last response.
HttpResponse get_when_ok(int port, const std::string& target, const std::string& headers = "") {
  const auto deadline = Clock::now() + kPatience;
  std::optional<HttpResponse> r;
  while (Clock::now() < deadline) {
    r = http_get(port, target, headers);
    if (r && r->status == 200) return *r;
    std::this_thread::sleep_for(100ms);
  }
  if (!r) throw std::runtime_error("no response from " + target);
  return *r;
}

json error_body(const HttpResponse& r) {
  CHECK(r.header("content-type") == "application/json");
  const json body = json::parse(r.body);
  CHECK(body["status"] == r.status);
  CHECK(body["error"].is_string());
  return body;
}

std::optional<std::string> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    const auto stop = std::min(dirs.find(':', start), dirs.size());
    const std::filesystem::path candidate =
        std::filesystem::path(dirs.substr(start, stop - start)) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = stop + 1;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("GET /healthz is 200 while frames are processed, and HEAD has no body") {
  auto& d = shared_daemon();
  const HttpResponse r = get_when_ok(d.http_port, "/healthz");
  CHECK(r.header("content-type") == "application/json");
  const json body = json::parse(r.body);
  CHECK(body["status"] == "ok");
  CHECK(body["camera"] == "test-cam");
  CHECK(body["source"] == "running");
  CHECK(body["last_frame_age_s"].get<double>() >= 0);

  HttpConnection c(d.http_port);
  c.send("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  // HEAD: Content-Length is the GET's, but no body follows; the connection
  // stays open (keep-alive), so a second request on it works.
  const auto head = c.read_response(kPatience, /*head=*/true);
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(std::stoul(head->header("content-length")) > 0);
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto again = c.read_response();
  REQUIRE(again);
  CHECK(again->status == 200);
  CHECK(json::parse(again->body)["status"] == "ok");
}

TEST_CASE("GET /healthz is 503 with the reason while the source restarts") {
  // A V4L2 device that does not exist: the supervised source keeps retrying.
  DaemonConfig config;
  TempDir dir;
  const std::string yaml = config.yaml(dir);
  const std::string broken =
      yaml.substr(0, yaml.find("source:")) +
      "source:\n  type: v4l2\n  device: /dev/video-lookout-test-absent\n  width: 320\n"
      "  height: 240\n  fps: 20\n" +
      yaml.substr(yaml.find("model:"));
  const auto path = dir.write("lookout.yaml", broken);
  Daemon daemon(dir, path);
  REQUIRE(daemon.wait_ready());
  const int port = daemon.http_port();
  std::optional<HttpResponse> r;
  const auto deadline = Clock::now() + kPatience;
  while (Clock::now() < deadline) {
    r = http_get(port, "/healthz");
    REQUIRE(r);
    if (r->status == 503 && json::parse(r->body).contains("reason") &&
        json::parse(r->body)["source"] == "restarting") {
      break;
    }
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE(r);
  CHECK(r->status == 503);
  const json body = json::parse(r->body);
  CHECK(body["status"] == "unhealthy");
  CHECK(body["source"] == "restarting");
  CHECK(body["reason"].get<std::string>().find("source restarting") == 0);
  CHECK(body["reason"].get<std::string>().find("/dev/video-lookout-test-absent") !=
        std::string::npos);
  // A snapshot has nothing to show and says why.
  const auto snapshot = http_get(port, "/snapshot.jpg");
  REQUIRE(snapshot);
  CHECK(snapshot->status == 503);
  CHECK(error_body(*snapshot)["error"].get<std::string>().find("source restarting") !=
        std::string::npos);
}

TEST_CASE("GET /metrics is Prometheus text that promtool accepts, with every family") {
  auto& d = shared_daemon();
  get_when_ok(d.http_port, "/healthz");
  // One detection-carrying frame at least, so the per-class counter has samples.
  auto tcp = d.tcp_client();
  REQUIRE(tcp.next());
  for (int i = 0; i < 20; ++i) tcp.next();
  const HttpResponse r = get_when_ok(d.http_port, "/metrics");
  CHECK(r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  const std::string& m = r.body;
  for (const char* family : {"lookout_frames_captured_total{camera=\"test-cam\"}",
                             "lookout_frames_processed_total{camera=\"test-cam\"}",
                             "lookout_frames_skipped_total{camera=\"test-cam\"}",
                             "lookout_frame_errors_total{camera=\"test-cam\"}",
                             "# TYPE lookout_inference_seconds histogram",
                             "lookout_inference_seconds_bucket{camera=\"test-cam\",le=\"+Inf\"}",
                             "lookout_capture_to_publish_seconds_count{camera=\"test-cam\"}",
                             "lookout_detections_total{camera=\"test-cam\",class=\"",
                             "lookout_clients{camera=\"test-cam\",transport=\"tcp\"} 1",
                             "lookout_clients{camera=\"test-cam\",transport=\"http\"} 1",
                             "lookout_source_state{camera=\"test-cam\",state=\"running\"} 1",
                             "lookout_source_state{camera=\"test-cam\",state=\"restarting\"} 0",
                             "lookout_source_restarts_total{camera=\"test-cam\"} 0",
                             "lookout_build_info{camera=\"test-cam\",version=\""}) {
    CHECK_MESSAGE(m.find(family) != std::string::npos, family);
  }
  CHECK(m.find("backend=\"") != std::string::npos);
  CHECK(m.find("threads=\"1\"") != std::string::npos);
  CHECK(m.find("model=\"shapes\"") != std::string::npos);

  const auto promtool = find_program("promtool");
  REQUIRE_MESSAGE(promtool,
                  "promtool not found: scripts/install-deps.sh installs it (Debian "
                  "package prometheus)");
  TempDir dir;
  const auto file = dir.write("metrics.txt", m);
  const auto out = dir.path() / "promtool.log";
  // promtool reads the exposition on standard input.
  const std::string command =
      *promtool + " check metrics < " + file.string() + " > " + out.string() + " 2>&1";
  const int status = std::system(command.c_str());
  INFO(read_file(out));
  CHECK(status == 0);
  CHECK(read_file(out).find("error") == std::string::npos);
}

TEST_CASE("pictures cost nothing until someone asks for one") {
  // A daemon of its own: nobody has asked it for a picture.
  RunningDaemon d{DaemonConfig{}};
  auto tcp = d.tcp_client();
  for (int i = 0; i < 10; ++i) REQUIRE(tcp.next());
  const std::string before = get_when_ok(d.http_port, "/metrics").body;
  CHECK(before.find("lookout_http_jpeg_encoded_total{camera=\"test-cam\"} 0\n") !=
        std::string::npos);
  const HttpResponse snapshot = get_when_ok(d.http_port, "/snapshot.jpg");
  CHECK(snapshot.header("content-type") == "image/jpeg");
  const std::string after = get_when_ok(d.http_port, "/metrics").body;
  CHECK(after.find("lookout_http_jpeg_encoded_total{camera=\"test-cam\"} 0\n") ==
        std::string::npos);
}

TEST_CASE("GET /api/status has the hello, the latest stats, health and clients") {
  auto& d = shared_daemon();
  std::optional<json> status;
  const auto deadline = Clock::now() + kPatience;
  while (Clock::now() < deadline) {
    status = json::parse(get_when_ok(d.http_port, "/api/status").body);
    if (!(*status)["stats"].is_null()) break;
    std::this_thread::sleep_for(200ms);
  }
  REQUIRE(status);
  const json& s = *status;
  CHECK(s["hello"]["type"] == "hello");
  CHECK(s["hello"]["camera"] == "test-cam");
  CHECK(s["hello"]["model"]["classes"] == kShapes);
  CHECK(s["hello"]["model"]["threads"] == 1);
  CHECK(s["hello"]["model"]["backend"].is_string());
  CHECK(s["stats"]["type"] == "stats");
  CHECK(s["stats"]["frames"]["processed"].get<int>() > 0);
  CHECK(s["health"]["status"] == "ok");
  CHECK(s["clients"]["http"].get<int>() >= 1);
  CHECK(s["clients"].contains("tcp"));
  CHECK(s["clients"].contains("unix"));
}

TEST_CASE("GET /api/detections/latest is the latest detections message") {
  auto& d = shared_daemon();
  const HttpResponse r = get_when_ok(d.http_port, "/api/detections/latest");
  CHECK(r.header("content-type") == "application/json");
  const json m = json::parse(r.body);
  CHECK(m["type"] == "detections");
  CHECK(m["camera"] == "test-cam");
  CHECK(m["frame"]["width"] == 320);
  const std::uint64_t first = m["seq"];
  std::this_thread::sleep_for(300ms);
  const json later = json::parse(get_when_ok(d.http_port, "/api/detections/latest").body);
  CHECK(later["seq"].get<std::uint64_t>() > first);
}

TEST_CASE("GET /api/stream sends hello, then detections and stats as server-sent events") {
  auto& d = shared_daemon();
  HttpConnection c(d.http_port);
  c.send("GET /api/stream HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
  const auto r = c.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->header("content-type") == "text/event-stream");
  const auto hello = c.next_event();
  REQUIRE(hello);
  CHECK(hello->first == "hello");
  CHECK(json::parse(hello->second)["model"]["classes"] == kShapes);
  std::set<std::string> seen;
  std::uint64_t last_seq = 0;
  int detections = 0;
  const auto deadline = Clock::now() + kPatience;
  while ((detections < 10 || !seen.count("stats")) && Clock::now() < deadline) {
    const auto event = c.next_event();
    REQUIRE(event);
    seen.insert(event->first);
    const json m = json::parse(event->second);
    CHECK(m["type"] == event->first);
    if (event->first == "detections") {
      if (detections > 0) CHECK(m["seq"].get<std::uint64_t>() > last_seq);
      last_seq = m["seq"];
      ++detections;
    }
  }
  CHECK(detections >= 10);
  CHECK(seen.count("stats") == 1);
}

TEST_CASE("a client that half-closes after its request keeps its stream (SSE and MJPEG)") {
  auto& d = shared_daemon();
  {
    HttpConnection c(d.http_port);
    c.send("GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);  // as `nc -N` does
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    int detections = 0;
    const auto deadline = Clock::now() + kPatience;
    while (detections < 5 && Clock::now() < deadline) {
      const auto event = c.next_event();
      REQUIRE(event);
      detections += event->first == "detections";
    }
    CHECK(detections == 5);
  }
  {
    HttpConnection c(d.http_port);
    c.send("GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    for (int i = 0; i < 3; ++i) CHECK(c.next_part());
  }
}

TEST_CASE("GET /snapshot.jpg is the latest frame as JPEG, at the asked width and quality") {
  auto& d = shared_daemon();
  const HttpResponse full = get_when_ok(d.http_port, "/snapshot.jpg");
  CHECK(full.header("content-type") == "image/jpeg");
  CHECK(full.header("cache-control") == "no-store");
  const auto size = jpeg_size(full.body);
  CHECK(size.width == 320);  // the frame's own (narrower than http.picture_width)
  CHECK(size.height == 240);

  const HttpResponse small = get_when_ok(d.http_port, "/snapshot.jpg?width=160&boxes=0");
  CHECK(jpeg_size(small.body).width == 160);
  CHECK(jpeg_size(small.body).height == 120);
  // Wider than the picture: never upscaled.
  CHECK(jpeg_size(get_when_ok(d.http_port, "/snapshot.jpg?width=2000").body).width == 320);
  const auto low = get_when_ok(d.http_port, "/snapshot.jpg?quality=5&boxes=0");
  const auto high = get_when_ok(d.http_port, "/snapshot.jpg?quality=95&boxes=0");
  CHECK(low.body.size() < high.body.size());

  for (const char* bad :
       {"/snapshot.jpg?width=abc", "/snapshot.jpg?width=5", "/snapshot.jpg?quality=0",
        "/snapshot.jpg?quality=101", "/snapshot.jpg?boxes=maybe", "/stream.mjpg?fps=0",
        "/stream.mjpg?width=-3", "/snapshot.jpg?width=%zz"}) {
    const auto r = http_get(d.http_port, bad);
    REQUIRE(r);
    INFO(bad);
    CHECK(r->status == 400);
    error_body(*r);
  }
  const auto named = http_get(d.http_port, "/snapshot.jpg?width=abc");
  CHECK(json::parse(named->body)["error"].get<std::string>().find("width") == 0);
}

TEST_CASE("GET /stream.mjpg streams JPEG parts at the asked width; two viewers share encodings") {
  auto& d = shared_daemon();
  HttpConnection a(d.http_port);
  HttpConnection b(d.http_port);
  for (HttpConnection* c : {&a, &b}) {
    c->send("GET /stream.mjpg?fps=1000&width=160 HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto r = c->read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->header("content-type") == "multipart/x-mixed-replace; boundary=lookoutframe");
  }
  const std::string before = get_when_ok(d.http_port, "/metrics").body;
  int parts = 0;
  for (int i = 0; i < 6; ++i) {
    for (HttpConnection* c : {&a, &b}) {
      const auto jpeg = c->next_part();
      REQUIRE(jpeg);
      CHECK(jpeg_size(*jpeg).width == 160);
      ++parts;
    }
  }
  CHECK(parts == 12);
  // One encoding per picture serves both viewers: the encoder made no more
  // pictures than the viewers received between the two readings, not twice
  // as many (it is read from the metric's value).
  auto encoded = [](const std::string& metrics) {
    const std::string key = "lookout_http_jpeg_encoded_total{camera=\"test-cam\"} ";
    const auto at = metrics.find(key);
    REQUIRE(at != std::string::npos);
    return std::stod(metrics.substr(at + key.size()));
  };
  const std::string after = get_when_ok(d.http_port, "/metrics").body;
  CHECK(encoded(after) - encoded(before) <= 6 + 3);
}

TEST_CASE("errors are status codes with a short JSON body, and never touch other clients") {
  auto& d = shared_daemon();
  // A streaming client that must keep getting events throughout.
  HttpConnection watcher(d.http_port);
  watcher.send("GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(watcher.read_response());
  REQUIRE(watcher.next_event());

  SUBCASE("404 for an unknown path") {
    const auto r = http_get(d.http_port, "/nope");
    REQUIRE(r);
    CHECK(r->status == 404);
    CHECK(error_body(*r)["error"].get<std::string>().find("/nope") != std::string::npos);
  }
  SUBCASE("405 with Allow for a method the path does not take") {
    HttpConnection c(d.http_port);
    c.send("DELETE /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 405);
    CHECK(r->header("allow") == "GET, HEAD");
    error_body(*r);
  }
  SUBCASE("400 for a request that is not HTTP, then the connection closes") {
    HttpConnection c(d.http_port);
    c.send("THIS IS NOT HTTP\r\n\r\n");
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 400);
    error_body(*r);
    CHECK(c.closed_without_data());
  }
  SUBCASE("431 for headers over http.max_header_bytes") {
    HttpConnection c(d.http_port);
    c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 431);
    CHECK(error_body(*r)["error"].get<std::string>().find("http.max_header_bytes") !=
          std::string::npos);
  }
  SUBCASE("413 for a body larger than a login form") {
    HttpConnection c(d.http_port);
    c.send(
        "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 100000\r\n\r\n");
    const auto r = c.read_response();
    REQUIRE(r);
    CHECK(r->status == 413);
    error_body(*r);
  }
  // The watcher was never disturbed: events keep coming.
  for (int i = 0; i < 3; ++i) {
    const auto event = watcher.next_event();
    REQUIRE(event);
  }
}

TEST_CASE("a client trickling its headers is cut off by the header timeout; others are served") {
  DaemonConfig config;
  config.http_extra = "  header_timeout_s: 1\n";
  RunningDaemon d{config};
  HttpConnection slow(d.http_port);
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  const auto started = Clock::now();
  bool cut_off = false;
  std::optional<HttpResponse> answer;
  for (std::size_t i = 0; Clock::now() - started < kPatience; ++i) {
    // One byte every 100 ms, never finishing the headers.
    if (!slow.try_send(std::string(1, i < request.size() ? request[i] : 'z'))) {
      cut_off = true;
      break;
    }
    // Meanwhile a normal client is answered.
    if (i == 3) {
      const auto r = http_get(d.http_port, "/healthz");
      REQUIRE(r);
      CHECK(r->status != 408);
    }
    if (slow.fill(100ms) || slow.closed()) {
      answer = slow.read_response(2s);
      cut_off = true;
      break;
    }
  }
  CHECK(cut_off);
  REQUIRE(answer);
  CHECK(answer->status == 408);
  CHECK(error_body(*answer)["error"].get<std::string>().find("http.header_timeout_s") !=
        std::string::npos);
  CHECK(slow.closed_without_data(5s));
}

TEST_CASE("http.send_timeout_s: a viewer that takes nothing is disconnected, a slow one is not") {
  DaemonConfig config;
  config.http_extra = "  send_timeout_s: 3\n  max_stream_fps: 30\n";
  config.fps = 30;
  RunningDaemon d{config};
  // The stalled viewer's small receive buffer fills at once; the slow one's
  // is the usual size.
  HttpConnection stalled(d.http_port, "", 4096);
  HttpConnection slow(d.http_port);
  for (HttpConnection* c : {&stalled, &slow}) {
    c->send("GET /stream.mjpg?fps=30 HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  // The slow viewer takes about 10 KB/s, a small fraction of the stream:
  // once the daemon's send buffer is full (megabytes), a part's write waits
  // for much of it to drain, far longer than the timeout, but bytes move all
  // the time (the receiver's window opens, or TCP's window probes find it
  // open, about once a second: within the 3 s). The stalled one takes
  // nothing once its buffers are full, and is cut off then. The slow one
  // reads on for a while after that.
  const std::string said = " took no data for http.send_timeout_s; disconnecting";
  const std::string stalled_cut = ":" + std::to_string(stalled.local_port()) + said;
  const std::string slow_cut = ":" + std::to_string(slow.local_port()) + said;
  std::size_t slow_bytes = 0;
  bool slow_closed = false;
  const auto started = Clock::now();
  auto until = started + 90s;
  bool seen = false;
  while (Clock::now() < until && !slow_closed) {
    char chunk[1000];
    const ssize_t n = ::recv(slow.fd(), chunk, sizeof chunk, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) slow_closed = true;
    if (n > 0) slow_bytes += static_cast<std::size_t>(n);
    std::this_thread::sleep_for(100ms);
    if (!seen && d.daemon->log().find(stalled_cut) != std::string::npos) {
      seen = true;
      until = std::min(until, std::max(Clock::now() + 5s, started + 12s));
    }
  }
  const std::string log = d.daemon->log();
  INFO(log);
  CHECK(seen);
  CHECK_FALSE(slow_closed);
  CHECK(slow_bytes >= 40000);
  CHECK(log.find(slow_cut) == std::string::npos);
  // The stalled viewer's connection was closed: what was on its way, then the end.
  const auto deadline = Clock::now() + 10s;
  while (!stalled.closed() && Clock::now() < deadline) stalled.fill(1s);
  CHECK(stalled.closed());
  // And the slow one still gets its stream when it reads at speed.
  char chunk[65536];
  std::size_t later = 0;
  const auto reading = Clock::now() + kPatience;
  while (later < 200000 && Clock::now() < reading) {
    pollfd p{slow.fd(), POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    const ssize_t n = ::recv(slow.fd(), chunk, sizeof chunk, 0);
    if (n <= 0) break;
    later += static_cast<std::size_t>(n);
  }
  CHECK(later >= 200000);
}

TEST_CASE("TCP clients of both servers are kept alive after 60 s of silence, not two hours") {
  auto& d = shared_daemon();
  HttpConnection http(d.http_port);  // idle: no request yet
  Client lookout = d.tcp_client();
  REQUIRE(lookout.next());
  const auto seen = [](int daemon_port, int client_port) {
    // The keepalive timer is what /proc shows while nothing is in flight.
    for (int i = 0; i < 200; ++i) {
      if (const auto t = keepalive_timer_s(daemon_port, client_port)) return t;
      std::this_thread::sleep_for(10ms);
    }
    return std::optional<double>{};
  };
  const auto http_timer = seen(d.http_port, http.local_port());
  const auto lookout_timer = seen(d.port, local_port_of(lookout.fd()));
  REQUIRE(http_timer);
  REQUIRE(lookout_timer);
  CHECK(*http_timer <= 61);
  CHECK(*lookout_timer <= 61);
}

TEST_CASE("a viewer that half-closes, then resets, frees its place with nothing sent to it") {
  // A files source on a FIFO nobody writes: no frame, so no picture and no
  // write to the viewer, as while a camera is down.
  TempDir dir;
  const auto fifo = dir / "stuck.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  DaemonConfig config;
  config.http_extra = "  max_connections_per_host: 2\n";
  std::string yaml = config.yaml(dir);
  const std::string synthetic = "type: synthetic";
  yaml.replace(yaml.find(synthetic), synthetic.size(), "type: files\n  path: " + fifo.string());
  Daemon d(dir, dir.write("lookout.yaml", yaml));
  REQUIRE(d.wait_ready());
  const int port = d.http_port();
  {
    HttpConnection viewer(port);
    viewer.send("GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(::shutdown(viewer.fd(), SHUT_WR) == 0);
    const auto r = viewer.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
    // Closed for good, with a reset (as a crashed viewer's kernel sends).
    const linger abort{1, 0};
    ::setsockopt(viewer.fd(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  }
  // Its place is free: two more from this host get in (a third would not).
  HttpConnection other(port);
  other.send("GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto streaming = other.read_response();
  REQUIRE(streaming);
  CHECK(streaming->status == 200);
  bool admitted = false;
  const auto deadline = Clock::now() + 10s;
  while (!admitted && Clock::now() < deadline) {
    const auto r = http_get(port, "/api/status");
    REQUIRE(r);
    admitted = r->status == 200;
    if (!admitted) std::this_thread::sleep_for(100ms);
  }
  CHECK(admitted);
  d.signal(SIGTERM);  // the capture thread is stuck in the FIFO: exits 1
  d.wait_exit();
}

TEST_CASE("a client from an address outside allowed_networks is closed before a byte is sent") {
  DaemonConfig config;
  config.allowed_networks = {"127.0.0.1/32"};
  RunningDaemon d{config};
  HttpConnection refused(d.http_port, "127.0.0.2");
  refused.try_send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(refused.closed_without_data());
  CHECK(refused.buffer().empty());
  const auto allowed = http_get(d.http_port, "/healthz");
  REQUIRE(allowed);
  CHECK(allowed->status != 0);
  CHECK(d.daemon->log().find("refused client http 127.0.0.2:") != std::string::npos);
}

TEST_CASE("with a token: Bearer for APIs, a login page and an HttpOnly cookie for browsers") {
  DaemonConfig config;
  config.token = "s3cret;=x";
  RunningDaemon d{config};
  const int port = d.http_port;

  const auto none = http_get(port, "/api/status");
  REQUIRE(none);
  CHECK(none->status == 401);
  CHECK(none->header("www-authenticate").find("Bearer") == 0);
  error_body(*none);
  const auto wrong = http_get(port, "/api/status", "Authorization: Bearer nope\r\n");
  REQUIRE(wrong);
  CHECK(wrong->status == 403);
  const auto right = http_get(port, "/api/status", "Authorization: Bearer s3cret;=x\r\n");
  REQUIRE(right);
  CHECK(right->status == 200);
  CHECK(json::parse(right->body)["hello"]["camera"] == "test-cam");
  // Every endpoint is behind it, the streams too.
  for (const char* target : {"/metrics", "/healthz", "/snapshot.jpg", "/stream.mjpg", "/api/stream",
                             "/api/detections/latest"}) {
    const auto r = http_get(port, target);
    REQUIRE(r);
    INFO(target);
    CHECK(r->status == 401);
  }

  // A browser: the page is a login form.
  const auto page = http_get(port, "/");
  REQUIRE(page);
  CHECK(page->status == 401);
  CHECK(page->header("content-type") == "text/html; charset=utf-8");
  CHECK(page->body.find("<form method=post action=/login>") != std::string::npos);

  // ?token= once: a cookie, and the token leaves the address bar.
  const auto via_query = http_get(port, "/?token=s3cret%3B%3Dx");
  REQUIRE(via_query);
  CHECK(via_query->status == 303);
  CHECK(via_query->header("location") == "/");
  const std::string cookie = via_query->header("set-cookie");
  CHECK(cookie.find("HttpOnly") != std::string::npos);
  CHECK(cookie.find("SameSite=Strict") != std::string::npos);
  const std::string pair = cookie.substr(0, cookie.find(';'));
  const auto with_cookie = http_get(port, "/", "Cookie: theme=dark; " + pair + "\r\n");
  REQUIRE(with_cookie);
  CHECK(with_cookie->status == 200);
  CHECK(with_cookie->body.find("<html") != std::string::npos);
  const auto api_with_cookie = http_get(port, "/api/status", "Cookie: " + pair + "\r\n");
  REQUIRE(api_with_cookie);
  CHECK(api_with_cookie->status == 200);

  // The login form.
  auto post = [&](const std::string& body) {
    HttpConnection c(port);
    c.send(
        "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
    return c.read_response();
  };
  const auto good = post("token=s3cret%3B%3Dx");
  REQUIRE(good);
  CHECK(good->status == 303);
  CHECK(good->header("set-cookie") == cookie);
  const auto bad = post("token=guess");
  REQUIRE(bad);
  CHECK(bad->status == 403);
  CHECK(bad->body.find("not right") != std::string::npos);
  CHECK(bad->header("set-cookie").empty());
}

TEST_CASE("connection limits: per host and in all, answered 503") {
  DaemonConfig config;
  config.http_extra = "  max_connections: 3\n  max_connections_per_host: 2\n";
  RunningDaemon d{config};
  HttpConnection first(d.http_port);
  HttpConnection second(d.http_port);
  // Both are admitted (they are answered).
  for (HttpConnection* c : {&first, &second}) {
    c->send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto r = c->read_response();
    REQUIRE(r);
  }
  HttpConnection third(d.http_port);
  const auto r = third.read_response();
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(error_body(*r)["error"].get<std::string>().find("http.max_connections_per_host") !=
        std::string::npos);
  // Another address still gets in up to max_connections.
  HttpConnection other(d.http_port, "127.0.0.2");
  other.send("GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto admitted = other.read_response();
  REQUIRE(admitted);
  INFO(admitted->body);
  CHECK(admitted->status == 200);
  HttpConnection fourth(d.http_port, "127.0.0.3");
  const auto over = fourth.read_response();
  REQUIRE(over);
  CHECK(over->status == 503);
  CHECK(error_body(*over)["error"].get<std::string>().find("http.max_connections ") !=
        std::string::npos);
}

TEST_CASE("an HTTP connection flood from one host holds no descriptors without bound") {
  DaemonConfig config;
  config.http_extra = "  max_connections: 4\n  max_connections_per_host: 2\n";
  RunningDaemon d{config};
  const auto open_fds = [&] { return open_fd_count(d.daemon->pid()); };
  HttpConnection first(d.http_port);
  first.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(first.read_response());
  const std::size_t before = open_fds();
  // 300 connections that never read their 503: at most 32 are held while
  // they are told why (kMaxRefusedLingering), the rest are closed at once.
  std::vector<std::unique_ptr<HttpConnection>> flood;
  for (int i = 0; i < 300; ++i) flood.push_back(std::make_unique<HttpConnection>(d.http_port));
  // Once the daemon has dealt with each (a 503 to read, or closed): until
  // then a connection may still wait in the listen queue, not yet its fd.
  // One of them took the host's second place and waits for its request.
  std::vector<int> fds;
  for (const auto& c : flood) fds.push_back(c->fd());
  REQUIRE(wait_until_answered(fds, 1, 20s) + 1 >= fds.size());
  CHECK(open_fds() <= before + 40);
  // Another host is served meanwhile, and so is the first connection.
  HttpConnection other(d.http_port, "127.0.0.2");
  other.send("GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto admitted = other.read_response();
  REQUIRE(admitted);
  CHECK(admitted->status == 200);
  // /api/status, not /healthz: health depends on frames coming, which a
  // slow build (a sanitizer) beside the flood may hold back.
  first.send("GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto again = first.read_response();
  REQUIRE(again);
  CHECK(again->status == 200);
  // Once the flood is gone, its host gets in again.
  flood.clear();
  std::this_thread::sleep_for(300ms);
  HttpConnection later(d.http_port);
  later.send("GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto served = later.read_response();
  REQUIRE(served);
  CHECK(served->status == 200);
}

TEST_CASE("reload: http.enabled false closes the server, true opens it again") {
  DaemonConfig config;
  RunningDaemon d{config};
  REQUIRE(http_get(d.http_port, "/healthz"));
  const std::string yaml = config.yaml(d.dir);
  auto reload_with = [&](const std::string& text, const std::string& expect) {
    d.dir.write("lookout.yaml", text);
    const auto mark = d.daemon->log().size();
    d.daemon->signal(SIGHUP);
    const auto deadline = Clock::now() + kPatience;
    while (Clock::now() < deadline && d.daemon->log().find(expect, mark) == std::string::npos) {
      std::this_thread::sleep_for(50ms);
    }
    REQUIRE(d.daemon->log().find(expect, mark) != std::string::npos);
  };
  std::string disabled = yaml;
  disabled.replace(disabled.find("http:\n  enabled: true"), 21, "http:\n  enabled: false");
  reload_with(disabled, "HTTP server stopped");
  CHECK_THROWS(HttpConnection(d.http_port));
  reload_with(yaml, "listening on HTTP ");
  const int port = d.daemon->http_port();
  const auto r = http_get(port, "/healthz");
  REQUIRE(r);
  CHECK(r->status != 0);
}

TEST_CASE(
    "pictures of a JPEG (MJPEG) source: the compressed frame is kept and scaled on encoding") {
  TempDir dir;
  // A 320x240 JPEG of our own: a grey gradient.
  std::vector<std::uint8_t> rgb(320 * 240 * 3);
  for (std::size_t i = 0; i < rgb.size(); ++i)
    rgb[i] = static_cast<std::uint8_t>((i / 3) % 320 * 255 / 320);
  lookout::jpeg::Compressor compressor;
  const auto jpeg = compressor.compress_rgb(rgb.data(), 320, 240, 0, 90);
  const auto image =
      dir.write("still.jpg", std::string(reinterpret_cast<const char*>(jpeg.data()), jpeg.size()));
  DaemonConfig config;
  std::string yaml = config.yaml(dir);
  yaml = yaml.substr(0, yaml.find("source:")) +
         "source:\n  type: files\n  path: " + image.string() +
         "\n  width: 0\n  height: 0\n  fps: 20\n  loop: true\n" + yaml.substr(yaml.find("model:"));
  const auto path = dir.write("lookout.yaml", yaml);
  Daemon daemon(dir, path);
  REQUIRE(daemon.wait_ready());
  const int port = daemon.http_port();
  const HttpResponse full = get_when_ok(port, "/snapshot.jpg");
  CHECK(jpeg_size(full.body).width == 320);
  CHECK(jpeg_size(full.body).height == 240);
  const HttpResponse small = get_when_ok(port, "/snapshot.jpg?width=80&quality=50");
  CHECK(jpeg_size(small.body).width == 80);
  CHECK(jpeg_size(small.body).height == 60);
}

TEST_CASE("request forms: absolute targets, HTTP/1.0, and pipelined requests answered in order") {
  auto& d = shared_daemon();
  get_when_ok(d.http_port, "/healthz");
  const auto absolute = http_get(d.http_port, "http://127.0.0.1/api/status");
  REQUIRE(absolute);
  CHECK(absolute->status == 200);
  CHECK(json::parse(absolute->body)["hello"]["camera"] == "test-cam");

  HttpConnection old(d.http_port);
  old.send("GET /api/detections/latest HTTP/1.0\r\n\r\n");
  const auto r = old.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body)["type"] == "detections");
  CHECK(old.closed_without_data());  // HTTP/1.0 without keep-alive: closed after it

  HttpConnection piped(d.http_port);
  piped.send(
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n");
  const auto first = piped.read_response();
  const auto second = piped.read_response();
  const auto third = piped.read_response();
  REQUIRE(first);
  REQUIRE(second);
  REQUIRE(third);
  CHECK(json::parse(first->body).contains("source"));
  CHECK(second->status == 404);
  CHECK(third->status == 200);
  CHECK(json::parse(third->body).contains("hello"));
}

TEST_CASE(
    "GET /api/stream?fps=N sends detections at most N times a second, hello and stats always") {
  auto& d = shared_daemon();
  auto open = [&](const std::string& target) {
    auto c = std::make_unique<HttpConnection>(d.http_port);
    c->send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    const auto r = c->read_response();
    REQUIRE(r);
    REQUIRE(r->status == 200);
    return c;
  };
  auto every = open("/api/stream");
  auto rated = open("/api/stream?fps=1");
  int all = 0, limited = 0;
  std::set<std::string> limited_types;
  auto drain = [&] {
    while (const auto e = rated->next_event(10ms)) {
      limited_types.insert(e->first);
      if (e->first == "detections") ++limited;
    }
  };
  // Over the same stretch of time (the unlimited client's 40 frames, and at
  // least one stats message for both), the limited one gets far fewer.
  while (all < 40 || !limited_types.count("stats")) {
    const auto e = every->next_event();
    REQUIRE(e);
    if (e->first == "detections") ++all;
    drain();
  }
  drain();
  INFO("every frame: ", all, " detections events; fps=1: ", limited);
  CHECK(limited >= 1);
  CHECK(2 * limited < all);
  CHECK(limited_types.count("hello") == 1);
  CHECK(limited_types.count("stats") == 1);
  const auto bad = http_get(d.http_port, "/api/stream?fps=0");
  REQUIRE(bad);
  CHECK(bad->status == 400);
}

TEST_CASE("GET /model is the running model's page, drawn by the CLI; ?profile=N times it there") {
  // The CLI draws the page (lookoutd never links Graphviz). lookoutd finds
  // the build's beside itself; a cross build's tests name their launcher
  // (which runs it under the emulator) in LOOKOUT_CLI.
  Daemon::Options options;
  const std::string cli = LOOKOUT_CLI_BINARY;
  if (std::filesystem::path(cli).parent_path().filename() == "launchers") {
    options.env = {"LOOKOUT_CLI=" + cli};
  } else {
    REQUIRE(std::filesystem::path(cli).parent_path() == lookoutd_binary().parent_path());
  }
  RunningDaemon d{DaemonConfig{}, options};
  const auto get = [&](const std::string& target) {
    HttpConnection c(d.http_port);
    c.send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    // Drawing takes seconds (more under sanitizers or an emulator).
    auto r = c.read_response(std::chrono::seconds(300));
    REQUIRE(r);
    return *r;
  };
  const HttpResponse page = get("/model");
  REQUIRE_MESSAGE(page.status == 200, page.body);
  CHECK(page.header("content-type") == "text/html; charset=utf-8");
  CHECK(page.header("content-security-policy").find("default-src 'none'") != std::string::npos);
  CHECK(page.header("x-lookout-profile-runs") == "0");
  CHECK(page.body.find("<svg") != std::string::npos);
  CHECK(page.body.find("model.2.cv1.conv") != std::string::npos);
  CHECK(page.body.find("shapes.torchscript") != std::string::npos);
  CHECK(page.body.find("Measured here") == std::string::npos);  // nothing was timed
  // Drawn once: the same page again, and the daemon went on publishing.
  const HttpResponse again = get("/model");
  CHECK(again.status == 200);
  CHECK(again.body == page.body);
  CHECK(json::parse(get_when_ok(d.http_port, "/healthz").body)["status"] == "ok");

  // Asked for: a profile on the running backend, coloured by time.
  const HttpResponse timed = get("/model?profile=2");
  REQUIRE_MESSAGE(timed.status == 200, timed.body);
  CHECK(timed.header("x-lookout-profile-runs") == "2");
  CHECK(timed.body.find("Measured here") != std::string::npos);
  CHECK(timed.body.find("2 timed forwards") != std::string::npos);
  const json status = json::parse(get_when_ok(d.http_port, "/api/status").body);
  const std::string backend = status["hello"]["model"]["backend"];
  CHECK(timed.body.find("Measured here: " + backend) != std::string::npos);

  for (const char* bad : {"/model?profile=0", "/model?profile=101", "/model?profile=x"}) {
    INFO(bad);
    const auto r = http_get(d.http_port, bad);
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(json::parse(r->body)["error"].get<std::string>().find("profile") == 0);
  }
}

TEST_CASE("GET /model without a CLI to draw it: 503 naming why, and the daemon serves on") {
  Daemon::Options options;
  options.env = {"LOOKOUT_CLI=/nonexistent/lookout"};
  RunningDaemon d{DaemonConfig{}, options};
  const auto r = http_get(d.http_port, "/model");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(error_body(*r)["error"].get<std::string>().find("could not be drawn") != std::string::npos);
  CHECK(r->body.find("/nonexistent/lookout") != std::string::npos);
  CHECK(get_when_ok(d.http_port, "/healthz").status == 200);
  // The next request tries again (nothing bad is kept).
  const auto again = http_get(d.http_port, "/model");
  REQUIRE(again);
  CHECK(again->status == 503);
}
