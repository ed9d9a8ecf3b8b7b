// `lookout model inspect`: what a model file holds, for people. Torch-free
// interface over inspect.cpp (which sees libtorch).
//
// Plain functions; any thread (each call loads the file itself).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace lookout::engine {

struct ModelReport {
  ModelInfo info;                  // as Engine::load sees it (validated by a dry forward)
  std::string config_text;         // config.txt as stored
  std::vector<std::int64_t> input_shape;
  std::vector<std::int64_t> output_shape;
  std::int64_t parameters = 0;     // elements of all parameters
  std::int64_t buffers = 0;        // elements of all buffers (e.g. anchors)
  std::map<std::string, int> operators;  // op kind -> count, submodules inlined
  std::string graph;               // TorchScript graph of forward (inlined), when asked
  std::string dot;                 // Graphviz, when asked
};

// Throws ModelError as Engine::load does.
ModelReport inspect_model(const std::string& path, bool with_graph, bool with_dot);

}  // namespace lookout::engine
