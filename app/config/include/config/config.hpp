// Config: lookoutd's configuration, read from YAML and validated in full before
// anything starts (and before a SIGHUP reload replaces a running one).
//
// The commented example app/config/lookout.yaml documents every key; it is
// compiled in as the embedded default (default_config_text()) and installed as
// /etc/lookout/lookout.yaml, so the documentation and the defaults cannot
// drift apart (tests/app/core/config_test.cpp checks that an empty file and the
// example give the same Config).
//
// Ownership: plain data, copied freely. Threads: none of its own; the loaders
// are pure functions and may run on any thread.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.hpp"
#include "core/source_config.hpp"
#include "engine/engine.hpp"

namespace lookout {

// Every problem found in a configuration, one per line, each as
// "FILE:LINE:COLUMN: KEY: what is wrong" (LINE and COLUMN from 1).
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

// Where a key was written, for errors found after parsing (e.g. a class name
// the model turns out not to have).
struct ConfigLocation {
  std::string file;
  int line = 0;  // from 1; 0 = not from a file (a default)
  int column = 0;
  std::string key;  // dotted path, e.g. "model.classes"
  // "FILE:LINE:COLUMN: KEY: " + message.
  std::string format(std::string_view message) const;
};

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
};

struct ModelConfig {
  // Resolved to an absolute path (see the example config for the search rules).
  std::string path = "shapes.torchscript";
  int input_width = 0;  // 0x0 = the model's own default
  int input_height = 0;
  float conf = 0.25f;
  float iou = 0.45f;
  int max_detections = 100;
  bool agnostic_nms = false;
  std::vector<std::string> classes;         // names to report; empty = all
  std::map<std::string, float> class_conf;  // per-class minimum score
  int threads = 0;                          // intra-op threads, 0 = auto
  Backend backend = Backend::Auto;
  std::vector<int> pin_cores;
  // Where `classes` and `class_conf` were written, for errors found once the
  // model's class names are known.
  ConfigLocation classes_location;
  ConfigLocation class_conf_location;
};

struct TcpConfig {
  bool enabled = true;
  std::string bind = "0.0.0.0";
  int port = 7878;  // 0 = any free port (logged at start; for tests)
  std::vector<Network> allowed_networks;
  std::string token;  // empty = no authentication
};

struct UnixConfig {
  bool enabled = true;
  std::string path = "lookoutd.sock";  // resolved to an absolute path
  unsigned mode = 0660;
};

struct PublishConfig {
  int max_clients = 32;  // TCP and Unix clients together
  int send_queue = 64;   // messages queued per client before its oldest are dropped
  double stats_interval_s = 5;
  TcpConfig tcp;
  UnixConfig unix_socket;
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
  LoggingConfig logging;
  // The file the configuration came from, or "<embedded default>".
  std::string origin;
};

// The example configuration compiled into the program (app/config/lookout.yaml).
std::string_view default_config_text();
inline constexpr const char* kEmbeddedOrigin = "<embedded default>";

// Parses and validates `text`. `origin` names it in errors; relative paths in
// it are resolved against `base_dir` (empty = the model search path only).
// Throws ConfigError listing every problem.
Config parse_config(std::string_view text, const std::string& origin, const std::string& base_dir);

// Reads and validates a file. Throws ConfigError (also for an unreadable file).
Config load_config_file(const std::string& path);

// The embedded default. Throws ConfigError only if the model cannot be found.
Config load_default_config();

// A canonical, complete dump of the effective configuration (JSON text, keys
// sorted), for logs and for comparing configurations.
std::string describe(const Config& config);

// Where a bare model file name is looked for, in order: $LOOKOUT_MODEL_DIR,
// the installed model directory, the source tree's models/default.
std::vector<std::string> model_search_path();

}  // namespace lookout
