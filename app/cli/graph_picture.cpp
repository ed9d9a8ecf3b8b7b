#include "graph_picture.hpp"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#ifdef LOOKOUT_WITH_GRAPHVIZ
#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#endif

namespace lookout::cli {

namespace {

// Blocks of more layers than this, none of them multiply-accumulating, are
// drawn as one box (see graph_dot).
constexpr std::size_t kMaxPlainBlockLayers = 30;

std::string dot_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string attribute(const engine::GraphLayer& layer, const std::string& key) {
  for (const auto& [k, v] : layer.attributes) {
    if (k == key) return v;
  }
  return {};
}

// Fill colour by the kind of work, so the eye finds convolutions, pooling,
// joins and resampling at once.
const char* fill_of(const engine::GraphLayer& layer) {
  const std::string& op = layer.op;
  if (op.find("conv") != std::string::npos) return "#dbe9f6";
  if (op.find("pool") != std::string::npos) return "#dcefd8";
  if (op == "aten::cat" || op == "aten::stack") return "#fbf0c9";
  if (op.find("upsample") != std::string::npos) return "#f9dcc4";
  if (op == "aten::linear" || op.find("mm") != std::string::npos) return "#e4d9f2";
  return "#f2f2f2";
}

// The clusters enclosing layer `i`, innermost first.
std::vector<int> enclosing(const engine::ModelGraph& graph, int cluster) {
  std::vector<int> chain;
  for (int c = cluster; c >= 0; c = graph.clusters[static_cast<std::size_t>(c)].parent) {
    chain.push_back(c);
  }
  return chain;
}

std::string membership_classes(const engine::ModelGraph& graph, int cluster, const char* prefix) {
  std::string s;
  for (const int c : enclosing(graph, cluster)) s += std::string(" ") + prefix + std::to_string(c);
  return s;
}

}  // namespace

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string shapes_text(const engine::GraphLayer& layer) {
  std::string s;
  for (std::size_t i = 0; i < layer.output_shapes.size(); ++i) {
    s += (i ? " " : "") + shape_text(layer.output_shapes[i]);
  }
  return s;
}

std::string human_count(std::int64_t n) {
  char buffer[32];
  const double v = static_cast<double>(n);
  if (n >= 1'000'000'000) {
    std::snprintf(buffer, sizeof buffer, "%.2f G", v / 1e9);
  } else if (n >= 1'000'000) {
    std::snprintf(buffer, sizeof buffer, "%.2f M", v / 1e6);
  } else if (n >= 10'000) {
    std::snprintf(buffer, sizeof buffer, "%.1f K", v / 1e3);
  } else {
    std::snprintf(buffer, sizeof buffer, "%lld", static_cast<long long>(n));
  }
  return buffer;
}

std::string heat_colour(double t) {
  // White to a strong orange-red, for a layer's share of the slowest's time.
  t = t < 0 ? 0 : (t > 1 ? 1 : t);
  const int r = static_cast<int>(255 + (215 - 255) * t);
  const int g = static_cast<int>(247 + (48 - 247) * t);
  const int b = static_cast<int>(236 + (31 - 236) * t);
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", r, g, b);
  return buffer;
}

std::string graph_dot(const engine::ModelGraph& graph, const engine::ModelProfile* profile) {
  const bool timed = profile != nullptr && profile->layer_ms.size() == graph.layers.size();
  double slowest = 0;
  if (timed) {
    for (const double ms : profile->layer_ms) slowest = std::max(slowest, ms);
  }
  std::ostringstream out;
  out << "digraph \"" << dot_escape(graph.model_name) << "\" {\n"
      << "  rankdir=TB; nodesep=0.25; ranksep=0.3;\n"
      << "  graph [fontname=\"Helvetica\", fontsize=11];\n"
      << "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=9, "
         "penwidth=0.8];\n"
      << "  edge [arrowsize=0.5, penwidth=0.8, color=\"#666666\"];\n"
      << "  input [shape=ellipse, fillcolor=\"#ffffff\", label=\"input\\n"
      << dot_escape(shape_text(graph.input_shape)) << "\", id=\"input\"];\n";

  // Nodes, written inside their innermost cluster; clusters nest by parent.
  std::vector<std::vector<std::size_t>> members(graph.clusters.size());
  std::vector<std::vector<std::size_t>> children(graph.clusters.size());
  std::vector<std::size_t> top_layers;
  std::vector<std::size_t> top_clusters;
  for (std::size_t i = 0; i < graph.layers.size(); ++i) {
    const int c = graph.layers[i].cluster;
    (c < 0 ? top_layers : members[static_cast<std::size_t>(c)]).push_back(i);
  }
  for (std::size_t c = 0; c < graph.clusters.size(); ++c) {
    const int parent = graph.clusters[c].parent;
    (parent < 0 ? top_clusters : children[static_cast<std::size_t>(parent)]).push_back(c);
  }
  auto write_layer = [&](std::size_t i, const std::string& indent) {
    const engine::GraphLayer& layer = graph.layers[i];
    std::string label;
    if (!layer.name.empty()) label += dot_escape(layer.name) + "\\n";
    label += dot_escape(layer.title);
    const std::string channels = attribute(layer, "channels");
    if (!channels.empty()) label += "\\n" + dot_escape(channels) + " ch";
    if (!layer.output_shapes.empty()) label += "\\n" + dot_escape(shapes_text(layer));
    if (layer.parameters > 0 || layer.macs > 0) {
      label += "\\n";
      if (layer.parameters > 0) label += human_count(layer.parameters) + " params";
      if (layer.parameters > 0 && layer.macs > 0) label += ", ";
      if (layer.macs > 0) label += human_count(layer.macs) + " MACs";
    }
    std::string fill = fill_of(layer);
    if (timed) {
      const double ms = profile->layer_ms[i];
      char line[64];
      std::snprintf(line, sizeof line, "\\n%.3f ms (%.1f %%)", ms,
                    profile->forward_ms > 0 ? 100.0 * ms / profile->forward_ms : 0.0);
      label += line;
      fill = heat_colour(slowest > 0 ? ms / slowest : 0);
    }
    std::string tooltip = layer.op;
    for (const auto& [k, v] : layer.attributes) tooltip += "\\n" + k + ": " + v;
    out << indent << "L" << i << " [label=\"" << label << "\", fillcolor=\"" << fill
        << "\", id=\"layer-" << i << "\", class=\"layer"
        << membership_classes(graph, layer.cluster, "in-c") << "\", tooltip=\""
        << dot_escape(tooltip) << "\"];\n";
  };
  // A block of many layers that does no multiply-accumulates (YOLO's anchor
  // decoding: views, grids, sigmoids) is drawn as one box: its dozens of
  // small operators would dwarf the network. The table lists them all.
  std::vector<int> folded_into(graph.layers.size(), -1);
  std::vector<std::size_t> layer_count(graph.clusters.size(), 0);
  std::vector<std::int64_t> block_macs(graph.clusters.size(), 0);
  for (std::size_t i = 0; i < graph.layers.size(); ++i) {
    for (const int c : enclosing(graph, graph.layers[i].cluster)) {
      ++layer_count[static_cast<std::size_t>(c)];
      block_macs[static_cast<std::size_t>(c)] += graph.layers[i].macs;
    }
  }
  std::vector<bool> drawn_as_box(graph.clusters.size(), false);
  for (std::size_t c = 0; c < graph.clusters.size(); ++c) {
    drawn_as_box[c] = layer_count[c] > kMaxPlainBlockLayers && block_macs[c] == 0 &&
                      !graph.clusters[c].type.empty();
  }
  for (std::size_t i = 0; i < graph.layers.size(); ++i) {
    for (const int c : enclosing(graph, graph.layers[i].cluster)) {
      if (drawn_as_box[static_cast<std::size_t>(c)]) folded_into[i] = c;  // outermost wins
    }
  }
  auto node_of = [&](int layer) {
    if (layer < 0) return std::string("input");
    const int box = folded_into[static_cast<std::size_t>(layer)];
    return box >= 0 ? "B" + std::to_string(box) : "L" + std::to_string(layer);
  };
  auto write_box = [&](std::size_t c, const std::string& indent) {
    const engine::GraphCluster& cluster = graph.clusters[c];
    std::map<std::string, int> ops;
    const engine::GraphLayer* last = nullptr;
    for (std::size_t i = 0; i < graph.layers.size(); ++i) {
      if (folded_into[i] != static_cast<int>(c)) continue;
      ++ops[graph.layers[i].title];
      last = &graph.layers[i];
    }
    std::string list;
    for (const auto& [title, n] : ops)
      list += (list.empty() ? "" : ", ") + title + (n > 1 ? " x" + std::to_string(n) : "");
    std::string label = dot_escape(cluster.name + "  " + cluster.type) + "\\n" +
                        std::to_string(layer_count[c]) + " operators";
    if (last && !last->output_shapes.empty()) label += "\\n" + dot_escape(shapes_text(*last));
    out << indent << "B" << c << " [label=\"" << label
        << "\", shape=box3d, fillcolor=\"#eeeeee\", id=\"block-" << c << "\", class=\"layer"
        << membership_classes(graph, graph.clusters[c].parent, "in-c") << "\", tooltip=\""
        << dot_escape(list) << "\"];\n";
  };
  std::function<void(std::size_t, const std::string&)> write_cluster =
      [&](std::size_t c, const std::string& indent) {
        const engine::GraphCluster& cluster = graph.clusters[c];
        if (drawn_as_box[c]) {
          write_box(c, indent);
          return;
        }
        out << indent << "subgraph cluster_" << c << " {\n"
            << indent << "  label=\""
            << dot_escape(cluster.type.empty() ? cluster.name : cluster.name + "  " + cluster.type)
            << "\";\n"
            << indent << "  id=\"cluster-" << c << "\"; class=\"block\";\n"
            << indent << "  style=\"rounded,filled\"; color=\"#9a9a9a\"; fillcolor=\"#fcfcfa\";\n";
        for (const std::size_t child : children[c]) write_cluster(child, indent + "  ");
        for (const std::size_t i : members[c]) {
          if (folded_into[i] < 0) write_layer(i, indent + "  ");
        }
        out << indent << "}\n";
      };
  for (const std::size_t c : top_clusters) write_cluster(c, "  ");
  for (const std::size_t i : top_layers) write_layer(i, "  ");

  // The cluster a drawn node sits in: its layer's, or for a box its block's parent.
  auto drawn_cluster = [&](int layer) {
    if (layer < 0) return -1;
    const int box = folded_into[static_cast<std::size_t>(layer)];
    return box >= 0 ? graph.clusters[static_cast<std::size_t>(box)].parent
                    : graph.layers[static_cast<std::size_t>(layer)].cluster;
  };
  std::set<std::pair<std::string, std::string>> edges;
  for (std::size_t i = 0; i < graph.layers.size(); ++i) {
    const engine::GraphLayer& layer = graph.layers[i];
    const std::string target = node_of(static_cast<int>(i));
    for (const int from : layer.inputs) {
      const std::string source = node_of(from);
      if (source == target || !edges.insert({source, target}).second) continue;
      const std::string classes =
          "edge" + membership_classes(graph, drawn_cluster(static_cast<int>(i)), "e-c") +
          membership_classes(graph, drawn_cluster(from), "e-c");
      out << "  " << source << " -> " << target << " [class=\"" << classes << "\"];\n";
    }
  }
  out << "  output [shape=ellipse, fillcolor=\"#ffffff\", label=\"output\", id=\"output\"];\n";
  for (const int o : graph.outputs) out << "  " << node_of(o) << " -> output;\n";
  out << "}\n";
  return out.str();
}

#ifdef LOOKOUT_WITH_GRAPHVIZ

// Exported by libgvplugin_dot_layout.so.6 and libgvplugin_core.so.6 (libgvc6).
extern "C" {
extern gvplugin_library_t gvplugin_dot_layout_LTX_library;
extern gvplugin_library_t gvplugin_core_LTX_library;
}

bool graph_layout_available() {
  return true;
}

std::string graph_svg(const std::string& dot) {
  // One context per call: Graphviz keeps global state per context, and the
  // CLI draws once.
  // The layout and renderer are linked in and given as builtins with demand
  // loading off, so libgvc never reads its plugin list (config6a): a system
  // whose list was not written (a sysroot, an image made without maintainer
  // scripts) draws the same.
  const lt_symlist_t builtins[] = {
      {"gvplugin_dot_layout_LTX_library", &gvplugin_dot_layout_LTX_library},
      {"gvplugin_core_LTX_library", &gvplugin_core_LTX_library},
      {nullptr, nullptr}};
  const std::unique_ptr<GVC_t, int (*)(GVC_t*)> context(gvContextPlugins(builtins, 0),
                                                        gvFreeContext);
  if (!context) throw std::runtime_error("Graphviz: cannot create a context");
  const std::unique_ptr<Agraph_t, int (*)(Agraph_t*)> g(agmemread(dot.c_str()), agclose);
  if (!g) throw std::runtime_error("Graphviz: cannot read the generated graph");
  if (gvLayout(context.get(), g.get(), "dot") != 0) {
    throw std::runtime_error("Graphviz: the 'dot' layout failed on the generated graph");
  }
  char* data = nullptr;
  unsigned int length = 0;
  const int rendered = gvRenderData(context.get(), g.get(), "svg", &data, &length);
  std::string svg = rendered == 0 && data ? std::string(data, length) : std::string();
  if (data) gvFreeRenderData(data);
  gvFreeLayout(context.get(), g.get());
  if (rendered != 0 || svg.empty()) {
    throw std::runtime_error("Graphviz: rendering the laid-out graph as SVG failed");
  }
  return svg;
}

#else

bool graph_layout_available() {
  return false;
}

std::string graph_svg(const std::string&) {
  throw std::runtime_error("this lookout was built without Graphviz (LOOKOUT_WITH_GRAPHVIZ=OFF)");
}

#endif

namespace {

std::string measured_line(const engine::ModelProfile& profile) {
  double outside = 0;
  std::string where;
  for (const auto& [what, ms] : profile.unattributed_ms) {
    outside += ms;
    char item[160];
    std::snprintf(item, sizeof item, "%s%s %.3f ms", where.empty() ? "" : ", ", what.c_str(), ms);
    where += item;
  }
  char line[512];
  std::snprintf(line, sizeof line,
                "Measured here: %s, %d threads, %d timed forwards of %.3f ms on average (%.3f ms "
                "untimed); a box's colour is its time against the slowest layer's. Outside the "
                "layers: %.3f ms",
                std::string(enum_name(profile.info.backend)).c_str(), profile.info.threads,
                profile.runs, profile.forward_ms, profile.plain_forward_ms, outside);
  return "<p class=\"totals\">" + html_escape(line) +
         (where.empty() ? std::string() : ": " + html_escape(where)) + ".</p>\n";
}

}  // namespace

std::string graph_html(const engine::ModelGraph& graph, const std::string& svg,
                       const std::string& model_path, const engine::ModelProfile* profile) {
  const bool timed = profile != nullptr && profile->layer_ms.size() == graph.layers.size();
  std::string inline_svg = svg;
  if (const auto start = inline_svg.find("<svg"); start != std::string::npos) {
    inline_svg.erase(0, start);
  }
  const double gflops = 2.0 * static_cast<double>(graph.macs) / 1e9;
  char totals[256];
  std::snprintf(totals, sizeof totals,
                "%zu layers in %zu blocks &middot; %s parameters &middot; %s MACs (%.2f GFLOPs) "
                "at %lldx%lld",
                graph.layers.size(), graph.clusters.size(), human_count(graph.parameters).c_str(),
                human_count(graph.macs).c_str(), gflops,
                static_cast<long long>(graph.input_shape.size() == 4 ? graph.input_shape[2] : 0),
                static_cast<long long>(graph.input_shape.size() == 4 ? graph.input_shape[3] : 0));
  std::ostringstream out;
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<title>" << html_escape(graph.model_name) << " &mdash; lookout model</title>\n"
      << "<style>\n"
         "body{font:14px Helvetica,Arial,sans-serif;margin:16px;color:#222}\n"
         "h1{font-size:20px;margin:0 0 4px}\n"
         ".totals{color:#555;margin:0 0 12px}\n"
         "#graph{overflow:auto;border:1px solid #ddd;max-height:80vh}\n"
         "#graph g.block{cursor:pointer}\n"
         "#graph g.block.folded>polygon,#graph g.block.folded>path{fill:#e8e8e8}\n"
         "table{border-collapse:collapse;margin-top:16px;font-size:12px}\n"
         "th,td{border:1px solid #ddd;padding:2px 6px;text-align:left}\n"
         "td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
         "button{margin-right:6px}\n"
         "</style>\n</head>\n<body>\n"
      << "<h1>" << html_escape(graph.model_name) << "</h1>\n"
      << "<p class=\"totals\">" << html_escape(model_path) << " &middot; " << totals << "</p>\n"
      << "<p><button id=\"fold-all\">Fold all blocks</button>"
         "<button id=\"unfold-all\">Unfold all</button> Click a block to fold or unfold it.</p>\n"
      << (timed ? measured_line(*profile) : std::string()) << "<div id=\"graph\">\n"
      << inline_svg << "\n</div>\n"
      << "<table "
         "id=\"layers\">\n<thead><tr><th>#</th><th>layer</th><th>block</th><th>operation</th>"
         "<th>attributes</th><th>output shape</th><th>parameters</th><th>MACs</th>"
      << (timed ? "<th>mean ms</th><th>%</th><th>GFLOP/s</th>" : "") << "</tr></thead>\n<tbody>\n";
  for (std::size_t i = 0; i < graph.layers.size(); ++i) {
    const engine::GraphLayer& layer = graph.layers[i];
    std::string attributes;
    for (const auto& [k, v] : layer.attributes) {
      attributes += (attributes.empty() ? "" : "; ") + k + " " + v;
    }
    const std::string block =
        layer.cluster < 0 ? std::string()
                          : graph.clusters[static_cast<std::size_t>(layer.cluster)].name + " " +
                                graph.clusters[static_cast<std::size_t>(layer.cluster)].type;
    out << "<tr><td class=\"n\">" << i << "</td><td>" << html_escape(layer.name) << "</td><td>"
        << html_escape(block) << "</td><td>" << html_escape(layer.title) << "</td><td>"
        << html_escape(attributes) << "</td><td>" << html_escape(shapes_text(layer))
        << "</td><td class=\"n\">" << layer.parameters << "</td><td class=\"n\">" << layer.macs
        << "</td>";
    if (timed) {
      const double ms = profile->layer_ms[i];
      char cells[160];
      std::snprintf(cells, sizeof cells,
                    "<td class=\"n\">%.4f</td><td class=\"n\">%.2f</td><td class=\"n\">%.2f</td>",
                    ms, profile->forward_ms > 0 ? 100.0 * ms / profile->forward_ms : 0.0,
                    ms > 0 ? 2.0 * static_cast<double>(layer.macs) / (ms * 1e6) : 0.0);
      out << cells;
    }
    out << "</tr>\n";
  }
  out << "</tbody>\n<tfoot><tr><td></td><td>total</td><td></td><td></td><td></td><td></td>"
      << "<td class=\"n\">" << graph.parameters << "</td><td class=\"n\">" << graph.macs << "</td>"
      << (timed ? "<td class=\"n\">" + std::to_string(profile->attributed_ms()) +
                      "</td><td></td><td></td>"
                : std::string())
      << "</tr></tfoot>\n</table>\n"
      // Folding: a folded block hides the layers and edges inside it (every
      // layer carries the classes of all blocks around it), keeping its box.
      << "<script>\n"
         "(function(){\n"
         "var folded={};\n"
         "function ids(el,prefix){var r=[];el.classList.forEach(function(c){"
         "if(c.indexOf(prefix)===0)r.push(c.slice(prefix.length));});return r;}\n"
         "function apply(){\n"
         "  document.querySelectorAll('#graph g.layer').forEach(function(n){"
         "n.style.display=ids(n,'in-c').some(function(c){return folded[c];})?'none':'';});\n"
         "  document.querySelectorAll('#graph g.edge').forEach(function(e){"
         "e.style.display=ids(e,'e-c').some(function(c){return folded[c];})?'none':'';});\n"
         "  document.querySelectorAll('#graph g.block').forEach(function(b){"
         "b.classList.toggle('folded',!!folded[b.id.slice(8)]);});\n"
         "}\n"
         "document.querySelectorAll('#graph g.block').forEach(function(b){"
         "b.addEventListener('click',function(ev){var k=b.id.slice(8);folded[k]=!folded[k];"
         "apply();ev.stopPropagation();});});\n"
         "document.getElementById('fold-all').onclick=function(){"
         "document.querySelectorAll('#graph "
         "g.block').forEach(function(b){folded[b.id.slice(8)]=true;});apply();};\n"
         "document.getElementById('unfold-all').onclick=function(){folded={};apply();};\n"
         "})();\n"
         "</script>\n</body>\n</html>\n";
  return out.str();
}

}  // namespace lookout::cli
