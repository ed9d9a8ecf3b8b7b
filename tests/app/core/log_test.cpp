#include "core/log.hpp"

#include <unistd.h>

#include <cstdio>
#include <string>

#include <doctest/doctest.h>

namespace {

// Runs `body` with stderr redirected to a pipe and returns what it wrote.
template <typename F>
std::string capture_stderr(F body) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const int saved = dup(STDERR_FILENO);
  dup2(fds[1], STDERR_FILENO);
  close(fds[1]);
  body();
  REQUIRE(lookout::log::flush());  // lines are written by the log's own thread
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  return out;
}

}  // namespace

TEST_CASE("messages carry a severity journald understands and respect the level") {
  namespace log = lookout::log;
  log::set_level(log::Level::Info);
  const std::string out = capture_stderr([] {
    log::error("camera ", 2, " failed");
    log::info("ready");
    log::debug("per-frame detail");
  });
  // stderr is a pipe here, not a terminal, so the journald prefixes are used.
  CHECK(out == "<3>camera 2 failed\n<6>ready\n");
  log::set_level(log::Level::Debug);
  CHECK(capture_stderr([] { log::debug("now shown"); }) == "<7>now shown\n");
  log::set_level(log::Level::Info);
}

TEST_CASE("text inside a message can neither forge a line nor carry control characters") {
  namespace log = lookout::log;
  log::set_level(log::Level::Info);
  const std::string out = capture_stderr([] {
    log::info("camera porch\n<0>lookoutd: forged emergency");
    log::notice("a\x1b[2Jb\rc\td\x7f");
  });
  // Every line carries the message's own severity; ESC, CR and DEL are escaped.
  CHECK(out == "<6>camera porch\n<6><0>lookoutd: forged emergency\n<5>a\\x1b[2Jb\\x0dc\td\\x7f\n");
}
