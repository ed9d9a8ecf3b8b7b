// describe_model: the readable graph of a real TorchScript file (the shipped
// shapes detector, a YOLOv5 v6 layout exported by models/: a traced body and
// a scripted decoding loop).
#include "engine/inspect.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <numeric>
#include <string>

#include <doctest/doctest.h>

#include "app/engine/test_util.hpp"

namespace {

using lookout::engine::describe_model;
using lookout::engine::GraphLayer;
using lookout::engine::ModelGraph;
using lookout::test::shipped_model;

std::string attribute(const GraphLayer& layer, const std::string& key) {
  for (const auto& [k, v] : layer.attributes) {
    if (k == key) return v;
  }
  return {};
}

std::map<std::string, int> blocks_by_type(const ModelGraph& g) {
  std::map<std::string, int> n;
  for (const auto& c : g.clusters) ++n[c.type];
  return n;
}

}  // namespace

TEST_CASE("the shipped model reads as its yaml: named layers, blocks, shapes, parameters, MACs") {
  const ModelGraph g = describe_model(shipped_model());
  CHECK(g.input_shape == std::vector<std::int64_t>{1, 3, 320, 320});

  // Layers are named as the model names its modules, the wrappers left out.
  REQUIRE(g.layers.size() > 100);
  CHECK(g.layers.front().name == "model.0.conv");
  CHECK(g.layers.front().title == "Conv2d 6x6 s2 + SiLU");
  CHECK(g.layers.front().inputs == std::vector<int>{-1});
  CHECK(g.layers.back().name == "decode");
  CHECK(g.layers.back().op == "aten::cat");
  CHECK(g.layers.back().output_shapes.at(0) == std::vector<std::int64_t>{1, 6300, 10});
  CHECK(g.outputs == std::vector<int>{static_cast<int>(g.layers.size()) - 1});

  // Every convolution: kernel, stride, padding, channels, a 4-d output, MACs;
  // the activation after it is folded into its box.
  int convolutions = 0;
  std::int64_t layer_parameters = 0;
  for (const auto& layer : g.layers) {
    layer_parameters += layer.parameters;
    if (layer.op != "aten::_convolution") continue;
    ++convolutions;
    CAPTURE(layer.name);
    CHECK(!attribute(layer, "kernel").empty());
    CHECK(!attribute(layer, "stride").empty());
    CHECK(!attribute(layer, "padding").empty());
    CHECK(attribute(layer, "channels").find(" -> ") != std::string::npos);
    REQUIRE(layer.output_shapes.size() == 1);
    CHECK(layer.output_shapes[0].size() == 4);
    CHECK(layer.parameters > 0);
    CHECK(layer.macs > 0);
    CHECK(!layer.inputs.empty());
  }
  CHECK(convolutions == 60);  // 57 Conv modules (each conv + SiLU) and the 3 Detect convs
  CHECK(std::none_of(g.layers.begin(), g.layers.end(),
                     [](const GraphLayer& l) { return l.op == "aten::silu_"; }));
  CHECK(std::none_of(g.layers.begin(), g.layers.end(), [](const GraphLayer& l) {
    return l.op == "prim::ListConstruct" || l.op == "prim::Constant" || l.op == "prim::GetAttr";
  }));

  // Totals: the file's parameters (after Conv+BN fusion), all in some layer.
  CHECK(g.parameters == 446530);
  CHECK(layer_parameters == g.parameters);
  CHECK(g.macs == 141952000);  // 0.284 GFLOPs at 320x320

  // The first C3: its layers and its Bottleneck, in that nesting.
  const auto& c3 = g.layers.at(2);
  CHECK(c3.name == "model.2.cv1.conv");
  REQUIRE(c3.cluster >= 0);
  CHECK(g.clusters[static_cast<std::size_t>(c3.cluster)].name == "model.2");
  CHECK(g.clusters[static_cast<std::size_t>(c3.cluster)].type == "C3");
  const auto& inner = g.layers.at(3);
  CHECK(inner.name == "model.2.m.0.cv1.conv");
  REQUIRE(inner.cluster >= 0);
  const auto& bottleneck = g.clusters[static_cast<std::size_t>(inner.cluster)];
  CHECK(bottleneck.name == "model.2.m.0");
  CHECK(bottleneck.type == "Bottleneck");
  CHECK(bottleneck.parent == c3.cluster);

  const auto types = blocks_by_type(g);
  CHECK(types.at("C3") == 8);
  CHECK(types.at("Bottleneck") == 11);  // 1 + 2 + 3 + 1 in the backbone, 4 x 1 in the head
  CHECK(types.at("SPPF") == 1);
  CHECK(types.at("Detect") == 1);
  CHECK(types.at("DetectDecode") == 1);
  // Parents come before their children.
  for (std::size_t c = 0; c < g.clusters.size(); ++c) {
    CHECK(g.clusters[c].parent < static_cast<int>(c));
  }

  // SPPF: three 5x5 max-pools, the concatenation of four.
  int pools = 0;
  for (const auto& layer : g.layers) {
    if (layer.op != "aten::max_pool2d") continue;
    ++pools;
    CHECK(layer.name == "model.9.m");
    CHECK(attribute(layer, "kernel") == "5");
  }
  CHECK(pools == 3);
  const auto cat = std::find_if(g.layers.begin(), g.layers.end(), [](const GraphLayer& l) {
    return l.name == "model.9" && l.op == "aten::cat";
  });
  REQUIRE(cat != g.layers.end());
  CHECK(cat->inputs.size() == 4);
  CHECK(cat->output_shapes.at(0) == std::vector<std::int64_t>{1, 256, 10, 10});

  // The Detect convolutions feed the decoding, level by level.
  const auto detect = std::find_if(g.layers.begin(), g.layers.end(),
                                   [](const GraphLayer& l) { return l.name == "model.24.m.0"; });
  REQUIRE(detect != g.layers.end());
  CHECK(attribute(*detect, "channels") == "32 -> 30");
}

TEST_CASE("the layers' shapes and MACs follow the chosen input size") {
  const ModelGraph small = describe_model(shipped_model());
  const ModelGraph wide = describe_model(shipped_model(), 480, 640);
  CHECK(wide.input_shape == std::vector<std::int64_t>{1, 3, 480, 640});
  CHECK(wide.layers.size() == small.layers.size());
  CHECK(wide.parameters == small.parameters);
  CHECK(wide.macs == small.macs * 3);  // 640x480 is three times 320x320
  CHECK(wide.layers.front().output_shapes.at(0) == std::vector<std::int64_t>{1, 8, 240, 320});
  CHECK(wide.layers.back().output_shapes.at(0) == std::vector<std::int64_t>{1, 18900, 10});
}

TEST_CASE("a size the model refuses is an error naming the size and the stride") {
  try {
    describe_model(shipped_model(), 330, 320);
    FAIL("330x320 was accepted");
  } catch (const lookout::ModelError& e) {
    const std::string what = e.what();
    CHECK(what.find("330x320") != std::string::npos);
    CHECK(what.find("stride 32") != std::string::npos);
  }
}

TEST_CASE("profile_model times every layer of the shipped model on a real engine") {
  lookout::EngineOptions options;
  options.model_path = shipped_model();
  options.backend = lookout::Backend::Blas;  // aten's own kernels: one operator per layer
  options.threads = 1;
  const lookout::engine::ModelProfile p = lookout::engine::profile_model(options, 2);
  CHECK(p.runs == 2);
  CHECK(p.info.backend == lookout::Backend::Blas);
  REQUIRE(p.layer_ms.size() == p.graph.layers.size());
  CHECK(p.graph.layers.size() == describe_model(shipped_model()).layers.size());
  // Every convolution and the decoding loop's data movement were found and
  // timed (attribution by module, and by order where the loop has none; the
  // loop's arithmetic runs in the executor's fused groups, outside layers).
  for (std::size_t i = 0; i < p.graph.layers.size(); ++i) {
    const auto& layer = p.graph.layers[i];
    CAPTURE(i);
    CAPTURE(layer.name);
    CAPTURE(layer.op);
    const bool moves =
        layer.op == "aten::view" || layer.op == "aten::permute" || layer.op == "aten::reshape";
    if (layer.op == "aten::_convolution" || (layer.name == "decode" && moves)) {
      CHECK(p.layer_ms[i] > 0);
    }
  }
  // The operators' times lie inside the forwards they were timed in.
  CHECK(p.forward_ms > 0);
  CHECK(p.plain_forward_ms > 0);
  CHECK(p.attributed_ms() > 0);
  double outside = 0;
  for (const auto& [where, ms] : p.unattributed_ms) outside += ms;
  CHECK(p.attributed_ms() + outside <= p.forward_ms);
}

TEST_CASE("profile_model refuses no runs") {
  lookout::EngineOptions options;
  options.model_path = shipped_model();
  CHECK_THROWS_AS(lookout::engine::profile_model(options, 0), std::invalid_argument);
}
