// Shared main for every doctest binary. Adds one option of our own:
//   --lookout-needs-shared   exit 77 (ctest: skipped) with a message when
//                            ../shared/data is absent, instead of failing.
// lookout::test::skip() (support/skip.hpp) for test cases that skip at run
// time: a run whose selected cases all skipped exits 77 too. And one rule:
// a run whose filters select no test case fails. ctest runs each file
// (--source-file) or case (--test-case) by name, and a misspelt or
// comma-split filter would otherwise pass having tested nothing.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "support/paths.hpp"
#include "support/skip.hpp"

namespace {

int g_selected_cases = -1;  // set at the end of the run (main thread)

std::mutex g_skip_mutex;
std::string g_current_case;             // guarded by g_skip_mutex
std::set<std::string> g_skipped_cases;  // guarded by g_skip_mutex

// Records how many test cases the filters selected.
struct SelectionListener : doctest::IReporter {
  explicit SelectionListener(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& stats) override {
    g_selected_cases = static_cast<int>(stats.numTestCasesPassingFilters);
  }
  void test_case_start(const doctest::TestCaseData& data) override {
    std::lock_guard lock(g_skip_mutex);
    g_current_case = std::string(data.m_file.c_str()) + ":" + data.m_name;
  }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

REGISTER_LISTENER("lookout-selection", 1, SelectionListener);

}  // namespace

void lookout::test::skip(const std::string& reason) {
  std::lock_guard lock(g_skip_mutex);
  std::printf("skipped: %s\n", reason.c_str());
  std::fflush(stdout);
  g_skipped_cases.insert(g_current_case);
}

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
  const int result = context.run();
  if (result == 0 && g_selected_cases == 0 && !context.shouldExit()) {
    std::fprintf(stderr, "error: the filters select no test case\n");
    return 1;
  }
  if (result == 0 && g_selected_cases > 0 &&
      g_skipped_cases.size() == static_cast<std::size_t>(g_selected_cases)) {
    return 77;  // every case selected skipped: ctest reports the test skipped
  }
  return result;
}
