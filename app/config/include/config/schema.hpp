// The configuration schema: one field table per section.
//
// A row names a key, the member it fills, its type with its range or allowed
// values, a one-line description, and which running part a change of it
// restarts. The default is the member's initializer (so code that builds a
// section struct by hand gets the same defaults as a file that omits the key).
// From the tables alone come:
//   * reading YAML: unknown keys (with "did you mean"), duplicate keys, wrong
//     types and ranges, each as "FILE:LINE:COLUMN: KEY: message", every
//     problem of a file at once, in file order (read_section);
//   * describe(), the --check-config summary and the key reference (to_json,
//     list_keys);
//   * the reload plan: which keys changed and which parts that restarts
//     (plan_reload), never a hand-written comparison.
// Adding a key is one row plus the member. config.cpp holds lookoutd's own
// tables; tests build their own to show the machinery.
//
// Ownership: tables are built once and never change (function-local statics);
// rows refer to nested tables by pointer. Threads: everything here is a pure
// function of its arguments and may run on any thread; parsing touches no
// file, environment variable or host name.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/enum_names.hpp"

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

// Where a key was written.
struct ConfigLocation {
  std::string file;
  int line = 0;  // from 1; 0 = not from a file (a default, or a key not written)
  int column = 0;
  std::string key;  // dotted path, e.g. "model.classes" or "model.classes[1]"
  // "FILE:LINE:COLUMN: KEY: " + message (LINE:COLUMN and KEY only when known).
  std::string format(std::string_view message) const;
};

namespace config {

// The running parts a change can restart. A key may restart several (the
// frame size restarts the source, and the engine whose input fits it).
// Nothing: applied to the running daemon as it is (thresholds, limits, names).
enum class Restart : unsigned {
  Nothing = 0,
  Source = 1u << 0,
  Engine = 1u << 1,
  Listener = 1u << 2,  // the section's listening socket (publish.tcp, publish.unix, ...)
  Output = 1u << 3,    // the section's output (a broker connection, ...)
};

constexpr Restart operator|(Restart a, Restart b) {
  return static_cast<Restart>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr bool includes(Restart set, Restart part) {
  return (static_cast<unsigned>(set) & static_cast<unsigned>(part)) != 0;
}

}  // namespace config

template <>
struct EnumTable<config::Restart> {
  static constexpr std::array<EnumName<config::Restart>, 5> entries{{
      {config::Restart::Nothing, "nothing"},
      {config::Restart::Source, "source"},
      {config::Restart::Engine, "engine"},
      {config::Restart::Listener, "listener"},
      {config::Restart::Output, "output"},
  }};
};

namespace config {

// "source, engine", or "nothing".
std::string restart_names(Restart set);

// Where each key of a file was written, by dotted path.
class Locations {
 public:
  Locations() = default;
  explicit Locations(std::string file) : file_(std::move(file)) {}
  void record(const ConfigLocation& where) { keys_[where.key] = where; }
  // The key's own place. For a key that was not written, the place of the
  // nearest enclosing section that was (where it would go), under the key's
  // own name; else the file alone.
  ConfigLocation of(const std::string& key) const;
  bool written(const std::string& key) const { return keys_.count(key) != 0; }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::map<std::string, ConfigLocation> keys_;
};

// A YAML value being read, with its dotted key and where it was written (for
// an empty value, where its key was). The schema reads through it; yaml-cpp
// stays inside schema.cpp.
class Node {
 public:
  enum class Kind { Absent, Null, Scalar, Sequence, Map };

  Node();  // Absent
  Kind kind() const;
  bool absent() const { return kind() == Kind::Absent; }
  // Absent or written without a value ("key:"): the default, or an empty list.
  bool empty() const { return kind() == Kind::Absent || kind() == Kind::Null; }
  const std::string& scalar() const;   // "" unless Scalar
  std::size_t size() const;            // items of a Sequence
  Node item(std::size_t index) const;  // key "KEY[index]"
  // A Map's entries in file order: its key as a Node (a plain name is a
  // Scalar) and its value, keyed "KEY.name".
  std::vector<std::pair<Node, Node>> entries() const;
  const std::string& key() const;
  const ConfigLocation& location() const;
  // For messages: "'text'", "a list", "a mapping", "nothing".
  std::string describe() const;

  struct Impl;
  explicit Node(std::shared_ptr<const Impl> impl);

 private:
  std::shared_ptr<const Impl> impl_;
};

// Parses YAML text. Throws ConfigError ("FILE:LINE:COLUMN: not valid YAML:
// ...") for text that is not YAML.
Node parse_yaml(std::string_view text, const std::string& file);

// Collects every problem while a file is read, and where each key was.
class Reader {
 public:
  explicit Reader(std::string file) : locations_(std::move(file)) {}
  void problem(const ConfigLocation& where, std::string message);
  void problem(const Node& at, std::string message) { problem(at.location(), std::move(message)); }
  bool ok() const { return problems_.empty(); }
  // Formatted, in file order (problems with no line first, in the order found).
  std::vector<std::string> problems() const;
  Locations& locations() { return locations_; }
  const Locations& locations() const { return locations_; }

 private:
  Locations locations_;
  std::vector<std::pair<ConfigLocation, std::string>> problems_;
};

// ---- value types ("codecs"): read one value, show it, name its type ------------------
//
// Each has `using Value`, `bool read(Reader&, const Node&, Value&) const`
// (false = a problem was reported and the value is unchanged), `json(const
// Value&)` (what describe() shows) and `type()` (for the key reference).

struct Boolean {
  using Value = bool;
  bool read(Reader& reader, const Node& node, bool& out) const;
  nlohmann::json json(bool value) const { return value; }
  std::string type() const { return "true or false"; }
};

namespace detail {
// Reports and returns false for anything but a decimal integer in [min, max].
bool read_integer_text(Reader& reader, const Node& node, const std::string& min,
                       const std::string& max, bool in_range, bool parsed);
bool read_real(Reader& reader, const Node& node, double min, double max, double& out);
std::string format_real(double value);
double shortest_float(float value);  // 0.45f as 0.45, not 0.449999988
}  // namespace detail

template <typename T>
struct Integer {
  static_assert(std::is_integral_v<T>);
  using Value = T;
  T min;
  T max;
  bool read(Reader& reader, const Node& node, T& out) const {
    T value{};
    bool parsed = false, in_range = false;
    if (node.kind() == Node::Kind::Scalar) {
      const std::string& s = node.scalar();
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
      const bool whole = end == s.data() + s.size() && !s.empty();
      parsed = (ec == std::errc() && whole) || (ec == std::errc::result_out_of_range && whole);
      in_range = ec == std::errc() && whole && value >= min && value <= max;
    }
    if (!detail::read_integer_text(reader, node, std::to_string(min), std::to_string(max), in_range,
                                   parsed)) {
      return false;
    }
    out = value;
    return true;
  }
  nlohmann::json json(T value) const { return value; }
  std::string type() const {
    return "integer " + std::to_string(min) + " .. " + std::to_string(max);
  }
};

template <typename T>
struct Real {
  static_assert(std::is_floating_point_v<T>);
  using Value = T;
  double min;
  double max;
  bool read(Reader& reader, const Node& node, T& out) const {
    double value = 0;
    if (!detail::read_real(reader, node, min, max, value)) return false;
    out = static_cast<T>(value);
    return true;
  }
  nlohmann::json json(T value) const {
    if constexpr (std::is_same_v<T, float>) return detail::shortest_float(value);
    return value;
  }
  std::string type() const {
    return "number " + detail::format_real(min) + " .. " + detail::format_real(max);
  }
};

struct Text {
  using Value = std::string;
  std::size_t max_length = 4096;
  bool secret = false;  // describe() shows "(set)", never the text
  bool read(Reader& reader, const Node& node, std::string& out) const;
  nlohmann::json json(const std::string& value) const {
    if (secret) return value.empty() ? "" : "(set)";
    return value;
  }
  std::string type() const { return secret ? "string (secret)" : "string"; }
};

// One of a closed set, by its name table.
template <typename E>
struct Choice {
  using Value = E;
  bool read(Reader& reader, const Node& node, E& out) const {
    if (node.kind() != Node::Kind::Scalar) {
      reader.problem(
          node, "expected one of: " + join_names(enum_names<E>()) + "; got " + node.describe());
      return false;
    }
    const auto value = enum_from_name<E>(node.scalar());
    if (!value) {
      reader.problem(node, expected_one_of<E>(node.scalar()));
      return false;
    }
    out = *value;
    return true;
  }
  nlohmann::json json(E value) const { return std::string(enum_name(value)); }
  std::string type() const { return "one of: " + join_names(enum_names<E>()); }
};

// One of a closed set, or `none` (e.g. "auto") for no preference.
template <typename E>
struct ChoiceOr {
  using Value = std::optional<E>;
  std::string_view none;
  std::vector<std::string_view> names() const {
    std::vector<std::string_view> all{none};
    for (const auto name : enum_names<E>()) all.push_back(name);
    return all;
  }
  bool read(Reader& reader, const Node& node, std::optional<E>& out) const {
    if (node.kind() != Node::Kind::Scalar) {
      reader.problem(node, "expected one of: " + join_names(names()) + "; got " + node.describe());
      return false;
    }
    if (node.scalar() == none) {
      out.reset();
      return true;
    }
    const auto value = enum_from_name<E>(node.scalar());
    if (!value) {
      reader.problem(node, expected_one_of(names(), node.scalar()));
      return false;
    }
    out = value;
    return true;
  }
  nlohmann::json json(const std::optional<E>& value) const {
    return std::string(value ? enum_name(*value) : none);
  }
  std::string type() const { return "one of: " + join_names(names()); }
};

// A list of values of one type; nothing written is the empty list.
template <typename Item>
struct ListOf {
  using Value = std::vector<typename Item::Value>;
  Item item;
  bool read(Reader& reader, const Node& node, Value& out) const {
    if (node.empty()) {
      out.clear();
      return true;
    }
    if (node.kind() != Node::Kind::Sequence) {
      reader.problem(node, "expected a list, got " + node.describe());
      return false;
    }
    Value values;
    bool ok = true;
    for (std::size_t i = 0; i < node.size(); ++i) {
      typename Item::Value value{};
      if (item.read(reader, node.item(i), value)) {
        values.push_back(std::move(value));
      } else {
        ok = false;
      }
    }
    if (ok) out = std::move(values);
    return ok;
  }
  nlohmann::json json(const Value& values) const {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& value : values) out.push_back(item.json(value));
    return out;
  }
  std::string type() const { return "list of " + item.type(); }
};

// ---- rows and tables -----------------------------------------------------------------

// A key whose value differs between two configurations.
struct Change {
  std::string key;      // dotted path, e.g. "publish.tcp.port"
  Restart restart;      // what its row says a change restarts
  std::string section;  // the section holding it, e.g. "publish.tcp" ("" = top level)
  nlohmann::json before;
  nlohmann::json after;
};

// One key of the reference (lookoutd's keys are listed by config_keys()).
struct KeyInfo {
  std::string key;  // dotted path
  std::string type;
  std::string description;
  Restart restart = Restart::Nothing;
  nlohmann::json default_value;  // for a section: its keys' defaults
  bool is_section = false;
};

template <typename S>
struct Section;

// One row. diff_section and list_section read the row's own data; only what
// depends on the member's type is a function.
template <typename S>
struct Field {
  std::string key;
  std::string type;
  std::string description;
  Restart restart = Restart::Nothing;
  // Reads the key's value into its member (problems go to the reader).
  std::function<void(Reader&, const Node&, S&)> read;
  std::function<nlohmann::json(const S&)> json;
  // A value: whether two sections hold the same one.
  std::function<bool(const S&, const S&)> same;
  // A nested section: its changes and its keys, below the row's dotted `path`.
  struct Nested {
    std::function<void(const S&, const S&, const std::string& path, std::vector<Change>&)> diff;
    std::function<void(const S& defaults, const std::string& path, std::vector<KeyInfo>&)> list;
  };
  std::optional<Nested> section;
};

template <typename S>
struct Section {
  std::vector<Field<S>> fields;
  // Rules between keys, after all of them were read (a camera cannot run
  // unpaced, the maximum backoff is not below the initial one). `path` is the
  // section's own; report at reader.locations().of(path + ".key").
  std::function<void(Reader&, const S&, const std::string& path)> check;
};

// The dotted path of `key` below `path`.
inline std::string join_key(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// A member of a member (e.g. ModelConfig::engine then EngineOptions::threads),
// for rows that fill a struct another library defines.
template <typename S, typename M, typename T>
struct Nested {
  M S::*outer;
  T M::*inner;
  T& operator()(S& s) const { return (s.*outer).*inner; }
  const T& operator()(const S& s) const { return (s.*outer).*inner; }
};
template <typename S, typename M, typename T>
Nested<S, M, T> member(M S::*outer, T M::*inner) {
  return {outer, inner};
}

namespace detail {

template <typename S, typename T>
struct Direct {
  T S::*m;
  T& operator()(S& s) const { return s.*m; }
  const T& operator()(const S& s) const { return s.*m; }
};

template <typename S, typename Access, typename Codec>
Field<S> make_field(std::string key, Access access, Codec codec, Restart restart,
                    std::string description) {
  Field<S> f;
  f.key = std::move(key);
  f.type = codec.type();
  f.description = std::move(description);
  f.restart = restart;
  f.read = [access, codec](Reader& reader, const Node& node, S& s) {
    typename Codec::Value value = access(static_cast<const S&>(s));
    if (codec.read(reader, node, value)) access(s) = std::move(value);
  };
  f.json = [access, codec](const S& s) { return codec.json(access(s)); };
  f.same = [access](const S& a, const S& b) { return access(a) == access(b); };
  return f;
}

// Reads a mapping: duplicate keys, keys that are not plain names and unknown
// keys (with the closest known one suggested) are reported; `take(i, value)`
// is called for the entry whose key is keys[i], after its place was recorded.
void read_mapping(Reader& reader, const Node& node, const std::vector<std::string_view>& keys,
                  const std::function<void(std::size_t, const Node&)>& take);

}  // namespace detail

template <typename S, typename T, typename Codec>
Field<S> field(std::string key, T S::*m, Codec codec, Restart restart, std::string description) {
  return detail::make_field<S>(std::move(key), detail::Direct<S, T>{m}, std::move(codec), restart,
                               std::move(description));
}

template <typename S, typename M, typename T, typename Codec>
Field<S> field(std::string key, Nested<S, M, T> m, Codec codec, Restart restart,
               std::string description) {
  return detail::make_field<S>(std::move(key), m, std::move(codec), restart,
                               std::move(description));
}

// A key whose value fills more than one member or needs its own reading (e.g.
// `input: [width, height]`). `same` decides whether it changed.
template <typename S>
Field<S> custom_field(std::string key, std::string type, Restart restart, std::string description,
                      std::function<void(Reader&, const Node&, S&)> read,
                      std::function<nlohmann::json(const S&)> json,
                      std::function<bool(const S&, const S&)> same) {
  Field<S> f;
  f.key = std::move(key);
  f.type = std::move(type);
  f.description = std::move(description);
  f.restart = restart;
  f.read = std::move(read);
  f.json = std::move(json);
  f.same = std::move(same);
  return f;
}

template <typename S>
void read_section(Reader& reader, const Node& node, const Section<S>& schema, S& out);
template <typename S>
nlohmann::json to_json(const Section<S>& schema, const S& value);
template <typename S>
void diff_section(const Section<S>& schema, const S& a, const S& b, const std::string& path,
                  std::vector<Change>& out);
template <typename S>
void list_section(const Section<S>& schema, const S& defaults, const std::string& path,
                  std::vector<KeyInfo>& out);

// A nested section (e.g. publish.tcp inside publish). `child` must outlive
// the row (tables are static).
template <typename S, typename C>
Field<S> section(std::string key, C S::*m, const Section<C>& child, std::string description) {
  Field<S> f;
  f.key = std::move(key);
  f.type = "section";
  f.description = std::move(description);
  const Section<C>* schema = &child;
  f.read = [m, schema](Reader& reader, const Node& node, S& s) {
    read_section(reader, node, *schema, s.*m);
  };
  f.json = [m, schema](const S& s) { return to_json(*schema, s.*m); };
  f.section = typename Field<S>::Nested{
      [m, schema](const S& a, const S& b, const std::string& path, std::vector<Change>& out) {
        diff_section(*schema, a.*m, b.*m, path, out);
      },
      [m, schema](const S& defaults, const std::string& path, std::vector<KeyInfo>& out) {
        list_section(*schema, defaults.*m, path, out);
      }};
  return f;
}

// ---- what the tables drive -----------------------------------------------------------

// Reads `node` (a mapping, or nothing for all defaults) into `out`: every
// key through its row, then the section's own checks.
template <typename S>
void read_section(Reader& reader, const Node& node, const Section<S>& schema, S& out) {
  std::vector<std::string_view> keys;
  keys.reserve(schema.fields.size());
  for (const auto& f : schema.fields) keys.push_back(f.key);
  if (!node.empty() && node.kind() != Node::Kind::Map) {
    std::string what = "a mapping";
    if (node.key().empty()) {  // the whole file: say what it should hold
      std::vector<std::string_view> first(keys.begin(),
                                          keys.begin() + std::min<std::size_t>(3, keys.size()));
      what += " of keys (" + join_names(first) + (keys.size() > 3 ? ", ...)" : ")");
    }
    reader.problem(node, "expected " + what + ", got " + node.describe());
    return;
  }
  detail::read_mapping(reader, node, keys, [&](std::size_t i, const Node& value) {
    schema.fields[i].read(reader, value, out);
  });
  if (schema.check) schema.check(reader, out, node.key());
}

// Every key's value, as describe() shows it (secrets masked).
template <typename S>
nlohmann::json to_json(const Section<S>& schema, const S& value) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& f : schema.fields) out[f.key] = f.json(value);
  return out;
}

// Changes are reported per key: a nested section's by its own keys.
template <typename S>
void diff_section(const Section<S>& schema, const S& a, const S& b, const std::string& path,
                  std::vector<Change>& out) {
  for (const auto& f : schema.fields) {
    const std::string key = join_key(path, f.key);
    if (f.section) {
      f.section->diff(a, b, key, out);
    } else if (!f.same(a, b)) {
      out.push_back({key, f.restart, path, f.json(a), f.json(b)});
    }
  }
}

template <typename S>
void list_section(const Section<S>& schema, const S& defaults, const std::string& path,
                  std::vector<KeyInfo>& out) {
  for (const auto& f : schema.fields) {
    const std::string key = join_key(path, f.key);
    out.push_back({key, f.type, f.description, f.restart, f.json(defaults), f.section.has_value()});
    if (f.section) f.section->list(defaults, key, out);
  }
}

// Every key of a table, nested sections included (a section's own entry
// comes before its keys), with the defaults of `defaults`.
template <typename S>
std::vector<KeyInfo> list_keys(const Section<S>& schema, const S& defaults = S{}) {
  std::vector<KeyInfo> out;
  list_section(schema, defaults, "", out);
  return out;
}

// What going from `running` to `next` changes, and what that restarts.
struct ReloadPlan {
  std::vector<Change> changes;  // every key whose value differs, in table order

  bool empty() const { return changes.empty(); }
  // Whether any change restarts `part` (Source, Engine; Listener and Output
  // of any section).
  bool restarts(Restart part) const;
  // Whether a change restarts the Listener or Output of the section at
  // `section_path` (e.g. "publish.tcp").
  bool restarts(Restart part, std::string_view section_path) const;
  // Everything restarted, e.g. "source, engine, listener publish.tcp"; "" = nothing.
  std::string summary() const;
};

template <typename S>
ReloadPlan plan_reload(const Section<S>& schema, const S& running, const S& next) {
  ReloadPlan plan;
  diff_section(schema, running, next, "", plan.changes);
  return plan;
}

// Parses YAML text with a table. Throws ConfigError listing every problem.
// The top level must be a mapping (or empty: all defaults).
template <typename S>
S parse_with(const Section<S>& schema, std::string_view text, const std::string& origin) {
  Reader reader(origin);
  const Node root = parse_yaml(text, origin);
  S out{};
  read_section(reader, root, schema, out);
  if (!reader.ok()) throw ConfigError(reader.problems());
  return out;
}

}  // namespace config
}  // namespace lookout
