#include "config/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <type_traits>

#include <arpa/inet.h>

#include "core/stream_url.hpp"
#include "default_config.hpp"

namespace lookout {

namespace fs = std::filesystem;
using config::Restart;

// ---- Network -----------------------------------------------------------------

std::optional<Network> Network::parse(std::string_view text) {
  std::string address(text);
  std::optional<int> prefix;
  if (const auto slash = text.find('/'); slash != std::string_view::npos) {
    address = std::string(text.substr(0, slash));
    const std::string_view digits = text.substr(slash + 1);
    int value = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty()) {
      return std::nullopt;
    }
    prefix = value;
  }
  Network net;
  if (inet_pton(AF_INET, address.c_str(), net.bytes.data()) == 1) {
    net.v6 = false;
  } else if (inet_pton(AF_INET6, address.c_str(), net.bytes.data()) == 1) {
    net.v6 = true;
  } else {
    return std::nullopt;
  }
  const int max_prefix = net.v6 ? 128 : 32;
  net.prefix = prefix.value_or(max_prefix);
  if (net.prefix < 0 || net.prefix > max_prefix) return std::nullopt;
  // Host bits set below the prefix usually mean a typo ("10.0.0.1/8"): refuse.
  for (int bit = net.prefix; bit < max_prefix; ++bit) {
    if (net.bytes[static_cast<std::size_t>(bit / 8)] & (0x80 >> (bit % 8))) return std::nullopt;
  }
  return net;
}

std::string Network::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix);
}

bool Network::contains(const std::uint8_t* address, bool address_v6) const {
  static constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (address_v6 && !v6 && std::equal(kMappedPrefix, kMappedPrefix + 12, address)) {
    address += 12;  // ::ffff:a.b.c.d is the IPv4 client a.b.c.d on a dual-stack socket
    address_v6 = false;
  }
  if (address_v6 != v6) return false;
  for (int bit = 0; bit < prefix; ++bit) {
    const auto i = static_cast<std::size_t>(bit / 8);
    const int mask = 0x80 >> (bit % 8);
    if ((address[i] & mask) != (bytes[i] & mask)) return false;
  }
  return true;
}

std::vector<Network> default_allowed_networks() {
  std::vector<Network> networks;
  for (const char* text : {"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                           "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"}) {
    networks.push_back(*Network::parse(text));
  }
  return networks;
}

// ---- value types of lookoutd's own keys ------------------------------------------------

namespace {

using config::Node;
using config::Reader;

// A network in CIDR form.
struct NetworkValue {
  using Value = Network;
  bool read(Reader& reader, const Node& node, Network& out) const {
    std::string text;
    if (!config::Text{}.read(reader, node, text)) return false;
    if (auto net = Network::parse(text)) {
      out = *net;
      return true;
    }
    reader.problem(node,
                   "expected a network such as 192.168.0.0/16 or fd00::/8 (no host bits below "
                   "the prefix), got '" +
                       printable(text) + "'");
    return false;
  }
  nlohmann::json json(const Network& net) const { return net.to_string(); }
  std::string type() const { return "network (CIDR)"; }
};

// An address to listen on, as bytes: 4 (IPv4) or 16 (IPv6); empty when
// `text` is neither.
std::vector<std::uint8_t> address_bytes(const std::string& text) {
  std::uint8_t buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return {buf, buf + 4};
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) return {buf, buf + 16};
  return {};
}

// Whether listening on both addresses at one port collides: the same
// address, a wildcard and an address of its family, or :: (which serves
// IPv4 too) and anything.
bool listen_addresses_overlap(const std::string& a, const std::string& b) {
  const auto x = address_bytes(a), y = address_bytes(b);
  const auto wildcard = [](const std::vector<std::uint8_t>& v) {
    return std::all_of(v.begin(), v.end(), [](std::uint8_t c) { return c == 0; });
  };
  if (x.empty() || y.empty()) return false;
  if (x == y) return true;
  if ((x.size() == 16 && wildcard(x)) || (y.size() == 16 && wildcard(y))) return true;
  return x.size() == y.size() && (wildcard(x) || wildcard(y));
}

// An IP address to listen on.
struct BindAddress {
  using Value = std::string;
  bool read(Reader& reader, const Node& node, std::string& out) const {
    std::string text;
    if (!config::Text{}.read(reader, node, text)) return false;
    const auto bytes = address_bytes(text);
    if (bytes.empty()) {
      reader.problem(node,
                     "must be an IPv4 or IPv6 address (0.0.0.0 = all IPv4 interfaces), got '" +
                         printable(text) + "'");
      return false;
    }
    // Addresses bind() refuses whatever the machine: multicast ones, and
    // IPv6 link-local ones, which need an interface that this key cannot name.
    const bool multicast = bytes.size() == 4 ? (bytes[0] & 0xF0) == 0xE0 : bytes[0] == 0xFF;
    const bool broadcast = bytes.size() == 4 && std::all_of(bytes.begin(), bytes.end(),
                                                            [](auto c) { return c == 0xFF; });
    const bool link_local_v6 = bytes.size() == 16 && bytes[0] == 0xFE && (bytes[1] & 0xC0) == 0x80;
    if (multicast || broadcast) {
      reader.problem(node, "cannot listen on a " +
                               std::string(multicast ? "multicast" : "broadcast") +
                               " address, got '" + text + "'");
      return false;
    }
    if (link_local_v6) {
      reader.problem(node,
                     "cannot listen on an IPv6 link-local address (it needs an interface); use "
                     ":: or a global address, got '" +
                         text + "'");
      return false;
    }
    out = text;
    return true;
  }
  nlohmann::json json(const std::string& value) const { return value; }
  std::string type() const { return "IPv4 or IPv6 address"; }
};

// Permission bits in octal, written as a quoted string ("0660").
struct FileMode {
  using Value = unsigned;
  bool read(Reader& reader, const Node& node, unsigned& out) const {
    const std::string& text = node.scalar();
    const bool octal = !text.empty() && text.size() <= 4 &&
                       text.find_first_not_of("01234567") == std::string::npos;
    const unsigned mode = octal ? static_cast<unsigned>(std::stoul(text, nullptr, 8)) : 07777;
    if (!octal || mode > 0777) {
      reader.problem(node,
                     "expected permission bits in octal such as \"0660\", got " + node.describe());
      return false;
    }
    out = mode;
    return true;
  }
  nlohmann::json json(unsigned mode) const {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", mode);
    return text;
  }
  std::string type() const { return "octal permission bits"; }
};

// Class names: each given once, none empty.
struct ClassNames {
  using Value = std::vector<std::string>;
  bool read(Reader& reader, const Node& node, Value& out) const {
    Value names;
    if (!config::ListOf<config::Text>{{128, false}}.read(reader, node, names)) return false;
    std::set<std::string> seen;
    bool ok = true;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (names[i].empty()) {
        reader.problem(node.item(i), "class names cannot be empty");
        ok = false;
      } else if (!seen.insert(names[i]).second) {
        reader.problem(node.item(i), "class '" + printable(names[i]) + "' is listed twice");
        ok = false;
      }
    }
    if (ok) out = std::move(names);
    return ok;
  }
  nlohmann::json json(const Value& names) const { return names; }
  std::string type() const { return "list of class names"; }
};

// Class name to minimum score.
struct ClassScores {
  using Value = std::map<std::string, float>;
  bool read(Reader& reader, const Node& node, Value& out) const {
    if (node.empty()) {
      out.clear();
      return true;
    }
    if (node.kind() != Node::Kind::Map) {
      reader.problem(node, "expected a mapping of class name to score, got " + node.describe());
      return false;
    }
    Value scores;
    bool ok = true;
    for (const auto& [key, value] : node.entries()) {
      const std::string& name = key.scalar();
      if (key.kind() != Node::Kind::Scalar || name.empty()) {
        ConfigLocation where = key.location();
        where.key = node.key();
        reader.problem(where, "class names must be plain names");
        ok = false;
      } else if (scores.count(name)) {
        reader.problem(key, "duplicate key");
        ok = false;
      } else if (float score = 0; config::Real<float>{0, 1}.read(reader, value, score)) {
        scores[name] = score;
      } else {
        ok = false;
      }
    }
    if (ok) out = std::move(scores);
    return ok;
  }
  nlohmann::json json(const Value& scores) const {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, score] : scores) out[name] = config::detail::shortest_float(score);
    return out;
  }
  std::string type() const { return "mapping of class name to score 0 .. 1"; }
};

// A duration in whole milliseconds.
struct Milliseconds {
  using Value = std::chrono::milliseconds;
  std::int64_t min;
  std::int64_t max;
  bool read(Reader& reader, const Node& node, Value& out) const {
    std::int64_t ms = 0;
    if (!config::Integer<std::int64_t>{min, max}.read(reader, node, ms)) return false;
    out = Value(ms);
    return true;
  }
  nlohmann::json json(Value value) const { return value.count(); }
  std::string type() const { return config::Integer<std::int64_t>{min, max}.type() + " ms"; }
};

// ---- the tables --------------------------------------------------------------------------
//
// Restart says what a change does to a running lookoutd on reload:
//   Nothing   applied as it is: thresholds, class filters, client limits, the
//             token and allowed networks (clients no longer allowed are
//             disconnected), socket permissions, logging;
//   Source    the frame source is restarted (the engine keeps running);
//   Engine    the model is loaded anew (the camera keeps running);
//   Listener  the section's socket is opened anew (bound before anything is
//             switched, so an address in use rejects the reload).

const config::Section<SourceConfig>& source_schema() {
  using S = SourceConfig;
  static const config::Section<S> schema{
      {
          config::field("type", &S::type, config::Choice<SourceType>{}, Restart::Source,
                        "where frames come from"),
          config::field("width", &S::width, config::Integer<int>{0, 16384},
                        Restart::Source | Restart::Engine,
                        "requested frame width (files: 0 keeps the stored size); the engine's "
                        "input adapts to it"),
          config::field("height", &S::height, config::Integer<int>{0, 16384},
                        Restart::Source | Restart::Engine,
                        "requested frame height (files: 0 keeps the stored size)"),
          config::field("fps", &S::fps, config::Real<double>{0, 1000}, Restart::Source,
                        "requested frame rate; 0 = as fast as frames can be made (synthetic, "
                        "files)"),
          config::field("format", &S::format, config::ChoiceOr<PixelFormat>{"auto"},
                        Restart::Source, "preferred pixel format"),
          config::field("path", &S::path, config::Text{}, Restart::Source,
                        "files: the image, directory or video to read"),
          config::field("loop", &S::loop, config::Boolean{}, Restart::Source,
                        "files: start again at the end instead of stopping"),
          config::field(
              "seed", &S::seed,
              config::Integer<std::uint64_t>{0, std::numeric_limits<std::uint64_t>::max()},
              Restart::Source, "synthetic: scenes are reproducible for a given seed"),
          config::field("motion", &S::motion, config::Choice<SyntheticMotion>{}, Restart::Source,
                        "synthetic: bounce (a fixed set of objects) or traffic (objects enter, "
                        "cross, stop and leave; models/SCENES.md)"),
          config::field("device", &S::device, config::Text{}, Restart::Source,
                        "v4l2: the device node"),
          config::field("camera_id", &S::camera, config::Text{}, Restart::Source,
                        "libcamera: camera index or id; empty = the first camera"),
          config::field("url", &S::url, config::Text{4096}, Restart::Source,
                        "stream: rtsp://, rtsps://, http(s):// (MJPEG) or HLS URL, without "
                        "credentials"),
          config::field("credentials_file", &S::credentials_file, config::Text{}, Restart::Source,
                        "stream: a file whose first line is user:password for the URL"),
          config::field("frame_timeout_ms", &S::frame_timeout, Milliseconds{100, 600000},
                        Restart::Source, "no frame for this long counts as a stall"),
          config::field("backoff_initial_ms", &S::backoff_initial, Milliseconds{10, 600000},
                        Restart::Source, "delay before restarting a failed source"),
          config::field("backoff_max_ms", &S::backoff_max, Milliseconds{10, 3600000},
                        Restart::Source, "the delay doubles per failure up to this"),
      },
      [](Reader& reader, const S& s, const std::string& path) {
        const auto at = [&](const char* key) { return reader.locations().of(path + "." + key); };
        const std::string type(enum_name(s.type));
        for (const auto& [key, side] :
             {std::pair{"width", s.width}, std::pair{"height", s.height}}) {
          if (side == 0 && s.type != SourceType::Files && s.type != SourceType::Stream) {
            reader.problem(at(key), "must be positive for source type " + type);
          }
        }
        if (s.fps == 0 && is_camera(s.type)) {
          reader.problem(at("fps"), "must be positive for a camera (0 is for synthetic and files)");
        }
        // A frame period must fit a clock duration, and a scene must be
        // steppable: one frame per 100 s is the slowest rate taken.
        if (s.fps > 0 && s.fps < kMinSourceFps) {
          reader.problem(at("fps"),
                         "must be 0 or at least " + config::detail::format_real(kMinSourceFps) +
                             " (one frame per 100 s), got " + config::detail::format_real(s.fps));
        }
        if (s.type == SourceType::Files && s.path.empty()) {
          reader.problem(at("path"), "required for source type files");
        }
        if (s.type == SourceType::V4l2 && s.device.empty()) {
          reader.problem(at("device"), "required for source type v4l2");
        }
        if (s.type == SourceType::Stream) {
          if (const std::string problem = stream_url_problem(s.url); !problem.empty()) {
            reader.problem(at("url"), problem);
          }
        }
        if (s.backoff_max < s.backoff_initial) {
          const bool max_written = reader.locations().written(path + ".backoff_max_ms");
          reader.problem(at(max_written ? "backoff_max_ms" : "backoff_initial_ms"),
                         max_written ? "must not be less than source.backoff_initial_ms"
                                     : "must not be more than source.backoff_max_ms");
        }
      }};
  return schema;
}

const config::Section<ModelConfig>& model_schema() {
  using S = ModelConfig;
  using config::member;
  const auto input_json = [](const S& s) {
    return nlohmann::json::array({s.engine.input_width, s.engine.input_height});
  };
  static const config::Section<S> schema{
      {
          config::field("path", member(&S::engine, &EngineOptions::model_path), config::Text{},
                        Restart::Engine,
                        "TorchScript model file; a bare name is searched for in the model "
                        "directories"),
          config::custom_field<S>(
              "input", "[width, height], multiples of the model's stride; [0, 0] = its own",
              Restart::Engine, "the model's input size",
              [](Reader& reader, const Node& node, S& s) {
                std::vector<int> sides;
                if (!config::ListOf<config::Integer<int>>{{0, 4096}}.read(reader, node, sides)) {
                  return;
                }
                if (sides.size() != 2) {
                  reader.problem(node, "expected [width, height]");
                } else if ((sides[0] == 0) != (sides[1] == 0)) {
                  reader.problem(
                      node, "width and height must both be 0 (model default) or both positive");
                } else {
                  s.engine.input_width = sides[0];
                  s.engine.input_height = sides[1];
                }
              },
              input_json,
              [](const S& a, const S& b) {
                return a.engine.input_width == b.engine.input_width &&
                       a.engine.input_height == b.engine.input_height;
              }),
          config::field("conf", &S::conf, config::Real<float>{0, 1}, Restart::Nothing,
                        "minimum score for a detection to be reported"),
          config::field("iou", &S::iou, config::Real<float>{0, 1}, Restart::Nothing,
                        "overlap above which non-maximum suppression drops the weaker box"),
          config::field("max_detections", &S::max_detections, config::Integer<int>{1, 1000},
                        Restart::Nothing, "at most this many detections per frame"),
          config::field("agnostic_nms", &S::agnostic_nms, config::Boolean{}, Restart::Nothing,
                        "suppress overlapping boxes across classes, not only within one"),
          config::field("classes", &S::classes, ClassNames{}, Restart::Nothing,
                        "class names to report; [] = every class of the model"),
          config::field("class_conf", &S::class_conf, ClassScores{}, Restart::Nothing,
                        "per-class minimum scores overriding conf"),
          config::field("threads", member(&S::engine, &EngineOptions::threads),
                        config::Integer<int>{0, 64}, Restart::Engine,
                        "inference threads; 0 = one per big core"),
          config::field("backend", member(&S::engine, &EngineOptions::backend),
                        config::Choice<Backend>{}, Restart::Engine,
                        "how the model's operators run"),
          config::field("pin_cores", member(&S::engine, &EngineOptions::pin_cores),
                        config::ListOf<config::Integer<int>>{{0, 1023}}, Restart::Engine,
                        "pin the inference threads to these CPU cores; [] = no pinning"),
      },
      [](Reader& reader, const S& s, const std::string& path) {
        if (s.engine.model_path.empty()) {
          reader.problem(reader.locations().of(path + ".path"), "a model file is required");
        }
      }};
  return schema;
}

const config::Section<TcpConfig>& tcp_schema() {
  using S = TcpConfig;
  static const config::Section<S> schema{
      {
          config::field("enabled", &S::enabled, config::Boolean{}, Restart::Listener,
                        "serve lookout/1 on TCP"),
          config::field("bind", &S::bind, BindAddress{}, Restart::Listener,
                        "address to listen on: 0.0.0.0 = every IPv4 interface, :: = IPv6 too"),
          config::field("port", &S::port, config::Integer<int>{0, 65535}, Restart::Listener,
                        "TCP port; 0 = any free port (named in the log; for tests)"),
          config::field("allowed_networks", &S::allowed_networks, config::ListOf<NetworkValue>{},
                        Restart::Nothing, "clients from other addresses are disconnected at once"),
          config::field("token", &S::token, config::Text{1024, true}, Restart::Nothing,
                        "when set, clients must send it first; empty = no authentication"),
          config::field("max_clients_per_host", &S::max_clients_per_host,
                        config::Integer<int>{1, 1024}, Restart::Nothing,
                        "TCP clients from one address; more are told why and disconnected"),
          config::field("auth_timeout_s", &S::auth_timeout_s, config::Real<double>{0.5, 300},
                        Restart::Nothing,
                        "seconds a client has to send the token before it is disconnected"),
      },
      [](Reader& reader, const S& s, const std::string& path) {
        if (s.allowed_networks.empty()) {
          reader.problem(reader.locations().of(path + ".allowed_networks"),
                         "must list at least one network (to refuse all TCP clients, set "
                         "publish.tcp.enabled: false)");
        }
      }};
  return schema;
}

const config::Section<UnixConfig>& unix_schema() {
  using S = UnixConfig;
  static const config::Section<S> schema{
      {
          config::field("enabled", &S::enabled, config::Boolean{}, Restart::Listener,
                        "serve lookout/1 on a Unix socket"),
          config::field("path", &S::path, config::Text{}, Restart::Listener,
                        "socket path; relative = in the runtime directory"),
          config::field("mode", &S::mode, FileMode{}, Restart::Nothing,
                        "permissions of the socket file"),
          config::field("max_clients", &S::max_clients, config::Integer<int>{1, 1024},
                        Restart::Nothing,
                        "Unix socket clients together, counted apart from TCP clients"),
      },
      [](Reader& reader, const S& s, const std::string& path) {
        if (s.enabled && s.path.empty()) {
          reader.problem(reader.locations().of(path + ".path"),
                         "a socket path is required when enabled");
        }
      }};
  return schema;
}

const config::Section<PublishConfig>& publish_schema() {
  using S = PublishConfig;
  static const config::Section<S> schema{
      {
          config::field("max_clients", &S::max_clients, config::Integer<int>{1, 1024},
                        Restart::Nothing, "TCP clients together"),
          config::field("send_queue", &S::send_queue, config::Integer<int>{4, 4096},
                        Restart::Nothing,
                        "messages queued per client before its oldest are dropped"),
          config::field("send_timeout_s", &S::send_timeout_s, config::Real<double>{1, 3600},
                        Restart::Nothing,
                        "a client whose socket takes no bytes for this long is disconnected"),
          config::field("stats_interval_s", &S::stats_interval_s, config::Real<double>{0.5, 3600},
                        Restart::Nothing, "seconds between stats messages"),
          config::section("tcp", &S::tcp, tcp_schema(), "lookout/1 over TCP (the LAN)"),
          config::section("unix", &S::unix_socket, unix_schema(),
                          "lookout/1 over a Unix socket (this machine)"),
      },
      nullptr};
  return schema;
}

const config::Section<HttpConfig>& http_schema() {
  using S = HttpConfig;
  static const config::Section<S> schema{
      {
          config::field("enabled", &S::enabled, config::Boolean{}, Restart::Listener,
                        "serve the viewer, snapshots, streams, health and metrics over HTTP"),
          config::field("bind", &S::bind, BindAddress{}, Restart::Listener,
                        "address to listen on: 0.0.0.0 = every IPv4 interface, :: = IPv6 too"),
          config::field("port", &S::port, config::Integer<int>{0, 65535}, Restart::Listener,
                        "HTTP port; 0 = any free port (named in the log; for tests)"),
          config::field("max_connections", &S::max_connections, config::Integer<int>{1, 4096},
                        Restart::Nothing, "HTTP connections together; more get 503"),
          config::field("max_connections_per_host", &S::max_connections_per_host,
                        config::Integer<int>{1, 4096}, Restart::Nothing,
                        "HTTP connections from one address; more get 503"),
          config::field("max_header_bytes", &S::max_header_bytes,
                        config::Integer<int>{1024, 1024 * 1024}, Restart::Nothing,
                        "request line and headers together; more get 431"),
          config::field("header_timeout_s", &S::header_timeout_s, config::Real<double>{0.5, 300},
                        Restart::Nothing, "seconds a client may take to send a request's headers"),
          config::field("send_timeout_s", &S::send_timeout_s, config::Real<double>{1, 3600},
                        Restart::Nothing,
                        "seconds a response or stream may wait for the client to take a byte; "
                        "then the client is disconnected"),
          config::field("max_stream_fps", &S::max_stream_fps, config::Integer<int>{1, 60},
                        Restart::Nothing, "the highest frame rate /stream.mjpg sends"),
          config::field("picture_width", &S::picture_width, config::Integer<int>{64, 4096},
                        Restart::Nothing,
                        "frames kept for snapshots and streams are scaled to at most this width"),
          config::field("jpeg_quality", &S::jpeg_quality, config::Integer<int>{1, 100},
                        Restart::Nothing, "JPEG quality of snapshots and streams by default"),
          config::field("health_timeout_s", &S::health_timeout_s, config::Real<double>{1, 3600},
                        Restart::Nothing,
                        "/healthz reports unhealthy after this long without a processed frame"),
      },
      [](Reader& reader, const S& s, const std::string& path) {
        if (s.max_connections_per_host > s.max_connections) {
          reader.problem(
              reader.locations().of(path + ".max_connections_per_host"),
              "must not exceed http.max_connections (" + std::to_string(s.max_connections) + ")");
        }
      }};
  return schema;
}

// An MQTT topic prefix: one or more levels, no wildcards, no empty level.
struct TopicPrefix {
  using Value = std::string;
  bool read(Reader& reader, const Node& node, std::string& out) const {
    std::string text;
    if (!config::Text{200}.read(reader, node, text)) return false;
    std::string why;
    if (text.empty()) {
      why = "a topic prefix cannot be empty";
    } else if (text.find_first_of("+#") != std::string::npos) {
      why = "MQTT wildcards (+, #) cannot appear in a topic";
    } else if (text.front() == '/' || text.back() == '/' || text.find("//") != std::string::npos) {
      why = "topic levels cannot be empty (no leading, trailing or doubled '/')";
    } else if (text.front() == '$') {
      why = "topics starting with '$' are the broker's own";
    } else if (std::any_of(text.begin(), text.end(),
                           [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
      why = "control characters cannot appear in a topic";
    }
    if (!why.empty()) {
      reader.problem(node, why + ", got '" + printable(text) + "'");
      return false;
    }
    out = std::move(text);
    return true;
  }
  nlohmann::json json(const std::string& value) const { return value; }
  std::string type() const { return "MQTT topic prefix"; }
};

const config::Section<MqttTlsConfig>& mqtt_tls_schema() {
  using S = MqttTlsConfig;
  static const config::Section<S> schema{
      {
          config::field("enabled", &S::enabled, config::Boolean{}, Restart::Output,
                        "connect to the broker over TLS (usually port 8883)"),
          config::field("ca_file", &S::ca_file, config::Text{}, Restart::Output,
                        "CA certificate(s) the broker's certificate must chain to, PEM; empty "
                        "= the system's CAs"),
          config::field("cert_file", &S::cert_file, config::Text{}, Restart::Output,
                        "client certificate, PEM, for brokers that ask for one; with key_file"),
          config::field("key_file", &S::key_file, config::Text{}, Restart::Output,
                        "the client certificate's private key, PEM, unencrypted"),
      },
      [](Reader& reader, const S& s, const std::string& path) {
        // Reported at the one that is set, which is where the user looks.
        if (s.cert_file.empty() != s.key_file.empty()) {
          reader.problem(
              reader.locations().of(path + (s.cert_file.empty() ? ".key_file" : ".cert_file")),
              "cert_file and key_file go together: set both or neither");
        }
      }};
  return schema;
}

const config::Section<MqttDiscoveryConfig>& mqtt_discovery_schema() {
  using S = MqttDiscoveryConfig;
  static const config::Section<S> schema{
      {
          config::field("enabled", &S::enabled, config::Boolean{}, Restart::Output,
                        "publish Home Assistant discovery configs (no integration to install)"),
          config::field("prefix", &S::prefix, TopicPrefix{}, Restart::Output,
                        "Home Assistant's discovery prefix"),
          config::field("classes", &S::classes, ClassNames{}, Restart::Nothing,
                        "classes that get entities; [] = model.classes if set, else every "
                        "class of a model with at most 10, else person"),
      },
      nullptr};
  return schema;
}

const config::Section<MqttConfig>& mqtt_schema() {
  using S = MqttConfig;
  static const config::Section<S> schema{
      {
          config::field("enabled", &S::enabled, config::Boolean{}, Restart::Output,
                        "publish to an MQTT broker (Home Assistant, a fleet)"),
          config::field("host", &S::host, config::Text{253}, Restart::Output,
                        "the broker's host name or address"),
          config::field("port", &S::port, config::Integer<int>{1, 65535}, Restart::Output,
                        "the broker's port: 1883, or 8883 for TLS"),
          config::field("client_id", &S::client_id, config::Text{128}, Restart::Output,
                        "MQTT client id; empty = lookout-<camera>"),
          config::field("username", &S::username, config::Text{256}, Restart::Output,
                        "user name for the broker; empty = anonymous"),
          config::field("password_file", &S::password_file, config::Text{}, Restart::Output,
                        "file holding the password (its first line); never the password here"),
          config::section("tls", &S::tls, mqtt_tls_schema(), "TLS to the broker"),
          config::field("topic_prefix", &S::topic_prefix, TopicPrefix{}, Restart::Output,
                        "topics are <topic_prefix>/<camera>/..."),
          config::field("qos", &S::qos, config::Integer<int>{0, 2}, Restart::Output,
                        "MQTT quality of service of every message"),
          config::field("keepalive_s", &S::keepalive_s, config::Integer<int>{5, 3600},
                        Restart::Output, "seconds between keep-alive pings"),
          config::field("detections_max_rate", &S::detections_max_rate,
                        config::Real<double>{0, 100}, Restart::Nothing,
                        "detections messages a second at most; 0 = none"),
          config::field("off_delay_s", &S::off_delay_s, config::Real<double>{0, 3600},
                        Restart::Nothing,
                        "seconds without a class before its detected topic turns OFF"),
          config::field("snapshot_interval_s", &S::snapshot_interval_s,
                        config::Real<double>{0.5, 86400}, Restart::Nothing,
                        "seconds between snapshots published (a request is answered at once)"),
          config::field("max_queued", &S::max_queued, config::Integer<int>{1, 100000},
                        Restart::Nothing,
                        "detections, stats and events waiting for the broker; then the oldest "
                        "are dropped"),
          config::section("discovery", &S::discovery, mqtt_discovery_schema(),
                          "Home Assistant MQTT discovery"),
      },
      [](Reader& reader, const S& s, const std::string& path) {
        if (s.enabled && s.host.empty()) {
          reader.problem(reader.locations().of(path + ".host"),
                         "a broker host is required when enabled");
        }
        if (!s.password_file.empty() && s.username.empty()) {
          reader.problem(reader.locations().of(path + ".password_file"),
                         "a password needs mqtt.username as well");
        }
      }};
  return schema;
}

// ---- tracking, events, zones and lines ------------------------------------------------

const config::Section<TrackingConfig>& tracking_schema() {
  using S = TrackingConfig;
  using T = tracking::TrackerOptions;
  using O = tracking::ObjectOptions;
  static const config::Section<S> schema{
      {
          config::field("enabled", &S::enabled, config::Boolean{}, Restart::Nothing,
                        "track objects across frames: track ids, events, zones and lines"),
          config::field("high_score", config::member(&S::tracker, &T::high_score),
                        config::Real<float>{0, 1}, Restart::Nothing,
                        "detections scoring this much are matched first and may start tracks"),
          config::field("low_score", config::member(&S::tracker, &T::low_score),
                        config::Real<float>{0, 1}, Restart::Nothing,
                        "weaker detections (down to this) only keep existing tracks alive"),
          config::field("new_track_score", config::member(&S::tracker, &T::new_track_score),
                        config::Real<float>{0, 1}, Restart::Nothing,
                        "an unmatched detection scoring this much starts a track"),
          config::field("match_iou", config::member(&S::tracker, &T::match_iou),
                        config::Real<float>{0.01, 1}, Restart::Nothing,
                        "a detection and a track's predicted box must overlap this much (IoU)"),
          config::field("min_hits", config::member(&S::tracker, &T::min_hits),
                        config::Integer<int>{1, 100}, Restart::Nothing,
                        "frames with a detection before a track is confirmed (and an event "
                        "starts)"),
          config::field("lost_s", config::member(&S::tracker, &T::lost_s),
                        config::Real<double>{0.1, 3600}, Restart::Nothing,
                        "seconds a track is kept without a detection before its event ends"),
          config::field("class_agnostic", config::member(&S::tracker, &T::class_agnostic),
                        config::Boolean{}, Restart::Nothing,
                        "match detections to tracks of another class too"),
          config::field("stationary_s", config::member(&S::objects, &O::stationary_s),
                        config::Real<double>{0.1, 86400}, Restart::Nothing,
                        "seconds without moving before an object is stationary"),
          config::field("update_interval_s", config::member(&S::objects, &O::update_interval_s),
                        config::Real<double>{0.1, 3600}, Restart::Nothing,
                        "an update event at least this often while an object is seen"),
      },
      [](Reader& reader, const S& s, const std::string& path) {
        if (s.tracker.low_score > s.tracker.high_score) {
          reader.problem(reader.locations().of(path + ".low_score"),
                         "must not be above tracking.high_score");
        }
      }};
  return schema;
}

const config::Section<EventsConfig>& events_schema() {
  using S = EventsConfig;
  static const config::Section<S> schema{
      {
          config::field("snapshots", &S::snapshots, config::Boolean{}, Restart::Output,
                        "keep each event's best picture (and a crop of the object) on disk"),
          config::field("directory", &S::directory, config::Text{}, Restart::Output,
                        "where snapshots go; relative = in the state directory "
                        "(/var/lib/lookout under systemd)"),
          config::field("max_count", &S::max_count, config::Integer<int>{1, 1000000},
                        Restart::Nothing, "events with snapshots kept; the oldest go first"),
          config::field("max_mb", &S::max_mb, config::Real<double>{1, 1e7}, Restart::Nothing,
                        "megabytes of snapshots kept; the oldest go first"),
          config::field("max_age_days", &S::max_age_days, config::Real<double>{0.001, 36500},
                        Restart::Nothing, "snapshots older than this are removed"),
          config::field("jpeg_quality", &S::jpeg_quality, config::Integer<int>{1, 100},
                        Restart::Nothing, "JPEG quality of snapshots"),
          config::field("recent", &S::recent, config::Integer<int>{1, 100000}, Restart::Nothing,
                        "events kept in memory for /api/events and new clients"),
      },
      nullptr};
  return schema;
}

// A list of [x, y] points, at least `min_points` of them (a zone's 3, a line's 2).
struct Points {
  using Value = std::vector<tracking::PointF>;
  std::size_t min_points = 0;
  const char* what = "";  // "a zone", "a line"
  bool read(Reader& reader, const Node& node, Value& out) const {
    if (node.kind() != Node::Kind::Sequence) {
      reader.problem(node, "expected a list of [x, y] points, got " + node.describe());
      return false;
    }
    if (node.size() < min_points) {
      reader.problem(node, std::string(what) + " needs at least " + std::to_string(min_points) +
                               " points, got " + std::to_string(node.size()));
      return false;
    }
    Value points;
    bool ok = true;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const Node item = node.item(i);
      if (item.kind() != Node::Kind::Sequence || item.size() != 2) {
        reader.problem(item, "expected a point [x, y], got " + item.describe());
        ok = false;
        continue;
      }
      tracking::PointF p;
      ok = config::detail::read_real(reader, item.item(0), 0, 1e6, p.x) && ok;
      ok = config::detail::read_real(reader, item.item(1), 0, 1e6, p.y) && ok;
      points.push_back(p);
    }
    if (ok) out = std::move(points);
    return ok;
  }
  nlohmann::json json(const Value& points) const {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : points) out.push_back({p.x, p.y});
    return out;
  }
  std::string type() const { return "list of [x, y] points (pixels, or all within 0..1)"; }
};

template <typename C>
const config::Section<C>& area_schema() {
  using S = C;
  constexpr bool line = std::is_same_v<C, tracking::LineConfig>;
  static const config::Section<S> schema{
      {
          config::field("points", &S::points,
                        Points{line ? std::size_t{2} : std::size_t{3}, line ? "a line" : "a zone"},
                        Restart::Nothing,
                        line ? "the line's two end points A and B; crossing from the left of "
                               "A->B to its right is \"in\""
                             : "the polygon's corners, in order"),
          config::field("classes", &S::classes, ClassNames{}, Restart::Nothing,
                        "classes counted; [] = every class"),
          config::field("inertia", &S::inertia, config::Integer<int>{1, 100}, Restart::Nothing,
                        line ? "frames on the other side before a crossing counts"
                             : "frames inside (outside) before an object enters (leaves)"),
          config::field("anchor", &S::anchor, config::Choice<tracking::Anchor>{}, Restart::Nothing,
                        "the point of the box that stands for the object"),
      },
      [](Reader& reader, const S& s, const std::string& path) {
        if (s.points.empty()) return;  // not written, or already reported
        const auto problem =
            line ? tracking::line_problem(s.points) : tracking::polygon_problem(s.points);
        if (problem) reader.problem(reader.locations().of(path + ".points"), *problem);
      }};
  return schema;
}

// Names of zones and lines appear in MQTT topics, metric labels and file names.
bool area_name_ok(const std::string& name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
}

// zones: / lines: a mapping of name to its section.
template <typename Named, typename C>
config::Field<Config> named_areas(const char* key, std::vector<Named> Config::*member,
                                  const char* description) {
  constexpr bool line = std::is_same_v<C, tracking::LineConfig>;
  return config::custom_field<Config>(
      key, std::string("mapping of name to ") + (line ? "line" : "zone"), Restart::Nothing,
      description,
      [key, member](Reader& reader, const Node& node, Config& config) {
        if (node.empty()) {
          (config.*member).clear();
          return;
        }
        if (node.kind() != Node::Kind::Map) {
          reader.problem(node, std::string("expected a mapping of names to ") +
                                   (line ? "lines" : "zones") + ", got " + node.describe());
          return;
        }
        std::vector<Named> areas;
        std::set<std::string> seen;
        for (const auto& [name_node, value] : node.entries()) {
          const std::string& name = name_node.scalar();
          if (name_node.kind() != Node::Kind::Scalar || !area_name_ok(name)) {
            ConfigLocation where = name_node.location();
            where.key = std::string(key);
            reader.problem(where, "names are 1 to 64 letters, digits, '_' or '-', got '" +
                                      printable(name) + "'");
            continue;
          }
          if (!seen.insert(name).second) {
            reader.problem(name_node, "duplicate key");
            continue;
          }
          if (value.kind() != Node::Kind::Map) {
            reader.problem(value, "expected a mapping with points, got " + value.describe());
            continue;
          }
          Named area{name, {}};
          config::read_section(reader, value, area_schema<C>(), area.config);
          if (!reader.locations().written(value.key() + ".points")) {
            reader.problem(value, "points are required");
          }
          areas.push_back(std::move(area));
        }
        config.*member = std::move(areas);
      },
      [member](const Config& config) {
        nlohmann::json out = nlohmann::json::object();
        for (const auto& area : config.*member) {
          out[area.name] = config::to_json(area_schema<C>(), area.config);
        }
        return out;
      },
      [member](const Config& a, const Config& b) {
        const auto& x = a.*member;
        const auto& y = b.*member;
        if (x.size() != y.size()) return false;
        for (std::size_t i = 0; i < x.size(); ++i) {
          if (x[i].name != y[i].name || !(x[i].config == y[i].config)) return false;
        }
        return true;
      });
}

const config::Section<LoggingConfig>& logging_schema() {
  using S = LoggingConfig;
  static const config::Section<S> schema{
      {
          config::field("level", &S::level, config::Choice<log::Level>{}, Restart::Nothing,
                        "messages up to this severity reach the journal"),
          config::field("summary_interval_s", &S::summary_interval_s,
                        config::Real<double>{0, 86400}, Restart::Nothing,
                        "seconds between summary lines in the log; 0 = none"),
      },
      nullptr};
  return schema;
}

}  // namespace

const config::Section<Config>& config_schema() {
  using S = Config;
  static const config::Section<S> schema{
      {
          config::field("camera", &S::camera, config::Text{128}, Restart::Nothing,
                        "name of this camera in every message; empty = the host name"),
          config::section("source", &S::source, source_schema(), "where frames come from"),
          config::section("model", &S::model, model_schema(), "the detection model"),
          config::section("publish", &S::publish, publish_schema(),
                          "publishing detections to clients (protocol lookout/1)"),
          config::section("http", &S::http, http_schema(),
                          "the web viewer, snapshots, MJPEG, health and metrics"),
          config::section("mqtt", &S::mqtt, mqtt_schema(),
                          "detections, presence and Home Assistant discovery over MQTT"),
          config::section("tracking", &S::tracking, tracking_schema(),
                          "objects across frames: track ids and events"),
          config::section("events", &S::events, events_schema(),
                          "events kept in memory and their snapshots on disk"),
          named_areas<tracking::NamedZone, tracking::ZoneConfig>(
              "zones", &S::zones, "named polygons whose objects are counted"),
          named_areas<tracking::NamedLine, tracking::LineConfig>(
              "lines", &S::lines, "named counting lines, crossings counted per direction"),
          config::section("logging", &S::logging, logging_schema(), "the journal"),
      },
      [](Reader& reader, const S& s, const std::string&) {
        // Any one way in is enough (an HTTP-only appliance is fine).
        if (!s.publish.tcp.enabled && !s.publish.unix_socket.enabled && !s.http.enabled) {
          reader.problem(reader.locations().of("publish"),
                         "publish.tcp, publish.unix and http are all disabled: clients could not "
                         "connect");
        }
        // Pixel points must lie in the frame the source is asked for. (A
        // camera's nearest mode may be smaller: a pixel zone then reaches
        // beyond the frame, which only means no anchor is ever there;
        // normalised points follow the frame.)
        const auto check_inside = [&](const std::string& key,
                                      const std::vector<tracking::PointF>& points) {
          if (auto problem = tracking::outside_problem(points, s.source.width, s.source.height)) {
            reader.problem(reader.locations().of(key + ".points"), *problem);
          }
        };
        for (const auto& z : s.zones) check_inside("zones." + z.name, z.config.points);
        for (const auto& l : s.lines) check_inside("lines." + l.name, l.config.points);
        // Two listeners of ours on one port collide (port 0 picks a free one each).
        const TcpConfig& tcp = s.publish.tcp;
        if (tcp.enabled && s.http.enabled && tcp.port != 0 && tcp.port == s.http.port &&
            listen_addresses_overlap(tcp.bind, s.http.bind)) {
          reader.problem(reader.locations().of("http.port"),
                         "port " + std::to_string(s.http.port) +
                             " is publish.tcp.port too, on an overlapping address (" + tcp.bind +
                             " and " + s.http.bind + "); give them different ports");
        }
      }};
  return schema;
}

std::vector<config::KeyInfo> config_keys() {
  return config::list_keys(config_schema());
}

// ---- parsing -------------------------------------------------------------------------------

namespace {

// Parses with the problems kept, so that resolution can add its own.
Config parse_keeping_problems(std::string_view text, const std::string& origin, Reader& reader) {
  Config config;
  config.origin = origin;
  config::read_section(reader, config::parse_yaml(text, origin), config_schema(), config);
  config.locations = reader.locations();
  return config;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError({path + ": cannot read the configuration file: " + std::strerror(errno)});
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError({path + ": cannot read the configuration file"});
  return text.str();
}

std::string directory_of(const std::string& path) {
  std::error_code ec;
  return fs::absolute(fs::path(path), ec).parent_path().string();
}

// ---- resolution ----------------------------------------------------------------------------

std::string this_host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "lookout";
  return buf;
}

std::string this_runtime_directory() {
  for (const char* var : {"RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR"}) {
    if (const char* dir = std::getenv(var); dir != nullptr && dir[0] != '\0') {
      // systemd may list several directories separated by ':'; the first is ours.
      std::string first(dir);
      return first.substr(0, first.find(':'));
    }
  }
  return "/tmp";
}

std::string this_state_directory() {
  if (const char* dir = std::getenv("STATE_DIRECTORY"); dir != nullptr && dir[0] != '\0') {
    std::string first(dir);
    return first.substr(0, first.find(':'));
  }
  if (const char* dir = std::getenv("XDG_STATE_HOME"); dir != nullptr && dir[0] == '/') {
    return std::string(dir) + "/lookout";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] == '/') {
    return std::string(home) + "/.local/state/lookout";
  }
  return "/tmp/lookout-state";
}

std::string resolve_model(Reader& reader, const Config& config, const Environment& env) {
  const std::string& path = config.model.engine.model_path;
  std::vector<fs::path> tried;
  const fs::path given(path);
  if (given.is_absolute()) {
    tried.push_back(given);
  } else {
    if (!env.base_dir.empty()) tried.push_back(fs::path(env.base_dir) / given);
    if (!given.has_parent_path()) {
      for (const auto& dir : env.model_search_path) tried.push_back(fs::path(dir) / given);
    }
  }
  std::string list;
  for (const auto& candidate : tried) {
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) return fs::absolute(candidate).lexically_normal();
    if (!list.empty()) list += ", ";
    list += candidate.string();
  }
  reader.problem(config.locations.of("model.path"),
                 "model file not found (looked for " + list + ")");
  return path;
}

// A file named at `key`, relative to the configuration's directory: made
// absolute, and checked readable (a problem at the key otherwise).
void resolve_readable_file(std::string& path, const std::string& key, const Config& config,
                           const Environment& env, Reader& reader) {
  if (path.empty()) return;
  fs::path p(path);
  if (p.is_relative() && !env.base_dir.empty()) p = fs::path(env.base_dir) / p;
  p = fs::absolute(p).lexically_normal();
  std::ifstream in(p, std::ios::binary);
  std::error_code ec;
  if (!in || fs::is_directory(p, ec)) {
    reader.problem(config.locations.of(key),
                   "cannot read " + p.string() + ": " +
                       (fs::is_directory(p, ec) ? std::string("is a directory")
                                                : std::string(std::strerror(errno))));
  }
  path = p.string();
}

// A secret kept in a file named at `key` (made absolute and checked as
// resolve_readable_file does): its first line, which must not be empty
// (`what` says what that line holds, for the message). nullopt after a problem.
std::optional<std::string> read_secret_file(std::string& path, const std::string& key,
                                            const std::string& what, const Config& config,
                                            const Environment& env, Reader& reader) {
  const std::size_t before = reader.problems().size();
  resolve_readable_file(path, key, config, env, reader);
  if (reader.problems().size() != before) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  std::string first_line;
  std::getline(in, first_line);
  if (!first_line.empty() && first_line.back() == '\r') first_line.pop_back();
  if (first_line.empty()) {
    reader.problem(config.locations.of(key), path + " is empty: its first line is " + what);
    return std::nullopt;
  }
  return first_line;
}

// source.credentials_file: its first line, "user:password", for the URL.
void resolve_stream_credentials(Config& config, const Environment& env, Reader& reader) {
  SourceConfig& source = config.source;
  if (source.credentials_file.empty()) return;
  if (auto secret = read_secret_file(source.credentials_file, "source.credentials_file",
                                     "user:password", config, env, reader)) {
    source.credentials = std::move(*secret);
  }
}

void resolve_mqtt(Config& config, const Environment& env, Reader& reader) {
  MqttConfig& mqtt = config.mqtt;
  resolve_readable_file(mqtt.tls.ca_file, "mqtt.tls.ca_file", config, env, reader);
  resolve_readable_file(mqtt.tls.cert_file, "mqtt.tls.cert_file", config, env, reader);
  resolve_readable_file(mqtt.tls.key_file, "mqtt.tls.key_file", config, env, reader);
  if (mqtt.password_file.empty()) return;
  if (auto secret = read_secret_file(mqtt.password_file, "mqtt.password_file", "the password",
                                     config, env, reader)) {
    mqtt.password = std::move(*secret);
  }
}

void resolve_into(Config& config, const Environment& env, Reader& reader) {
  if (config.camera.empty()) config.camera = env.host_name;
  if (!config.model.engine.model_path.empty()) {
    config.model.engine.model_path = resolve_model(reader, config, env);
  }
  SourceConfig& source = config.source;
  if (source.type == SourceType::Files && !source.path.empty()) {
    fs::path p(source.path);
    if (p.is_relative() && !env.base_dir.empty()) p = fs::path(env.base_dir) / p;
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      reader.problem(config.locations.of("source.path"),
                     "no such file or directory: " + p.string());
    } else {
      source.path = fs::absolute(p).lexically_normal();
    }
  }
  if (source.type == SourceType::Stream) resolve_stream_credentials(config, env, reader);
  if (config.mqtt.enabled) resolve_mqtt(config, env, reader);
  if (!config.events.directory.empty()) {
    fs::path p(config.events.directory);
    if (p.is_relative()) {
      const std::string& base = env.state_dir.empty() ? env.base_dir : env.state_dir;
      if (!base.empty()) p = fs::path(base) / p;
    }
    config.events.directory = p.lexically_normal();
  }
  UnixConfig& unix_socket = config.publish.unix_socket;
  if (!unix_socket.path.empty()) {
    fs::path p(unix_socket.path);
    if (p.is_relative()) p = fs::path(env.runtime_dir) / p;
    const bool trailing_slash = p.has_relative_path() && !p.has_filename();
    unix_socket.path = p.lexically_normal();
    const auto where = config.locations.of("publish.unix.path");
    // sockaddr_un holds 108 bytes including the terminating NUL.
    if (unix_socket.path.size() > 107) {
      reader.problem(where, "socket path " + unix_socket.path + " is longer than 107 bytes");
    } else if (trailing_slash) {
      reader.problem(where, "socket path " + unix_socket.path + " names a directory, not a file");
    }
  }
}

}  // namespace

Config parse_config(std::string_view text, const std::string& origin) {
  Reader reader(origin);
  Config config = parse_keeping_problems(text, origin, reader);
  if (!reader.ok()) throw ConfigError(reader.problems());
  return config;
}

Environment Environment::of_this_process(std::string base_dir) {
  return {std::move(base_dir), this_host_name(), this_runtime_directory(),
          lookout::model_search_path(), this_state_directory()};
}

Config resolve_config(Config parsed, const Environment& environment) {
  Reader reader(parsed.origin);
  resolve_into(parsed, environment, reader);
  if (!reader.ok()) throw ConfigError(reader.problems());
  return parsed;
}

Config load_config_file(const std::string& path) {
  const std::string text = read_file(path);
  // An empty file is almost always an accident (a save cut short, a
  // truncation): it must not turn every setting back to its default, least
  // of all on a reload. Every default is written `{}`.
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw ConfigError({ConfigLocation{path, 0, 0, ""}.format(
        "the file is empty; for every default write {} (an empty mapping)")});
  }
  Reader reader(path);
  Config config = parse_keeping_problems(text, path, reader);
  resolve_into(config, Environment::of_this_process(directory_of(path)), reader);
  if (!reader.ok()) throw ConfigError(reader.problems());
  return config;
}

Config load_default_config() {
  return resolve_config(parse_config(default_config_text(), kEmbeddedOrigin),
                        Environment::of_this_process(""));
}

std::string_view default_config_text() {
  return kDefaultConfigYaml;
}

std::string describe(const Config& config) {
  nlohmann::json j = config::to_json(config_schema(), config);
  j["origin"] = config.origin;
  // The origin is a path from the command line, which need not be UTF-8.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

config::ReloadPlan plan_reload(const Config& running, const Config& next) {
  return config::plan_reload(config_schema(), running, next);
}

std::vector<std::string> model_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("LOOKOUT_MODEL_DIR"); env != nullptr && env[0] != '\0') {
    dirs.emplace_back(env);
  }
  // Where the executable's own installation keeps models: the same relative
  // place under any prefix, and in a package staged by scripts/make-deb.sh.
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    dirs.push_back((exe.parent_path() / LOOKOUT_MODEL_DIR_FROM_EXE).lexically_normal().string());
  } else {
    dirs.emplace_back(LOOKOUT_MODEL_DIR);
  }
  dirs.emplace_back(LOOKOUT_SOURCE_MODEL_DIR);
  return dirs;
}

}  // namespace lookout
