// systemd::notify, in-process, against the harness's stand-in for the service
// manager's socket ($NOTIFY_SOCKET), read or left unread.
#include "notify.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "harness.hpp"

using lookout::test::NotifySocket;
using lookout::test::TempDir;

namespace {

// Points $NOTIFY_SOCKET at `path` for the life of this object.
struct NotifySocketEnv {
  explicit NotifySocketEnv(const std::filesystem::path& path) {
    ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  }
  ~NotifySocketEnv() { ::unsetenv("NOTIFY_SOCKET"); }
  NotifySocketEnv(const NotifySocketEnv&) = delete;
  NotifySocketEnv& operator=(const NotifySocketEnv&) = delete;
};

}  // namespace

#if LOOKOUT_WITH_SYSTEMD

TEST_CASE("notify never blocks on an unread socket; statuses coalesce, the rest keep order") {
  TempDir dir;
  NotifySocket manager(dir / "notify.sock");
  manager.pause_reading(true);
  const NotifySocketEnv env(dir / "notify.sock");
  namespace sd = lookout::systemd;
  // Far more than the ten datagrams the socket queues unread. Each call must
  // return at once: were any to block, this test would never end.
  CHECK(sd::notify("READY=1\nSTATUS=first"));
  // Enough messages that are never coalesced to fill the socket's queue
  // (net.unix.max_dgram_qlen, 10 by default) whatever its size here.
  std::vector<std::string> expected_life = {"READY=1\nSTATUS=first"};
  for (int i = 0; i < 600; ++i) {
    expected_life.push_back("X_LOOKOUT_FILL=" + std::to_string(i) + "\nSTATUS=filling");
    sd::notify(expected_life.back());
  }
  for (int i = 0; i < 200; ++i) {
    sd::notify("STATUS=status " + std::to_string(i));
    sd::notify("WATCHDOG=1");
    if (i == 100) sd::notify("RELOADING=1\nSTATUS=reloading");
    if (i == 150) sd::notify("READY=1\nSTATUS=reloaded");
  }
  sd::notify("STOPPING=1\nSTATUS=Stopping");
  // Unread, the queue cannot drain: flush gives up after its timeout.
  CHECK_FALSE(sd::flush(std::chrono::milliseconds(200)));

  // Read: everything queued comes out, then the queue empties.
  manager.pause_reading(false);
  CHECK(sd::flush(std::chrono::seconds(30)));
  REQUIRE(manager.wait_for("STOPPING=1"));
  const std::vector<std::string> got = manager.messages();
  // The life-cycle messages, all of them, in order.
  std::vector<std::string> life;
  for (const auto& m : got) {
    if (m.find('\n') != std::string::npos) life.push_back(m);
  }
  for (const char* m : {"RELOADING=1\nSTATUS=reloading", "READY=1\nSTATUS=reloaded",
                        "STOPPING=1\nSTATUS=Stopping"}) {
    expected_life.emplace_back(m);
  }
  CHECK(life == expected_life);
  // Statuses and watchdog pings were coalesced while unread: a handful, not
  // 400, and the newest status is among them.
  CHECK(got.size() - life.size() < 20);
  CHECK(std::find(got.begin(), got.end(), "STATUS=status 199") != got.end());
  CHECK(std::find(got.begin(), got.end(), "WATCHDOG=1") != got.end());
}

#endif

TEST_CASE("without a service manager, notify says so and flush has nothing to wait for") {
  ::unsetenv("NOTIFY_SOCKET");
  CHECK_FALSE(lookout::systemd::notify("STATUS=nobody listens"));
  CHECK(lookout::systemd::flush(std::chrono::milliseconds(10)));
}

TEST_CASE("status text cannot start another assignment") {
  // A newline in a STATUS= value would make the rest a new line of the
  // message, such as STOPPING=1.
  CHECK(lookout::systemd::status_text("cam\nSTOPPING=1\r\x01") == "cam STOPPING=1  ");
  CHECK(lookout::systemd::status_text("porch (caf\xc3\xa9)") == "porch (caf\xc3\xa9)");
}
