// Tracking through the real lookoutd: synthetic traffic scenes (objects
// enter, cross, stop and leave) with zones and a line. lookout/1 clients get
// track ids and event messages (new before update and end, ends at shutdown),
// stats carry zone and line counts (line counts survive a reload), HTTP
// serves /api/events and the snapshots written to the state directory,
// /metrics and MQTT carry the counts, and a snapshot directory that cannot be
// written is logged once while detection goes on.
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <doctest/doctest.h>
#include <sys/stat.h>

#include "broker.hpp"
#include "harness.hpp"
#include "http_client.hpp"

using namespace lookout::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string kZones =
    "zones:\n"
    "  left:\n"
    "    points: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]\n"
    "  middle:\n"
    "    points: [[160, 120], [480, 120], [480, 360], [160, 360]]\n"
    "    anchor: center\n"
    "lines:\n"
    "  divide:\n"
    "    points: [[320, 0], [320, 480]]\n"
    "    anchor: center\n"
    "    inertia: 1\n";

DaemonConfig traffic_config(const std::string& extra_sections = "") {
  DaemonConfig config;
  config.width = 640;
  config.height = 480;
  config.fps = 10;
  config.source_extra = "  motion: traffic\n  seed: 2001\n";
  config.sections = kZones + extra_sections;
  return config;
}

// Every line a client receives for `duration` (or until the server closes).
std::vector<json> collect(Client& client, std::chrono::milliseconds duration) {
  std::vector<json> lines;
  const auto deadline = Clock::now() + duration;
  while (Clock::now() < deadline) {
    std::string text;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const auto event = client.next_line(text, std::max(left, 1ms));
    if (event == Client::Event::Closed) break;
    if (event == Client::Event::Line) lines.push_back(json::parse(text));
  }
  return lines;
}

std::vector<json> of_type(const std::vector<json>& lines, const std::string& type) {
  std::vector<json> out;
  for (const auto& l : lines) {
    const auto it = l.find("type");
    if (it != l.end() && *it == type) out.push_back(l);
  }
  return out;
}

bool is_jpeg(const std::string& bytes) {
  return bytes.size() > 4 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
         static_cast<unsigned char>(bytes[1]) == 0xD8;
}

}  // namespace

TEST_CASE("tracking over lookout/1: track ids, events new/update/end, counts, ends at shutdown") {
  RunningDaemon d(traffic_config());
  Client client = d.tcp_client();
  auto lines = collect(client, 14s);
  d.daemon->signal(SIGTERM);
  // What arrives until the server closes: the end events of objects still seen.
  const auto tail = collect(client, 10s);
  lines.insert(lines.end(), tail.begin(), tail.end());
  REQUIRE(d.daemon->wait_exit() == 0);

  // Detections carry track ids: confirmed tracks' ids, null for the rest.
  std::set<std::uint64_t> track_ids;
  std::size_t with_null = 0;
  for (const auto& frame : of_type(lines, "detections")) {
    for (const auto& det : frame["detections"]) {
      REQUIRE(det.contains("track_id"));
      if (det["track_id"].is_null()) {
        ++with_null;
      } else {
        track_ids.insert(det["track_id"].get<std::uint64_t>());
      }
    }
  }
  CHECK(track_ids.size() >= 3);

  // Events: each object starts with new, may update, and ends exactly once.
  const auto events = of_type(lines, "event");
  REQUIRE(events.size() >= 3);
  std::map<std::string, std::vector<std::string>> by_id;
  std::set<std::uint64_t> event_tracks;
  for (const auto& e : events) {
    CAPTURE(e.dump());
    CHECK(e["camera"] == "test-cam");
    json o = e.at("object");
    const std::string id = o["id"].get<std::string>();
    by_id[id].push_back(e.at("event").get<std::string>());
    event_tracks.insert(o["track_id"].get<std::uint64_t>());
    CHECK(id.find('-') != std::string::npos);
    CHECK(id.substr(id.find('-') + 1) == std::to_string(o["track_id"].get<std::uint64_t>()));
    CHECK(o["first_seen"].get<double>() <= o["last_seen"].get<double>());
    CHECK(o["duration_s"].get<double>() >= 0);
    CHECK(o["score"].get<double>() <= o["top_score"].get<double>() + 1e-9);
    CHECK(o["box"].size() == 4);
    CHECK(o["class"].is_string());
    CHECK(o["zones"].is_array());
    CHECK(o["entered_zones"].is_array());
    CHECK(o["lines"].is_array());
    CHECK(o["stationary"].is_boolean());
    if (!o["snapshot"].is_null()) {
      CHECK(o["snapshot"]["url"] == "/api/events/" + id + "/snapshot.jpg");
      CHECK(o["snapshot"]["path"].get<std::string>().find(id + ".jpg") != std::string::npos);
    }
  }
  for (const auto& [id, kinds] : by_id) {
    CAPTURE(id);
    CHECK(kinds.front() == "new");
    CHECK(std::count(kinds.begin(), kinds.end(), "new") == 1);
    // Every object ends: lost, or at the latest when the daemon stops.
    CHECK(kinds.back() == "end");
    CHECK(std::count(kinds.begin(), kinds.end(), "end") == 1);
  }
  // Events are about tracks clients saw ids of.
  for (const auto id : event_tracks) CHECK(track_ids.count(id) == 1);

  // Zones entered, the line crossed, counts in stats.
  bool entered = false, crossed = false;
  for (const auto& e : events) {
    entered = entered || !e["object"]["entered_zones"].empty();
    crossed = crossed || !e["object"]["lines"].empty();
  }
  CHECK(entered);
  CHECK(crossed);
  const auto stats = of_type(lines, "stats");
  REQUIRE_FALSE(stats.empty());
  json last = stats.back();
  REQUIRE(last.contains("zones"));
  CHECK(last["zones"].contains("left"));
  CHECK(last["zones"]["middle"].contains("all"));
  REQUIRE(last.contains("lines"));
  json divide = last["lines"]["divide"]["all"];
  CHECK(divide["in"].get<int>() + divide["out"].get<int>() >= 1);
}

TEST_CASE("events over HTTP: /api/events with filters, snapshots on disk, /metrics, SSE") {
  DaemonConfig config = traffic_config();
  RunningDaemon d(config);
  // Wait for a few events with snapshots.
  json listed;
  const auto deadline = Clock::now() + 40s;
  while (Clock::now() < deadline) {
    const auto r = http_get(d.http_port, "/api/events?limit=100");
    REQUIRE(r);
    REQUIRE(r->status == 200);
    CHECK(r->header("content-type") == "application/json");
    listed = json::parse(r->body);
    std::size_t with_snapshot = 0;
    for (const auto& e : listed["events"])
      with_snapshot += e["object"]["snapshot"].is_null() ? 0 : 1;
    if (with_snapshot >= 2) break;
    std::this_thread::sleep_for(500ms);
  }
  REQUIRE(listed["events"].size() >= 2);
  // Newest first, one entry per event (its latest state).
  std::set<std::string> ids;
  double previous = 1e18;
  for (auto& e : listed["events"]) {
    CHECK(e["type"] == "event");
    CHECK(ids.insert(e["object"]["id"].get<std::string>()).second);
    const double last_seen = e["object"]["last_seen"].get<double>();
    CHECK(last_seen <= previous + 0.5);  // within a frame's reordering
    previous = std::min(previous, last_seen);
  }

  // Filters: a class, active ones, a limit; a bad parameter names itself.
  const std::string cls = listed["events"][0]["object"]["class"].get<std::string>();
  const auto by_class = http_get(d.http_port, "/api/events?class=" + cls);
  REQUIRE(by_class);
  const json of_class = json::parse(by_class->body);  // kept: the loop reads into it
  for (const auto& e : of_class["events"]) CHECK(e["object"]["class"] == cls);
  const auto one = http_get(d.http_port, "/api/events?limit=1");
  REQUIRE(one);
  CHECK(json::parse(one->body)["events"].size() == 1);
  const auto active = http_get(d.http_port, "/api/events?active=1");
  REQUIRE(active);
  const json still_seen = json::parse(active->body);
  for (const auto& e : still_seen["events"]) CHECK(e["event"] != "end");
  const auto bad = http_get(d.http_port, "/api/events?limit=zero");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(bad->body.find("limit") != std::string::npos);

  // The snapshot and its crop, as JPEG, from the state directory.
  std::string with_picture;
  for (const auto& e : listed["events"]) {
    if (!e["object"]["snapshot"].is_null()) with_picture = e["object"]["id"].get<std::string>();
  }
  REQUIRE_FALSE(with_picture.empty());
  std::optional<HttpResponse> picture;
  for (int i = 0; i < 20; ++i) {  // written on the snapshots thread, moments later
    picture = http_get(d.http_port, "/api/events/" + with_picture + "/snapshot.jpg");
    if (picture && picture->status == 200) break;
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE(picture);
  CHECK(picture->status == 200);
  CHECK(picture->header("content-type") == "image/jpeg");
  CHECK(is_jpeg(picture->body));
  const auto crop = http_get(d.http_port, "/api/events/" + with_picture + "/crop.jpg");
  REQUIRE(crop);
  CHECK(crop->status == 200);
  CHECK(is_jpeg(crop->body));
  CHECK(crop->body.size() < picture->body.size());
  CHECK(std::filesystem::exists(d.dir / "state" / "events" / (with_picture + ".jpg")));
  const auto unknown = http_get(d.http_port, "/api/events/1-999999/snapshot.jpg");
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
  const auto traversal = http_get(d.http_port, "/api/events/..%2F..%2Fetc/snapshot.jpg");
  REQUIRE(traversal);
  CHECK(traversal->status == 404);

  // Metrics: events and zone counts.
  const auto metrics = http_get(d.http_port, "/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("lookout_events_total{camera=\"test-cam\",type=\"new\"}") !=
        std::string::npos);
  CHECK(
      metrics->body.find("lookout_zone_objects{camera=\"test-cam\",zone=\"left\",class=\"all\"}") !=
      std::string::npos);
  CHECK(metrics->body.find("lookout_line_crossings_total{camera=\"test-cam\",line=\"divide\"") !=
        std::string::npos);
  CHECK(metrics->body.find("lookout_output_connected{camera=\"test-cam\",output=\"events\"} 1") !=
        std::string::npos);

  // The SSE stream carries events too.
  HttpConnection sse(d.http_port);
  sse.send("GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const auto sse_deadline = Clock::now() + 30s;
  while (Clock::now() < sse_deadline &&
         sse.buffer().find("event: event\ndata: {") == std::string::npos) {
    sse.fill(1000ms);
  }
  const auto at = sse.buffer().find("event: event\ndata: {");
  REQUIRE(at != std::string::npos);
  const auto end = sse.buffer().find('\n', at + 13);
  CHECK(json::parse(sse.buffer().substr(at + 19, end - at - 19))["type"] == "event");
}

TEST_CASE("snapshot retention by count, and an unwritable directory logged once") {
  SUBCASE("max_count") {
    RunningDaemon d(traffic_config("events:\n  max_count: 2\n"));
    const auto dir = d.dir / "state" / "events";
    // Long enough for several events to have snapshots.
    std::size_t seen_files = 0;
    const auto deadline = Clock::now() + 25s;
    std::set<std::string> ever;
    while (Clock::now() < deadline) {
      std::size_t files = 0;
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        if (entry.path().extension() == ".jpg") {
          ++files;
          ever.insert(entry.path().filename().string());
        }
      }
      seen_files = std::max(seen_files, files);
      if (ever.size() >= 8) break;
      std::this_thread::sleep_for(200ms);
    }
    CHECK(ever.size() >= 6);     // more than two events had snapshots
    CHECK(seen_files <= 2 * 2);  // two events' pictures and crops at most
  }
  SUBCASE("a directory that cannot be made") {
    TempDir blocker;
    const auto file = blocker.write("not-a-directory", "x");
    RunningDaemon d(traffic_config("events:\n  directory: " + (file / "events").string() + "\n"));
    Client client = d.tcp_client();
    const auto lines = collect(client, 12s);
    // Detection goes on, events too; the failure is in stats and logged once.
    CHECK(of_type(lines, "detections").size() >= 60);
    CHECK_FALSE(of_type(lines, "event").empty());
    const auto stats = of_type(lines, "stats");
    REQUIRE_FALSE(stats.empty());
    CHECK(stats.back()["outputs"]["events"]["state"] == "failing");
    CHECK(stats.back()["outputs"]["events"]["error"].get<std::string>().find("cannot create") !=
          std::string::npos);
    const std::string log = d.daemon->log();
    std::size_t warnings = 0;
    for (std::size_t at = log.find("event snapshots: "); at != std::string::npos;
         at = log.find("event snapshots: ", at + 1)) {
      ++warnings;
    }
    CHECK(warnings == 1);
  }
}

TEST_CASE("line counts survive a reload; a zone of an unknown class is refused at its key") {
  DaemonConfig config = traffic_config();
  RunningDaemon d(config);
  Client client = d.tcp_client();
  // Until the line was crossed.
  int before = 0;
  const auto deadline = Clock::now() + 60s;
  while (Clock::now() < deadline && before == 0) {
    const auto line = client.next(5s);
    if (!line || (*line)["type"] != "stats" || !line->contains("lines")) continue;
    json all = (*line)["lines"]["divide"]["all"];
    before = all["in"].get<int>() + all["out"].get<int>();
  }
  REQUIRE(before > 0);
  // A reload that changes the zones (and keeps the line).
  config.sections =
      "zones:\n  right:\n    points: [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]\n"
      "lines:\n  divide:\n    points: [[320, 0], [320, 480]]\n    anchor: center\n"
      "    inertia: 1\n";
  d.dir.write("lookout.yaml", config.yaml(d.dir));
  d.daemon->signal(SIGHUP);
  bool reloaded = false;
  int after = -1;
  const auto reload_deadline = Clock::now() + 30s;
  while (Clock::now() < reload_deadline && after < 0) {
    const auto line = client.next(5s);
    if (!line || (*line)["type"] != "stats") continue;
    if (!line->contains("zones") || !(*line)["zones"].contains("right")) continue;
    reloaded = true;
    json all = (*line)["lines"]["divide"]["all"];
    after = all["in"].get<int>() + all["out"].get<int>();
  }
  REQUIRE(reloaded);
  CHECK(after >= before);

  // An unknown class in a zone: --check-config names the key (exit 1), and a
  // real start refuses the same way (exit 78, EX_CONFIG).
  TempDir dir;
  DaemonConfig bad = traffic_config();
  bad.sections = "zones:\n  door:\n    points: [[0, 0], [1, 0], [1, 1]]\n    classes: [person]\n";
  const auto path = dir.write("bad.yaml", bad.yaml(dir));
  for (const char* mode : {"--check-config", "--config"}) {
    CAPTURE(mode);
    const RunResult r = run_lookoutd(dir, {mode, path.string()});
    CHECK(r.exit_code == (std::string(mode) == "--config" ? 78 : 1));
    CHECK(r.output.find("zones.door.classes: 'person' is not a class of model") !=
          std::string::npos);
  }
}

TEST_CASE("events, zone and line counts over MQTT, with Home Assistant entities for them") {
  Broker broker;
  Subscriber sub(broker.port(), {"lookout/test-cam/#", "homeassistant/#"});
  DaemonConfig config = traffic_config(
      "mqtt:\n  enabled: true\n  host: 127.0.0.1\n  port: " + std::to_string(broker.port()) + "\n");
  config.http = false;
  RunningDaemon d(config);
  const auto event = sub.wait_for(
      [](const MqttMessage& m) { return m.topic == "lookout/test-cam/events"; }, 0, 40s);
  REQUIRE(event);
  const json payload = json::parse(sub.messages()[*event].payload);
  CHECK(payload["type"] == "event");
  CHECK(payload["event"] == "new");
  CHECK_FALSE(sub.messages()[*event].retained);
  // Retained counts: every zone's "all", the line's totals.
  CHECK(sub.wait_for(
      [](const MqttMessage& m) { return m.topic == "lookout/test-cam/zone/left/all/count"; }, 0,
      20s));
  CHECK(sub.wait_for(
      [](const MqttMessage& m) { return m.topic == "lookout/test-cam/line/divide/all/in"; }, 0,
      20s));
  // Home Assistant: a sensor per zone and per line direction.
  CHECK(sub.wait_for(
      [](const MqttMessage& m) {
        return m.topic == "homeassistant/sensor/lookout_test-cam/zone_left_all_count/config" &&
               json::parse(m.payload)["state_topic"] == "lookout/test-cam/zone/left/all/count";
      },
      0, 20s));
  CHECK(sub.wait_for(
      [](const MqttMessage& m) {
        return m.topic == "homeassistant/sensor/lookout_test-cam/line_divide_in/config" &&
               json::parse(m.payload)["state_class"] == "total_increasing";
      },
      0, 20s));
  // A class snapshot: the newest event's best picture of its class (a JPEG).
  CHECK(sub.wait_for(
      [](const MqttMessage& m) {
        return m.topic.size() > 9 && m.topic.compare(m.topic.size() - 9, 9, "/snapshot") == 0 &&
               m.topic != "lookout/test-cam/snapshot" && is_jpeg(m.payload);
      },
      0, 40s));
}

TEST_CASE("pausing detection ends the objects on time; tracking off withdraws the counts") {
  Broker broker;
  Subscriber sub(broker.port(), {"lookout/test-cam/#"});
  const std::string mqtt =
      "mqtt:\n  enabled: true\n  host: 127.0.0.1\n  port: " + std::to_string(broker.port()) +
      "\n  discovery:\n    enabled: false\n";
  DaemonConfig config = traffic_config(mqtt + "tracking:\n  lost_s: 1\n");
  config.http = false;
  RunningDaemon d(config);
  const auto first = sub.wait_for(
      [](const MqttMessage& m) {
        return m.topic == "lookout/test-cam/events" && json::parse(m.payload)["event"] == "new";
      },
      0, 40s);
  REQUIRE(first);
  // Paused: no frame is processed, yet every object ends within lost_s (and
  // a little), and the zone counts go to 0.
  const std::size_t paused_at = sub.size();
  sub.publish("lookout/test-cam/detection/set", "OFF");
  REQUIRE(sub.wait_for("lookout/test-cam/detection/state", "OFF", paused_at, 10s));
  std::this_thread::sleep_for(4s);
  std::set<std::string> started, ended;
  for (const auto& m : sub.on("lookout/test-cam/events")) {
    const json e = json::parse(m.payload);
    const std::string id = e["object"]["id"].get<std::string>();
    if (e["event"] == "new") started.insert(id);
    if (e["event"] == "end") ended.insert(id);
  }
  CHECK(started == ended);
  const auto left = sub.on("lookout/test-cam/zone/left/all/count");
  REQUIRE_FALSE(left.empty());
  CHECK(left.back().payload == "0");

  // A reload with tracking off: the retained counts are removed (an empty
  // retained message), and new subscribers see none.
  sub.publish("lookout/test-cam/detection/set", "ON");
  config.sections = kZones + mqtt + "tracking:\n  enabled: false\n";
  d.dir.write("lookout.yaml", config.yaml(d.dir));
  const std::size_t reload_at = sub.size();
  d.daemon->signal(SIGHUP);
  CHECK(sub.wait_for("lookout/test-cam/zone/left/all/count", "", reload_at, 20s));
  CHECK(sub.wait_for("lookout/test-cam/line/divide/all/in", "", reload_at, 20s));
  std::this_thread::sleep_for(1s);
  Subscriber late(broker.port(), {"lookout/test-cam/zone/#", "lookout/test-cam/line/#"});
  std::this_thread::sleep_for(1s);
  CHECK(late.size() == 0);
}
