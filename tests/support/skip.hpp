// Skipping a test case at run time, when the machine lacks something it needs
// that the project cannot make itself (e.g. a browser that will not start):
//
//   if (!chromium) { lookout::test::skip("chromium is not installed"); return; }
//
// prints "skipped: <reason>" and records the test case as skipped. A run in
// which every selected test case skipped and none failed exits 77, which ctest
// reports as skipped (SKIP_RETURN_CODE, as for --lookout-needs-shared); a run
// where other cases ran ends as usual. Defined in doctest_main.cpp.
#pragma once

#include <string>

namespace lookout::test {

void skip(const std::string& reason);

}  // namespace lookout::test
