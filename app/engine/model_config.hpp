// Model metadata: the extra file config.txt of a TorchScript model (see
// models/FORMAT.md), parsed without libtorch so it can be unit-tested alone.
//
// Plain value type; no threads involved.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace lookout::engine {

struct ModelConfig {
  Task task = Task::Detect;
  std::string name;             // empty = not given
  // [1, C, H, W] when given; empty when config.txt has no "shape".
  std::vector<int> shape;
  int stride = 32;
  bool has_stride = false;
  bool dynamic = false;  // any stride-aligned H, W works
  std::vector<std::string> names;
  int pad_value = 114;      // letterbox fill
  bool pad_center = true;   // letterbox placement
  bool has_config = false;  // config.txt was present and non-empty
};

// Parses the JSON text of config.txt. `where` names the file in messages.
// Throws ModelError on malformed JSON or keys with the wrong type/value.
// An empty `text` gives the defaults (a file without config.txt).
ModelConfig parse_model_config(const std::string& text, const std::string& where);

}  // namespace lookout::engine
