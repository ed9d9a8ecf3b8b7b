// lookout model profile: what in this model is slow on this machine.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "engine/inspect.hpp"
#include "graph_picture.hpp"

namespace lookout::cli {

namespace {

// GFLOP/s achieved: two floating-point operations per multiply-accumulate.
double gflops_per_s(std::int64_t macs, double ms) {
  return ms > 0 ? 2.0 * static_cast<double>(macs) / (ms * 1e6) : 0.0;
}

}  // namespace

int run_model_profile(const ProfileArgs& args, std::ostream& out) {
  engine::ModelProfile p;
  try {
    p = engine::profile_model(args.engine, args.runs);
  } catch (const ModelError& e) {
    std::cerr << "lookout: model error: " << e.what() << "\n";
    return kExitUsage;
  }
  const engine::ModelGraph& g = p.graph;
  // Blocks: the time of every layer inside them.
  std::vector<double> block_ms(g.clusters.size(), 0.0);
  std::vector<std::int64_t> block_macs(g.clusters.size(), 0);
  for (std::size_t i = 0; i < g.layers.size(); ++i) {
    for (int c = g.layers[i].cluster; c >= 0; c = g.clusters[static_cast<std::size_t>(c)].parent) {
      block_ms[static_cast<std::size_t>(c)] += p.layer_ms[i];
      block_macs[static_cast<std::size_t>(c)] += g.layers[i].macs;
    }
  }
  double unattributed = 0;
  for (const auto& [where, ms] : p.unattributed_ms) unattributed += ms;
  const double share_base = p.forward_ms > 0 ? p.forward_ms : 1.0;

  if (args.json) {
    nlohmann::json j;
    j["model"] = p.info.path;
    j["backend"] = enum_name(p.info.backend);
    j["threads"] = p.info.threads;
    j["input_shape"] = g.input_shape;
    j["runs"] = p.runs;
    j["forward_ms"] = p.forward_ms;
    j["plain_forward_ms"] = p.plain_forward_ms;
    j["attributed_ms"] = p.attributed_ms();
    j["macs"] = g.macs;
    j["gflops_per_s"] = gflops_per_s(g.macs, p.plain_forward_ms);
    auto& layers = j["layers"] = nlohmann::json::array();
    for (std::size_t i = 0; i < g.layers.size(); ++i) {
      const auto& l = g.layers[i];
      layers.push_back({{"name", l.name},
                        {"op", l.op},
                        {"title", l.title},
                        {"output_shapes", l.output_shapes},
                        {"macs", l.macs},
                        {"block", l.cluster},
                        {"mean_ms", p.layer_ms[i]},
                        {"share", p.layer_ms[i] / share_base},
                        {"gflops_per_s", gflops_per_s(l.macs, p.layer_ms[i])}});
    }
    auto& blocks = j["blocks"] = nlohmann::json::array();
    for (std::size_t c = 0; c < g.clusters.size(); ++c) {
      blocks.push_back({{"name", g.clusters[c].name},
                        {"type", g.clusters[c].type},
                        {"parent", g.clusters[c].parent},
                        {"mean_ms", block_ms[c]},
                        {"share", block_ms[c] / share_base},
                        {"macs", block_macs[c]}});
    }
    j["unattributed_ms"] = p.unattributed_ms;
    out << j.dump() << "\n";
    return kExitOk;
  }

  char line[512];
  std::snprintf(line, sizeof line,
                "model:    %s\nbackend:  %s, %d threads\ninput:    %s\nforward:  %.3f ms mean of "
                "%d timed runs (%.3f ms untimed, %.2f GFLOP/s); %.3f ms in %zu layers, %.3f ms "
                "outside them\n\n",
                p.info.path.c_str(), std::string(enum_name(p.info.backend)).c_str(), p.info.threads,
                shape_text(g.input_shape).c_str(), p.forward_ms, p.runs, p.plain_forward_ms,
                gflops_per_s(g.macs, p.plain_forward_ms), p.attributed_ms(), g.layers.size(),
                unattributed);
  out << line;
  out << "  #    layer                      operation                    output               "
         "       MACs    mean ms       %  GFLOP/s\n";
  for (std::size_t i = 0; i < g.layers.size(); ++i) {
    const auto& l = g.layers[i];
    const std::string shape = shapes_text(l);
    std::snprintf(line, sizeof line, "  %-4zu %-26s %-28s %-20s %11lld %10.4f %6.2f %8.2f\n", i,
                  l.name.c_str(), l.title.c_str(), shape.c_str(), static_cast<long long>(l.macs),
                  p.layer_ms[i], 100.0 * p.layer_ms[i] / share_base,
                  gflops_per_s(l.macs, p.layer_ms[i]));
    out << line;
  }
  if (!g.clusters.empty()) {
    out << "\nblocks, slowest first:\n";
    std::vector<std::size_t> order(g.clusters.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return block_ms[a] > block_ms[b]; });
    for (const std::size_t c : order) {
      std::snprintf(line, sizeof line, "  %-22s %-14s %10.4f ms %6.2f %% %8.2f GFLOP/s\n",
                    g.clusters[c].name.c_str(), g.clusters[c].type.c_str(), block_ms[c],
                    100.0 * block_ms[c] / share_base, gflops_per_s(block_macs[c], block_ms[c]));
      out << line;
    }
  }
  if (!p.unattributed_ms.empty()) {
    out << "\noutside the layers (the backend's own operators):\n";
    for (const auto& [where, ms] : p.unattributed_ms) {
      std::snprintf(line, sizeof line, "  %-50s %10.4f ms\n", where.c_str(), ms);
      out << line;
    }
  }
  return kExitOk;
}

}  // namespace lookout::cli
