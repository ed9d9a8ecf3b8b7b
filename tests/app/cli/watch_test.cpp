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

TEST_CASE("track ids, events and zone counts are shown readably") {
  using lookout::cli::format_message;
  // TZ=UTC is not set in this process: compare what follows the clock.
  const auto after_clock = [](const std::string& line) { return line.substr(12); };
  const std::string frame = format_message(json::parse(R"({"type":"detections","seq":7,
      "ts":1764000000.5,"latency_ms":{"inference":12.3,"total":15},
      "detections":[{"class":"star","score":0.91,"box":[1,2,30,40],"track_id":17},
                    {"class":"cross","score":0.3,"box":[5,6,7,8],"track_id":null}]})"));
  CHECK(after_clock(frame) ==
        "  #7  2 objects  (inference 12.3 ms, total 15.0 ms)\n"
        "    #17   star       0.91  [1, 2, 30, 40]\n"
        "    -     cross      0.30  [5, 6, 7, 8]");
  const std::string event = format_message(json::parse(R"({"type":"event","event":"update",
      "camera":"porch","ts":1764000003.0,"object":{"id":"1764000000000-17","track_id":17,
      "class":"star","score":0.8,"top_score":0.93,"duration_s":65,"zones":["door"],
      "entered_zones":["door","path"],"lines":[{"line":"gate","direction":"in","ts":1}],
      "stationary":true,"snapshot":{"url":"/api/events/1764000000000-17/snapshot.jpg"}}})"));
  CHECK(after_clock(event) ==
        "  .. update #17 star  score 0.80 (top 0.93)  1m5s  in door  entered door, path  crossed "
        "gate in  stationary  snapshot /api/events/1764000000000-17/snapshot.jpg");
  CHECK(after_clock(format_message(json::parse(R"({"type":"event","event":"new","ts":1,
      "object":{"track_id":3,"class":"car","score":0.7,"top_score":0.7,"duration_s":0.3,
      "snapshot":null}})"))) == "  >> new    #3 car  score 0.70 (top 0.70)  0s");
  const std::string stats = format_message(json::parse(R"({"type":"stats","fps":{},
      "inference_ms":{},"clients":0,"uptime_s":1,"source":{"state":"running"},
      "zones":{"door":{"star":1,"all":2}},"lines":{"gate":{"all":{"in":4,"out":1}}}})"));
  CHECK(stats.find("\n-- zones: door 2\n-- lines: gate in 4 out 1") != std::string::npos);
}
