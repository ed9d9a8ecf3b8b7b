// `lookout model profile` run as the real CLI on the shipped model, on each
// backend this machine has: every convolution timed, blocks the sums of their
// layers, nothing timed outside the forwards it was measured in.
#include <string>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "app/engine/test_util.hpp"

namespace t = lookout::test;
using nlohmann::json;

namespace {

t::ProcessResult lookout_cli(const std::string& args) {
  return t::run_command(t::quote(LOOKOUT_CLI) + " " + args);
}

}  // namespace

TEST_CASE("lookout model profile: a time per layer and per block on each backend") {
  for (const std::string backend : {"blas", "onednn", "xnnpack"}) {
    CAPTURE(backend);
    const auto r = lookout_cli("model profile --json --runs 3 --threads 1 --imgsz 256 --backend " +
                               backend + " " + t::quote(t::shipped_model()));
    REQUIRE(r.exit_code == 0);
    const json j = json::parse(r.out);
    CHECK(j["backend"] == backend);
    CHECK(j["runs"] == 3);
    CHECK(j["input_shape"] == json::array({1, 3, 256, 256}));
    const json& layers = j["layers"];
    const json& blocks = j["blocks"];
    REQUIRE(layers.size() > 100);
    double sum = 0;
    int convolutions = 0;
    for (const auto& l : layers) {
      sum += l["mean_ms"].get<double>();
      CHECK(l["mean_ms"].get<double>() >= 0);
      if (l["op"] != "aten::_convolution") continue;
      ++convolutions;
      // oneDNN's prepacked convolutions run outside aten's dispatcher: one
      // with an activation after it gets the untimed stretch before that;
      // the Detect head's three (none) cannot be told from what follows.
      const bool activated = l["title"].get<std::string>().find(" + ") != std::string::npos;
      if (backend == "onednn" && !activated) continue;
      CAPTURE(l["name"].get<std::string>());
      CHECK(l["mean_ms"].get<double>() > 0);
      CHECK(l["gflops_per_s"].get<double>() > 0);
    }
    CHECK(convolutions == 60);
    CHECK(sum == doctest::Approx(j["attributed_ms"].get<double>()).epsilon(1e-9));
    double outside = 0;
    for (const auto& [where, ms] : j["unattributed_ms"].items()) outside += ms.get<double>();
    CHECK(sum + outside <= j["forward_ms"].get<double>());
    // A block's time is the sum of the layers inside it.
    for (std::size_t c = 0; c < blocks.size(); ++c) {
      double inside = 0;
      for (const auto& l : layers) {
        for (int b = l["block"].get<int>(); b >= 0;
             b = blocks[static_cast<std::size_t>(b)]["parent"].get<int>()) {
          if (b == static_cast<int>(c)) inside += l["mean_ms"].get<double>();
        }
      }
      CHECK(blocks[c]["mean_ms"].get<double>() == doctest::Approx(inside).epsilon(1e-9));
    }
  }
}

TEST_CASE("lookout model profile: the text table, and clear errors") {
  auto r = lookout_cli("model profile --runs 1 --backend blas " + t::quote(t::shipped_model()));
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("backend:  blas") != std::string::npos);
  CHECK(r.out.find("model.0.conv") != std::string::npos);
  CHECK(r.out.find("GFLOP/s") != std::string::npos);
  CHECK(r.out.find("blocks, slowest first:") != std::string::npos);

  r = lookout_cli("model profile --runs 0 " + t::quote(t::shipped_model()) + " 2>&1");
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("--runs") != std::string::npos);
  r = lookout_cli("model profile --imgsz 300 " + t::quote(t::shipped_model()) + " 2>&1");
  CHECK(r.exit_code == 0);  // rounded up to the stride, as every engine command does
  r = lookout_cli("model profile 2>&1");
  CHECK(r.exit_code == 2);
  CHECK(r.out.find("a model file is required") != std::string::npos);
}
