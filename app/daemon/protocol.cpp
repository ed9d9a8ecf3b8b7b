#include "protocol.hpp"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

namespace lookout::protocol {

using nlohmann::json;

namespace {

// Rounds for the wire: clients need no more, and short numbers keep lines small.
// Dividing by a power of ten (not multiplying by 0.1) gives the double nearest
// the decimal, which prints short ("278.9", not "278.90000000000003").
double round_to(double value, double step) {
  const double scale = std::round(1.0 / step);
  return std::round(value * scale) / scale;
}

std::string line(const json& j) {
  // Invalid UTF-8 (a class name from a broken model file) is replaced, never thrown.
  std::string out = j.dump(-1, ' ', false, json::error_handler_t::replace);
  out += '\n';
  return out;
}

json box_json(const tracking::BoxF& b) {
  return {round_to(b.x1, 0.1), round_to(b.y1, 0.1), round_to(b.x2, 0.1), round_to(b.y2, 0.1)};
}

// Zones and lines by name, classes by name ("all" for a zone's total).
void add_counts(json& j, const tracking::Counts& counts, const std::vector<std::string>* names) {
  json zones = json::object();
  for (const auto& zone : counts.zones) {
    json per = json::object();
    for (std::size_t c = 0; c < zone.per_class.size(); ++c) {
      if (zone.per_class[c] > 0) per[class_name(names, static_cast<int>(c))] = zone.per_class[c];
    }
    per["all"] = zone.total;
    zones[zone.name] = std::move(per);
  }
  json lines = json::object();
  for (const auto& line : counts.lines) {
    json per = json::object();
    std::uint64_t in = 0, out = 0;
    for (std::size_t c = 0; c < line.per_class.size(); ++c) {
      const auto& [i, o] = line.per_class[c];
      in += i;
      out += o;
      if (i + o > 0) per[class_name(names, static_cast<int>(c))] = {{"in", i}, {"out", o}};
    }
    per["all"] = {{"in", in}, {"out", out}};
    lines[line.name] = std::move(per);
  }
  if (!counts.zones.empty()) j["zones"] = std::move(zones);
  if (!counts.lines.empty()) j["lines"] = std::move(lines);
}

}  // namespace

std::string class_name(const std::vector<std::string>* names, int id) {
  if (names != nullptr && id >= 0 && static_cast<std::size_t>(id) < names->size()) {
    return (*names)[static_cast<std::size_t>(id)];
  }
  return std::to_string(id);
}

double unix_seconds(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  return static_cast<double>(ms.count()) / 1000.0;
}

std::string hello(const HelloInfo& info) {
  json j = {
      {"type", "hello"},
      {"protocol", kName},
      {"version", info.version},
      {"camera", info.camera},
      {"model",
       {{"name", info.model.name},
        {"task", info.model.task},
        {"input", {info.model.input_width, info.model.input_height}},
        {"classes", info.model.classes},
        {"backend", info.model.backend},
        {"threads", info.model.threads}}},
      {"source",
       {{"name", info.source.name},
        {"width", info.source.width},
        {"height", info.source.height},
        {"fps", round_to(info.source.fps, 0.01)}}},
  };
  return line(j);
}

std::string detections(const FrameDetections& frame, const Filter* filter) {
  json list = json::array();
  const bool tracked =
      frame.track_ids.size() == frame.detections.size() && !frame.track_ids.empty();
  for (std::size_t i = 0; i < frame.detections.size(); ++i) {
    const Detection& d = frame.detections[i];
    std::string name = class_name(frame.class_names.get(), d.class_id);
    if (filter != nullptr) {
      if (d.score < filter->min_score) continue;
      if (!filter->classes.empty() && std::find(filter->classes.begin(), filter->classes.end(),
                                                name) == filter->classes.end()) {
        continue;
      }
    }
    json item = {
        {"class", std::move(name)},
        {"class_id", d.class_id},
        {"score", round_to(d.score, 0.001)},
        {"box",
         {round_to(d.x1, 0.1), round_to(d.y1, 0.1), round_to(d.x2, 0.1), round_to(d.y2, 0.1)}}};
    if (tracked) {
      item["track_id"] = frame.track_ids[i] != 0 ? json(frame.track_ids[i]) : json(nullptr);
    }
    list.push_back(std::move(item));
  }
  json j = {
      {"type", "detections"},
      {"seq", frame.seq},
      {"camera", frame.camera ? *frame.camera : std::string()},
      {"ts", unix_seconds(frame.capture_time)},
      {"frame", {{"width", frame.width}, {"height", frame.height}}},
      {"latency_ms",
       {{"inference", round_to(frame.inference_ms, 0.01)},
        {"total", round_to(frame.total_ms, 0.01)}}},
      {"detections", std::move(list)},
  };
  return line(j);
}

std::string stats(const Stats& s) {
  json source = {{"state", s.source_state}, {"restarts", s.source_restarts}};
  if (!s.source_error.empty()) source["error"] = s.source_error;
  json j = {
      {"type", "stats"},
      {"camera", s.camera},
      {"uptime_s", round_to(s.uptime_s, 0.1)},
      {"frames",
       {{"captured", s.captured},
        {"processed", s.processed},
        {"skipped", s.skipped},
        {"errors", s.errors}}},
      {"fps",
       {{"captured", round_to(s.captured_fps, 0.01)},
        {"processed", round_to(s.processed_fps, 0.01)},
        {"skipped", round_to(s.skipped_fps, 0.01)}}},
      {"inference_ms",
       {{"p50", round_to(s.inference_p50_ms, 0.01)}, {"p90", round_to(s.inference_p90_ms, 0.01)}}},
      {"clients", s.clients},
      {"source", std::move(source)},
  };
  if (!s.detection) j["detection"] = "paused";
  if (!s.outputs.empty()) {
    json outputs = json::object();
    for (const auto& o : s.outputs) {
      json entry = {
          {"state", o.state}, {"sent", o.sent}, {"dropped", o.dropped}, {"queued", o.queued}};
      if (!o.error.empty()) entry["error"] = o.error;
      outputs[o.name] = std::move(entry);
    }
    j["outputs"] = std::move(outputs);
  }
  if (s.counts) add_counts(j, *s.counts, s.class_names.get());
  return line(j);
}

std::string snapshot_path(const std::string& directory, const std::string& event_id) {
  return directory + "/" + event_id + ".jpg";
}

std::string snapshot_crop_path(const std::string& directory, const std::string& event_id) {
  return directory + "/" + event_id + "-crop.jpg";
}

std::string snapshot_url(const std::string& event_id) {
  return "/api/events/" + event_id + "/snapshot.jpg";
}

bool valid_event_id(std::string_view id) {
  const auto dash = id.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == id.size() || id.size() > 48) {
    return false;
  }
  for (std::size_t i = 0; i < id.size(); ++i) {
    if (i != dash && (id[i] < '0' || id[i] > '9')) return false;
  }
  return true;
}

std::string event(const tracking::ObjectEvent& e, const std::string& camera,
                  const std::vector<std::string>* class_names,
                  const std::string& snapshot_directory) {
  const tracking::ObjectState& o = e.object;
  json crossings = json::array();
  for (const auto& c : o.crossings) {
    crossings.push_back({{"line", c.line},
                         {"direction", std::string(enum_name(c.direction))},
                         {"ts", unix_seconds(c.time)}});
  }
  json object = {
      {"id", o.id},
      {"track_id", o.track_id},
      {"class", class_name(class_names, o.class_id)},
      {"class_id", o.class_id},
      {"first_seen", unix_seconds(o.first_seen)},
      {"last_seen", unix_seconds(o.last_seen)},
      {"duration_s", round_to(o.duration_s, 0.01)},
      {"score", round_to(o.score, 0.001)},
      {"top_score", round_to(o.top_score, 0.001)},
      {"box", box_json(o.box)},
      {"best_box", o.has_best ? box_json(o.best_box) : json(nullptr)},
      {"zones", o.zones},
      {"entered_zones", o.entered_zones},
      {"lines", std::move(crossings)},
      {"stationary", o.stationary},
  };
  if (!snapshot_directory.empty() && o.has_best) {
    object["snapshot"] = {{"path", snapshot_path(snapshot_directory, o.id)},
                          {"crop", snapshot_crop_path(snapshot_directory, o.id)},
                          {"url", snapshot_url(o.id)}};
  } else {
    object["snapshot"] = nullptr;
  }
  json j = {
      {"type", "event"},
      {"event", std::string(enum_name(e.type))},
      {"camera", camera},
      {"ts", unix_seconds(o.last_seen)},
      {"object", std::move(object)},
  };
  return line(j);
}

bool event_passes(const tracking::ObjectEvent& e, const std::vector<std::string>* class_names,
                  const Filter& filter) {
  if (e.object.top_score < filter.min_score) return false;
  if (filter.classes.empty()) return true;
  const std::string name = class_name(class_names, e.object.class_id);
  return std::find(filter.classes.begin(), filter.classes.end(), name) != filter.classes.end();
}

std::string error(std::string_view message) {
  return line({{"type", "error"}, {"message", std::string(message)}});
}

std::string dropped(std::uint64_t count, std::uint64_t total) {
  return line({{"type", "dropped"}, {"count", count}, {"total", total}});
}

std::string subscribed(const Filter& filter) {
  return line({{"type", "subscribed"},
               {"classes", filter.classes},
               {"min_score", round_to(filter.min_score, 0.001)}});
}

std::string pong(const std::optional<std::string>& id) {
  json j = {{"type", "pong"}};
  if (id) j["id"] = *id;
  return line(j);
}

namespace {

std::variant<ClientMessage, std::string> parse_subscribe(const json& j) {
  Subscribe sub;
  if (const auto classes = j.find("classes"); classes != j.end() && !classes->is_null()) {
    if (!classes->is_array()) return std::string("subscribe: \"classes\" must be a list of names");
    for (const auto& c : *classes) {
      if (!c.is_string()) return std::string("subscribe: \"classes\" must be a list of names");
      const auto& name = c.get_ref<const std::string&>();
      if (std::find(sub.filter.classes.begin(), sub.filter.classes.end(), name) ==
          sub.filter.classes.end()) {
        sub.filter.classes.push_back(name);
      }
    }
  }
  if (const auto score = j.find("min_score"); score != j.end() && !score->is_null()) {
    if (!score->is_number()) return std::string("subscribe: \"min_score\" must be a number");
    const double value = score->get<double>();
    if (!(value >= 0 && value <= 1)) {
      return std::string("subscribe: \"min_score\" must be between 0 and 1");
    }
    sub.filter.min_score = static_cast<float>(value);
  }
  return ClientMessage{sub};
}

}  // namespace

std::variant<ClientMessage, std::string> parse_client_line(std::string_view text) {
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);  // tolerate CRLF (telnet)
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::string("not valid JSON");
  if (!j.is_object()) return std::string("expected a JSON object with a \"type\"");
  const auto type = j.find("type");
  if (type == j.end() || !type->is_string()) {
    return "missing \"type\" (" + join_names(enum_names<ClientMessageType>()) + ")";
  }
  const std::string& name = type->get_ref<const std::string&>();
  const auto kind = enum_from_name<ClientMessageType>(name);
  if (!kind) return "unknown message type: " + expected_one_of<ClientMessageType>(name);
  switch (*kind) {
    case ClientMessageType::Subscribe:
      return parse_subscribe(j);
    case ClientMessageType::Auth: {
      const auto token = j.find("token");
      if (token == j.end() || !token->is_string()) {
        return std::string("auth: \"token\" must be a string");
      }
      return ClientMessage{Auth{token->get<std::string>()}};
    }
    case ClientMessageType::Ping: {
      Ping ping;
      if (const auto id = j.find("id"); id != j.end() && !id->is_null()) {
        ping.id = id->is_string() ? id->get<std::string>() : id->dump();
        // The pong echoes it: keep what a client can make us send back small.
        if (ping.id->size() > kMaxPingIdBytes) {
          return "ping: \"id\" longer than " + std::to_string(kMaxPingIdBytes) + " bytes";
        }
      }
      return ClientMessage{ping};
    }
  }
  return std::string("unknown message type");  // a value outside the table
}

std::string LineFramer::take_rest() {
  std::string rest = blank(pending_) ? std::string() : std::move(pending_);
  pending_.clear();
  scanned_ = 0;
  return rest;
}

}  // namespace lookout::protocol
