#include "config/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <arpa/inet.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "default_config.hpp"
#include "core/frame.hpp"
#include "core/log.hpp"

namespace lookout {

namespace fs = std::filesystem;

namespace {

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(join(problems)), problems_(std::move(problems)) {}

std::string ConfigLocation::format(std::string_view message) const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

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

// ---- YAML reading --------------------------------------------------------------

namespace {

// Collects every problem in one pass, so a user fixes a file in one go.
struct Context {
  std::string file;
  std::string base_dir;
  std::vector<std::string> problems;

  ConfigLocation at(const YAML::Mark& mark, const std::string& key) const {
    ConfigLocation loc;
    loc.file = file;
    if (mark.line >= 0) {
      loc.line = mark.line + 1;
      loc.column = mark.column + 1;
    }
    loc.key = key;
    return loc;
  }
  void add(const YAML::Mark& mark, const std::string& key, const std::string& message) {
    problems.push_back(at(mark, key).format(message));
  }
};

// A value with the place it was written (the key's place when the value is
// empty and yaml-cpp gives it no position).
struct Value {
  YAML::Node node;
  YAML::Mark mark;
  std::string key;
  bool present = true;  // false: the key is absent (defaults apply)
};

std::string describe_node(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
  }
  return "something else";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// Reads one mapping: each known key is taken with get(); finish() reports the
// keys nobody asked for (typos) and duplicates.
class MapReader {
 public:
  MapReader(Context& ctx, const Value& value) : ctx_(ctx), prefix_(value.key) {
    if (!value.present || value.node.IsNull()) return;  // all defaults
    if (!value.node.IsMap()) {
      ctx_.add(value.mark, display(prefix_),
               "expected a mapping, got " + describe_node(value.node));
      return;
    }
    for (const auto& entry : value.node) {
      const YAML::Node& key = entry.first;
      if (!key.IsScalar()) {
        ctx_.add(key.Mark(), display(prefix_),
                 "keys must be plain names, got " + describe_node(key));
        continue;
      }
      const std::string name = key.Scalar();
      if (entries_.count(name)) {
        ctx_.add(key.Mark(), path(name), "duplicate key");
        continue;
      }
      YAML::Mark mark = entry.second.Mark();
      if (mark.line < 0 || entry.second.IsNull()) mark = key.Mark();
      entries_.emplace(name, Entry{Value{entry.second, mark, path(name), true}, key.Mark(), false});
    }
  }

  std::optional<Value> get(const std::string& name) {
    known_.push_back(name);
    auto it = entries_.find(name);
    if (it == entries_.end()) return std::nullopt;
    it->second.used = true;
    return it->second.value;
  }

  // An absent key still gets a Value, so nested readers can run on defaults.
  Value get_or_empty(const std::string& name) {
    if (auto v = get(name)) return *v;
    return Value{YAML::Node(), YAML::Mark::null_mark(), path(name), false};
  }

  void finish() {
    for (const auto& [name, entry] : entries_) {
      if (entry.used) continue;
      std::string message = "unknown key";
      std::string best;
      std::size_t best_distance = 3;  // suggest only close matches
      for (const auto& candidate : known_) {
        const std::size_t d = edit_distance(name, candidate);
        if (d < best_distance) {
          best_distance = d;
          best = candidate;
        }
      }
      if (!best.empty()) message += " (did you mean '" + best + "'?)";
      ctx_.add(entry.key_mark, path(name), message);
    }
  }

 private:
  struct Entry {
    Value value;
    YAML::Mark key_mark;
    bool used = false;
  };
  std::string path(const std::string& name) const {
    return prefix_.empty() ? name : prefix_ + "." + name;
  }
  static std::string display(const std::string& prefix) {
    return prefix.empty() ? "(top level)" : prefix;
  }

  Context& ctx_;
  std::string prefix_;
  std::map<std::string, Entry> entries_;
  std::vector<std::string> known_;
};

bool read_string(Context& ctx, const Value& v, std::string& out) {
  if (v.node.IsNull()) {
    out.clear();
    return true;
  }
  if (!v.node.IsScalar()) {
    ctx.add(v.mark, v.key, "expected a string, got " + describe_node(v.node));
    return false;
  }
  out = v.node.Scalar();
  return true;
}

bool read_bool(Context& ctx, const Value& v, bool& out) {
  if (v.node.IsScalar()) {
    std::string s = v.node.Scalar();
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "true" || s == "yes" || s == "on") {
      out = true;
      return true;
    }
    if (s == "false" || s == "no" || s == "off") {
      out = false;
      return true;
    }
  }
  ctx.add(v.mark, v.key, "expected true or false, got " + describe_node(v.node));
  return false;
}

template <typename Int>
bool read_int(Context& ctx, const Value& v, Int min, Int max, Int& out) {
  if (!v.node.IsScalar()) {
    ctx.add(v.mark, v.key, "expected an integer, got " + describe_node(v.node));
    return false;
  }
  const std::string& s = v.node.Scalar();
  Int value{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec == std::errc::result_out_of_range ||
      (ec == std::errc() && end == s.data() + s.size() && (value < min || value > max))) {
    ctx.add(
        v.mark, v.key,
        "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
    return false;
  }
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    ctx.add(v.mark, v.key, "expected an integer, got " + describe_node(v.node));
    return false;
  }
  out = value;
  return true;
}

std::string format_number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

bool read_double(Context& ctx, const Value& v, double min, double max, double& out) {
  if (!v.node.IsScalar()) {
    ctx.add(v.mark, v.key, "expected a number, got " + describe_node(v.node));
    return false;
  }
  const std::string& s = v.node.Scalar();
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(value)) {
    ctx.add(v.mark, v.key, "expected a number, got " + describe_node(v.node));
    return false;
  }
  if (value < min || value > max) {
    ctx.add(v.mark, v.key,
            "must be between " + format_number(min) + " and " + format_number(max) + ", got " + s);
    return false;
  }
  out = value;
  return true;
}

bool read_float(Context& ctx, const Value& v, double min, double max, float& out) {
  double value = 0;
  if (!read_double(ctx, v, min, max, value)) return false;
  out = static_cast<float>(value);
  return true;
}

// Calls `each` for every element of a list (an empty value is an empty list).
template <typename F>
bool read_list(Context& ctx, const Value& v, F each) {
  if (v.node.IsNull()) return true;
  if (!v.node.IsSequence()) {
    ctx.add(v.mark, v.key, "expected a list, got " + describe_node(v.node));
    return false;
  }
  std::size_t i = 0;
  for (const auto& item : v.node) {
    YAML::Mark mark = item.Mark();
    if (mark.line < 0) mark = v.mark;
    each(Value{item, mark, v.key + "[" + std::to_string(i) + "]", true});
    ++i;
  }
  return true;
}


std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "lookout";
  return buf;
}

std::string runtime_directory() {
  for (const char* var : {"RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR"}) {
    if (const char* dir = std::getenv(var); dir != nullptr && dir[0] != '\0') {
      // systemd may list several directories separated by ':'; the first is ours.
      std::string first(dir);
      return first.substr(0, first.find(':'));
    }
  }
  return "/tmp";
}

std::string resolve_model(Context& ctx, const Value& v, const std::string& path) {
  if (path.empty()) {
    ctx.add(v.mark, v.key, "a model file is required");
    return path;
  }
  std::vector<fs::path> tried;
  const fs::path given(path);
  if (given.is_absolute()) {
    tried.push_back(given);
  } else {
    if (!ctx.base_dir.empty()) tried.push_back(fs::path(ctx.base_dir) / given);
    if (!given.has_parent_path()) {
      for (const auto& dir : model_search_path()) tried.push_back(fs::path(dir) / given);
    }
  }
  std::string list;
  for (const auto& candidate : tried) {
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec)) return fs::absolute(candidate).lexically_normal();
    if (!list.empty()) list += ", ";
    list += candidate.string();
  }
  ctx.add(v.mark, v.key, "model file not found (looked for " + list + ")");
  return path;
}

void read_source(Context& ctx, const Value& value, SourceConfig& src) {
  MapReader map(ctx, value);
  std::optional<Value> type_value;
  std::string type_name;
  if ((type_value = map.get("type")) && read_string(ctx, *type_value, type_name)) {
    if (auto t = enum_from_name<SourceType>(type_name)) src.type = *t;
    else ctx.add(type_value->mark, type_value->key, expected_one_of<SourceType>(type_name));
  }
  const bool camera = is_camera(src.type);
  for (const char* side : {"width", "height"}) {
    int& out = std::string(side) == "width" ? src.width : src.height;
    if (auto v = map.get(side);
        v && read_int(ctx, *v, 0, 16384, out) && out == 0 && src.type != SourceType::Files) {
      ctx.add(v->mark, v->key, "must be positive for source type " + std::string(enum_name(src.type)));
    }
  }
  if (auto v = map.get("fps");
      v && read_double(ctx, *v, 0, 1000, src.fps) && src.fps == 0 && camera) {
    ctx.add(v->mark, v->key, "must be positive for a camera (0 is for synthetic and files)");
  }
  std::string format_name;
  if (auto v = map.get("format"); v && read_string(ctx, *v, format_name) && format_name != "auto" &&
                                  !(src.format = pixel_format_from_string(format_name))) {
    ctx.add(v->mark, v->key,
            "must be auto or one of RGB24, BGR24, I420, NV12, YUYV, GRAY8, MJPEG; got '" +
                format_name + "'");
  }
  const Value path_value = map.get_or_empty("path");
  if (path_value.present) read_string(ctx, path_value, src.path);
  if (src.type == SourceType::Files) {
    const YAML::Mark mark = path_value.present ? path_value.mark : value.mark;
    if (src.path.empty()) {
      ctx.add(mark, path_value.key, "required for source type files");
    } else {
      fs::path p(src.path);
      if (p.is_relative() && !ctx.base_dir.empty()) p = fs::path(ctx.base_dir) / p;
      std::error_code ec;
      if (!fs::exists(p, ec)) {
        ctx.add(mark, path_value.key, "no such file or directory: " + p.string());
      } else {
        src.path = fs::absolute(p).lexically_normal();
      }
    }
  }
  if (auto v = map.get("loop")) read_bool(ctx, *v, src.loop);
  if (auto v = map.get("seed")) read_int<std::uint64_t>(ctx, *v, 0, UINT64_MAX, src.seed);
  if (auto v = map.get("device")) {
    if (read_string(ctx, *v, src.device) && src.type == SourceType::V4l2 && src.device.empty()) {
      ctx.add(v->mark, v->key, "required for source type v4l2");
    }
  }
  if (auto v = map.get("camera_id")) read_string(ctx, *v, src.camera);
  auto read_ms = [&](const char* key, std::int64_t min, std::int64_t max,
                     std::chrono::milliseconds& out) -> std::optional<Value> {
    auto v = map.get(key);
    std::int64_t ms = out.count();
    if (v && read_int<std::int64_t>(ctx, *v, min, max, ms)) out = std::chrono::milliseconds(ms);
    return v;
  };
  read_ms("frame_timeout_ms", 100, 600000, src.frame_timeout);
  read_ms("backoff_initial_ms", 10, 600000, src.backoff_initial);
  if (auto v = read_ms("backoff_max_ms", 10, 3600000, src.backoff_max);
      v && src.backoff_max < src.backoff_initial) {
    ctx.add(v->mark, v->key, "must not be less than source.backoff_initial_ms");
  }
  map.finish();
}

void read_model(Context& ctx, const Value& value, ModelConfig& model) {
  MapReader map(ctx, value);
  {
    const Value v = map.get_or_empty("path");
    const YAML::Mark mark = v.present ? v.mark : value.mark;
    if (!v.present || read_string(ctx, v, model.path)) {
      model.path = resolve_model(ctx, Value{v.node, mark, v.key, true}, model.path);
    }
  }
  if (auto v = map.get("input")) {
    std::vector<int> sides;
    read_list(ctx, *v, [&](const Value& item) {
      int side = 0;
      if (read_int(ctx, item, 0, 4096, side)) sides.push_back(side);
    });
    if (v->node.IsSequence() && v->node.size() != 2) {
      ctx.add(v->mark, v->key, "expected [width, height]");
    } else if (sides.size() == 2) {
      if ((sides[0] == 0) != (sides[1] == 0)) {
        ctx.add(v->mark, v->key,
                "width and height must both be 0 (model default) or both positive");
      } else {
        model.input_width = sides[0];
        model.input_height = sides[1];
      }
    }
  }
  if (auto v = map.get("conf")) read_float(ctx, *v, 0, 1, model.conf);
  if (auto v = map.get("iou")) read_float(ctx, *v, 0, 1, model.iou);
  if (auto v = map.get("max_detections")) read_int(ctx, *v, 1, 1000, model.max_detections);
  if (auto v = map.get("agnostic_nms")) read_bool(ctx, *v, model.agnostic_nms);
  model.classes_location = ctx.at(value.mark, "model.classes");
  if (auto v = map.get("classes")) {
    model.classes_location = ctx.at(v->mark, v->key);
    std::set<std::string> seen;
    read_list(ctx, *v, [&](const Value& item) {
      std::string name;
      if (!read_string(ctx, item, name)) return;
      if (name.empty()) {
        ctx.add(item.mark, item.key, "class names cannot be empty");
      } else if (!seen.insert(name).second) {
        ctx.add(item.mark, item.key, "class '" + name + "' is listed twice");
      } else {
        model.classes.push_back(name);
      }
    });
  }
  model.class_conf_location = ctx.at(value.mark, "model.class_conf");
  if (auto v = map.get("class_conf")) {
    model.class_conf_location = ctx.at(v->mark, v->key);
    if (!v->node.IsNull() && !v->node.IsMap()) {
      ctx.add(v->mark, v->key,
              "expected a mapping of class name to score, got " + describe_node(v->node));
    } else if (v->node.IsMap()) {
      for (const auto& entry : v->node) {
        const std::string name = entry.first.IsScalar() ? entry.first.Scalar() : "";
        const std::string key = v->key + "." + name;
        if (name.empty()) {
          ctx.add(entry.first.Mark(), v->key, "class names must be plain names");
          continue;
        }
        if (model.class_conf.count(name)) {
          ctx.add(entry.first.Mark(), key, "duplicate key");
          continue;
        }
        YAML::Mark mark = entry.second.Mark();
        if (mark.line < 0) mark = entry.first.Mark();
        float score = 0;
        if (read_float(ctx, Value{entry.second, mark, key, true}, 0, 1, score)) {
          model.class_conf[name] = score;
        }
      }
    }
  }
  if (auto v = map.get("threads")) read_int(ctx, *v, 0, 64, model.threads);
  std::string backend_name;
  if (auto v = map.get("backend"); v && read_string(ctx, *v, backend_name)) {
    if (auto b = enum_from_name<Backend>(backend_name)) model.backend = *b;
    else ctx.add(v->mark, v->key, expected_one_of<Backend>(backend_name));
  }
  if (auto v = map.get("pin_cores")) {
    read_list(ctx, *v, [&](const Value& item) {
      int core = 0;
      if (read_int(ctx, item, 0, 1023, core)) model.pin_cores.push_back(core);
    });
  }
  map.finish();
}

void read_tcp(Context& ctx, const Value& value, TcpConfig& tcp) {
  MapReader map(ctx, value);
  if (auto v = map.get("enabled")) read_bool(ctx, *v, tcp.enabled);
  if (auto v = map.get("bind"); v && read_string(ctx, *v, tcp.bind)) {
    std::uint8_t buf[16];
    if (inet_pton(AF_INET, tcp.bind.c_str(), buf) != 1 &&
        inet_pton(AF_INET6, tcp.bind.c_str(), buf) != 1) {
      ctx.add(v->mark, v->key,
              "must be an IPv4 or IPv6 address (0.0.0.0 = all IPv4 interfaces), got '" + tcp.bind +
                  "'");
    }
  }
  if (auto v = map.get("port")) read_int(ctx, *v, 0, 65535, tcp.port);
  const Value networks = map.get_or_empty("allowed_networks");
  if (!networks.present) {
    for (const char* text : {"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                             "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10"}) {
      tcp.allowed_networks.push_back(*Network::parse(text));
    }
  } else {
    read_list(ctx, networks, [&](const Value& item) {
      std::string text;
      if (!read_string(ctx, item, text)) return;
      if (auto net = Network::parse(text)) {
        tcp.allowed_networks.push_back(*net);
      } else {
        ctx.add(item.mark, item.key,
                "expected a network such as 192.168.0.0/16 or fd00::/8 (no host bits below the "
                "prefix), got '" +
                    text + "'");
      }
    });
    if (networks.node.IsNull() || (networks.node.IsSequence() && networks.node.size() == 0)) {
      ctx.add(networks.mark, networks.key,
              "must list at least one network (to refuse all TCP clients, set "
              "publish.tcp.enabled: false)");
    }
  }
  if (auto v = map.get("token"); v && read_string(ctx, *v, tcp.token) && tcp.token.size() > 1024) {
    ctx.add(v->mark, v->key, "must be at most 1024 characters");
  }
  map.finish();
}

void read_unix(Context& ctx, const Value& value, UnixConfig& unix_socket) {
  MapReader map(ctx, value);
  if (auto v = map.get("enabled")) read_bool(ctx, *v, unix_socket.enabled);
  std::string path = unix_socket.path;
  const Value path_value = map.get_or_empty("path");
  if (path_value.present && read_string(ctx, path_value, path)) {
    if (path.empty() && unix_socket.enabled) {
      ctx.add(path_value.mark, path_value.key, "a socket path is required when enabled");
    }
  }
  if (!path.empty()) {
    fs::path p(path);
    if (p.is_relative()) p = fs::path(runtime_directory()) / p;
    unix_socket.path = p.lexically_normal();
    // sockaddr_un holds 108 bytes including the terminating NUL.
    if (unix_socket.path.size() > 107) {
      const YAML::Mark mark = path_value.present ? path_value.mark : value.mark;
      ctx.add(mark, path_value.key,
              "socket path " + unix_socket.path + " is longer than 107 bytes");
    }
  }
  if (auto v = map.get("mode")) {
    std::string text;
    if (v->node.IsScalar()) text = v->node.Scalar();
    const bool octal = !text.empty() && text.size() <= 4 &&
                       text.find_first_not_of("01234567") == std::string::npos;
    unsigned mode = octal ? static_cast<unsigned>(std::stoul(text, nullptr, 8)) : 07777;
    if (!octal || mode > 0777) {
      ctx.add(v->mark, v->key,
              "expected permission bits in octal such as \"0660\", got " + describe_node(v->node));
    } else {
      unix_socket.mode = mode;
    }
  }
  map.finish();
}

void read_publish(Context& ctx, const Value& value, PublishConfig& pub) {
  MapReader map(ctx, value);
  if (auto v = map.get("max_clients")) read_int(ctx, *v, 1, 1024, pub.max_clients);
  if (auto v = map.get("send_queue")) read_int(ctx, *v, 4, 4096, pub.send_queue);
  if (auto v = map.get("stats_interval_s")) read_double(ctx, *v, 0.5, 3600, pub.stats_interval_s);
  read_tcp(ctx, map.get_or_empty("tcp"), pub.tcp);
  read_unix(ctx, map.get_or_empty("unix"), pub.unix_socket);
  if (!pub.tcp.enabled && !pub.unix_socket.enabled) {
    ctx.add(value.mark, value.key,
            "publish.tcp and publish.unix are both disabled: clients could not connect");
  }
  map.finish();
}

void read_logging(Context& ctx, const Value& value, LoggingConfig& logging) {
  MapReader map(ctx, value);
  std::string level_name;
  if (auto v = map.get("level"); v && read_string(ctx, *v, level_name)) {
    if (auto l = enum_from_name<log::Level>(level_name)) logging.level = *l;
    else ctx.add(v->mark, v->key, expected_one_of<log::Level>(level_name));
  }
  if (auto v = map.get("summary_interval_s")) {
    read_double(ctx, *v, 0, 86400, logging.summary_interval_s);
  }
  map.finish();
}

}  // namespace

std::vector<std::string> model_search_path() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("LOOKOUT_MODEL_DIR"); env != nullptr && env[0] != '\0') {
    dirs.emplace_back(env);
  }
  dirs.emplace_back(LOOKOUT_MODEL_DIR);
  dirs.emplace_back(LOOKOUT_SOURCE_MODEL_DIR);
  return dirs;
}

std::string_view default_config_text() {
  return kDefaultConfigYaml;
}

Config parse_config(std::string_view text, const std::string& origin, const std::string& base_dir) {
  Context ctx;
  ctx.file = origin;
  ctx.base_dir = base_dir;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    ConfigLocation loc{origin, e.mark.line + 1, e.mark.column + 1, ""};
    if (e.mark.line < 0) loc.line = 0;
    throw ConfigError({loc.format("not valid YAML: " + e.msg)});
  }
  Config config;
  config.origin = origin;
  const Value top{root, YAML::Mark(), "", true};
  if (root.IsDefined() && !root.IsNull() && !root.IsMap()) {
    ctx.add(root.Mark(), "",
            "expected a mapping of keys (camera, source, model, ...), got " + describe_node(root));
    throw ConfigError(ctx.problems);
  }
  MapReader map(ctx, top);
  if (auto v = map.get("camera");
      v && read_string(ctx, *v, config.camera) && config.camera.size() > 128) {
    ctx.add(v->mark, v->key, "must be at most 128 characters");
  }
  if (config.camera.empty()) config.camera = host_name();
  read_source(ctx, map.get_or_empty("source"), config.source);
  read_model(ctx, map.get_or_empty("model"), config.model);
  read_publish(ctx, map.get_or_empty("publish"), config.publish);
  read_logging(ctx, map.get_or_empty("logging"), config.logging);
  map.finish();
  if (!ctx.problems.empty()) throw ConfigError(ctx.problems);
  return config;
}

Config load_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError({path + ": cannot read the configuration file: " + std::strerror(errno)});
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError({path + ": cannot read the configuration file"});
  std::error_code ec;
  const fs::path dir = fs::absolute(fs::path(path), ec).parent_path();
  return parse_config(text.str(), path, dir.string());
}

Config load_default_config() {
  return parse_config(default_config_text(), kEmbeddedOrigin, "");
}

std::string describe(const Config& c) {
  using nlohmann::json;
  json networks = json::array();
  for (const auto& net : c.publish.tcp.allowed_networks) networks.push_back(net.to_string());
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", c.publish.unix_socket.mode);
  json j = {
      {"origin", c.origin},
      {"camera", c.camera},
      {"source",
       {{"type", enum_name(c.source.type)},
        {"width", c.source.width},
        {"height", c.source.height},
        {"fps", c.source.fps},
        {"format", c.source.format ? enum_name(*c.source.format) : "auto"},
        {"path", c.source.path},
        {"loop", c.source.loop},
        {"seed", c.source.seed},
        {"device", c.source.device},
        {"camera_id", c.source.camera},
        {"frame_timeout_ms", c.source.frame_timeout.count()},
        {"backoff_initial_ms", c.source.backoff_initial.count()},
        {"backoff_max_ms", c.source.backoff_max.count()}}},
      {"model",
       {{"path", c.model.path},
        {"input", {c.model.input_width, c.model.input_height}},
        {"conf", c.model.conf},
        {"iou", c.model.iou},
        {"max_detections", c.model.max_detections},
        {"agnostic_nms", c.model.agnostic_nms},
        {"classes", c.model.classes},
        {"class_conf", c.model.class_conf},
        {"threads", c.model.threads},
        {"backend", enum_name(c.model.backend)},
        {"pin_cores", c.model.pin_cores}}},
      {"publish",
       {{"max_clients", c.publish.max_clients},
        {"send_queue", c.publish.send_queue},
        {"stats_interval_s", c.publish.stats_interval_s},
        {"tcp",
         {{"enabled", c.publish.tcp.enabled},
          {"bind", c.publish.tcp.bind},
          {"port", c.publish.tcp.port},
          {"allowed_networks", networks},
          {"token", c.publish.tcp.token.empty() ? "" : "(set)"}}},
        {"unix",
         {{"enabled", c.publish.unix_socket.enabled},
          {"path", c.publish.unix_socket.path},
          {"mode", mode}}}}},
      {"logging",
       {{"level", enum_name(c.logging.level)}, {"summary_interval_s", c.logging.summary_interval_s}}},
  };
  return j.dump(2);
}

}  // namespace lookout
