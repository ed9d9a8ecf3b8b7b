// `lookout watch`, run as a real process against a real lookoutd over TCP and
// the Unix socket.
#include "cli/watch.hpp"

#include <cctype>
#include <sstream>

#include <doctest/doctest.h>

#include "harness.hpp"

using namespace lookout::test;

namespace {

RunResult run_lookout(const TempDir& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {LOOKOUT_CLI_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  env.push_back("TZ=UTC");
  return run_to_completion(argv, env, dir / "watch.out");
}

// Lines like "12:00:01.234  #17  2 objects  (...)": one per frame.
std::size_t frame_lines(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    const bool clock = line.size() > 16 && line[2] == ':' && line[5] == ':' && line[8] == '.' &&
                       std::isdigit(static_cast<unsigned char>(line[0])) &&
                       std::isdigit(static_cast<unsigned char>(line[11]));
    if (clock && line.compare(12, 3, "  #") == 0 && line.find(" object") != std::string::npos) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("lookout watch prints the stream readably over TCP and the Unix socket") {
  RunningDaemon d{DaemonConfig{}};
  RunResult r =
      run_lookout(d.dir, {"watch", "127.0.0.1:" + std::to_string(d.port), "--count", "3"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.rfind("camera test-cam (lookoutd ", 0) == 0);
  CHECK(r.output.find("  model  ") != std::string::npos);
  CHECK(r.output.find(": circle, square, triangle, star, cross\n") != std::string::npos);
  CHECK(r.output.find("  source synthetic 320x240 at 20 fps\n") != std::string::npos);
  CHECK(frame_lines(r.output) == 3);

  r = run_lookout(d.dir, {"watch", d.socket_path().string(), "--count", "2", "--json"});
  CHECK(r.exit_code == 0);
  std::istringstream lines(r.output);
  std::string line;
  int detections = 0;
  while (std::getline(lines, line)) {
    const json j = json::parse(line);  // every line is the daemon's JSON, untouched
    if (j["type"] == "detections") ++detections;
  }
  CHECK(detections == 2);

  r = run_lookout(d.dir, {"watch", "127.0.0.1:" + std::to_string(d.port), "--count", "2",
                          "--classes", "star", "--min-score", "0.6"});
  CHECK(r.exit_code == 0);
  const auto subscribed = r.output.find("-- subscribed: star, score >= 0.60");
  REQUIRE(subscribed != std::string::npos);
  // Frames sent before the daemon saw the subscription are unfiltered.
  const std::string after = r.output.substr(subscribed);
  for (const char* other : {"    circle ", "    square ", "    triangle ", "    cross "}) {
    CHECK(after.find(other) == std::string::npos);
  }
}

TEST_CASE("lookout watch reports bad targets and refused connections") {
  TempDir dir;
  RunResult r = run_lookout(dir, {"watch", "localhost:99999"});
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("\"99999\" is not a port number") != std::string::npos);
  r = run_lookout(dir, {"watch", (dir / "none.sock").string()});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("none.sock: No such file or directory") != std::string::npos);

  // The daemon ending the stream is reported too.
  DaemonConfig config;
  config.token = "t0ken";
  RunningDaemon d(config);
  r = run_lookout(dir, {"watch", "127.0.0.1:" + std::to_string(d.port), "--token", "wrong"});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("!! error: authentication failed") != std::string::npos);
  CHECK(r.output.find("connection closed by the daemon") != std::string::npos);
  r = run_lookout(
      dir, {"watch", "127.0.0.1:" + std::to_string(d.port), "--token", "t0ken", "--count", "1"});
  CHECK(r.exit_code == 0);
}

TEST_CASE("stats, dropped and errors are shown as one readable line each") {
  using lookout::cli::format_message;
  CHECK(format_message(json::parse(R"({"type":"stats","fps":{"captured":10,"processed":9.5,
      "skipped":0.5},"inference_ms":{"p50":30.04},"clients":2,"uptime_s":3725,
      "source":{"state":"restarting","error":"no such device"}})")) ==
        "-- stats: captured 10.0 fps, processed 9.5 fps, skipped 0.5 fps; inference p50 30.0 ms; "
        "2 clients; up 1h2m; source restarting (no such device)");
  CHECK(format_message(json::parse(R"({"type":"dropped","count":3,"total":9})")) ==
        "!! 3 messages dropped (9 in all): this terminal reads more slowly than the daemon sends");
  CHECK(format_message(json::parse(R"({"type":"error","message":"nope"})")) == "!! error: nope");
  // Unknown messages (a newer daemon) are shown as they are.
  CHECK(format_message(json::parse(R"({"type":"news","x":1})")) == R"({"type":"news","x":1})");
}
