// Shared main for every doctest binary. Adds one option of our own:
//   --lookout-needs-shared   exit 77 (ctest: skipped) with a message when
//                            ../shared/data is absent, instead of failing.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "support/paths.hpp"

int main(int argc, char** argv) {
  std::vector<char*> args;
  bool needs_shared = false;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--lookout-needs-shared") == 0) {
      needs_shared = true;
    } else {
      args.push_back(argv[i]);
    }
  }
  if (needs_shared && !lookout::test::shared_data_available()) {
    std::printf("skipped: %s not found (tests using ../shared data skip without it)\n",
                lookout::test::shared_data_dir().c_str());
    return 77;
  }
  doctest::Context context(static_cast<int>(args.size()), args.data());
  return context.run();
}
