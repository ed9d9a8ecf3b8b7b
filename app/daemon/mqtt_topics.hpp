// The MQTT output's topics, presence rules and Home Assistant discovery
// configs (MQTT.md fixes every name): pure functions and plain types, no
// broker, so that each rule is tested on its own (tests/app/daemon/mqtt_topics_test.cpp).
//
// Threads: none of their own; the MqttOutput uses them on the I/O thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace lookout::mqtt {

// A name made safe as one topic level and as a Home Assistant object id:
// letters, digits, '_' and '-' are kept, anything else becomes '_'
// ("Front door" -> "Front_door", "traffic light" -> "traffic_light").
std::string topic_safe(std::string_view name);

// One topic level per class name: topic_safe, made unique by appending the
// class id where two names would collide.
std::vector<std::string> class_levels(const std::vector<std::string>& class_names);

// Every topic of one camera: `prefix`/`camera level`/...
struct Topics {
  std::string base;  // "lookout/porch"

  Topics() = default;
  Topics(const std::string& prefix, const std::string& camera);
  std::string availability() const { return base + "/availability"; }
  std::string detections() const { return base + "/detections"; }
  std::string stats() const { return base + "/stats"; }
  std::string events() const { return base + "/events"; }
  std::string snapshot() const { return base + "/snapshot"; }
  std::string snapshot_request() const { return base + "/snapshot/request"; }
  std::string detection_state() const { return base + "/detection/state"; }
  std::string detection_set() const { return base + "/detection/set"; }
  std::string count(const std::string& class_level) const {
    return base + "/" + class_level + "/count";
  }
  std::string detected(const std::string& class_level) const {
    return base + "/" + class_level + "/detected";
  }
  // Tracking: objects in a zone now ("all" = every class), crossings of a
  // line per direction, the best picture of the newest event of a class.
  std::string zone_count(const std::string& zone, const std::string& class_level) const {
    return base + "/zone/" + zone + "/" + class_level + "/count";
  }
  std::string line_count(const std::string& line, const std::string& class_level,
                         const std::string& direction) const {
    return base + "/line/" + line + "/" + class_level + "/" + direction;
  }
  std::string class_snapshot(const std::string& class_level) const {
    return base + "/" + class_level + "/snapshot";
  }
  // What the output subscribes to: every command (…/set, …/request; those it
  // does not know get a logged refusal).
  std::vector<std::string> command_filters() const {
    return {base + "/+/set", base + "/+/request"};
  }
};

// Which classes get Home Assistant entities (MQTT.md, "Which classes"):
// `chosen` (mqtt.discovery.classes) when given; else `reported`
// (model.classes) when given; else every class of a model with at most
// `max_all` classes; else "person" if the model has it; else none.
std::vector<std::string> discovery_classes(const std::vector<std::string>& chosen,
                                           const std::vector<std::string>& reported,
                                           const std::vector<std::string>& model_classes,
                                           std::size_t max_all);

// Per-class presence: the count in the newest frame, and ON/OFF that turns
// OFF only after `off_delay` without the class.
class Presence {
 public:
  using Clock = std::chrono::steady_clock;
  struct Change {
    std::string name;
    std::optional<int> count;      // set when the count changed
    std::optional<bool> detected;  // set when ON/OFF changed
  };

  void set_off_delay(Clock::duration off_delay) { off_delay_ = off_delay; }
  // Classes reported even before they are seen (their 0 / OFF are published).
  // Returns the changes that brings (new classes start at 0 / OFF).
  std::vector<Change> track(const std::vector<std::string>& names);
  // The newest frame's counts by class name (classes absent count 0).
  std::vector<Change> update(const std::map<std::string, int>& counts, Clock::time_point now);
  // OFF transitions due by `now`; and when no frame came for
  // max(off delay, kStale), every count goes to 0 first (then OFF follows).
  std::vector<Change> tick(Clock::time_point now);
  static constexpr std::chrono::seconds kStale{3};
  // Every class to 0 / OFF at once (detection paused).
  std::vector<Change> clear();

  struct State {
    int count = 0;
    bool detected = false;
    Clock::time_point last_seen{};
  };
  const std::map<std::string, State>& states() const { return states_; }

 private:
  Clock::duration off_delay_{};
  Clock::time_point last_update_{};
  std::map<std::string, State> states_;
};

// The machine this runs on, for the Home Assistant device.
struct DeviceInfo {
  std::string machine_id;  // /etc/machine-id; else derived from the host name
  std::string model;  // "Raspberry Pi 4 Model B Rev 1.5" from the device tree; else "<arch> Linux"
};
DeviceInfo read_device_info(const std::string& host_name);

// What discovery configs are made from.
struct DiscoveryInput {
  std::string prefix;        // "homeassistant"
  std::string camera;        // as configured (the device's name)
  std::string camera_level;  // topic_safe(camera)
  Topics topics;
  DeviceInfo device;
  std::string version;
  std::vector<std::string> classes;        // the chosen classes
  std::vector<std::string> class_levels;   // their topic levels, in the same order
  std::vector<std::string> source_states;  // the source state names (an enum sensor)
  // Tracking: zones with the classes that get a count entity each (besides
  // "all"), and lines (an "in" and an "out" entity each, all classes).
  struct Zone {
    std::string name;
    std::vector<std::string> classes, class_levels;
  };
  std::vector<Zone> zones;
  std::vector<std::string> lines;
};

struct DiscoveryConfig {
  std::string topic;  // <prefix>/<component>/<node_id>/<object_id>/config
  nlohmann::json config;
};

// Every entity of one camera: per class an occupancy binary_sensor and a
// count sensor; sensors for fps, inference time and source state; a camera
// for the snapshot; a switch for detection; a button asking for a snapshot;
// per zone a count sensor for all objects and one per class, per line an
// "in" and an "out" sensor (total_increasing).
std::vector<DiscoveryConfig> discovery_configs(const DiscoveryInput& input);

}  // namespace lookout::mqtt
