#include "metrics.hpp"

#include <cstdio>

#include "core/enum_names.hpp"

namespace lookout {

namespace {

std::string number(double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.9g", value);
  return buffer;
}

void family(std::string& out, const std::string& name, const char* type, const char* help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void sample(std::string& out, const std::string& name, const std::string& labels, double value) {
  out += name + "{" + labels + "} " + number(value) + "\n";
}

}  // namespace

std::string prometheus_label(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Histogram::observe(double seconds) {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  if (i < kBounds.size()) ++buckets_[i];
  ++count_;
  sum_ += seconds;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i];
    sample(out, name + "_bucket", labels + ",le=\"" + number(kBounds[i]) + "\"",
           static_cast<double>(cumulative));
  }
  sample(out, name + "_bucket", labels + ",le=\"+Inf\"", static_cast<double>(count_));
  sample(out, name + "_sum", labels, sum_);
  sample(out, name + "_count", labels, static_cast<double>(count_));
}

void Metrics::observe(const PublishedFrame& published) {
  const protocol::FrameDetections& frame = published.frame;
  inference_.observe(frame.inference_ms / 1000.0);
  latency_.observe(frame.total_ms / 1000.0);
  for (const Detection& d : frame.detections) {
    const bool named = frame.class_names && d.class_id >= 0 &&
                       static_cast<std::size_t>(d.class_id) < frame.class_names->size();
    ++detections_[named ? (*frame.class_names)[static_cast<std::size_t>(d.class_id)]
                        : std::to_string(d.class_id)];
  }
}

void Metrics::count_request(int status) {
  ++requests_[status];
}

void Metrics::count_encoding(double cpu_seconds, std::uint64_t pictures) {
  encode_cpu_s_ += cpu_seconds;
  encoded_ += pictures;
}

std::string Metrics::render(const DaemonStatus& status, const std::string& camera,
                            const std::string& version) const {
  const std::string cam = "camera=\"" + prometheus_label(camera) + "\"";
  const PipelineStats& p = status.pipeline;
  std::string out;
  out.reserve(8192);

  family(out, "lookout_build_info", "gauge",
         "Always 1; the labels name the version, the model and how it runs.");
  sample(out, "lookout_build_info",
         cam + ",version=\"" + prometheus_label(version) + "\",model=\"" +
             prometheus_label(status.model.name) + "\",backend=\"" +
             std::string(enum_name(status.model.backend)) + "\",threads=\"" +
             std::to_string(status.model.threads) + "\"",
         1);
  family(out, "lookout_uptime_seconds", "gauge", "Seconds since lookoutd started.");
  sample(out, "lookout_uptime_seconds", cam, status.uptime_s);

  family(out, "lookout_frames_captured_total", "counter", "Frames received from the source.");
  sample(out, "lookout_frames_captured_total", cam, static_cast<double>(p.captured));
  family(out, "lookout_frames_processed_total", "counter",
         "Frames run through the model and published.");
  sample(out, "lookout_frames_processed_total", cam, static_cast<double>(p.processed));
  family(out, "lookout_frames_skipped_total", "counter",
         "Frames replaced by a newer one before inference.");
  sample(out, "lookout_frames_skipped_total", cam, static_cast<double>(p.skipped));
  family(out, "lookout_frame_errors_total", "counter",
         "Frames that could not be used: undecodable, or rejected by the engine.");
  sample(out, "lookout_frame_errors_total", cam, static_cast<double>(p.errors));

  family(out, "lookout_inference_seconds", "histogram",
         "The engine's time per frame: preparing its input, the forward pass, postprocessing.");
  inference_.render(out, "lookout_inference_seconds", cam);
  family(out, "lookout_capture_to_publish_seconds", "histogram",
         "From the frame's capture to its detections being handed to the outputs.");
  latency_.render(out, "lookout_capture_to_publish_seconds", cam);

  family(out, "lookout_detections_total", "counter", "Detections published, per class.");
  for (const auto& [name, count] : detections_) {
    sample(out, "lookout_detections_total", cam + ",class=\"" + prometheus_label(name) + "\"",
           static_cast<double>(count));
  }

  family(out, "lookout_clients", "gauge", "Connected clients per transport.");
  for (const ClientCount& c : status.clients) {
    sample(out, "lookout_clients", cam + ",transport=\"" + prometheus_label(c.transport) + "\"",
           static_cast<double>(c.count));
  }

  family(out, "lookout_source_state", "gauge",
         "1 for the frame source's current state, 0 for the others.");
  for (const auto& entry : EnumTable<SourceHealth::State>::entries) {
    sample(out, "lookout_source_state", cam + ",state=\"" + std::string(entry.name) + "\"",
           entry.value == p.source.state ? 1 : 0);
  }
  family(out, "lookout_source_restarts_total", "counter",
         "Times the frame source was restarted after a failure.");
  sample(out, "lookout_source_restarts_total", cam, static_cast<double>(p.source.restarts));

  family(out, "lookout_http_requests_total", "counter", "HTTP requests answered, per status.");
  for (const auto& [code, count] : requests_) {
    sample(out, "lookout_http_requests_total", cam + ",code=\"" + std::to_string(code) + "\"",
           static_cast<double>(count));
  }
  family(out, "lookout_http_jpeg_encoded_total", "counter",
         "Pictures JPEG-encoded for snapshots and streams (one per size, shared by viewers).");
  sample(out, "lookout_http_jpeg_encoded_total", cam, static_cast<double>(encoded_));
  family(out, "lookout_http_jpeg_encode_cpu_seconds_total", "counter",
         "CPU time the JPEG encoder thread spent drawing and encoding.");
  sample(out, "lookout_http_jpeg_encode_cpu_seconds_total", cam, encode_cpu_s_);

  family(out, "lookout_detection_enabled", "gauge",
         "1 while detection runs, 0 while it is paused (MQTT detection/set).");
  sample(out, "lookout_detection_enabled", cam, status.detection ? 1 : 0);
  // One family per figure, one sample per output that reports itself.
  auto per_output = [&](const char* name, const char* type, const char* help,
                        double (*value)(const protocol::OutputStats&)) {
    if (status.outputs.empty()) return;
    family(out, name, type, help);
    for (const auto& o : status.outputs) {
      sample(out, name, cam + ",output=\"" + prometheus_label(o.name) + "\"", value(o));
    }
  };
  per_output("lookout_output_connected", "gauge",
             "1 while an output works: mqtt connected to its broker, events writing snapshots.",
             [](const protocol::OutputStats& o) {
               return o.state == "connected" || o.state == "writing" ? 1.0 : 0.0;
             });
  per_output("lookout_output_messages_sent_total", "counter",
             "Messages an output delivered (MQTT: detections, stats, events; QoS 1 and 2 "
             "acknowledged by the broker).",
             [](const protocol::OutputStats& o) { return static_cast<double>(o.sent); });
  per_output("lookout_output_messages_dropped_total", "counter",
             "Messages an output dropped: its queue was full, or a connection was lost with them.",
             [](const protocol::OutputStats& o) { return static_cast<double>(o.dropped); });
  per_output("lookout_output_messages_queued", "gauge", "Messages waiting in an output's queue.",
             [](const protocol::OutputStats& o) { return static_cast<double>(o.queued); });

  // Tracking (TRACKING.md): events, objects per zone, crossings per line.
  family(out, "lookout_events_total", "counter", "Tracking events made, per type.");
  for (const auto& entry : EnumTable<tracking::EventType>::entries) {
    sample(out, "lookout_events_total", cam + ",type=\"" + std::string(entry.name) + "\"",
           static_cast<double>(status.events[static_cast<int>(entry.value)]));
  }
  if (status.counts) {
    const auto name_of = [names = status.class_names.get()](std::size_t c) {
      return protocol::class_name(names, static_cast<int>(c));
    };
    if (!status.counts->zones.empty()) {
      family(out, "lookout_zone_objects", "gauge",
             "Objects in a zone now, per class (class=\"all\": every class).");
      for (const auto& zone : status.counts->zones) {
        const std::string labels = cam + ",zone=\"" + prometheus_label(zone.name) + "\"";
        sample(out, "lookout_zone_objects", labels + ",class=\"all\"", zone.total);
        for (std::size_t c = 0; c < zone.per_class.size(); ++c) {
          sample(out, "lookout_zone_objects",
                 labels + ",class=\"" + prometheus_label(name_of(c)) + "\"", zone.per_class[c]);
        }
      }
    }
    if (!status.counts->lines.empty()) {
      family(out, "lookout_line_crossings_total", "counter",
             "Objects that crossed a line, per class and direction (kept across reloads).");
      for (const auto& line : status.counts->lines) {
        const std::string labels = cam + ",line=\"" + prometheus_label(line.name) + "\"";
        for (std::size_t c = 0; c < line.per_class.size(); ++c) {
          const std::string cls = ",class=\"" + prometheus_label(name_of(c)) + "\"";
          sample(out, "lookout_line_crossings_total", labels + cls + ",direction=\"in\"",
                 static_cast<double>(line.per_class[c][0]));
          sample(out, "lookout_line_crossings_total", labels + cls + ",direction=\"out\"",
                 static_cast<double>(line.per_class[c][1]));
        }
      }
    }
  }
  return out;
}

}  // namespace lookout
