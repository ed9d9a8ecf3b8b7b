// Fuzz target "config": any text to a Config or configuration problems
// (the pure parser, app/config). Neither may crash, hang or throw anything
// but ConfigError; every problem names the file.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const lookout::Config config = lookout::parse_config(text, "fuzz.yaml");
    // What a start logs and compares must work on anything that parsed.
    (void)lookout::describe(config);
    (void)lookout::plan_reload(lookout::Config{}, config);
  } catch (const lookout::ConfigError& e) {
    for (const auto& problem : e.problems()) {
      if (problem.rfind("fuzz.yaml", 0) != 0) std::abort();  // every problem says where
    }
  }
  return 0;
}
