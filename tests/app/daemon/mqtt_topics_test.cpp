// The MQTT output's pure rules: topic-safe names, the topics of a camera,
// which classes get Home Assistant entities, presence with its off delay,
// and the discovery configs themselves.
#include "mqtt_topics.hpp"

#include <map>
#include <set>

#include <doctest/doctest.h>

namespace lookout::mqtt {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const Presence::Change* find(const std::vector<Presence::Change>& changes,
                             const std::string& name) {
  for (const auto& c : changes) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("topic_safe keeps letters, digits, _ and -, and replaces the rest") {
  CHECK(topic_safe("porch") == "porch");
  CHECK(topic_safe("Front door") == "Front_door");
  CHECK(topic_safe("a/b+c#d") == "a_b_c_d");
  CHECK(topic_safe("traffic light") == "traffic_light");
  CHECK(topic_safe("cam-2_x") == "cam-2_x");
  CHECK(topic_safe("") == "_");
  CHECK(topic_safe("caf\xc3\xa9") == "caf__");
}

TEST_CASE("class levels are unique even when two names make the same level") {
  const auto levels = class_levels({"traffic light", "traffic_light", "person"});
  CHECK(levels == std::vector<std::string>{"traffic_light", "traffic_light_1", "person"});
}

TEST_CASE("a camera's topics are prefix/camera/...") {
  const Topics t("lookout", "Front door");
  CHECK(t.availability() == "lookout/Front_door/availability");
  CHECK(t.detections() == "lookout/Front_door/detections");
  CHECK(t.count("person") == "lookout/Front_door/person/count");
  CHECK(t.detected("person") == "lookout/Front_door/person/detected");
  CHECK(t.detection_set() == "lookout/Front_door/detection/set");
  CHECK(t.snapshot_request() == "lookout/Front_door/snapshot/request");
  CHECK(t.command_filters() ==
        std::vector<std::string>{"lookout/Front_door/+/set", "lookout/Front_door/+/request"});
  CHECK(Topics("site/a", "cam").events() == "site/a/cam/events");
}

TEST_CASE(
    "which classes get entities: chosen, else reported, else a small model's all, else person") {
  const std::vector<std::string> coco = {"person",   "bicycle",       "car",         "motorcycle",
                                         "airplane", "bus",           "train",       "truck",
                                         "boat",     "traffic light", "fire hydrant"};
  const std::vector<std::string> shapes = {"circle", "square", "triangle"};
  CHECK(discovery_classes({"car", "person"}, {"dog"}, coco, 10) ==
        std::vector<std::string>{"car", "person"});
  CHECK(discovery_classes({}, {"car", "bus"}, coco, 10) == std::vector<std::string>{"car", "bus"});
  CHECK(discovery_classes({}, {}, shapes, 10) == shapes);
  CHECK(discovery_classes({}, {}, coco, 10) == std::vector<std::string>{"person"});
  CHECK(discovery_classes({}, {}, {"a", "b", "c"}, 2).empty());
  // Names the model does not have are left out (the daemon refuses them at start).
  CHECK(discovery_classes({"car", "unicorn"}, {}, coco, 10) == std::vector<std::string>{"car"});
}

TEST_CASE("presence: ON at once, OFF only after the off delay, counts when they change") {
  Presence p;
  p.set_off_delay(10s);
  const auto t0 = Clock::now();
  auto changes = p.track({"person"});
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].count == 0);
  CHECK(changes[0].detected == false);

  changes = p.update({{"person", 2}, {"dog", 1}}, t0);
  REQUIRE(find(changes, "person"));
  CHECK(find(changes, "person")->count == 2);
  CHECK(find(changes, "person")->detected == true);
  REQUIRE(find(changes, "dog"));  // first seen: both values
  CHECK(find(changes, "dog")->count == 1);
  CHECK(find(changes, "dog")->detected == true);

  changes = p.update({{"person", 2}, {"dog", 1}}, t0 + 1s);
  CHECK(changes.empty());  // nothing changed, nothing to publish

  changes = p.update({}, t0 + 2s);
  REQUIRE(find(changes, "person"));
  CHECK(find(changes, "person")->count == 0);
  CHECK(!find(changes, "person")->detected.has_value());  // still ON
  CHECK(p.tick(t0 + 10s).empty());
  changes = p.tick(t0 + 11s);  // 10 s after the person was last seen
  REQUIRE(find(changes, "person"));
  CHECK(find(changes, "person")->detected == false);
  CHECK(find(changes, "dog")->detected == false);
  CHECK(p.tick(t0 + 12s).empty());

  // Seen again inside the delay: stays ON, no OFF later from the earlier sighting.
  p.update({{"person", 1}}, t0 + 20s);
  p.update({}, t0 + 21s);
  changes = p.update({{"person", 1}}, t0 + 29s);
  CHECK(!find(changes, "person")->detected.has_value());
  CHECK(p.tick(t0 + 31s).empty());

  changes = p.clear();
  CHECK(find(changes, "person")->count == 0);
  CHECK(find(changes, "person")->detected == false);

  // Frames stop with a person in the last one: the count goes to 0 once no
  // frame came for the off delay, and OFF follows the delay after the sighting.
  p.update({{"person", 1}}, t0 + 40s);
  CHECK(p.tick(t0 + 45s).empty());
  changes = p.tick(t0 + 50s);
  REQUIRE(find(changes, "person"));
  CHECK(find(changes, "person")->count == 0);
  CHECK(find(changes, "person")->detected == false);
  // With no off delay, counts are not zeroed between frames that keep coming.
  Presence quick;
  quick.update({{"car", 1}}, t0);
  CHECK(quick.tick(t0 + 1s).empty());
  changes = quick.tick(t0 + 3s);
  REQUIRE(find(changes, "car"));
  CHECK(find(changes, "car")->count == 0);
}

TEST_CASE("discovery configs: one device, unique ids, shared availability, state topics") {
  DiscoveryInput in;
  in.prefix = "homeassistant";
  in.camera = "Front door";
  in.camera_level = topic_safe(in.camera);
  in.topics = Topics("lookout", in.camera);
  in.device = {"0123abcd", "Raspberry Pi 4 Model B Rev 1.5"};
  in.version = "0.1.0";
  in.classes = {"person", "traffic light"};
  in.class_levels = {"person", "traffic_light"};
  in.source_states = {"stopped", "running"};
  const auto configs = discovery_configs(in);
  REQUIRE(configs.size() == 2 * 2 + 6);
  std::set<std::string> ids, topics;
  for (const auto& c : configs) {
    INFO(c.topic);
    ids.insert(c.config["unique_id"].get<std::string>());
    topics.insert(c.topic);
    CHECK(c.topic.rfind("homeassistant/", 0) == 0);
    CHECK(c.topic.find("/lookout_Front_door/") != std::string::npos);
    CHECK(c.config["device"]["identifiers"][0] == "lookout_0123abcd_Front_door");
    CHECK(c.config["device"]["model"] == "Raspberry Pi 4 Model B Rev 1.5");
    CHECK(c.config["device"]["name"] == "Front door");
    CHECK(c.config["availability"][0]["topic"] == "lookout/Front_door/availability");
    CHECK(c.config["origin"]["sw_version"] == "0.1.0");
  }
  CHECK(ids.size() == configs.size());
  CHECK(topics.count(
      "homeassistant/binary_sensor/lookout_Front_door/traffic_light_occupancy/config"));
  for (const auto& c : configs) {
    if (c.topic == "homeassistant/binary_sensor/lookout_Front_door/person_occupancy/config") {
      CHECK(c.config["device_class"] == "occupancy");
      CHECK(c.config["state_topic"] == "lookout/Front_door/person/detected");
    }
    if (c.topic == "homeassistant/sensor/lookout_Front_door/source_state/config") {
      CHECK(c.config["options"] == nlohmann::json::array({"stopped", "running"}));
      CHECK(c.config["value_template"] == "{{ value_json.source.state }}");
    }
  }
}

TEST_CASE("discovery with tracking: a count sensor per zone and class, in and out per line") {
  DiscoveryInput in;
  in.prefix = "homeassistant";
  in.camera = "porch";
  in.camera_level = "porch";
  in.topics = Topics("lookout", "porch");
  in.device = {"0123abcd", "x86_64 Linux"};
  in.version = "0.1.0";
  in.source_states = {"running"};
  in.zones = {{"door", {"person"}, {"person"}}};
  in.lines = {"gate"};
  const auto configs = discovery_configs(in);
  std::map<std::string, nlohmann::json> by_topic;
  for (const auto& c : configs) by_topic[c.topic] = c.config;
  const auto& all = by_topic.at("homeassistant/sensor/lookout_porch/zone_door_all_count/config");
  CHECK(all["state_topic"] == "lookout/porch/zone/door/all/count");
  CHECK(all["name"] == "door objects");
  const auto& person =
      by_topic.at("homeassistant/sensor/lookout_porch/zone_door_person_count/config");
  CHECK(person["state_topic"] == "lookout/porch/zone/door/person/count");
  for (const char* direction : {"in", "out"}) {
    const auto& line = by_topic.at(std::string("homeassistant/sensor/lookout_porch/line_gate_") +
                                   direction + "/config");
    CHECK(line["state_topic"] == std::string("lookout/porch/line/gate/all/") + direction);
    CHECK(line["state_class"] == "total_increasing");
  }
  CHECK(Topics("lookout", "porch").class_snapshot("person") == "lookout/porch/person/snapshot");
}

}  // namespace lookout::mqtt
