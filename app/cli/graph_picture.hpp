// Pictures of a model's readable graph (engine::describe_model): Graphviz
// DOT text, an SVG laid out by Graphviz's library (libgvc, the CLI only,
// never lookoutd), and one self-contained HTML page (the SVG inline, a layer
// table, blocks that fold in plain JS, nothing fetched).
//
// Plain functions of their arguments; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/inspect.hpp"

namespace lookout::cli {

// "[1, 3, 640, 640]"; a layer's outputs, space-separated.
std::string shape_text(const std::vector<std::int64_t>& shape);
std::string shapes_text(const engine::GraphLayer& layer);

// "1.87 M", "52.4 K", "812": counts for people.
std::string human_count(std::int64_t n);

// One box per layer (name, operation, channels, output shape, parameters,
// MACs), the blocks as nested clusters, edges along the data. With a
// profile of the same graph, each box also shows its measured time and is
// coloured as a heat map by it.
std::string graph_dot(const engine::ModelGraph& graph,
                      const engine::ModelProfile* profile = nullptr);

// Whether this build can lay graphs out (LOOKOUT_WITH_GRAPHVIZ).
bool graph_layout_available();

// Lays `dot` out with Graphviz's dot layout and renders SVG. Throws
// std::runtime_error naming what failed (no layout plugin, bad input).
std::string graph_svg(const std::string& dot);

// The page: title, totals, the SVG (XML prolog stripped) and the layer table
// (with the profile's times, when given).
std::string graph_html(const engine::ModelGraph& graph, const std::string& svg,
                       const std::string& model_path,
                       const engine::ModelProfile* profile = nullptr);

}  // namespace lookout::cli
