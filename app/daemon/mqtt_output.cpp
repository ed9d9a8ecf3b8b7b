#include "mqtt_output.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/enum_names.hpp"
#include "core/log.hpp"
#include "drivers/supervised_source.hpp"
#include "mqtt_client.hpp"
#include "mqtt_topics.hpp"
#include "net.hpp"
#include "picture_encoder.hpp"

namespace lookout {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::chrono::seconds kTick{1};
constexpr std::chrono::milliseconds kHandoverTick{50};
// How long a snapshot due waits for the pipeline to attach a picture.
constexpr std::chrono::seconds kPictureWait{2};
// How long closing waits for the connection threads' goodbyes.
constexpr std::chrono::milliseconds kCloseWait{3000};

std::shared_ptr<const std::string> shared_text(std::string text) {
  return std::make_shared<const std::string>(std::move(text));
}

// A lookout/1 line without its newline: an MQTT payload.
std::shared_ptr<const std::string> payload_of(const std::string& line) {
  std::string text = line;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return shared_text(std::move(text));
}

std::string upper_trimmed(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
  text.erase(0, start);
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

}  // namespace

struct MqttHub : std::enable_shared_from_this<MqttHub> {
  MqttHub(asio::io_context& io_context, DaemonView& view, std::string version_text)
      : io(io_context),
        daemon(view),
        version(std::move(version_text)),
        device(mqtt::read_device_info(Environment::of_this_process("").host_name)),
        timer(io_context) {}

  asio::io_context& io;
  DaemonView& daemon;
  const std::string version;
  const mqtt::DeviceInfo device;
  asio::steady_timer timer;
  bool ticking = false;
  bool closed = false;

  // The configuration applied last and the running model.
  MqttConfig config;
  std::string camera;
  std::vector<std::string> reported_classes;  // model.classes
  int picture_width = 640;
  int jpeg_quality = 70;
  std::vector<std::string> class_names;  // the model's
  std::map<std::string, std::string> class_level;
  mqtt::Topics topics;

  std::unique_ptr<MqttClient> client;
  std::optional<MqttSettings> pending;  // the next client, once the retiring ones are done
  std::vector<std::unique_ptr<MqttClient>> retiring;  // saying goodbye on their threads
  std::uint64_t retired_sent = 0, retired_dropped = 0;

  std::map<std::string, std::string> discovery;  // topic -> config published
  // Tracking: zones and lines as configured, the counts last published
  // (topic -> payload), and per class the newest event's best picture.
  std::vector<tracking::NamedZone> zones;
  std::vector<tracking::NamedLine> lines;
  std::map<std::string, std::string> counts_published;
  struct ClassSnapshot {
    std::shared_ptr<const PublishedFrame> pending;  // waiting for its interval
    Clock::time_point last{};
  };
  std::map<std::string, ClassSnapshot> class_snapshots;  // by class level
  // Class snapshots have an encoder of their own (the camera snapshot's jobs
  // and theirs would replace each other in one), which takes one job at a
  // time: the class level and frame in it, and since when.
  std::unique_ptr<PictureEncoder> class_encoder;
  std::optional<std::pair<std::string, std::shared_ptr<const PublishedFrame>>> class_encoding;
  Clock::time_point class_encoding_since{};
  mqtt::Presence presence;
  bool detection_on = true;

  double detection_tokens = 1;  // token bucket of detections_max_rate, at most 1
  Clock::time_point tokens_at{};
  Clock::time_point last_snapshot{};
  bool snapshot_requested = false;
  std::optional<Clock::time_point> picture_asked;
  std::shared_ptr<const std::string> snapshot_jpeg;
  std::unique_ptr<PictureEncoder> encoder;
  net::LogLimiter refusals{10};
  net::LogLimiter notices{5};  // Home Assistant births, stale entities

  // ---- configuration ------------------------------------------------------------------

  MqttSettings settings_for(const Config& c) const {
    const mqtt::Topics t(c.mqtt.topic_prefix, c.camera);
    MqttSettings s;
    s.host = c.mqtt.host;
    s.port = c.mqtt.port;
    s.client_id =
        c.mqtt.client_id.empty() ? "lookout-" + mqtt::topic_safe(c.camera) : c.mqtt.client_id;
    s.username = c.mqtt.username;
    s.password = c.mqtt.password;
    s.tls = c.mqtt.tls.enabled;
    s.ca_file = c.mqtt.tls.ca_file;
    s.cert_file = c.mqtt.tls.cert_file;
    s.key_file = c.mqtt.tls.key_file;
    s.keepalive_s = c.mqtt.keepalive_s;
    s.qos = c.mqtt.qos;
    s.availability_topic = t.availability();
    s.subscriptions = t.command_filters();
    if (c.mqtt.discovery.enabled) {
      // Home Assistant's birth message, and our own configs (to remove
      // entities a previous run made that this one no longer has).
      s.subscriptions.push_back(c.mqtt.discovery.prefix + "/status");
      s.subscriptions.push_back(c.mqtt.discovery.prefix + "/+/lookout_" +
                                mqtt::topic_safe(c.camera) + "/+/config");
    }
    s.max_queued = static_cast<std::size_t>(c.mqtt.max_queued);
    return s;
  }

  void apply(const Config& c) {
    if (!c.mqtt.enabled) {
      if (client) log::notice("mqtt: disabled by the configuration");
      if (!detection_on) {
        // Nothing could switch it back on any more.
        log::notice("mqtt: detection was paused over MQTT; resuming it");
        daemon.set_detection(true);
        detection_on = true;
      }
      retire_client();
      pending.reset();
      config = c.mqtt;
      return;
    }
    const MqttSettings settings = settings_for(c);
    const mqtt::Topics next_topics(c.mqtt.topic_prefix, c.camera);
    if (client && client->settings() != settings) {
      // Discovery topics depend on the camera and the discovery prefix only:
      // when one of those changes, the old entities go from Home Assistant.
      // (A new topic_prefix keeps them: the new configs replace them in place,
      // and users keep their entity ids, areas and settings.)
      if (mqtt::topic_safe(c.camera) != mqtt::topic_safe(camera) ||
          c.mqtt.discovery.prefix != config.discovery.prefix || !c.mqtt.discovery.enabled) {
        for (const auto& [topic, payload] : discovery) client->clear_retained(topic);
      }
      retire_client();
    }
    config = c.mqtt;
    camera = c.camera;
    topics = next_topics;
    reported_classes = c.model.classes;
    zones = c.tracking.enabled ? c.zones : std::vector<tracking::NamedZone>{};
    lines = c.tracking.enabled ? c.lines : std::vector<tracking::NamedLine>{};
    picture_width = c.http.picture_width;
    jpeg_quality = c.http.jpeg_quality;
    presence.set_off_delay(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(config.off_delay_s)));
    if (client) {
      client->set_max_queued(settings.max_queued);
      update_discovery();
    } else if (retiring.empty()) {
      start_client(settings);
    } else {
      // The old connection says goodbye first (it delivers what it has and
      // publishes "offline"): with the same client id, a new one would have
      // the broker cut the old one off mid-goodbye. reap() starts it.
      pending = settings;
    }
    schedule_tick();
  }

  void start_client(const MqttSettings& settings) {
    std::weak_ptr<MqttHub> weak = weak_from_this();
    client = std::make_unique<MqttClient>(
        settings, [weak, &io = io](const std::string& topic, std::string payload, bool retained) {
          // mqtt thread: hand the command to the I/O thread.
          asio::post(io, [weak, topic, payload = std::move(payload), retained]() mutable {
            if (auto hub = weak.lock()) hub->on_message(topic, std::move(payload), retained);
          });
        });
    restore_states();
    update_discovery();
  }

  // A new client knows nothing yet: every state goes to it (published once connected).
  void restore_states() {
    client->set_retained(topics.detection_state(), shared_text(detection_on ? "ON" : "OFF"),
                         MqttClient::Group::State);
    for (const auto& [name, state] : presence.states()) {
      publish_presence({name, state.count, state.detected});
    }
    if (snapshot_jpeg) {
      client->set_retained(topics.snapshot(), snapshot_jpeg, MqttClient::Group::State);
    }
    // Zone and line counts under this client's topics.
    counts_published.clear();
    const DaemonStatus status = daemon.status();
    if (status.counts) publish_counts(*status.counts, status.class_names.get());
  }

  void retire_client() {
    if (!client) return;
    client->stop();
    retiring.push_back(std::move(client));
    discovery.clear();
  }

  void reap() {
    for (auto it = retiring.begin(); it != retiring.end();) {
      if ((*it)->finished()) {
        const MqttCounters c = (*it)->counters();
        retired_sent += c.sent;
        retired_dropped += c.dropped;
        it = retiring.erase(it);  // joins a thread that has ended
      } else {
        ++it;
      }
    }
    if (retiring.empty() && pending && !closed) {
      const MqttSettings settings = *pending;
      pending.reset();
      start_client(settings);
    }
  }

  void set_classes(const std::vector<std::string>& names) {
    if (names == class_names) return;
    class_names = names;
    const auto levels = mqtt::class_levels(names);
    class_level.clear();
    for (std::size_t i = 0; i < names.size(); ++i) class_level[names[i]] = levels[i];
    update_discovery();
  }

  std::string level_of(const std::string& name) const {
    const auto it = class_level.find(name);
    return it != class_level.end() ? it->second : mqtt::topic_safe(name);
  }

  // Publishes the discovery configs this configuration and model call for,
  // and removes those they no longer do (an empty retained config).
  void update_discovery() {
    if (!client || class_names.empty()) return;
    std::map<std::string, std::string> next;
    std::vector<std::string> chosen;
    if (config.discovery.enabled) {
      chosen = mqtt::discovery_classes(config.discovery.classes, reported_classes, class_names,
                                       kMaxDefaultDiscoveryClasses);
      mqtt::DiscoveryInput in;
      in.prefix = config.discovery.prefix;
      in.camera = camera;
      in.camera_level = mqtt::topic_safe(camera);
      in.topics = topics;
      in.device = device;
      in.version = version;
      in.classes = chosen;
      for (const auto& name : chosen) in.class_levels.push_back(level_of(name));
      for (const auto& entry : EnumTable<SourceHealth::State>::entries) {
        in.source_states.emplace_back(entry.name);
      }
      for (const auto& zone : zones) {
        mqtt::DiscoveryInput::Zone z{zone.name, {}, {}};
        // A zone counting some classes gets an entity for each; one counting
        // every class, for the chosen ones.
        z.classes = zone.config.classes.empty() ? chosen : zone.config.classes;
        for (const auto& name : z.classes) z.class_levels.push_back(level_of(name));
        in.zones.push_back(std::move(z));
      }
      for (const auto& line : lines) in.lines.push_back(line.name);
      for (auto& d : mqtt::discovery_configs(in)) next[d.topic] = d.config.dump();
    }
    for (const auto& [topic, payload] : discovery) {
      if (next.count(topic) == 0) client->clear_retained(topic);
    }
    for (const auto& [topic, payload] : next) {
      client->set_retained(topic, shared_text(payload), MqttClient::Group::Discovery);
    }
    discovery = std::move(next);
    // Chosen classes show 0 / OFF before they are first seen.
    for (const auto& change : presence.track(chosen)) publish_presence(change);
  }

  // ---- results -------------------------------------------------------------------------

  void publish_presence(const mqtt::Presence::Change& change) {
    if (!client) return;
    const std::string level = level_of(change.name);
    if (change.count) {
      client->set_retained(topics.count(level), shared_text(std::to_string(*change.count)),
                           MqttClient::Group::State);
    }
    if (change.detected) {
      client->set_retained(topics.detected(level), shared_text(*change.detected ? "ON" : "OFF"),
                           MqttClient::Group::State);
    }
  }

  void publish(const std::shared_ptr<const PublishedFrame>& published) {
    // While paused, a frame processed just before the pause may still come:
    // it would turn presence back ON with nothing to turn it OFF soon.
    if (!client || !detection_on) return;
    const auto now = Clock::now();
    const protocol::FrameDetections& frame = published->frame;
    std::map<std::string, int> counts;
    for (const Detection& d : frame.detections) {
      if (frame.class_names && d.class_id >= 0 &&
          static_cast<std::size_t>(d.class_id) < frame.class_names->size()) {
        ++counts[(*frame.class_names)[static_cast<std::size_t>(d.class_id)]];
      }
    }
    for (const auto& change : presence.update(counts, now)) publish_presence(change);

    if (config.detections_max_rate > 0) {
      // A token bucket of one: at most detections_max_rate a second, with a
      // little slack so that a source at exactly that rate is not halved by jitter.
      if (tokens_at != Clock::time_point{}) {
        detection_tokens = std::min(
            1.0, detection_tokens + std::chrono::duration<double>(now - tokens_at).count() *
                                        config.detections_max_rate);
      }
      tokens_at = now;
      if (detection_tokens >= 0.9) {
        detection_tokens -= 1;
        client->send(topics.detections(), payload_of(*published->line), MqttKind::Detections);
      }
    }

    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(config.snapshot_interval_s));
    const bool due = snapshot_requested ||
                     (!frame.detections.empty() &&
                      (last_snapshot == Clock::time_point{} || now - last_snapshot >= interval));
    if (!due) return;
    if (published->picture) {
      snapshot_requested = false;
      last_snapshot = now;
      if (picture_asked) {
        daemon.want_pictures(Clock::duration::zero(), picture_width, Clock::duration::zero());
        picture_asked.reset();
      }
      encode(published);
    } else if (!picture_asked || now - *picture_asked > kPictureWait) {
      // Frames come without pictures unless asked: ask, and take the next.
      daemon.want_pictures(kPictureWait, picture_width, Clock::duration::zero());
      picture_asked = now;
    }
  }

  void encode(const std::shared_ptr<const PublishedFrame>& frame) {
    if (!encoder) {
      std::weak_ptr<MqttHub> weak = weak_from_this();
      encoder = std::make_unique<PictureEncoder>([weak, &io = io](EncodedPicture&& result) {
        // Encoder thread: back to the I/O thread.
        asio::post(io, [weak, result = std::move(result)]() mutable {
          if (auto hub = weak.lock()) hub->encoded(std::move(result));
        });
      });
    }
    encoder->submit(frame, PictureVariant{picture_width, true, jpeg_quality});
  }

  void encoded(EncodedPicture&& result) {
    if (!result.jpeg) {
      log::warning("mqtt: snapshot of frame ", result.frame->frame.seq,
                   " not encoded: ", result.error);
      return;
    }
    snapshot_jpeg = result.jpeg;
    if (client) client->set_retained(topics.snapshot(), snapshot_jpeg, MqttClient::Group::State);
  }

  void publish_stats(const std::shared_ptr<const PublishedStats>& stats) {
    if (client) client->send(topics.stats(), payload_of(*stats->line), MqttKind::Stats);
  }

  void publish_events(const std::shared_ptr<const PublishedEvents>& published) {
    if (!client) return;
    const protocol::FrameEvents& e = published->events;
    for (const auto& line : published->lines) {
      client->send(topics.events(), payload_of(*line), MqttKind::Events);
    }
    if (e.counts_changed && e.counts) publish_counts(*e.counts, e.class_names.get());
    if (published->picture) {
      for (const auto& object : e.new_bests) class_snapshot(published, object);
    }
  }

  // Retained counts: every zone's "all" and the classes it counts (or, for a
  // zone of every class, those seen in it so far), and every line's totals
  // and the classes that crossed it. Only changed values are sent.
  void publish_counts(const tracking::Counts& counts, const std::vector<std::string>* names) {
    std::map<std::string, std::string> next;
    for (const auto& zone : counts.zones) {
      next[topics.zone_count(zone.name, "all")] = std::to_string(zone.total);
      const auto configured = std::find_if(zones.begin(), zones.end(),
                                           [&](const auto& z) { return z.name == zone.name; });
      for (std::size_t c = 0; c < zone.per_class.size(); ++c) {
        const std::string name = protocol::class_name(names, static_cast<int>(c));
        const std::string topic = topics.zone_count(zone.name, level_of(name));
        const bool listed =
            configured != zones.end() &&
            std::find(configured->config.classes.begin(), configured->config.classes.end(), name) !=
                configured->config.classes.end();
        if (listed || zone.per_class[c] > 0 || counts_published.count(topic) != 0) {
          next[topic] = std::to_string(zone.per_class[c]);
        }
      }
    }
    for (const auto& line : counts.lines) {
      std::uint64_t in = 0, out = 0;
      for (std::size_t c = 0; c < line.per_class.size(); ++c) {
        const auto& [i, o] = line.per_class[c];
        in += i;
        out += o;
        if (i + o == 0) continue;
        const std::string level = level_of(protocol::class_name(names, static_cast<int>(c)));
        next[topics.line_count(line.name, level, "in")] = std::to_string(i);
        next[topics.line_count(line.name, level, "out")] = std::to_string(o);
      }
      next[topics.line_count(line.name, "all", "in")] = std::to_string(in);
      next[topics.line_count(line.name, "all", "out")] = std::to_string(out);
    }
    for (const auto& [topic, payload] : next) {
      const auto old = counts_published.find(topic);
      if (old != counts_published.end() && old->second == payload) continue;
      client->set_retained(topic, shared_text(payload), MqttClient::Group::State);
    }
    // Zones and lines no longer configured (or tracking switched off): their
    // retained counts go from the broker.
    for (const auto& [topic, payload] : counts_published) {
      if (next.count(topic) == 0) client->clear_retained(topic);
    }
    counts_published = std::move(next);
  }

  // P/C/<class>/snapshot: the newest event's best picture of the class, at
  // most one per snapshot_interval_s (the newest waits for its turn).
  void class_snapshot(const std::shared_ptr<const PublishedEvents>& published,
                      const tracking::ObjectState& object) {
    const protocol::FrameEvents& e = published->events;
    auto frame = std::make_shared<PublishedFrame>();
    frame->frame.seq = published->seq;
    frame->frame.width = e.width;
    frame->frame.height = e.height;
    frame->frame.class_names = e.class_names;
    frame->frame.camera = e.camera;
    frame->frame.detections.push_back(object.best_detection());
    frame->picture = published->picture;
    const std::string level = level_of(protocol::class_name(e.class_names.get(), object.class_id));
    class_snapshots[level].pending = std::move(frame);
    flush_class_snapshots(Clock::now());
  }

  void flush_class_snapshots(Clock::time_point now) {
    // A job the encoder never answered (it cannot lose one it holds alone,
    // but a stuck encoder must not stop class snapshots for good).
    if (class_encoding && now - class_encoding_since > kPictureWait * 5) class_encoding.reset();
    if (class_encoding || !client) return;
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(config.snapshot_interval_s));
    for (auto& [level, snapshot] : class_snapshots) {
      if (!snapshot.pending) continue;
      if (snapshot.last != Clock::time_point{} && now - snapshot.last < interval) continue;
      snapshot.last = now;
      class_encoding.emplace(level, std::exchange(snapshot.pending, nullptr));
      class_encoding_since = now;
      if (!class_encoder) {
        std::weak_ptr<MqttHub> weak = weak_from_this();
        class_encoder = std::make_unique<PictureEncoder>([weak, &io = io](EncodedPicture&& result) {
          // Encoder thread: back to the I/O thread.
          asio::post(io, [weak, result = std::move(result)]() mutable {
            if (auto hub = weak.lock()) hub->class_encoded(std::move(result));
          });
        });
      }
      class_encoder->submit(class_encoding->second,
                            PictureVariant{picture_width, true, jpeg_quality});
      return;  // one at a time; the next when this one is done
    }
  }

  void class_encoded(EncodedPicture&& result) {
    if (!class_encoding || class_encoding->second != result.frame) return;
    const std::string level = class_encoding->first;
    class_encoding.reset();
    if (!result.jpeg) {
      log::warning("mqtt: the ", level, " snapshot was not encoded: ", result.error);
    } else if (client) {
      client->set_retained(topics.class_snapshot(level), result.jpeg, MqttClient::Group::State);
    }
    flush_class_snapshots(Clock::now());
  }

  // ---- commands --------------------------------------------------------------------------

  void on_message(const std::string& topic, std::string payload, bool retained) {
    if (!client || closed) return;
    // Everything under the camera's own topics is a command (the subscriptions are …/set,
    // …/request).
    const bool command = topic.rfind(topics.base + "/", 0) == 0;
    if (command && retained) {
      // A retained command would act again on every restart and reconnect
      // (and undo "a restart starts with detection on"): commands are events.
      if (refusals.allow()) {
        log::warning("mqtt: ignored a retained command on ", printable(topic, 120),
                     " (publish commands without the retain flag)");
      }
      return;
    }
    if (topic == topics.detection_set()) {
      const std::string value = upper_trimmed(payload);
      if (value != "ON" && value != "OFF") {
        refuse(topic, "the payload must be ON or OFF, got '" + printable(payload, 40) + "'");
        return;
      }
      set_detection(value == "ON");
    } else if (topic == topics.snapshot_request()) {
      snapshot_requested = true;
      daemon.want_pictures(kPictureWait, picture_width, Clock::duration::zero());
      picture_asked = Clock::now();
    } else if (config.discovery.enabled && topic == config.discovery.prefix + "/status") {
      if (upper_trimmed(payload) == "ONLINE") {
        if (notices.allow()) {
          log::info("mqtt: Home Assistant is online; publishing discovery and states again");
        }
        client->republish_retained();
      }
    } else if (config.discovery.enabled && topic.size() > 7 &&
               topic.compare(topic.size() - 7, 7, "/config") == 0 &&
               topic.rfind(config.discovery.prefix + "/", 0) == 0) {
      // A retained config of ours from an earlier run (or configuration)
      // that this one does not have: its entity goes.
      if (!payload.empty() && discovery.count(topic) == 0) {
        if (notices.allow()) {
          log::info("mqtt: removing the stale Home Assistant entity ", printable(topic, 200));
        }
        client->clear_retained(topic);
      }
    } else {
      refuse(topic, "unknown command (known: " + topics.detection_set() + " ON|OFF, " +
                        topics.snapshot_request() + ")");
    }
  }

  void refuse(const std::string& topic, const std::string& why) {
    // The topic is the sender's: cut and made printable, like a payload.
    if (refusals.allow()) {
      log::warning("mqtt: refused the command on ", printable(topic, 120), ": ", why);
    }
  }

  void set_detection(bool on) {
    daemon.set_detection(on);
    detection_on = on;
    client->set_retained(topics.detection_state(), shared_text(on ? "ON" : "OFF"),
                         MqttClient::Group::State);
    if (!on) {
      // Nothing is detected while paused.
      for (const auto& change : presence.clear()) publish_presence(change);
    }
  }

  // ---- housekeeping ------------------------------------------------------------------------

  void schedule_tick() {
    if (ticking || closed) return;
    ticking = true;
    // Quicker while a new connection waits for the old one's goodbye.
    timer.expires_after(pending ? kHandoverTick : kTick);
    std::weak_ptr<MqttHub> weak = weak_from_this();
    timer.async_wait([weak](const boost::system::error_code& ec) {
      auto hub = weak.lock();
      if (!hub) return;
      hub->ticking = false;
      if (ec || hub->closed) return;
      hub->tick();
    });
  }

  void tick() {
    // OFF transitions happen without frames too (source stalled, detection paused).
    for (const auto& change : presence.tick(Clock::now())) publish_presence(change);
    flush_class_snapshots(Clock::now());
    reap();
    if (client || !retiring.empty() || pending) schedule_tick();
  }

  void report(std::vector<protocol::OutputStats>& out) const {
    if (!client && retiring.empty() && retired_sent == 0 && retired_dropped == 0) return;
    protocol::OutputStats s;
    s.name = "mqtt";
    s.sent = retired_sent;
    s.dropped = retired_dropped;
    for (const auto& r : retiring) {
      const MqttCounters c = r->counters();
      s.sent += c.sent;
      s.dropped += c.dropped;
    }
    if (client) {
      const MqttCounters c = client->counters();
      s.state = std::string(enum_name(c.state));
      s.error = c.error;
      s.sent += c.sent;
      s.dropped += c.dropped;
      s.queued = c.queued;
    } else {
      s.state = pending ? "connecting" : "disabled";
    }
    out.push_back(std::move(s));
  }

  void close() {
    if (closed) return;
    closed = true;
    pending.reset();
    timer.cancel();
    retire_client();
    encoder.reset();
    class_encoder.reset();
    // Each client delivers what it still has (at most 2 s) and says
    // "offline". One stuck in a host name lookup cannot be interrupted: it is
    // left to the process's exit rather than holding up the stop.
    const auto deadline = Clock::now() + kCloseWait;
    for (auto& r : retiring) {
      while (!r->finished() && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (!r->finished()) {
        log::warning("mqtt: the connection thread did not end in time; leaving it");
        r->abandon();
        r.release();  // its thread still uses it; the process ends soon
      }
    }
    retiring.clear();
  }
};

MqttOutput::MqttOutput(asio::io_context& io, DaemonView& daemon, std::string version)
    : hub_(std::make_shared<MqttHub>(io, daemon, std::move(version))) {}

MqttOutput::~MqttOutput() {
  close();
}

std::unique_ptr<OutputPrepared> MqttOutput::prepare(const Config*, const Config&) {
  // Nothing to bind: the broker connection is made on the client's own thread.
  return nullptr;
}

void MqttOutput::apply(const Config& config, std::unique_ptr<OutputPrepared>) {
  hub_->apply(config);
}

void MqttOutput::set_hello(const protocol::HelloInfo& hello) {
  hub_->set_classes(hello.model.classes);
}

void MqttOutput::publish(const std::shared_ptr<const PublishedFrame>& frame) {
  hub_->publish(frame);
}

void MqttOutput::publish_stats(const std::shared_ptr<const PublishedStats>& stats) {
  hub_->publish_stats(stats);
}

void MqttOutput::publish_events(const std::shared_ptr<const PublishedEvents>& events) {
  hub_->publish_events(events);
}

void MqttOutput::count_clients(std::vector<ClientCount>&) const {
  // The broker's subscribers are not lookoutd's clients.
}

void MqttOutput::report(std::vector<protocol::OutputStats>& out) const {
  hub_->report(out);
}

void MqttOutput::close() {
  hub_->close();
}

}  // namespace lookout
