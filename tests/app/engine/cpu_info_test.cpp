#include <doctest/doctest.h>

#include <fstream>

#include "app/engine/test_util.hpp"
#include "cpu_info.hpp"

namespace {

void write(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << text << "\n";
}

}  // namespace

TEST_CASE("big cores of a big.LITTLE system by cpu_capacity") {
  const auto root = lookout::test::scratch_dir("cpu-capacity");
  // RK3399-like: four A53 (capacity 485) and two A72 (1024).
  for (int i = 0; i < 6; ++i) {
    write(root / ("cpu" + std::to_string(i)) / "cpu_capacity", i < 4 ? "485" : "1024");
  }
  CHECK(lookout::engine::big_cores(root.string(), {0, 1, 2, 3, 4, 5}) == std::vector<int>{4, 5});
  // Only the usable (affinity) cores count.
  CHECK(lookout::engine::big_cores(root.string(), {0, 1, 4}) == std::vector<int>{4});
  CHECK(lookout::engine::big_cores(root.string(), {0, 1}) == std::vector<int>{0, 1});
}

TEST_CASE("big cores by maximum frequency when capacity is missing") {
  const auto root = lookout::test::scratch_dir("cpu-freq");
  for (int i = 0; i < 8; ++i) {
    write(root / ("cpu" + std::to_string(i)) / "cpufreq" / "cpuinfo_max_freq",
          i < 4 ? "1800000" : (i == 7 ? "2400000" : "2300000"));
  }
  // Within 10 % of the fastest: the 2.3 and 2.4 GHz cores.
  CHECK(lookout::engine::big_cores(root.string(), {0, 1, 2, 3, 4, 5, 6, 7}) ==
        std::vector<int>{4, 5, 6, 7});
}

TEST_CASE("uniform or unknown systems use every usable core") {
  const auto root = lookout::test::scratch_dir("cpu-none");
  CHECK(lookout::engine::big_cores(root.string(), {0, 1, 2, 3}) == std::vector<int>{0, 1, 2, 3});
  for (int i = 0; i < 4; ++i) write(root / ("cpu" + std::to_string(i)) / "cpu_capacity", "1024");
  CHECK(lookout::engine::big_cores(root.string(), {0, 1, 2, 3}) == std::vector<int>{0, 1, 2, 3});
}

TEST_CASE("this machine") {
  const auto usable = lookout::engine::usable_cores();
  const auto big = lookout::engine::big_cores();
  CHECK_FALSE(usable.empty());
  CHECK_FALSE(big.empty());
  CHECK(big.size() <= usable.size());
  CHECK(lookout::engine::pin_current_thread({usable.front()}).empty());
  CHECK_FALSE(lookout::engine::pin_current_thread({-1}).empty());
  CHECK(lookout::engine::pin_current_thread(usable).empty());
}
