// lookout model inspect: what a model file holds.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "engine/inspect.hpp"
#include "graph_picture.hpp"

namespace lookout::cli {

namespace {

bool write_file(const std::string& path, const std::string& text, const char* what) {
  std::ofstream file(path, std::ios::binary);
  file << text;
  file.close();
  if (!file) {
    std::cerr << "lookout: cannot write " << path << "\n";
    return false;
  }
  std::cerr << "lookout: wrote " << what << " " << path << "\n";
  return true;
}

nlohmann::json layers_json(const engine::ModelGraph& graph) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& layer : graph.layers) {
    nlohmann::json j;
    j["name"] = layer.name;
    j["module_type"] = layer.module_type;
    j["op"] = layer.op;
    j["title"] = layer.title;
    j["attributes"] = nlohmann::json::object();
    for (const auto& [k, v] : layer.attributes) j["attributes"][k] = v;
    j["output_shapes"] = layer.output_shapes;
    j["parameters"] = layer.parameters;
    j["macs"] = layer.macs;
    j["inputs"] = layer.inputs;
    j["block"] = layer.cluster;
    layers.push_back(std::move(j));
  }
  nlohmann::json blocks = nlohmann::json::array();
  for (const auto& c : graph.clusters) {
    blocks.push_back({{"name", c.name}, {"type", c.type}, {"parent", c.parent}});
  }
  return {{"input_shape", graph.input_shape},
          {"parameters", graph.parameters},
          {"macs", graph.macs},
          {"gflops", 2.0 * static_cast<double>(graph.macs) / 1e9},
          {"outputs", graph.outputs},
          {"blocks", blocks},
          {"layers", layers}};
}

void print_layers(const engine::ModelGraph& graph, std::ostream& out) {
  out << "layers at " << shape_text(graph.input_shape) << ":\n";
  out << "  #    layer                      operation                    output               "
         "params        MACs\n";
  for (std::size_t i = 0; i < graph.layers.size(); ++i) {
    const auto& layer = graph.layers[i];
    const std::string shape = shapes_text(layer);
    char line[512];
    std::snprintf(line, sizeof line, "  %-4zu %-26s %-28s %-20s %10lld %11lld\n", i,
                  layer.name.c_str(), layer.title.c_str(), shape.c_str(),
                  static_cast<long long>(layer.parameters), static_cast<long long>(layer.macs));
    out << line;
  }
  out << "blocks:      " << graph.clusters.size() << "\n"
      << "total:       " << graph.parameters << " parameters, " << graph.macs << " MACs ("
      << 2.0 * static_cast<double>(graph.macs) / 1e9 << " GFLOPs) at "
      << (graph.input_shape.size() == 4
              ? std::to_string(graph.input_shape[3]) + "x" + std::to_string(graph.input_shape[2])
              : std::string("?"))
      << "\n";
}

}  // namespace

int run_model_inspect(const InspectArgs& args, std::ostream& out) {
  engine::ModelReport report;
  try {
    report = engine::inspect_model(args.model, args.graph);
  } catch (const ModelError& e) {
    std::cerr << "lookout: model error: " << e.what() << "\n";
    return kExitUsage;
  }
  const bool want_graph =
      args.layers || !args.dot.empty() || !args.svg.empty() || !args.html.empty();
  if ((!args.svg.empty() || !args.html.empty()) && !graph_layout_available()) {
    std::cerr << "lookout: --svg and --html need Graphviz, and this lookout was built without it\n";
    return kExitUsage;
  }
  engine::ModelGraph graph;
  std::optional<engine::ModelProfile> profile;
  if (want_graph) {
    try {
      if (args.profile) {
        // The profile describes the graph at the engine's size as well.
        EngineOptions options;
        options.model_path = args.model;
        options.input_width = args.input_width;
        options.input_height = args.input_height;
        options.backend = args.backend;
        options.threads = args.threads;
        profile = engine::profile_model(options, args.runs);
        graph = profile->graph;
      } else {
        graph = engine::describe_model(args.model, args.input_height, args.input_width);
      }
    } catch (const ModelError& e) {
      std::cerr << "lookout: model error: " << e.what() << "\n";
      return kExitUsage;
    }
  }
  const engine::ModelProfile* timed = profile ? &*profile : nullptr;
  const ModelInfo& info = report.info;
  // Operators, most frequent first.
  std::vector<std::pair<std::string, int>> ops(report.operators.begin(), report.operators.end());
  std::stable_sort(ops.begin(), ops.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });

  if (args.json) {
    nlohmann::json j;
    j["path"] = info.path;
    j["name"] = info.name;
    j["task"] = enum_name(info.task);
    j["input_shape"] = report.input_shape;
    j["output_shape"] = report.output_shape;
    j["stride"] = info.stride;
    j["dynamic"] = info.dynamic;
    j["classes"] = info.class_names;
    j["parameters"] = report.parameters;
    j["buffers"] = report.buffers;
    auto& hist = j["operators"] = nlohmann::json::object();
    for (const auto& [kind, n] : ops) hist[kind] = n;
    j["config"] = nlohmann::json::parse(report.config_text.empty() ? "null" : report.config_text,
                                        nullptr, false);
    if (args.graph) j["graph"] = report.graph;
    if (args.layers) j["layers"] = layers_json(graph);
    out << j.dump() << "\n";
  } else {
    std::error_code ec;
    const auto bytes = std::filesystem::file_size(info.path, ec);
    out << "model:       " << info.path << " (" << (ec ? 0 : bytes) << " bytes)\n"
        << "name:        " << info.name << "\n"
        << "task:        " << enum_name(info.task) << "\n"
        << "input:       " << shape_text(report.input_shape)
        << (info.dynamic ? " (any multiple of the stride)" : " (fixed)") << "\n"
        << "output:      " << shape_text(report.output_shape) << "\n"
        << "stride:      " << info.stride << "\n"
        << "classes:     " << info.class_names.size() << ":";
    for (std::size_t i = 0; i < info.class_names.size(); ++i) {
      if (i == 12) {
        out << " ...";
        break;
      }
      out << " " << info.class_names[i];
    }
    out << "\nparameters:  " << report.parameters << " (+ " << report.buffers
        << " buffer elements)\n"
        << "config.txt:  " << (report.config_text.empty() ? "(none)" : report.config_text) << "\n"
        << "operators:\n";
    for (const auto& [kind, n] : ops) out << "  " << n << "\t" << kind << "\n";
    if (args.graph) out << "graph:\n" << report.graph;
    if (args.layers) print_layers(graph, out);
  }
  if (!args.dot.empty() &&
      !write_file(args.dot, graph_dot(graph, timed), "the layer graph (DOT)")) {
    return kExitFailure;
  }
  if (!args.svg.empty() || !args.html.empty()) {
    std::string svg;
    try {
      svg = graph_svg(graph_dot(graph, timed));
    } catch (const std::exception& e) {
      std::cerr << "lookout: " << e.what() << "\n";
      return kExitFailure;
    }
    if (!args.svg.empty() && !write_file(args.svg, svg, "the layer graph (SVG)"))
      return kExitFailure;
    if (!args.html.empty() &&
        !write_file(args.html, graph_html(graph, svg, report.info.path, timed),
                    "the model page (HTML)")) {
      return kExitFailure;
    }
  }
  return kExitOk;
}

}  // namespace lookout::cli
