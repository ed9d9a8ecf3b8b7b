// lookout model inspect: what a model file holds.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.hpp"
#include "engine/inspect.hpp"

namespace lookout::cli {

namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

int run_model_inspect(const InspectArgs& args, std::ostream& out) {
  engine::ModelReport report;
  try {
    report = engine::inspect_model(args.model, args.graph, !args.dot.empty());
  } catch (const ModelError& e) {
    std::cerr << "lookout: model error: " << e.what() << "\n";
    return kExitUsage;
  }
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
  }
  if (!args.dot.empty()) {
    std::ofstream dot(args.dot);
    dot << report.dot;
    if (!dot) {
      std::cerr << "lookout: cannot write " << args.dot << "\n";
      return kExitFailure;
    }
    std::cerr << "lookout: wrote " << args.dot << " (render: dot -Tsvg " << args.dot
              << " -o model.svg)\n";
  }
  return kExitOk;
}

}  // namespace lookout::cli
