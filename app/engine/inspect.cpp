#include "engine/inspect.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include <ATen/record_function.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/constants.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/csrc/jit/passes/loop_unrolling.h>
#include <torch/csrc/jit/passes/lower_tuples.h>
#include <torch/csrc/jit/passes/peephole.h>
#include <torch/csrc/jit/passes/peephole_list_idioms.h>
#include <torch/csrc/jit/passes/remove_mutation.h>
#include <torch/csrc/jit/runtime/interpreter.h>
#include <torch/script.h>

#include "torch_internal.hpp"

namespace lookout::engine {

namespace {

// Nodes that are bookkeeping rather than computation; left out of the picture.
bool is_plumbing(const torch::jit::Node* node) {
  const auto kind = node->kind();
  return kind == c10::prim::Constant || kind == c10::prim::GetAttr;
}

void count_ops(const torch::jit::Block* block, std::map<std::string, int>& ops) {
  for (const torch::jit::Node* node : block->nodes()) {
    if (!is_plumbing(node)) ++ops[node->kind().toQualString()];
    for (const torch::jit::Block* sub : node->blocks()) count_ops(sub, ops);
  }
}

// ---- describe_model: the readable graph ---------------------------------------

bool is_tensor(const torch::jit::Value* v) {
  return v->type()->kind() == c10::TypeKind::TensorType;
}

// Nodes that only carry values (lists, tuples) between computing nodes; edges
// are followed through them.
bool is_container(const torch::jit::Node* node) {
  const auto kind = node->kind();
  return kind == c10::prim::ListConstruct || kind == c10::prim::ListUnpack ||
         kind == c10::prim::TupleConstruct || kind == c10::prim::TupleUnpack ||
         kind == c10::prim::TupleIndex || kind == c10::aten::__getitem__;
}

bool is_activation(const torch::jit::Node* node) {
  static const std::set<std::string> kinds = {
      "aten::silu",        "aten::silu_",      "aten::relu",      "aten::relu_",
      "aten::hardswish",   "aten::hardswish_", "aten::gelu",      "aten::leaky_relu",
      "aten::leaky_relu_", "aten::hardtanh",   "aten::hardtanh_", "aten::relu6",
      "aten::mish",        "aten::sigmoid",    "aten::sigmoid_",  "aten::tanh"};
  return kinds.count(node->kind().toQualString()) > 0;
}

std::string activation_title(const std::string& kind) {
  static const std::map<std::string, std::string> names = {{"silu", "SiLU"},
                                                           {"relu", "ReLU"},
                                                           {"hardswish", "Hardswish"},
                                                           {"gelu", "GELU"},
                                                           {"leaky_relu", "LeakyReLU"},
                                                           {"hardtanh", "Hardtanh"},
                                                           {"relu6", "ReLU6"},
                                                           {"mish", "Mish"},
                                                           {"sigmoid", "Sigmoid"},
                                                           {"tanh", "Tanh"}};
  std::string base = kind.substr(kind.find("::") + 2);
  if (!base.empty() && base.back() == '_') base.pop_back();
  const auto it = names.find(base);
  return it == names.end() ? base : it->second;
}

bool is_convolution(const std::string& kind) {
  return kind == "aten::_convolution" || kind == "aten::convolution" || kind == "aten::conv1d" ||
         kind == "aten::conv2d" || kind == "aten::conv3d";
}

std::string op_title(const std::string& kind) {
  const auto colons = kind.find("::");
  return colons == std::string::npos ? kind : kind.substr(colons + 2);
}

std::optional<std::vector<std::int64_t>> constant_ints(const torch::jit::Value* v) {
  const auto value = torch::jit::toIValue(v);
  if (!value) return std::nullopt;
  if (value->isIntList()) return value->toIntVector();
  if (value->isInt()) return std::vector<std::int64_t>{value->toInt()};
  return std::nullopt;
}

std::optional<std::int64_t> constant_int(const torch::jit::Value* v) {
  const auto value = torch::jit::toIValue(v);
  if (value && value->isInt()) return value->toInt();
  return std::nullopt;
}

std::string join_ints(const std::vector<std::int64_t>& values, const char* separator) {
  std::string s;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) s += separator;
    s += std::to_string(values[i]);
  }
  return s;
}

// "3x3" for {3, 3}; "2" for {2, 2} when all equal and short is asked.
std::string ints_text(const std::vector<std::int64_t>& values, bool collapse_equal) {
  if (collapse_equal && !values.empty() &&
      std::all_of(values.begin(), values.end(), [&](std::int64_t v) { return v == values[0]; })) {
    return std::to_string(values[0]);
  }
  return join_ints(values, "x");
}

std::int64_t numel(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (const auto d : shape) n *= d;
  return n;
}

struct ModuleStep {
  std::string instance;  // attribute name in the parent ("body", "2", "cv1")
  std::string type;      // class name ("C3")
};

std::string type_name(const c10::ClassTypePtr& type) {
  return type && type->name() ? type->name()->name() : std::string();
}

// Resolves the chain of module calls a node of the inlined graph came from
// (the inliner's callstack: each entry names only the attribute the callee
// was read from, e.g. "0") to attribute paths from the root with each
// module's class: a traced YOLOv5 calls `model.model[0]` straight from its
// parent, so the call chain skips the Sequential that the path goes through.
class ModulePaths {
 public:
  explicit ModulePaths(const torch::jit::Module& root) : root_(root) {}

  std::vector<ModuleStep> of(const torch::jit::Node* node) {
    std::vector<ModuleStep> calls;
    const auto callstack = node->callstack();
    if (!callstack) return calls;
    for (const auto& entry : (*callstack)->vec()) {
      const auto& info = std::get<torch::jit::kModuleInstanceInfo>(entry);
      if (info) calls.push_back({info->instance_name(), type_name(info->class_type())});
    }
    return resolve(calls);
  }

  // `calls`: (attribute read, class name) per module call, outermost first.
  std::vector<ModuleStep> resolve(const std::vector<ModuleStep>& calls) {
    std::vector<ModuleStep> steps;
    torch::jit::Module current = root_;
    bool lost = false;
    for (const auto& call : calls) {
      if (!lost) {
        if (const auto found = find(current, call.instance, call.type)) {
          steps.insert(steps.end(), found->first.begin(), found->first.end());
          current = found->second;
          continue;
        }
        lost = true;  // not found below the caller: keep the names as called
      }
      steps.push_back(call);
    }
    return steps;
  }

  const torch::jit::Module& root() const { return root_; }

 private:
  using Found = std::pair<std::vector<ModuleStep>, torch::jit::Module>;

  // The shallowest submodule of `parent` whose attribute name is `instance`
  // and whose class is `cls`, as steps below `parent`.
  std::optional<Found> find(const torch::jit::Module& parent, const std::string& instance,
                            const std::string& cls) {
    const auto key =
        std::make_tuple(static_cast<const void*>(parent._ivalue().get()), instance, cls);
    if (const auto it = cache_.find(key); it != cache_.end()) return it->second;
    std::optional<Found> best;
    std::size_t best_depth = 0;
    for (const auto& item : parent.named_modules()) {
      if (item.name.empty()) continue;
      const auto dot = item.name.rfind('.');
      const std::string last = dot == std::string::npos ? item.name : item.name.substr(dot + 1);
      if (last != instance || type_name(item.value.type()) != cls) continue;
      const auto depth =
          static_cast<std::size_t>(std::count(item.name.begin(), item.name.end(), '.'));
      if (best && depth >= best_depth) continue;
      std::vector<ModuleStep> steps;
      torch::jit::Module walk = parent;
      std::size_t start = 0;
      while (start <= item.name.size()) {
        const auto end = std::min(item.name.find('.', start), item.name.size());
        const std::string component = item.name.substr(start, end - start);
        walk = torch::jit::Module(walk.attr(component).toObject());
        steps.push_back({component, type_name(walk.type())});
        start = end + 1;
      }
      best = Found{std::move(steps), item.value};
      best_depth = depth;
    }
    cache_.emplace(key, best);
    return best;
  }

  torch::jit::Module root_;
  std::map<std::tuple<const void*, std::string, std::string>, std::optional<Found>> cache_;
};

std::size_t child_count(const torch::jit::Module& module) {
  std::size_t n = 0;
  for (const auto& child : module.children()) {
    (void)child;
    ++n;
  }
  return n;
}

// How many leading steps of `steps` are wrappers: modules holding a single
// child (the exporter's body, ultralytics' Model around its Sequential), left
// out of names so that layers read "model.2.cv1.conv". The last step is
// always kept.
std::size_t wrapper_steps(const torch::jit::Module& root, const std::vector<ModuleStep>& steps) {
  torch::jit::Module module = root;
  std::size_t i = 0;
  for (; i + 1 < steps.size(); ++i) {
    if (!module.hasattr(steps[i].instance)) break;
    const auto child = module.attr(steps[i].instance);
    if (!child.isObject()) break;
    torch::jit::Module next(child.toObject());
    if (child_count(next) != 1) break;
    module = next;
  }
  return i;
}

std::string join_steps(const std::vector<ModuleStep>& steps, std::size_t begin, std::size_t end) {
  std::string s;
  for (std::size_t i = begin; i < end; ++i) s += (i > begin ? "." : "") + steps[i].instance;
  return s;
}

// The dotted attribute path a prim::GetAttr chain reads from `self`
// ("body.model.model.0.conv.weight"), or empty when it starts elsewhere.
std::string attribute_path(const torch::jit::Value* v, const torch::jit::Value* self) {
  std::vector<std::string> names;
  while (v != self) {
    const torch::jit::Node* node = v->node();
    if (node->kind() != c10::prim::GetAttr) return {};
    names.push_back(node->s(c10::attr::name));
    v = node->input(0);
  }
  std::string s;
  for (auto it = names.rbegin(); it != names.rend(); ++it) s += (s.empty() ? "" : ".") + *it;
  return s;
}

// Why: a traced and scripted model's forward calls its submodules and, in a
// scripted part such as the YOLO decoding, loops over a list. Inlined, with
// the constant loops unrolled and list appends turned into list values, every
// computing node is at the top level, where a dry run can record its output.
//
// The passes clone nodes (loop unrolling) without their callstacks but with
// their scopes, so each node's module path is resolved first and carried as
// a scope named "lookout_path_<index into paths>".
void simplify_for_reading(std::shared_ptr<torch::jit::Graph>& graph, ModulePaths& module_paths,
                          std::vector<std::vector<ModuleStep>>& paths) {
  torch::jit::Inline(*graph);
  std::function<void(torch::jit::Block*)> tag = [&](torch::jit::Block* block) {
    for (torch::jit::Node* node : block->nodes()) {
      if (node->callstack()) {
        paths.push_back(module_paths.of(node));
        node->setScope(c10::make_intrusive<torch::jit::Scope>()->push(
            c10::Symbol::scope("lookout_path_" + std::to_string(paths.size() - 1))));
      }
      for (torch::jit::Block* sub : node->blocks()) tag(sub);
    }
  };
  tag(graph->block());
  for (int round = 0; round < 3; ++round) {
    torch::jit::PeepholeOptimize(graph, /*disable_shape_peepholes=*/true);
    torch::jit::PeepholeOptimizeListIdioms(graph, /*refine_list_len=*/true);
    torch::jit::ConstantPropagation(graph);
    torch::jit::UnrollConstantLoops(graph);
    torch::jit::RemoveListMutation(graph);
    torch::jit::LowerSimpleTuples(graph);
    torch::jit::EliminateDeadCode(graph);
  }
}

}  // namespace

ModelReport inspect_model(const std::string& path, bool with_graph) {
  ModelReport report;
  EngineOptions options;
  options.model_path = path;
  options.warm_up = false;
  options.backend = Backend::OneDnn;
  report.info = Engine::load(options)->info();
  report.input_shape = {1, report.info.channels, report.info.input_height, report.info.input_width};
  report.output_shape = report.info.output_shape;

  TorchModel model(path, Rewrite::None, false);
  report.config_text = model.config_text();
  for (const auto& p : model.module().parameters(true)) report.parameters += p.numel();
  for (const auto& b : model.module().buffers(true)) report.buffers += b.numel();

  auto graph = model.module().get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  count_ops(graph->block(), report.operators);
  if (with_graph) report.graph = graph->toString();
  return report;
}

ModelGraph describe_model(const std::string& path, int height, int width) {
  EngineOptions options;
  options.model_path = path;
  options.warm_up = false;
  options.backend = Backend::OneDnn;
  const ModelInfo info = Engine::load(options)->info();
  if (height == 0) height = info.input_height;
  if (width == 0) width = info.input_width;
  if (height <= 0 || width <= 0) {
    throw ModelError(path + ": input size " + std::to_string(height) + "x" + std::to_string(width) +
                     " must be positive");
  }
  if (info.dynamic && info.stride > 0 && (height % info.stride || width % info.stride)) {
    throw ModelError(path + ": input size " + std::to_string(height) + "x" + std::to_string(width) +
                     " is not a multiple of the model's stride " + std::to_string(info.stride));
  }
  if (!info.dynamic && (height != info.input_height || width != info.input_width)) {
    throw ModelError(path + ": the model takes only " + std::to_string(info.input_height) + "x" +
                     std::to_string(info.input_width) + " (its config.txt says dynamic: false)");
  }

  TorchModel model(path, Rewrite::None, false);
  torch::jit::Module& module = model.module();
  auto graph = module.get_method("forward").graph()->copy();
  ModulePaths module_paths(module);
  std::vector<std::vector<ModuleStep>> paths;
  simplify_for_reading(graph, module_paths, paths);
  const std::string tag_prefix = "lookout_path_";
  auto path_of = [&](torch::jit::Node* node) -> std::vector<ModuleStep> {
    const auto scope = node->scope();
    if (!scope || scope->isBlank()) return {};
    const std::string name = scope->name().toUnqualString();
    if (name.rfind(tag_prefix, 0) != 0) return {};
    const auto index = std::stoul(name.substr(tag_prefix.size()));
    return index < paths.size() ? paths[index] : std::vector<ModuleStep>{};
  };
  // Nodes the passes made anew (the unrolled decoding loop, lists that were
  // appended to) have no path: they take the part of their users' paths all
  // users share, so the decoding's operators stay in its module.
  std::unordered_map<const torch::jit::Node*, std::vector<ModuleStep>> resolved;
  {
    std::vector<torch::jit::Node*> order(graph->nodes().begin(), graph->nodes().end());
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      torch::jit::Node* node = *it;
      auto steps = path_of(node);
      if (steps.empty()) {
        bool first = true;
        for (const torch::jit::Value* v : node->outputs()) {
          for (const auto& use : v->uses()) {
            const auto found = resolved.find(use.user);
            const std::vector<ModuleStep> none;
            const auto& theirs = found == resolved.end() ? none : found->second;
            if (first) {
              steps = theirs;
              first = false;
              continue;
            }
            std::size_t k = 0;
            while (k < steps.size() && k < theirs.size() && steps[k].instance == theirs[k].instance)
              ++k;
            steps.resize(k);
          }
        }
      }
      resolved[node] = std::move(steps);
    }
  }
  const torch::jit::Value* self = graph->inputs().at(0);

  std::set<std::string> parameter_names;
  for (const auto& p : module.named_parameters(true)) parameter_names.insert(p.name);

  ModelGraph out;
  out.model_name = info.name;
  out.input_shape = {1, info.channels, height, width};
  for (const auto& p : module.parameters(true)) out.parameters += p.numel();

  // Layers: the computing nodes (tensor results, not mere containers).
  std::vector<torch::jit::Node*> layer_nodes;
  std::unordered_map<const torch::jit::Node*, int> layer_of;
  std::vector<std::vector<ModuleStep>> steps_of;
  std::vector<std::pair<int, std::vector<ModuleStep>>> folded_steps;  // layer, activation's path
  for (torch::jit::Node* node : graph->nodes()) {
    if (is_plumbing(node) || is_container(node)) continue;
    const auto outputs = node->outputs();
    if (std::none_of(outputs.begin(), outputs.end(), is_tensor)) continue;
    // An activation right after the convolution it alone consumes is drawn
    // in that convolution's box ("Conv2d 3x3 + SiLU").
    if (is_activation(node) && node->inputs().size() >= 1) {
      const torch::jit::Value* in = node->input(0);
      const auto producer = layer_of.find(in->node());
      if (producer != layer_of.end() && in->uses().size() == 1 &&
          is_convolution(layer_nodes[producer->second]->kind().toQualString())) {
        GraphLayer& conv = out.layers[producer->second];
        conv.title += " + " + activation_title(node->kind().toQualString());
        layer_of[node] = producer->second;
        folded_steps.push_back({producer->second, resolved[node]});
        continue;
      }
    }
    layer_of[node] = static_cast<int>(out.layers.size());
    layer_nodes.push_back(node);
    steps_of.push_back(resolved[node]);
    GraphLayer layer;
    layer.op = node->kind().toQualString();
    layer.title = op_title(layer.op);
    out.layers.push_back(std::move(layer));
  }

  // The dry run: every layer's results and every tensor it reads, returned
  // as one tuple after the model's own result.
  struct Probe {
    int layer;
    int output = -1;  // >= 0: the layer's output of that index
    int input = -1;   // >= 0: the layer's input of that index
  };
  std::vector<Probe> probes;
  std::vector<torch::jit::Value*> probed{graph->outputs().begin(), graph->outputs().end()};
  const std::size_t first_probe = probed.size();
  for (std::size_t i = 0; i < layer_nodes.size(); ++i) {
    torch::jit::Node* node = layer_nodes[i];
    for (std::size_t k = 0; k < node->outputs().size(); ++k) {
      if (!is_tensor(node->output(k))) continue;
      probes.push_back({static_cast<int>(i), static_cast<int>(k), -1});
      probed.push_back(node->output(k));
    }
    for (std::size_t k = 0; k < node->inputs().size(); ++k) {
      if (!is_tensor(node->input(k))) continue;
      probes.push_back({static_cast<int>(i), -1, static_cast<int>(k)});
      probed.push_back(node->input(k));
    }
  }
  // The last activation folded into a convolution gives that layer's output.
  std::unordered_map<int, torch::jit::Value*> folded_output;
  for (const auto& [node, index] : layer_of) {
    if (layer_nodes[index] != node && is_tensor(node->output(0))) {
      folded_output[index] = node->output(0);
    }
  }
  for (const auto& [index, value] : folded_output) {
    probes.push_back({index, 0, -1});
    probed.push_back(value);
  }
  torch::jit::WithInsertPoint at_end(graph->return_node());
  torch::jit::Value* tuple = graph->insertNode(graph->createTuple(probed))->output();
  while (!graph->outputs().empty()) graph->eraseOutput(0);
  graph->registerOutput(tuple);

  std::vector<std::vector<std::vector<std::int64_t>>> input_shapes(out.layers.size());
  {
    torch::NoGradGuard no_grad;
    torch::jit::GraphFunction dry_run("lookout_describe", graph, nullptr);
    std::vector<c10::IValue> stack{module._ivalue(),
                                   torch::zeros({1, info.channels, height, width})};
    try {
      dry_run.run(stack);
    } catch (const c10::Error& e) {
      throw ModelError(path + ": the dry run at " + std::to_string(height) + "x" +
                       std::to_string(width) + " failed: " + e.what_without_backtrace());
    }
    const auto elements = stack.back().toTupleRef().elements();
    for (std::size_t p = 0; p < probes.size(); ++p) {
      const c10::IValue& v = elements[first_probe + p];
      if (!v.isTensor()) continue;
      const auto sizes = v.toTensor().sizes().vec();
      GraphLayer& layer = out.layers[probes[p].layer];
      if (probes[p].output >= 0) {
        const auto k = static_cast<std::size_t>(probes[p].output);
        if (layer.output_shapes.size() <= k) layer.output_shapes.resize(k + 1);
        layer.output_shapes[k] = sizes;
      } else {
        auto& shapes = input_shapes[probes[p].layer];
        const auto k = static_cast<std::size_t>(probes[p].input);
        if (shapes.size() <= k) shapes.resize(k + 1);
        shapes[k] = sizes;
      }
    }
  }

  // Edges, parameters, attributes, MACs.
  std::function<void(const torch::jit::Value*, std::vector<int>&)> producers =
      [&](const torch::jit::Value* v, std::vector<int>& found) {
        const torch::jit::Node* node = v->node();
        if (node->kind() == c10::prim::Param) {
          if (is_tensor(v)) found.push_back(-1);
          return;
        }
        if (const auto it = layer_of.find(node); it != layer_of.end()) {
          found.push_back(it->second);
          return;
        }
        if (!is_container(node)) return;
        // Element k of a list or tuple built in the graph: only its producer.
        std::optional<std::int64_t> index;
        const torch::jit::Value* whole = nullptr;
        if (node->kind() == c10::prim::ListUnpack || node->kind() == c10::prim::TupleUnpack) {
          whole = node->input(0);
          index = static_cast<std::int64_t>(v->offset());
        } else if (node->kind() == c10::prim::TupleIndex ||
                   node->kind() == c10::aten::__getitem__) {
          whole = node->input(0);
          index = constant_int(node->input(1));
        }
        if (whole && index) {
          const torch::jit::Node* maker = whole->node();
          if ((maker->kind() == c10::prim::ListConstruct ||
               maker->kind() == c10::prim::TupleConstruct) &&
              *index >= 0 && static_cast<std::size_t>(*index) < maker->inputs().size()) {
            producers(maker->input(static_cast<std::size_t>(*index)), found);
            return;
          }
        }
        for (const torch::jit::Value* in : node->inputs()) producers(in, found);
      };

  for (std::size_t i = 0; i < layer_nodes.size(); ++i) {
    torch::jit::Node* node = layer_nodes[i];
    GraphLayer& layer = out.layers[i];
    const auto& shapes = input_shapes[i];
    auto shape_of_input = [&](std::size_t k) -> std::vector<std::int64_t> {
      return k < shapes.size() ? shapes[k] : std::vector<std::int64_t>{};
    };
    for (std::size_t k = 0; k < node->inputs().size(); ++k) {
      const torch::jit::Value* in = node->input(k);
      if (in->node()->kind() == c10::prim::GetAttr && is_tensor(in)) {
        if (parameter_names.count(attribute_path(in, self))) {
          layer.parameters += numel(shape_of_input(k));
        }
        continue;
      }
      std::vector<int> found;
      producers(in, found);
      for (const int f : found) {
        if (std::find(layer.inputs.begin(), layer.inputs.end(), f) == layer.inputs.end()) {
          layer.inputs.push_back(f);
        }
      }
    }
    const std::vector<std::int64_t> output =
        layer.output_shapes.empty() ? std::vector<std::int64_t>{} : layer.output_shapes[0];
    if (is_convolution(layer.op) && node->inputs().size() >= 7) {
      const bool underscore = layer.op == "aten::_convolution" || layer.op == "aten::convolution";
      const auto weight = shape_of_input(1);
      const auto stride = constant_ints(node->input(3));
      const auto padding = constant_ints(node->input(4));
      const auto dilation = constant_ints(node->input(5));
      bool transposed = false;
      if (underscore) {
        const auto t = torch::jit::toIValue(node->input(6));
        transposed = t && t->isBool() && t->toBool();
      }
      const auto groups = constant_int(node->input(underscore ? 8 : 6)).value_or(1);
      if (weight.size() >= 3) {
        const std::vector<std::int64_t> kernel(weight.begin() + 2, weight.end());
        const std::int64_t in_channels = transposed ? weight[0] : weight[1] * groups;
        const std::int64_t out_channels = transposed ? weight[1] * groups : weight[0];
        const std::string dims = std::to_string(kernel.size()) + "d";
        layer.title = std::string(transposed ? "ConvTranspose" : "Conv") + dims + " " +
                      ints_text(kernel, false) +
                      (stride && numel(*stride) != 1 ? " s" + ints_text(*stride, true) : "") +
                      layer.title.substr(layer.title.find(" + ") == std::string::npos
                                             ? layer.title.size()
                                             : layer.title.find(" + "));
        layer.attributes.push_back({"kernel", ints_text(kernel, false)});
        if (stride) layer.attributes.push_back({"stride", ints_text(*stride, true)});
        if (padding) layer.attributes.push_back({"padding", ints_text(*padding, true)});
        if (dilation && numel(*dilation) != 1) {
          layer.attributes.push_back({"dilation", ints_text(*dilation, true)});
        }
        if (groups != 1) layer.attributes.push_back({"groups", std::to_string(groups)});
        layer.attributes.push_back(
            {"channels", std::to_string(in_channels) + " -> " + std::to_string(out_channels)});
        // Per output element: one multiply-accumulate per weight of its group
        // (the figure thop and ultralytics count, without the bias).
        const std::int64_t per_output = numel(weight) / std::max<std::int64_t>(weight[0], 1);
        layer.macs = transposed ? numel(shape_of_input(0)) * per_output
                                : (output.empty() ? 0 : numel(output) * per_output);
      }
    } else if (layer.op == "aten::linear") {
      const auto weight = shape_of_input(1);
      if (weight.size() == 2) {
        layer.attributes.push_back(
            {"features", std::to_string(weight[1]) + " -> " + std::to_string(weight[0])});
        layer.macs = output.empty() ? 0 : numel(output) * weight[1];
      }
    } else if (layer.op == "aten::matmul" || layer.op == "aten::mm" || layer.op == "aten::bmm" ||
               layer.op == "aten::addmm") {
      const auto a = shape_of_input(layer.op == "aten::addmm" ? 1 : 0);
      if (!a.empty() && !output.empty()) layer.macs = numel(output) * a.back();
    } else if (layer.op == "aten::max_pool2d" || layer.op == "aten::avg_pool2d") {
      if (const auto kernel = constant_ints(node->input(1))) {
        layer.title += " " + ints_text(kernel->size() == 1
                                           ? std::vector<std::int64_t>{(*kernel)[0], (*kernel)[0]}
                                           : *kernel,
                                       false);
        layer.attributes.push_back({"kernel", ints_text(*kernel, true)});
      }
      if (const auto stride = constant_ints(node->input(2)); stride && !stride->empty()) {
        layer.attributes.push_back({"stride", ints_text(*stride, true)});
      }
      if (const auto padding = constant_ints(node->input(3))) {
        layer.attributes.push_back({"padding", ints_text(*padding, true)});
      }
    } else if (layer.op.rfind("aten::upsample", 0) == 0) {
      const auto in = shape_of_input(0);
      if (in.size() == 4 && output.size() == 4 && in[2] > 0 && in[3] > 0) {
        const auto sy = output[2] / in[2], sx = output[3] / in[3];
        const std::string scale =
            sy == sx ? std::to_string(sy) : std::to_string(sy) + "x" + std::to_string(sx);
        layer.title += " x" + scale;
        layer.attributes.push_back({"scale", scale});
      }
    } else if (layer.op == "aten::cat" && node->inputs().size() >= 2) {
      if (const auto dim = constant_int(node->input(1))) {
        layer.attributes.push_back({"dim", std::to_string(*dim)});
      }
    }
    out.macs += layer.macs;
  }
  // The tuple's first elements are forward's own results.
  const auto returned = tuple->node()->inputs();
  for (std::size_t k = 0; k < first_probe && k < returned.size(); ++k) {
    std::vector<int> found;
    producers(returned[k], found);
    for (const int f : found) {
      if (f >= 0 && std::find(out.outputs.begin(), out.outputs.end(), f) == out.outputs.end()) {
        out.outputs.push_back(f);
      }
    }
  }

  // Names and blocks. A block is a module (not a plain Sequential/ModuleList
  // container) that runs two or more layers but not all of them.
  std::map<std::string, std::size_t> wrappers;  // full path -> leading wrapper steps
  std::vector<std::size_t> skip(out.layers.size(), 0);
  std::map<std::string, int> layers_in_module;
  std::map<std::string, std::string> type_of_module;
  for (std::size_t i = 0; i < out.layers.size(); ++i) {
    const auto& steps = steps_of[i];
    const std::string full = join_steps(steps, 0, steps.size());
    auto it = wrappers.find(full);
    if (it == wrappers.end()) it = wrappers.emplace(full, wrapper_steps(module, steps)).first;
    skip[i] = it->second;
    out.layers[i].name = join_steps(steps, skip[i], steps.size());
    out.layers[i].module_type = steps.empty() ? "" : steps.back().type;
    for (std::size_t k = skip[i] + 1; k <= steps.size(); ++k) {
      const std::string name = join_steps(steps, skip[i], k);
      ++layers_in_module[name];
      type_of_module[name] = steps[k - 1].type;
    }
  }
  for (const auto& [layer, steps] : folded_steps) {
    const std::string full = join_steps(steps, 0, steps.size());
    auto it = wrappers.find(full);
    if (it == wrappers.end()) it = wrappers.emplace(full, wrapper_steps(module, steps)).first;
    const std::string name = join_steps(steps, it->second, steps.size());
    auto& folded = out.layers[static_cast<std::size_t>(layer)].folded_modules;
    if (name != out.layers[static_cast<std::size_t>(layer)].name &&
        std::find(folded.begin(), folded.end(), name) == folded.end()) {
      folded.push_back(name);
    }
  }
  const int total = static_cast<int>(out.layers.size());
  auto is_block = [&](const std::string& name) {
    const auto& type = type_of_module[name];
    const int n = layers_in_module[name];
    return n >= 2 && n < total && type != "Sequential" && type != "ModuleList" &&
           type != "ModuleDict";
  };
  // Sections from config.txt (the exporter's backbone / head) are the
  // outermost blocks: a layer is in one when its name is one of the
  // section's modules or lies below one.
  std::vector<std::pair<int, std::vector<std::string>>> sections;
  {
    const auto config = nlohmann::json::parse(model.config_text(), nullptr, false);
    const auto it = config.is_object() ? config.find("sections") : config.end();
    if (config.is_object() && it != config.end() && it->is_array()) {
      for (const auto& section : *it) {
        if (!section.is_object() || !section.contains("name") || !section["name"].is_string() ||
            !section.contains("modules") || !section["modules"].is_array()) {
          continue;  // informative metadata: a malformed entry is not drawn
        }
        std::vector<std::string> modules;
        for (const auto& m : section["modules"]) {
          if (m.is_string()) modules.push_back(m.get<std::string>());
        }
        sections.push_back({static_cast<int>(out.clusters.size()), std::move(modules)});
        out.clusters.push_back({section["name"].get<std::string>(), "", -1});
      }
    }
  }
  auto section_of = [&](const std::string& name) {
    for (const auto& [index, modules] : sections) {
      for (const auto& m : modules) {
        if (name == m || name.rfind(m + ".", 0) == 0) return index;
      }
    }
    return -1;
  };
  std::map<std::string, int> cluster_of;
  for (std::size_t i = 0; i < out.layers.size(); ++i) {
    const auto& steps = steps_of[i];
    int parent = section_of(out.layers[i].name);
    for (std::size_t k = skip[i] + 1; k <= steps.size(); ++k) {
      const std::string name = join_steps(steps, skip[i], k);
      if (!is_block(name)) continue;
      auto it = cluster_of.find(name);
      if (it == cluster_of.end()) {
        it = cluster_of.emplace(name, static_cast<int>(out.clusters.size())).first;
        out.clusters.push_back({name, type_of_module[name], parent});
      }
      parent = it->second;
    }
    out.layers[i].cluster = parent;
  }
  return out;
}

// ---- profile_model: measured cost per layer ------------------------------------

namespace {

// What the hooks record on the profiling thread: every operator the
// interpreter dispatches at the top level (the kernels it calls in turn are
// inside its time), with the module hierarchy the interpreter reports.
struct OpRecorder {
  struct Event {
    std::string op;
    std::vector<std::string> hierarchy;
    double ms = 0;
    std::chrono::steady_clock::time_point start;
  };
  int depth = 0;
  std::vector<Event> events;
};

thread_local OpRecorder* t_recorder = nullptr;

struct OpContext : at::ObserverContext {
  std::chrono::steady_clock::time_point start;
  std::size_t index = 0;
  bool top = false;
};

std::unique_ptr<at::ObserverContext> on_op_start(const at::RecordFunction& fn) {
  OpRecorder* recorder = t_recorder;
  if (recorder == nullptr) return nullptr;
  auto context = std::make_unique<OpContext>();
  context->top = recorder->depth++ == 0;
  if (context->top) {
    recorder->events.push_back({fn.name(), torch::jit::currentModuleHierarchy(), 0, {}});
    context->index = recorder->events.size() - 1;
    context->start = std::chrono::steady_clock::now();  // last: the lookup is not the op's
    recorder->events.back().start = context->start;
  }
  return context;
}

void on_op_end(const at::RecordFunction&, at::ObserverContext* base) {
  const auto end = std::chrono::steady_clock::now();
  OpRecorder* recorder = t_recorder;
  auto* context = static_cast<OpContext*>(base);
  if (recorder == nullptr || context == nullptr) return;
  --recorder->depth;
  if (context->top) {
    recorder->events[context->index].ms =
        std::chrono::duration<double, std::milli>(end - context->start).count();
  }
}

// The hooks, on this thread, for one scope.
class OpHooks {
 public:
  explicit OpHooks(OpRecorder& recorder) {
    t_recorder = &recorder;
    handle_ = at::addThreadLocalCallback(
        at::RecordFunctionCallback(on_op_start, on_op_end).scopes({at::RecordScope::FUNCTION}));
  }
  ~OpHooks() {
    at::removeCallback(handle_);
    t_recorder = nullptr;
  }
  OpHooks(const OpHooks&) = delete;
  OpHooks& operator=(const OpHooks&) = delete;

 private:
  at::CallbackHandle handle_;
};

// "aten::_convolution", "prepacked::conv2d_clamp_run", "aten::silu_" -> the
// operation they do ("conv", "silu"), so a rewritten model's operators meet
// the layers of the model as stored.
std::string canonical_op(const std::string& op) {
  std::string base = op_title(op);
  while (!base.empty() && base.front() == '_') base.erase(0, 1);
  if (!base.empty() && base.back() == '_') base.pop_back();
  if (base.find("conv") != std::string::npos) return "conv";
  if (base == "linear" || base == "addmm" || base == "mm" || base == "matmul") return "linear";
  return base;
}

// "body(_Body).forward" -> {"body", "_Body"}; the interpreter's TOP entry
// and entries without a module are left out.
std::vector<ModuleStep> calls_of(const std::vector<std::string>& hierarchy) {
  std::vector<ModuleStep> calls;
  for (const auto& entry : hierarchy) {
    if (entry.rfind("TOP(", 0) == 0) continue;
    const auto open = entry.find('(');
    const auto close = entry.find(')', open == std::string::npos ? 0 : open);
    if (open == std::string::npos || close == std::string::npos || open == 0) continue;
    calls.push_back({entry.substr(0, open), entry.substr(open + 1, close - open - 1)});
  }
  return calls;
}

}  // namespace

double ModelProfile::attributed_ms() const {
  double sum = 0;
  for (const double ms : layer_ms) sum += ms;
  return sum;
}

ModelProfile profile_model(const EngineOptions& options, int runs) {
  if (runs < 1) throw std::invalid_argument("profile_model: runs must be at least 1");
  ModelProfile profile;
  profile.runs = runs;
  // The layers first: describing loads an engine of its own, and libtorch's
  // backend switches are process-wide.
  {
    EngineOptions sizing = options;
    sizing.warm_up = false;
    const ModelInfo planned = Engine::load(sizing)->info();
    profile.graph = describe_model(options.model_path, planned.input_height, planned.input_width);
  }
  const auto engine = Engine::load(options);
  profile.info = engine->info();
  const ModelGraph& graph = profile.graph;

  // Where each module's operators go: (module name, operation) -> the
  // layers doing it there, in execution order.
  std::map<std::pair<std::string, std::string>, std::vector<int>> takers;
  // Operators the rewritten model runs without a module (a scripted loop's
  // body, once frozen) go to the first layer of that operation not yet
  // timed in this run.
  std::map<std::string, std::vector<int>> by_op;
  for (std::size_t i = 0; i < graph.layers.size(); ++i) {
    const GraphLayer& layer = graph.layers[i];
    takers[{layer.name, canonical_op(layer.op)}].push_back(static_cast<int>(i));
    by_op[canonical_op(layer.op)].push_back(static_cast<int>(i));
    for (const auto& folded : layer.folded_modules) {
      // The folded activation: whatever ran in that module is this layer's.
      takers[{folded, ""}].push_back(static_cast<int>(i));
    }
  }

  TorchModel names_from(options.model_path, Rewrite::None, false);
  ModulePaths module_paths(names_from.module());
  std::map<std::vector<std::string>, std::string> name_of_hierarchy;
  auto module_name = [&](const std::vector<std::string>& hierarchy) -> const std::string& {
    auto it = name_of_hierarchy.find(hierarchy);
    if (it == name_of_hierarchy.end()) {
      const auto steps = module_paths.resolve(calls_of(hierarchy));
      const std::size_t skip = wrapper_steps(module_paths.root(), steps);
      it = name_of_hierarchy.emplace(hierarchy, join_steps(steps, skip, steps.size())).first;
    }
    return it->second;
  };

  for (int i = 0; i < 2; ++i) engine->bare_forward();
  double wall = 0;
  for (int i = 0; i < runs; ++i) wall += engine->bare_forward();
  profile.plain_forward_ms = wall / runs;

  profile.layer_ms.assign(graph.layers.size(), 0.0);
  OpRecorder recorder;
  for (int run = 0; run < runs; ++run) {
    recorder.events.clear();
    recorder.depth = 0;
    {
      OpHooks hooks(recorder);
      profile.forward_ms += engine->bare_forward() / runs;
    }
    std::map<std::pair<std::string, std::string>, std::size_t> taken;
    std::vector<bool> timed(graph.layers.size(), false);

    std::vector<bool> own_op_timed(graph.layers.size(), false);
    // Untimed stretches since the last operator a layer took (the backend's
    // own conversions in between belong to no layer).
    double pending_gap = 0;
    const std::string between = "(between timed operators: lists, operators aten does not time)";
    for (std::size_t e = 0; e < recorder.events.size(); ++e) {
      const auto& event = recorder.events[e];
      const std::string& module = module_name(event.hierarchy);
      const std::string op = canonical_op(event.op);
      // Time since the previous timed operator ended: what the interpreter
      // ran there is not dispatched through aten, so not timed itself
      // (oneDNN's prepacked convolutions, list building).
      const double gap =
          e == 0
              ? 0.0
              : std::max(
                    0.0,
                    std::chrono::duration<double, std::milli>(
                        event.start -
                        (recorder.events[e - 1].start +
                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                             std::chrono::duration<double, std::milli>(recorder.events[e - 1].ms))))
                        .count());
      bool gap_taken = false;
      int layer = -1;
      if (auto it = takers.find({module, op}); it != takers.end()) {
        std::size_t& k = taken[{module, op}];
        if (k < it->second.size()) layer = it->second[k++];
      }
      if (layer >= 0) {
        own_op_timed[static_cast<std::size_t>(layer)] = true;
      } else if (auto it = takers.find({module, ""}); it != takers.end()) {
        // A folded activation. When its convolution was not timed as an
        // operator (oneDNN's prepacked convolutions run outside aten's
        // dispatcher), the untimed stretches since the layer before it are
        // that convolution.
        layer = it->second.front();
        if (!own_op_timed[static_cast<std::size_t>(layer)]) {
          profile.layer_ms[static_cast<std::size_t>(layer)] += (pending_gap + gap) / runs;
          pending_gap = 0;
          gap_taken = true;
        }
      }
      if (layer < 0 && module.empty()) {
        if (auto it = by_op.find(op); it != by_op.end()) {
          for (const int candidate : it->second) {
            if (!timed[static_cast<std::size_t>(candidate)]) {
              layer = candidate;
              break;
            }
          }
        }
      }
      if (!gap_taken) {
        if (layer < 0) {
          pending_gap += gap;
        } else {
          profile.unattributed_ms[between] += (pending_gap + gap) / runs;
          pending_gap = 0;
        }
      }
      if (layer >= 0) timed[static_cast<std::size_t>(layer)] = true;
      if (layer >= 0) {
        profile.layer_ms[static_cast<std::size_t>(layer)] += event.ms / runs;
      } else {
        profile.unattributed_ms[(module.empty() ? "(no module)" : module) + " " + event.op] +=
            event.ms / runs;
      }
    }
    if (pending_gap > 0) profile.unattributed_ms[between] += pending_gap / runs;
  }
  return profile;
}

}  // namespace lookout::engine
