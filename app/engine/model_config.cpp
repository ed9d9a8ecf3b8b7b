#include "model_config.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "engine/engine.hpp"

namespace lookout::engine {

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& why) {
  throw ModelError(where + ": config.txt: " + why);
}

int as_int(const nlohmann::json& value, const std::string& key, const std::string& where) {
  if (!value.is_number_integer()) fail(where, "\"" + key + "\" must be an integer");
  // Within int's range: a huge value must not wrap around into a small one.
  const bool in_range = value.is_number_unsigned() ? value.get<std::uint64_t>() <= 1'000'000'000u
                                                   : value.get<std::int64_t>() >= -1'000'000'000 &&
                                                         value.get<std::int64_t>() <= 1'000'000'000;
  if (!in_range) fail(where, "\"" + key + "\" is out of range");
  return value.get<int>();
}

// ultralytics writes names either as a list or as {"0": "person", ...}; models/
// writes a list. A dict must cover 0..n-1 exactly.
std::vector<std::string> parse_names(const nlohmann::json& value, const std::string& where) {
  std::vector<std::string> names;
  if (value.is_array()) {
    for (const auto& item : value) {
      if (!item.is_string()) fail(where, "\"names\" must hold strings");
      names.push_back(item.get<std::string>());
    }
    return names;
  }
  if (!value.is_object()) fail(where, "\"names\" must be a list or an object");
  names.resize(value.size());
  std::vector<bool> seen(value.size(), false);
  for (const auto& [key, item] : value.items()) {
    char* end = nullptr;
    const long index = std::strtol(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0' || index < 0 || index >= static_cast<long>(names.size()) ||
        seen[static_cast<std::size_t>(index)]) {
      fail(where, "\"names\" key \"" + key + "\" is not a class index 0.." +
                      std::to_string(names.size() - 1));
    }
    if (!item.is_string()) fail(where, "\"names\" must hold strings");
    seen[static_cast<std::size_t>(index)] = true;
    names[static_cast<std::size_t>(index)] = item.get<std::string>();
  }
  return names;
}

}  // namespace

ModelConfig parse_model_config(const std::string& text, const std::string& where) {
  ModelConfig config;
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
    return config;
  }
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number too large for a double.
    fail(where, std::string("not valid JSON (") + e.what() + ")");
  }
  if (!root.is_object()) fail(where, "expected a JSON object");
  config.has_config = true;

  if (auto it = root.find("task"); it != root.end()) {
    if (!it->is_string()) fail(where, "\"task\" must be a string");
    const auto name = it->get<std::string>();
    const auto task = enum_from_name<Task>(name);
    if (!task) fail(where, "\"task\": " + expected_one_of<Task>(name));
    config.task = *task;
  }
  if (auto it = root.find("name"); it != root.end() && !it->is_null()) {
    if (!it->is_string()) fail(where, "\"name\" must be a string");
    config.name = it->get<std::string>();
  }
  if (auto it = root.find("shape"); it != root.end() && !it->is_null()) {
    if (!it->is_array() || it->size() != 4) fail(where, "\"shape\" must be [1, C, H, W]");
    for (const auto& v : *it) config.shape.push_back(as_int(v, "shape", where));
    if (config.shape[0] != 1 || (config.shape[1] != 1 && config.shape[1] != 3) ||
        config.shape[2] <= 0 || config.shape[3] <= 0) {
      fail(where, "\"shape\" must be [1, C, H, W] with C 1 or 3 and positive H, W");
    }
  }
  if (auto it = root.find("stride"); it != root.end() && !it->is_null()) {
    // ultralytics writes an int; be lenient about 32.0.
    // (The range check first: converting a double outside int's range is undefined.)
    const auto whole = [](double v) {
      return std::abs(v) <= 1e9 && v == static_cast<double>(static_cast<int>(v));
    };
    if (it->is_number_float() && whole(it->get<double>())) {
      config.stride = static_cast<int>(it->get<double>());
    } else {
      config.stride = as_int(*it, "stride", where);
    }
    if (config.stride <= 0) fail(where, "\"stride\" must be positive");
    config.has_stride = true;
  }
  if (auto it = root.find("dynamic"); it != root.end() && !it->is_null()) {
    if (!it->is_boolean()) fail(where, "\"dynamic\" must be true or false");
    config.dynamic = it->get<bool>();
  }
  if (auto it = root.find("names"); it != root.end() && !it->is_null()) {
    config.names = parse_names(*it, where);
  }
  if (auto it = root.find("letterbox"); it != root.end() && !it->is_null()) {
    if (!it->is_object()) fail(where, "\"letterbox\" must be an object");
    if (auto pad = it->find("pad"); pad != it->end()) {
      config.pad_value = as_int(*pad, "letterbox.pad", where);
      if (config.pad_value < 0 || config.pad_value > 255) {
        fail(where, "\"letterbox.pad\" must be 0..255");
      }
    }
    if (auto center = it->find("center"); center != it->end()) {
      if (!center->is_boolean()) fail(where, "\"letterbox.center\" must be true or false");
      config.pad_center = center->get<bool>();
    }
  }
  if (config.dynamic && !config.shape.empty() &&
      (config.shape[2] % config.stride != 0 || config.shape[3] % config.stride != 0)) {
    fail(where, "dynamic model's \"shape\" is not a multiple of its stride " +
                    std::to_string(config.stride));
  }
  return config;
}

}  // namespace lookout::engine
