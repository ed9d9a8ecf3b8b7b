// Fuzz target "model_config": any text as a model's config.txt (the
// exporter's metadata: task, names, shape, stride; app/engine/model_config.hpp)
// to a ModelConfig or ModelError.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/engine.hpp"
#include "model_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto config = lookout::engine::parse_model_config(text, "fuzz/config.txt");
    if (config.stride <= 0) std::abort();
    for (const int side : config.shape) {
      if (side <= 0) std::abort();
    }
  } catch (const lookout::ModelError&) {
  }
  return 0;
}
