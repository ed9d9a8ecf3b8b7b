// systemd::notify against a real datagram socket standing in for the
// service manager's ($NOTIFY_SOCKET), read or left unread.
#include "daemon/notify.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>

namespace {

// A bound, unread AF_UNIX datagram socket; $NOTIFY_SOCKET points at it.
class Manager {
 public:
  Manager() {
    path_ = std::filesystem::temp_directory_path() /
            ("lookout-notify-" + std::to_string(::getpid()) + ".sock");
    std::filesystem::remove(path_);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(fd_ >= 0);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~Manager() {
    ::unsetenv("NOTIFY_SOCKET");
    ::close(fd_);
    std::filesystem::remove(path_);
  }
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Every datagram that arrives within `quiet` of the previous one.
  std::vector<std::string> read_all(
      std::chrono::milliseconds quiet = std::chrono::milliseconds(500)) {
    std::vector<std::string> out;
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(quiet.count())) <= 0) return out;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) out.emplace_back(buf, static_cast<std::size_t>(n));
    }
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace

#if LOOKOUT_WITH_SYSTEMD

TEST_CASE("notify never blocks on an unread socket; statuses coalesce, the rest keep order") {
  Manager manager;
  namespace sd = lookout::systemd;
  // Far more than the ten datagrams the socket queues unread. Each call must
  // return at once: were any to block, this loop would never end.
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
  std::vector<std::string> got = manager.read_all();
  CHECK(sd::flush(std::chrono::seconds(5)));
  for (const auto& m : manager.read_all(std::chrono::milliseconds(100))) got.push_back(m);
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
