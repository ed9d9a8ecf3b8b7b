#include "mqtt_topics.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <sys/utsname.h>

namespace lookout::mqtt {

using json = nlohmann::json;

std::string topic_safe(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (const char c : name) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-';
    out += keep ? c : '_';
  }
  if (out.empty()) out = "_";
  return out;
}

std::vector<std::string> class_levels(const std::vector<std::string>& class_names) {
  std::vector<std::string> levels;
  std::set<std::string> taken;
  for (std::size_t id = 0; id < class_names.size(); ++id) {
    std::string level = topic_safe(class_names[id]);
    if (!taken.insert(level).second) {
      level += "_" + std::to_string(id);
      taken.insert(level);
    }
    levels.push_back(std::move(level));
  }
  return levels;
}

Topics::Topics(const std::string& prefix, const std::string& camera)
    : base(prefix + "/" + topic_safe(camera)) {}

std::vector<std::string> discovery_classes(const std::vector<std::string>& chosen,
                                           const std::vector<std::string>& reported,
                                           const std::vector<std::string>& model_classes,
                                           std::size_t max_all) {
  auto known = [&](const std::vector<std::string>& names) {
    std::vector<std::string> out;
    for (const auto& n : names) {
      if (std::find(model_classes.begin(), model_classes.end(), n) != model_classes.end()) {
        out.push_back(n);
      }
    }
    return out;
  };
  if (!chosen.empty()) return known(chosen);
  if (!reported.empty()) return known(reported);
  if (model_classes.size() <= max_all) return model_classes;
  if (std::find(model_classes.begin(), model_classes.end(), "person") != model_classes.end()) {
    return {"person"};
  }
  return {};
}

// ---- Presence ---------------------------------------------------------------------------

std::vector<Presence::Change> Presence::track(const std::vector<std::string>& names) {
  std::vector<Change> changes;
  for (const auto& name : names) {
    if (states_.emplace(name, State{}).second) changes.push_back({name, 0, false});
  }
  return changes;
}

std::vector<Presence::Change> Presence::update(const std::map<std::string, int>& counts,
                                               Clock::time_point now) {
  last_update_ = now;
  std::set<std::string> fresh;  // first seen in this frame: reported with both values
  for (const auto& [name, count] : counts) {
    if (count > 0 && states_.emplace(name, State{}).second) fresh.insert(name);
  }
  std::vector<Change> changes;
  for (auto& [name, state] : states_) {
    const auto it = counts.find(name);
    const int count = it == counts.end() ? 0 : it->second;
    const bool is_fresh = fresh.count(name) != 0;
    Change change{name, std::nullopt, std::nullopt};
    if (is_fresh || count != state.count) {
      state.count = count;
      change.count = count;
    }
    if (count > 0) {
      state.last_seen = now;
      if (!state.detected || is_fresh) {
        state.detected = true;
        change.detected = true;
      }
    } else if (state.detected && now - state.last_seen >= off_delay_) {
      state.detected = false;
      change.detected = false;
    }
    if (change.count || change.detected) changes.push_back(std::move(change));
  }
  return changes;
}

std::vector<Presence::Change> Presence::tick(Clock::time_point now) {
  // No frame for a while (the camera stalled, inference stopped): what the
  // last frame showed is no longer known to be there.
  const bool stale = last_update_ != Clock::time_point{} &&
                     now - last_update_ >= std::max<Clock::duration>(off_delay_, kStale);
  std::vector<Change> changes;
  for (auto& [name, state] : states_) {
    Change change{name, std::nullopt, std::nullopt};
    if (stale && state.count != 0) {
      state.count = 0;
      change.count = 0;
    }
    if (state.detected && state.count == 0 && now - state.last_seen >= off_delay_) {
      state.detected = false;
      change.detected = false;
    }
    if (change.count || change.detected) changes.push_back(std::move(change));
  }
  return changes;
}

std::vector<Presence::Change> Presence::clear() {
  std::vector<Change> changes;
  for (auto& [name, state] : states_) {
    Change change{name, std::nullopt, std::nullopt};
    if (state.count != 0) change.count = 0;
    if (state.detected) change.detected = false;
    state.count = 0;
    state.detected = false;
    if (change.count || change.detected) changes.push_back(std::move(change));
  }
  return changes;
}

// ---- the device -------------------------------------------------------------------------

namespace {

std::string first_line_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  if (!in || !std::getline(in, line)) return "";
  // The device tree's strings end in NUL.
  line.erase(std::find(line.begin(), line.end(), '\0'), line.end());
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' ')) {
    line.pop_back();
  }
  return line;
}

}  // namespace

DeviceInfo read_device_info(const std::string& host_name) {
  DeviceInfo info;
  for (const char* path : {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
    info.machine_id = first_line_of(path);
    if (!info.machine_id.empty()) break;
  }
  if (info.machine_id.empty()) {
    // No machine id (some containers): stable for the host name at least.
    std::ostringstream hex;
    hex << std::hex << std::hash<std::string>{}(host_name);
    info.machine_id = "host-" + hex.str();
  }
  info.model = first_line_of("/proc/device-tree/model");
  if (info.model.empty()) {
    struct utsname u {};
    info.model = uname(&u) == 0 ? std::string(u.machine) + " Linux" : "Linux";
  }
  return info;
}

// ---- discovery --------------------------------------------------------------------------

std::vector<DiscoveryConfig> discovery_configs(const DiscoveryInput& in) {
  const std::string node_id = "lookout_" + in.camera_level;
  const std::string unique_base =
      "lookout_" + topic_safe(in.device.machine_id) + "_" + in.camera_level;
  const json device = {
      {"identifiers", json::array({unique_base})},
      {"name", in.camera},
      {"model", in.device.model},
      {"sw_version", in.version},
  };
  const json origin = {
      {"name", "lookout"},
      {"sw_version", in.version},
  };
  const json availability = json::array({{{"topic", in.topics.availability()},
                                          {"payload_available", "online"},
                                          {"payload_not_available", "offline"}}});
  std::vector<DiscoveryConfig> out;
  auto add = [&](const std::string& component, const std::string& object_id, json config) {
    config["unique_id"] = unique_base + "_" + object_id;
    config["device"] = device;
    config["origin"] = origin;
    config["availability"] = availability;
    out.push_back({in.prefix + "/" + component + "/" + node_id + "/" + object_id + "/config",
                   std::move(config)});
  };
  for (std::size_t i = 0; i < in.classes.size(); ++i) {
    const std::string& name = in.classes[i];
    const std::string& level = in.class_levels[i];
    add("binary_sensor", level + "_occupancy",
        {{"name", name + " detected"},
         {"device_class", "occupancy"},
         {"state_topic", in.topics.detected(level)},
         {"payload_on", "ON"},
         {"payload_off", "OFF"}});
    add("sensor", level + "_count",
        {{"name", name + " count"},
         {"state_topic", in.topics.count(level)},
         {"state_class", "measurement"},
         {"icon", "mdi:counter"}});
  }
  add("sensor", "fps",
      {{"name", "Processed frame rate"},
       {"state_topic", in.topics.stats()},
       {"value_template", "{{ value_json.fps.processed }}"},
       {"unit_of_measurement", "fps"},
       {"state_class", "measurement"},
       {"entity_category", "diagnostic"},
       {"icon", "mdi:speedometer"}});
  add("sensor", "inference",
      {{"name", "Inference time"},
       {"state_topic", in.topics.stats()},
       {"value_template", "{{ value_json.inference_ms.p50 }}"},
       {"unit_of_measurement", "ms"},
       {"device_class", "duration"},
       {"state_class", "measurement"},
       {"entity_category", "diagnostic"}});
  add("sensor", "source_state",
      {{"name", "Camera state"},
       {"state_topic", in.topics.stats()},
       {"value_template", "{{ value_json.source.state }}"},
       {"device_class", "enum"},
       {"options", in.source_states},
       {"entity_category", "diagnostic"},
       {"icon", "mdi:cctv"}});
  for (const auto& zone : in.zones) {
    add("sensor", "zone_" + zone.name + "_all_count",
        {{"name", zone.name + " objects"},
         {"state_topic", in.topics.zone_count(zone.name, "all")},
         {"state_class", "measurement"},
         {"icon", "mdi:vector-polygon"}});
    for (std::size_t i = 0; i < zone.classes.size(); ++i) {
      add("sensor", "zone_" + zone.name + "_" + zone.class_levels[i] + "_count",
          {{"name", zone.name + " " + zone.classes[i] + " count"},
           {"state_topic", in.topics.zone_count(zone.name, zone.class_levels[i])},
           {"state_class", "measurement"},
           {"icon", "mdi:vector-polygon"}});
    }
  }
  for (const auto& line : in.lines) {
    for (const char* direction : {"in", "out"}) {
      add("sensor", "line_" + line + "_" + direction,
          {{"name", line + " " + direction},
           {"state_topic", in.topics.line_count(line, "all", direction)},
           {"state_class", "total_increasing"},
           {"icon", "mdi:transit-transfer"}});
    }
  }
  add("camera", "snapshot", {{"name", "Snapshot"}, {"topic", in.topics.snapshot()}});
  add("switch", "detection",
      {{"name", "Detection"},
       {"command_topic", in.topics.detection_set()},
       {"state_topic", in.topics.detection_state()},
       {"payload_on", "ON"},
       {"payload_off", "OFF"},
       {"icon", "mdi:motion-sensor"}});
  add("button", "take_snapshot",
      {{"name", "Take snapshot"},
       {"command_topic", in.topics.snapshot_request()},
       {"payload_press", "PRESS"},
       {"icon", "mdi:camera"}});
  return out;
}

}  // namespace lookout::mqtt
