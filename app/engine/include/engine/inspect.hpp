// `lookout model inspect`: what a model file holds, for people. Torch-free
// interface over inspect.cpp (which sees libtorch).
//
// Plain functions; any thread (each call loads the file itself).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/engine.hpp"

namespace lookout::engine {

struct ModelReport {
  ModelInfo info;           // as Engine::load sees it (validated by a dry forward)
  std::string config_text;  // config.txt as stored
  std::vector<std::int64_t> input_shape;
  std::vector<std::int64_t> output_shape;
  std::int64_t parameters = 0;           // elements of all parameters
  std::int64_t buffers = 0;              // elements of all buffers (e.g. anchors)
  std::map<std::string, int> operators;  // op kind -> count, submodules inlined
  std::string graph;                     // TorchScript graph of forward (inlined), when asked
};

// Throws ModelError as Engine::load does.
ModelReport inspect_model(const std::string& path, bool with_graph);

// The network as people read it: one layer per computing node of the inlined
// forward (constants, attribute reads and the lists that carry convolution
// parameters folded into attributes), named by the module that runs it, with
// the output shape a dry run at the chosen input size gave, its parameters
// and multiply-accumulates, and the blocks (C3, SPPF, Detect, ...) as
// clusters. Built by describe_model(); drawn by the CLI (Graphviz).
struct GraphLayer {
  // Module path as the model names it ("model.2.cv1.conv", "model.24",
  // "decode"): leading wrapper modules that hold a single child are left out,
  // so an exported YOLOv5 reads as ultralytics names it. Empty for nodes of
  // the top-level forward itself.
  std::string name;
  std::string module_type;  // class of that module ("Conv2d", "Concat"); empty when none
  std::string op;           // the operator, e.g. "aten::_convolution"
  std::string title;        // short: "Conv2d 3x3 s2 + SiLU", "cat", "max_pool2d 5x5"
  // Readable attributes in order: kernel, stride, padding, groups, channels
  // ("16 -> 32"), scale, dim...; only those the op has.
  std::vector<std::pair<std::string, std::string>> attributes;
  std::vector<std::vector<std::int64_t>> output_shapes;  // one per tensor output
  std::int64_t parameters = 0;  // elements of the parameters this node reads
  std::int64_t macs = 0;        // multiply-accumulates (convolutions, linear, matmul)
  std::vector<int> inputs;      // producing layers; -1 is the model's input
  int cluster = -1;             // innermost block, index into ModelGraph::clusters
  // Modules whose operators this layer also stands for: the activation module
  // folded into a convolution's box ("model.0.act"). Profiles attribute their
  // time here.
  std::vector<std::string> folded_modules;
};

struct GraphCluster {
  std::string name;  // module path, as GraphLayer::name
  std::string type;  // module class ("C3", "SPPF", "Detect", "Bottleneck")
  int parent = -1;   // enclosing block, or -1
};

struct ModelGraph {
  std::string model_name;
  std::vector<std::int64_t> input_shape;  // the dry run's
  std::vector<GraphLayer> layers;         // in execution order
  std::vector<GraphCluster> clusters;     // parents before children
  std::vector<int> outputs;               // layers whose values forward returns
  std::int64_t parameters = 0;            // all of the module's parameters
  std::int64_t macs = 0;                  // sum over layers
};

// height/width 0: the model's default input size. Throws ModelError as
// Engine::load does, and for a size the model refuses.
ModelGraph describe_model(const std::string& path, int height = 0, int width = 0);

// Measured cost per layer: the model run `runs` times by a real engine with
// `options` (backend, threads, input size), every operator the TorchScript
// interpreter calls timed through libtorch's RecordFunction hooks and
// attributed, by the module it runs in (the interpreter's module hierarchy)
// and its place among that module's operators, to the layers of
// describe_model() at the same size.
struct ModelProfile {
  ModelGraph graph;
  ModelInfo info;  // the engine's: backend, threads, input size
  int runs = 0;
  // Mean wall time of one forward while timed (what the layers' times are
  // shares of), and without the hooks (the same number of runs, just
  // before): their difference is what timing costs.
  double forward_ms = 0;
  double plain_forward_ms = 0;
  std::vector<double> layer_ms;  // mean per forward, one per graph layer
  // Operators no layer took, by where they ran: the backend's own (layout
  // conversions, fused operators whose module the rewrite dropped) or more
  // calls in a module than its layers. Mean ms per forward.
  std::map<std::string, double> unattributed_ms;
  double attributed_ms() const;  // sum of layer_ms
};

// Throws ModelError as Engine::load does; runs >= 1 (after 2 warm-up runs).
// Not while another engine runs in this process: the hooks are this thread's,
// but libtorch's thread settings are process-wide.
ModelProfile profile_model(const EngineOptions& options, int runs);

}  // namespace lookout::engine
