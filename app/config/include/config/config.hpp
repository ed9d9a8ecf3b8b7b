// Config: lookoutd's configuration, read from YAML through the schema
// (config/schema.hpp; the tables are in config.cpp) and validated in full
// before anything starts, and before a SIGHUP reload replaces a running one.
//
// Two steps, kept apart:
//   * parsing (parse_config): text and its file name to a Config or a list of
//     problems. Pure: no file system, environment or host name, so it can be
//     fuzzed and compared. Paths and the camera name stay as written.
//   * resolution (resolve_config): the camera name (the host name when
//     empty), the Unix socket path (relative: in the runtime directory), the
//     model file (searched for), the files source's path (must exist), each
//     problem reported at its key's place in the file.
// load_config_file does both and reports their problems together.
//
// The commented example app/config/lookout.yaml documents every key; it is
// compiled in as the embedded default (default_config_text()) and installed as
// /etc/lookout/lookout.yaml. tests/app/config checks that it lists every key
// of the schema with its default, and nothing else.
//
// Ownership: plain data, copied freely. Threads: none of its own; every
// function here may run on any thread.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/schema.hpp"
#include "core/log.hpp"
#include "core/source_config.hpp"
#include "engine/engine.hpp"
#include "tracking/objects.hpp"

namespace lookout {

// An IPv4 or IPv6 network in CIDR form. IPv4 addresses are matched in their
// own family; IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are unmapped first.
struct Network {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4
  int prefix = 0;

  // "192.168.0.0/16", "::1/128", or a bare address (a host). nullopt when malformed
  // or when host bits are set below the prefix ("10.0.0.1/8").
  static std::optional<Network> parse(std::string_view text);
  std::string to_string() const;
  // `address` is 4 or 16 bytes in network order.
  bool contains(const std::uint8_t* address, bool address_v6) const;
  bool operator==(const Network& other) const {
    return v6 == other.v6 && bytes == other.bytes && prefix == other.prefix;
  }
};

// Loopback, the private ranges and link-local addresses.
std::vector<Network> default_allowed_networks();

struct ModelConfig {
  // What the engine is built with: model_path (resolved to an absolute
  // path), input size, threads, backend, pin_cores. The frame size comes
  // from the source and warm-up from the caller (engine_options in the
  // daemon); the other members keep EngineOptions' defaults.
  EngineOptions engine = default_engine();
  float conf = 0.25f;
  float iou = 0.45f;
  int max_detections = 100;
  bool agnostic_nms = false;
  std::vector<std::string> classes;         // names to report; empty = all
  std::map<std::string, float> class_conf;  // per-class minimum score

  static EngineOptions default_engine() {
    EngineOptions options;
    options.model_path = "shapes.torchscript";
    return options;
  }
};

struct TcpConfig {
  bool enabled = true;
  std::string bind = "0.0.0.0";
  int port = 7878;  // 0 = any free port (logged at start; for tests)
  std::vector<Network> allowed_networks = default_allowed_networks();
  std::string token;  // empty = no authentication
  // From one client address; the rest of max_clients stays free for others.
  int max_clients_per_host = 8;
  double auth_timeout_s = 10;  // a client that must authenticate is disconnected after this
};

struct UnixConfig {
  bool enabled = true;
  std::string path = "lookoutd.sock";  // resolved to an absolute path
  unsigned mode = 0660;
  int max_clients = 32;  // counted apart from TCP's, so LAN clients never take these places
};

struct PublishConfig {
  int max_clients = 32;  // TCP clients together (Unix clients: unix_socket.max_clients)
  int send_queue = 64;   // messages queued per client before its oldest are dropped
  // A client whose socket takes no bytes for this long is disconnected.
  double send_timeout_s = 30;
  double stats_interval_s = 5;
  TcpConfig tcp;
  UnixConfig unix_socket;
};

// The HTTP server (viewer, snapshots, MJPEG, health, metrics; app/daemon/HTTP.md).
// Access control is lookout/1's: publish.tcp.allowed_networks and publish.tcp.token.
struct HttpConfig {
  bool enabled = true;
  std::string bind = "0.0.0.0";
  int port = 8080;                    // 0 = any free port (logged at start; for tests)
  int max_connections = 64;           // all HTTP connections together
  int max_connections_per_host = 16;  // from one client address
  int max_header_bytes = 8192;        // request line and headers
  double header_timeout_s = 10;       // to send a whole request head
  double send_timeout_s = 30;         // a response or stream whose socket takes nothing
  int max_stream_fps = 15;            // cap on /stream.mjpg?fps=
  int picture_width = 640;            // frames kept for pictures are at most this wide
  int jpeg_quality = 70;              // default quality of snapshots and streams
  double health_timeout_s = 10;       // /healthz fails after this long without a processed frame
};

// The MQTT output (app/daemon/MQTT.md): detections, presence, snapshots and
// Home Assistant discovery through an existing broker.
struct MqttTlsConfig {
  bool enabled = false;
  std::string ca_file;    // resolved to an absolute path; empty = the system's CAs
  std::string cert_file;  // a client certificate, with key_file; empty = none
  std::string key_file;
};

struct MqttDiscoveryConfig {
  bool enabled = true;
  std::string prefix = "homeassistant";
  // Classes that get Home Assistant entities; empty = the rule in MQTT.md
  // (model.classes when set, else every class of a model with at most
  // kMaxDefaultDiscoveryClasses, else "person" alone).
  std::vector<std::string> classes;
};
inline constexpr std::size_t kMaxDefaultDiscoveryClasses = 10;

struct MqttConfig {
  bool enabled = false;
  std::string host = "localhost";
  int port = 1883;
  std::string client_id;  // empty = "lookout-" + the topic-safe camera name
  std::string username;   // empty = none
  std::string password_file;
  // Read from password_file at resolution (not a key: never in the YAML).
  std::string password;
  MqttTlsConfig tls;
  std::string topic_prefix = "lookout";
  int qos = 1;
  int keepalive_s = 30;
  double detections_max_rate = 5;   // messages a second on P/C/detections; 0 = none
  double off_delay_s = 10;          // P/C/<class>/detected stays ON this long after the last one
  double snapshot_interval_s = 10;  // at most one P/C/snapshot per interval (requests excepted)
  int max_queued = 100;             // streamed messages waiting for the broker
  MqttDiscoveryConfig discovery;
};

// Tracking and events (app/tracking/TRACKING.md): the tracker's options and
// the event rules.
struct TrackingConfig {
  bool enabled = true;
  tracking::TrackerOptions tracker;
  tracking::ObjectOptions objects;
};

// Where events and their snapshots are kept, and for how long.
struct EventsConfig {
  bool snapshots = true;             // keep each event's best picture on disk
  std::string directory = "events";  // relative: in the state directory (/var/lib/lookout)
  int max_count = 1000;              // events with snapshots kept; the oldest go first
  double max_mb = 500;               // snapshot bytes kept
  double max_age_days = 14;          // older snapshots are removed
  int jpeg_quality = 85;
  int recent = 200;  // events kept in memory for /api/events (their latest state)
};

struct LoggingConfig {
  log::Level level = log::Level::Info;
  double summary_interval_s = 600;  // 0 = no periodic summary line
};

struct Config {
  std::string camera;  // resolved: never empty (defaults to the host name)
  SourceConfig source;
  ModelConfig model;
  PublishConfig publish;
  HttpConfig http;
  MqttConfig mqtt;
  TrackingConfig tracking;
  EventsConfig events;
  std::vector<tracking::NamedZone> zones;  // in file order
  std::vector<tracking::NamedLine> lines;
  LoggingConfig logging;
  // The file the configuration came from, or "<embedded default>".
  std::string origin;
  // Where each key was written, for problems found after parsing (a model
  // file not found, a class name the model turns out not to have).
  config::Locations locations;
};

// The schema of the whole file (sections camera, source, model, publish,
// http, mqtt, tracking, events, zones, lines, logging), for the reference and
// for tests.
const config::Section<Config>& config_schema();
// Every key with its type, default, description and what a change restarts.
std::vector<config::KeyInfo> config_keys();

// The example configuration compiled into the program (app/config/lookout.yaml).
std::string_view default_config_text();
inline constexpr const char* kEmbeddedOrigin = "<embedded default>";

// Parses `text` (pure; see the top of this file). `origin` names it in
// problems. Throws ConfigError listing every problem.
Config parse_config(std::string_view text, const std::string& origin);

// What resolution looks at, so that it can be given for tests.
struct Environment {
  std::string base_dir;  // relative paths in the file are relative to it; "" = none
  std::string host_name;
  std::string runtime_dir;
  std::vector<std::string> model_search_path;
  // Relative events.directory is in it; "" = relative to base_dir.
  std::string state_dir;
  // This process's: gethostname, $RUNTIME_DIRECTORY (else $XDG_RUNTIME_DIR,
  // else /tmp), model_search_path(), $STATE_DIRECTORY (else
  // $XDG_STATE_HOME/lookout, else ~/.local/state/lookout).
  static Environment of_this_process(std::string base_dir);
};

// Resolves a parsed configuration (see the top of this file). Throws
// ConfigError listing every problem, each at its key's place.
Config resolve_config(Config parsed, const Environment& environment);

// Reads, parses and resolves a file (relative paths are relative to its
// directory). Throws ConfigError listing every problem of both steps, also
// for an unreadable file.
Config load_config_file(const std::string& path);

// The embedded default, resolved. Throws ConfigError only if the model
// cannot be found.
Config load_default_config();

// A canonical, complete dump of the effective configuration (JSON text, keys
// sorted, secrets masked), for logs and for comparing configurations.
std::string describe(const Config& config);

// What a reload from `running` to `next` changes and restarts.
config::ReloadPlan plan_reload(const Config& running, const Config& next);

// Where a bare model file name is looked for, in order: $LOOKOUT_MODEL_DIR,
// the installed model directory (found relative to the running executable),
// the source tree's models/default.
std::vector<std::string> model_search_path();

}  // namespace lookout
