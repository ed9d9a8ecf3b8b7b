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

std::string class_name(const FrameDetections& frame, int id) {
  if (frame.class_names && id >= 0 && static_cast<std::size_t>(id) < frame.class_names->size()) {
    return (*frame.class_names)[static_cast<std::size_t>(id)];
  }
  return std::to_string(id);
}

}  // namespace

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
  for (const auto& d : frame.detections) {
    std::string name = class_name(frame, d.class_id);
    if (filter != nullptr) {
      if (d.score < filter->min_score) continue;
      if (!filter->classes.empty() && std::find(filter->classes.begin(), filter->classes.end(),
                                                name) == filter->classes.end()) {
        continue;
      }
    }
    list.push_back(
        {{"class", std::move(name)},
         {"class_id", d.class_id},
         {"score", round_to(d.score, 0.001)},
         {"box",
          {round_to(d.x1, 0.1), round_to(d.y1, 0.1), round_to(d.x2, 0.1), round_to(d.y2, 0.1)}}});
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
  return line(j);
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
      }
      return ClientMessage{ping};
    }
  }
  return std::string("unknown message type");  // a value outside the table
}

}  // namespace lookout::protocol
