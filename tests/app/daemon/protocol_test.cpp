// Protocol lookout/1 messages: what the server writes, what it accepts.
#include "protocol.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace lookout;
using nlohmann::json;

TEST_CASE("hello describes the protocol, camera, model and source on one line") {
  protocol::HelloInfo info;
  info.version = "1.2.3";
  info.camera = "porch";
  info.model = {"shapes", "detect", 320, 256, {"circle", "star"}, "onednn", 4};
  info.source = {"synthetic", 640, 480, 10};
  const std::string line = protocol::hello(info);
  REQUIRE(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  CHECK(json::parse(line) ==
        json::parse(R"({"type":"hello","protocol":"lookout/1","version":"1.2.3",
    "camera":"porch","model":{"name":"shapes","task":"detect","input":[320,256],
    "classes":["circle","star"],"backend":"onednn","threads":4},"source":{"name":"synthetic","width":640,"height":480,"fps":10.0}})"));
}

TEST_CASE("detections carry seq, capture time, frame size, latency and rounded boxes") {
  protocol::FrameDetections f;
  f.seq = 42;
  f.capture_time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  f.width = 640;
  f.height = 480;
  f.inference_ms = 12.3456;
  f.total_ms = 20.001;
  f.class_names = std::make_shared<const std::vector<std::string>>(
      std::vector<std::string>{"circle", "square"});
  f.camera = std::make_shared<const std::string>("porch");
  f.detections = {{1, 0.87654f, 278.9f, 10.04f, 300.06f, 99.96f}, {0, 0.3f, 0, 0, 5, 5}};
  const json j = json::parse(protocol::detections(f));
  CHECK(j["type"] == "detections");
  CHECK(j["seq"] == 42);
  CHECK(j["camera"] == "porch");
  CHECK(j["ts"] == 1700000000.123);
  CHECK(j["frame"] == json::parse(R"({"width":640,"height":480})"));
  CHECK(j["latency_ms"] == json::parse(R"({"inference":12.35,"total":20.0})"));
  REQUIRE(j["detections"].size() == 2);
  CHECK(j["detections"][0] ==
        json::parse(
            R"({"class":"square","class_id":1,"score":0.877,"box":[278.9,10.0,300.1,100.0]})"));
  // Short decimals on the wire, not 278.90000000000003.
  CHECK(protocol::detections(f).find("278.9,") != std::string::npos);

  protocol::Filter filter;
  filter.classes = {"circle"};
  const json only_circles = json::parse(protocol::detections(f, &filter));
  REQUIRE(only_circles["detections"].size() == 1);
  CHECK(only_circles["detections"][0]["class"] == "circle");
  filter.classes.clear();
  filter.min_score = 0.5f;
  const json confident = json::parse(protocol::detections(f, &filter));
  REQUIRE(confident["detections"].size() == 1);
  CHECK(confident["detections"][0]["class"] == "square");
  // Unknown ids (a model with fewer names than outputs) are named by number.
  f.detections = {{7, 0.9f, 0, 0, 1, 1}};
  CHECK(json::parse(protocol::detections(f))["detections"][0]["class"] == "7");
}

TEST_CASE("stats, errors, dropped, subscribed and pong") {
  protocol::Stats s;
  s.camera = "c";
  s.uptime_s = 12.34;
  s.captured = 100;
  s.processed = 90;
  s.skipped = 10;
  s.captured_fps = 10.004;
  s.processed_fps = 9;
  s.inference_p50_ms = 30.5;
  s.inference_p90_ms = 35;
  s.clients = 3;
  s.source_state = "running";
  const json j = json::parse(protocol::stats(s));
  CHECK(j["type"] == "stats");
  CHECK(j["uptime_s"] == 12.3);
  CHECK(j["frames"] == json::parse(R"({"captured":100,"processed":90,"skipped":10,"errors":0})"));
  CHECK(j["fps"]["captured"] == 10.0);
  CHECK(j["inference_ms"]["p50"] == 30.5);
  CHECK(j["clients"] == 3);
  CHECK(j["source"] == json::parse(R"({"state":"running","restarts":0})"));
  s.source_error = "device gone";
  CHECK(json::parse(protocol::stats(s))["source"]["error"] == "device gone");

  CHECK(protocol::error("bad \"thing\"") ==
        "{\"message\":\"bad \\\"thing\\\"\",\"type\":\"error\"}\n");
  CHECK(json::parse(protocol::dropped(3, 10)) ==
        json::parse(R"({"type":"dropped","count":3,"total":10})"));
  protocol::Filter f;
  f.classes = {"star"};
  f.min_score = 0.5f;
  CHECK(json::parse(protocol::subscribed(f)) ==
        json::parse(R"({"type":"subscribed","classes":["star"],"min_score":0.5})"));
  CHECK(json::parse(protocol::pong(std::string("7"))) ==
        json::parse(R"({"type":"pong","id":"7"})"));
  CHECK(json::parse(protocol::pong(std::nullopt)) == json::parse(R"({"type":"pong"})"));
}

TEST_CASE("client lines parse into messages or an error to send back") {
  auto parsed = protocol::parse_client_line(
      R"({"type":"subscribe","classes":["star","star","cross"],"min_score":0.4,"future":1})");
  auto* message = std::get_if<protocol::ClientMessage>(&parsed);
  REQUIRE(message);
  auto* sub = std::get_if<protocol::Subscribe>(message);
  REQUIRE(sub);
  CHECK(sub->filter.classes == std::vector<std::string>{"star", "cross"});
  CHECK(sub->filter.min_score == doctest::Approx(0.4));

  parsed = protocol::parse_client_line("{\"type\":\"auth\",\"token\":\"t\"}\r");  // CRLF clients
  message = std::get_if<protocol::ClientMessage>(&parsed);
  REQUIRE(message);
  REQUIRE(std::get_if<protocol::Auth>(message));
  CHECK(std::get<protocol::Auth>(*message).token == "t");

  parsed = protocol::parse_client_line(R"({"type":"ping","id":5})");
  message = std::get_if<protocol::ClientMessage>(&parsed);
  REQUIRE(message);
  CHECK(std::get<protocol::Ping>(*message).id == "5");

  auto error_of = [](std::string_view line) {
    auto p = protocol::parse_client_line(line);
    const auto* e = std::get_if<std::string>(&p);
    return e ? *e : std::string("(no error)");
  };
  CHECK(error_of("") == "not valid JSON");
  CHECK(error_of("{\"type\":") == "not valid JSON");
  CHECK(error_of("42") == "expected a JSON object with a \"type\"");
  CHECK(error_of(R"({"type":3})") == "missing \"type\" (subscribe, auth, ping)");
  CHECK(error_of(R"({"type":"auth"})") == "auth: \"token\" must be a string");
  CHECK(error_of(R"({"type":"subscribe","classes":[1]})") ==
        "subscribe: \"classes\" must be a list of names");
  CHECK(error_of(R"({"type":"subscribe","min_score":-0.1})") ==
        "subscribe: \"min_score\" must be between 0 and 1");
  // A huge type name is not echoed back whole.
  const std::string long_type = "{\"type\":\"" + std::string(1000, 'x') + "\"}";
  CHECK(error_of(long_type).size() < 200);
  // The message types come from their table, with a suggestion.
  CHECK(error_of(R"({"type":"pign"})") ==
        "unknown message type: expected one of: subscribe, auth, ping; got 'pign' (did you mean "
        "'ping'?)");
  CHECK(error_of("{\"type\":\"a\\nb\"}").find('\n') == std::string::npos);
  // What pong echoes is bounded too.
  CHECK(error_of("{\"type\":\"ping\",\"id\":\"" + std::string(257, 'i') + "\"}") ==
        "ping: \"id\" longer than 256 bytes");
  CHECK(error_of("{\"type\":\"ping\",\"id\":" + std::string(200, '[') + std::string(200, ']') +
                 "}") == "ping: \"id\" longer than 256 bytes");
  CHECK(error_of("{\"type\":\"ping\",\"id\":\"" + std::string(256, 'i') + "\"}") == "(no error)");
}

TEST_CASE("while tracking, each detection has its track id (null when no track took it)") {
  protocol::FrameDetections f;
  f.class_names =
      std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"circle", "star"});
  f.camera = std::make_shared<const std::string>("porch");
  f.detections = {{1, 0.9f, 1, 2, 3, 4}, {0, 0.3f, 5, 6, 7, 8}};
  // Not tracking: no field at all (readers of older lines see nothing new).
  json j = json::parse(protocol::detections(f));
  CHECK_FALSE(j["detections"][0].contains("track_id"));
  f.track_ids = {17, 0};
  j = json::parse(protocol::detections(f));
  CHECK(j["detections"][0]["track_id"] == 17);
  CHECK(j["detections"][1]["track_id"].is_null());
  // A filter keeps the ids with their detections.
  protocol::Filter star{{"star"}, 0};
  j = json::parse(protocol::detections(f, &star));
  REQUIRE(j["detections"].size() == 1);
  CHECK(j["detections"][0]["track_id"] == 17);
}

TEST_CASE("an event line describes the object; a snapshot only where one is kept") {
  tracking::ObjectEvent e;
  e.type = tracking::EventType::Update;
  tracking::ObjectState& o = e.object;
  o.id = "1764000000000-17";
  o.track_id = 17;
  o.class_id = 1;
  o.first_seen = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764000000000));
  o.last_seen = o.first_seen + std::chrono::milliseconds(4250);
  o.duration_s = 4.25;
  o.score = 0.81234f;
  o.top_score = 0.9f;
  o.box = {10.04f, 20, 30, 40};
  o.best_box = {11, 21, 31, 41};
  o.has_best = true;
  o.zones = {"door"};
  o.entered_zones = {"path", "door"};
  o.crossings = {{"gate", tracking::Direction::Out, o.last_seen}};
  o.stationary = true;
  const std::vector<std::string> names{"circle", "star"};
  const std::string line = protocol::event(e, "porch", &names, "/var/lib/lookout/events");
  REQUIRE(line.back() == '\n');
  CHECK(json::parse(line) == json::parse(R"({"type":"event","event":"update","camera":"porch",
    "ts":1764000004.25,"object":{"id":"1764000000000-17","track_id":17,"class":"star",
    "class_id":1,"first_seen":1764000000.0,"last_seen":1764000004.25,"duration_s":4.25,
    "score":0.812,"top_score":0.9,"box":[10.0,20.0,30.0,40.0],"best_box":[11.0,21.0,31.0,41.0],
    "zones":["door"],"entered_zones":["path","door"],
    "lines":[{"line":"gate","direction":"out","ts":1764000004.25}],"stationary":true,
    "snapshot":{"path":"/var/lib/lookout/events/1764000000000-17.jpg",
                "crop":"/var/lib/lookout/events/1764000000000-17-crop.jpg",
                "url":"/api/events/1764000000000-17/snapshot.jpg"}}})"));
  // Snapshots off, or no best picture yet: null.
  CHECK(json::parse(protocol::event(e, "porch", &names, ""))["object"]["snapshot"].is_null());
  o.has_best = false;
  const json none = json::parse(protocol::event(e, "porch", &names, "/x"));
  CHECK(none["object"]["snapshot"].is_null());
  CHECK(none["object"]["best_box"].is_null());

  // Filters: by class and by the top score.
  CHECK(protocol::event_passes(e, &names, {{"star"}, 0.5f}));
  CHECK_FALSE(protocol::event_passes(e, &names, {{"circle"}, 0}));
  CHECK_FALSE(protocol::event_passes(e, &names, {{}, 0.95f}));
}

TEST_CASE("event ids: digits, one dash, nothing that could leave a directory") {
  CHECK(protocol::valid_event_id("1764000000000-17"));
  for (const char* bad : {"", "-", "17", "1-", "-1", "1-2-3", "../1-2", "1-2/..", "1 -2", "a-1",
                          "1-2.jpg", "123456789012345678901234567890-12345678901234567890"}) {
    CAPTURE(bad);
    CHECK_FALSE(protocol::valid_event_id(bad));
  }
}

TEST_CASE("stats carry objects per zone and crossings per line, by class name") {
  protocol::Stats s;
  s.camera = "porch";
  auto counts = std::make_shared<tracking::Counts>();
  counts->zones.push_back({"door", {0, 2}, 2});
  counts->lines.push_back({"gate", {{1, 0}, {3, 4}}});
  s.counts = counts;
  s.class_names =
      std::make_shared<const std::vector<std::string>>(std::vector<std::string>{"circle", "star"});
  const json j = json::parse(protocol::stats(s));
  CHECK(j["zones"] == json::parse(R"({"door":{"star":2,"all":2}})"));
  CHECK(j["lines"] == json::parse(
                          R"({"gate":{"circle":{"in":1,"out":0},"star":{"in":3,"out":4},
                              "all":{"in":4,"out":4}}})"));
  // Without tracking: no zones or lines at all.
  protocol::Stats plain;
  CHECK_FALSE(json::parse(protocol::stats(plain)).contains("zones"));
}

TEST_CASE("the line framer gives the same lines however the bytes are split, within its bound") {
  const std::string stream = "{\"type\":\"ping\"}\n\n  \t\r\n{\"a\":1}\r\nlast";
  const std::vector<std::string> want = {"{\"type\":\"ping\"}", "{\"a\":1}\r"};
  for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    CAPTURE(chunk);
    protocol::LineFramer framer;
    std::vector<std::string> got;
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
      CHECK(framer.feed(std::string_view(stream).substr(at, chunk), [&](std::string_view line) {
        got.emplace_back(line);
        return true;
      }));
    }
    CHECK(got == want);
    CHECK(framer.take_rest() == "last");
    CHECK(framer.take_rest().empty());
  }
  // on_line returning false stops at that line; the rest waits.
  protocol::LineFramer framer;
  int calls = 0;
  CHECK(framer.feed("a\nb\nc\nd", [&](std::string_view) { return ++calls < 2; }));
  CHECK(calls == 2);
  std::vector<std::string> rest;
  CHECK(framer.feed("", [&](std::string_view line) {
    rest.emplace_back(line);
    return true;
  }));
  CHECK(rest == std::vector<std::string>{"c"});
  CHECK(framer.take_rest() == "d");
  // A line of exactly kMaxLineBytes is taken, one byte more is not, whether
  // its newline has arrived or not.
  const std::string longest(protocol::kMaxLineBytes, 'x');
  protocol::LineFramer bounded;
  std::size_t size = 0;
  CHECK(bounded.feed(longest + "\n", [&](std::string_view line) {
    size = line.size();
    return true;
  }));
  CHECK(size == protocol::kMaxLineBytes);
  CHECK_FALSE(bounded.feed(longest + "y", [](std::string_view) { return true; }));
  CHECK(bounded.take_rest().empty());  // nothing kept after an overflow
  protocol::LineFramer with_newline;
  CHECK_FALSE(with_newline.feed(longest + "y\n", [](std::string_view) { return true; }));
}
