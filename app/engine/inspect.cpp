#include "engine/inspect.hpp"

#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/script.h>

#include <sstream>
#include <unordered_map>

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

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string value_label(const torch::jit::Value* v) {
  if (auto t = v->type()->cast<c10::TensorType>()) {
    if (auto sizes = t->sizes().concrete_sizes()) {
      std::string s = "[";
      for (std::size_t i = 0; i < sizes->size(); ++i) {
        if (i) s += ",";
        s += std::to_string((*sizes)[i]);
      }
      return s + "]";
    }
  }
  return v->type()->str();
}

// One box per computing node, edges along the values between them; top-level
// nodes only (control-flow bodies show as their enclosing node).
std::string to_dot(const torch::jit::Graph& graph, const std::string& title) {
  std::ostringstream out;
  out << "digraph \"" << escape(title) << "\" {\n  rankdir=TB;\n  node [shape=box, fontsize=10];\n";
  std::unordered_map<const torch::jit::Node*, int> ids;
  int next = 0;
  for (const torch::jit::Value* in : graph.inputs()) {
    if (in->type()->kind() == c10::TypeKind::ClassType) continue;  // self
    out << "  in" << in->offset() << " [label=\"input " << escape(in->debugName()) << "\\n"
        << escape(value_label(in)) << "\", shape=ellipse];\n";
  }
  for (const torch::jit::Node* node : graph.nodes()) {
    if (is_plumbing(node)) continue;
    const int id = next++;
    ids[node] = id;
    std::string label = node->kind().toQualString();
    if (node->outputs().size() == 1) label += "\\n" + escape(value_label(node->output()));
    out << "  n" << id << " [label=\"" << label << "\"];\n";
    for (const torch::jit::Value* in : node->inputs()) {
      const torch::jit::Node* producer = in->node();
      if (producer->kind() == c10::prim::Param) {
        if (in->type()->kind() != c10::TypeKind::ClassType) {
          out << "  in" << in->offset() << " -> n" << id << ";\n";
        }
      } else if (auto it = ids.find(producer); it != ids.end()) {
        out << "  n" << it->second << " -> n" << id << ";\n";
      }
    }
  }
  for (const torch::jit::Value* v : graph.outputs()) {
    if (auto it = ids.find(v->node()); it != ids.end()) {
      out << "  out [label=\"output\", shape=ellipse];\n  n" << it->second << " -> out;\n";
    }
  }
  out << "}\n";
  return out.str();
}

}  // namespace

ModelReport inspect_model(const std::string& path, bool with_graph, bool with_dot) {
  ModelReport report;
  EngineOptions options;
  options.model_path = path;
  options.warm_up = false;
  options.backend = Backend::OneDnn;
  report.info = Engine::load(options)->info();
  report.input_shape = {1, report.info.channels, report.info.input_height,
                        report.info.input_width};
  report.output_shape = report.info.output_shape;

  TorchModel model(path, Rewrite::None, false);
  report.config_text = model.config_text();
  for (const auto& p : model.module().parameters(true)) report.parameters += p.numel();
  for (const auto& b : model.module().buffers(true)) report.buffers += b.numel();

  auto graph = model.module().get_method("forward").graph()->copy();
  torch::jit::Inline(*graph);
  count_ops(graph->block(), report.operators);
  if (with_graph) report.graph = graph->toString();
  if (with_dot) report.dot = to_dot(*graph, report.info.name);
  return report;
}

}  // namespace lookout::engine
