#include "config/schema.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace lookout {

namespace {

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(join_lines(problems)), problems_(std::move(problems)) {}

std::string ConfigLocation::format(std::string_view message) const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line) + ":" + std::to_string(column);
  out += ": ";
  if (!key.empty()) out += printable(key, 200) + ": ";
  out += message;
  return out;
}

namespace config {

std::string restart_names(Restart set) {
  std::vector<std::string_view> names;
  for (const auto& entry : EnumTable<Restart>::entries) {
    if (entry.value != Restart::Nothing && includes(set, entry.value)) names.push_back(entry.name);
  }
  return names.empty() ? "nothing" : join_names(names);
}

ConfigLocation Locations::of(const std::string& key) const {
  if (const auto it = keys_.find(key); it != keys_.end()) return it->second;
  std::string parent = key;
  while (!parent.empty()) {
    const auto cut = parent.find_last_of(".[");
    parent = cut == std::string::npos ? std::string() : parent.substr(0, cut);
    if (const auto it = keys_.find(parent); it != keys_.end()) {
      ConfigLocation where = it->second;
      where.key = key;
      return where;
    }
  }
  return ConfigLocation{file_, 0, 0, key};
}

// ---- Node over yaml-cpp --------------------------------------------------------------

struct Node::Impl {
  YAML::Node node;  // undefined for an absent key
  std::string key;
  ConfigLocation location;
  bool absent = true;
};

namespace {

ConfigLocation location_at(const std::string& file, const YAML::Mark& mark,
                           const std::string& key) {
  ConfigLocation where{file, 0, 0, key};
  if (mark.line >= 0) {
    where.line = mark.line + 1;
    where.column = mark.column + 1;
  }
  return where;
}

Node make_node(const YAML::Node& node, std::string key, ConfigLocation location) {
  auto impl = std::make_shared<Node::Impl>();
  impl->node = node;
  impl->key = std::move(key);
  impl->location = std::move(location);
  impl->absent = false;
  return Node(std::move(impl));
}

const std::string kEmpty;

}  // namespace

Node::Node() : impl_(std::make_shared<Impl>()) {}
Node::Node(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}

Node::Kind Node::kind() const {
  if (impl_->absent) return Kind::Absent;
  switch (impl_->node.Type()) {
    case YAML::NodeType::Scalar:
      return Kind::Scalar;
    case YAML::NodeType::Sequence:
      return Kind::Sequence;
    case YAML::NodeType::Map:
      return Kind::Map;
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return Kind::Null;
}

const std::string& Node::scalar() const {
  return kind() == Kind::Scalar ? impl_->node.Scalar() : kEmpty;
}

std::size_t Node::size() const {
  return kind() == Kind::Sequence ? impl_->node.size() : 0;
}

Node Node::item(std::size_t index) const {
  const YAML::Node item = impl_->node[index];
  const std::string key = impl_->key + "[" + std::to_string(index) + "]";
  ConfigLocation where = location_at(impl_->location.file, item.Mark(), key);
  if (where.line == 0) {
    where = impl_->location;  // an empty item has no place of its own
    where.key = key;
  }
  return make_node(item, key, std::move(where));
}

std::vector<std::pair<Node, Node>> Node::entries() const {
  std::vector<std::pair<Node, Node>> out;
  if (kind() != Kind::Map) return out;
  const std::string& file = impl_->location.file;
  for (const auto& entry : impl_->node) {
    const YAML::Node& key = entry.first;
    const YAML::Node& value = entry.second;
    const std::string path = key.IsScalar() ? join_key(impl_->key, key.Scalar()) : impl_->key;
    ConfigLocation key_place = location_at(file, key.Mark(), path);
    // An empty value ("key:") has no position of its own: use its key's.
    ConfigLocation value_place =
        value.IsNull() || value.Mark().line < 0 ? key_place : location_at(file, value.Mark(), path);
    out.emplace_back(make_node(key, path, std::move(key_place)),
                     make_node(value, path, std::move(value_place)));
  }
  return out;
}

const std::string& Node::key() const {
  return impl_->key;
}

const ConfigLocation& Node::location() const {
  return impl_->location;
}

std::string Node::describe() const {
  switch (kind()) {
    case Kind::Absent:
    case Kind::Null:
      return "nothing";
    case Kind::Scalar:
      return "'" + printable(scalar()) + "'";
    case Kind::Sequence:
      return "a list";
    case Kind::Map:
      return "a mapping";
  }
  return "something else";
}

Node parse_yaml(std::string_view text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    ConfigLocation where = location_at(file, e.mark, "");
    throw ConfigError({where.format("not valid YAML: " + e.msg)});
  } catch (const std::exception& e) {
    throw ConfigError(
        {ConfigLocation{file, 0, 0, ""}.format(std::string("not valid YAML: ") + e.what())});
  }
  if (!root.IsDefined() || root.IsNull()) {
    auto impl = std::make_shared<Node::Impl>();  // an empty file: every default
    impl->location.file = file;
    return Node(std::move(impl));
  }
  return make_node(root, "", location_at(file, root.Mark(), ""));
}

// ---- Reader ----------------------------------------------------------------------------

void Reader::problem(const ConfigLocation& where, std::string message) {
  problems_.emplace_back(where, std::move(message));
}

std::vector<std::string> Reader::problems() const {
  std::vector<std::size_t> order(problems_.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [this](std::size_t a, std::size_t b) {
    const auto& x = problems_[a].first;
    const auto& y = problems_[b].first;
    return std::make_pair(x.line, x.column) < std::make_pair(y.line, y.column);
  });
  std::vector<std::string> out;
  out.reserve(order.size());
  for (const std::size_t i : order) out.push_back(problems_[i].first.format(problems_[i].second));
  return out;
}

// ---- value types -----------------------------------------------------------------------

bool Boolean::read(Reader& reader, const Node& node, bool& out) const {
  if (node.kind() == Node::Kind::Scalar) {
    std::string s = node.scalar();
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (s == "true" || s == "yes" || s == "on") {
      out = true;
      return true;
    }
    if (s == "false" || s == "no" || s == "off") {
      out = false;
      return true;
    }
  }
  reader.problem(node, "expected true or false, got " + node.describe());
  return false;
}

bool Text::read(Reader& reader, const Node& node, std::string& out) const {
  if (node.empty()) {
    out.clear();
    return true;
  }
  if (node.kind() != Node::Kind::Scalar) {
    reader.problem(node, "expected a string, got " + node.describe());
    return false;
  }
  if (node.scalar().size() > max_length) {
    reader.problem(node, "must be at most " + std::to_string(max_length) + " characters");
    return false;
  }
  if (const auto fault = text_fault(node.scalar())) {
    reader.problem(node, "must be UTF-8 text without control characters: " + *fault);
    return false;
  }
  out = node.scalar();
  return true;
}

namespace detail {

bool read_integer_text(Reader& reader, const Node& node, const std::string& min,
                       const std::string& max, bool in_range, bool parsed) {
  if (in_range) return true;
  if (node.kind() == Node::Kind::Scalar && parsed) {
    reader.problem(node,
                   "must be between " + min + " and " + max + ", got " + printable(node.scalar()));
  } else {
    reader.problem(node, "expected an integer, got " + node.describe());
  }
  return false;
}

std::string format_real(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

bool read_real(Reader& reader, const Node& node, double min, double max, double& out) {
  if (node.kind() != Node::Kind::Scalar) {
    reader.problem(node, "expected a number, got " + node.describe());
    return false;
  }
  const std::string& s = node.scalar();
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno == ERANGE || !std::isfinite(value)) {
    reader.problem(node, "expected a number, got " + node.describe());
    return false;
  }
  if (value < min || value > max) {
    reader.problem(node, "must be between " + format_real(min) + " and " + format_real(max) +
                             ", got " + printable(s));
    return false;
  }
  out = value;
  return true;
}

double shortest_float(float value) {
  char text[32];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, static_cast<double>(value));
    if (std::strtof(text, nullptr) == value) break;
  }
  return std::strtod(text, nullptr);
}

void read_mapping(Reader& reader, const Node& node, const std::vector<std::string_view>& keys,
                  const std::function<void(std::size_t, const Node&)>& take) {
  if (node.kind() != Node::Kind::Map) return;
  const std::string& path = node.key();
  std::set<std::string> seen;
  for (const auto& [key, value] : node.entries()) {
    if (key.kind() != Node::Kind::Scalar) {
      ConfigLocation where = key.location();
      where.key = path.empty() ? "(top level)" : path;
      reader.problem(where, "keys must be plain names, got " + key.describe());
      continue;
    }
    const std::string& name = key.scalar();
    if (const auto fault = text_fault(name)) {
      ConfigLocation where = key.location();
      where.key = path.empty() ? "(top level)" : path;
      reader.problem(where, "keys must be UTF-8 names without control characters: " + *fault);
      continue;
    }
    if (!seen.insert(name).second) {
      reader.problem(key, "duplicate key");
      continue;
    }
    const auto it = std::find(keys.begin(), keys.end(), name);
    if (it == keys.end()) {
      std::string message = "unknown key";
      if (const auto suggestion = closest_name(name, keys)) {
        message += " (did you mean '" + std::string(*suggestion) + "'?)";
      }
      reader.problem(key, message);
      continue;
    }
    reader.locations().record(value.location());
    take(static_cast<std::size_t>(it - keys.begin()), value);
  }
}

}  // namespace detail

// ---- ReloadPlan ------------------------------------------------------------------------

bool ReloadPlan::restarts(Restart part) const {
  return std::any_of(changes.begin(), changes.end(),
                     [part](const Change& c) { return includes(c.restart, part); });
}

bool ReloadPlan::restarts(Restart part, std::string_view section_path) const {
  return std::any_of(changes.begin(), changes.end(), [&](const Change& c) {
    return includes(c.restart, part) && c.section == section_path;
  });
}

std::string ReloadPlan::summary() const {
  std::vector<std::string> parts;
  const auto add = [&parts](std::string part) {
    if (std::find(parts.begin(), parts.end(), part) == parts.end()) parts.push_back(part);
  };
  for (const auto& entry : EnumTable<Restart>::entries) {
    for (const auto& c : changes) {
      if (entry.value == Restart::Nothing || !includes(c.restart, entry.value)) continue;
      const bool per_section = entry.value == Restart::Listener || entry.value == Restart::Output;
      add(std::string(entry.name) + (per_section && !c.section.empty() ? " " + c.section : ""));
    }
  }
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : ", ") + part;
  return out;
}

}  // namespace config
}  // namespace lookout
