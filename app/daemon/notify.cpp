#include "notify.hpp"

#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>

#if LOOKOUT_WITH_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "core/log.hpp"

namespace lookout::systemd {

namespace {

#if LOOKOUT_WITH_SYSTEMD

bool status_only(const std::string& state) {
  return state.rfind("STATUS=", 0) == 0 && state.find('\n') == std::string::npos;
}

// The queue and the thread that drains it into sd_notify. One per process,
// never destroyed: its thread may be blocked in sd_notify when the process
// exits, and must not find the queue gone.
class Sender {
 public:
  void post(const std::string& state) {
    {
      std::lock_guard lock(mutex_);
      if (!thread_.joinable()) thread_ = std::thread([this] { send_loop(); });
      // What only the latest value matters for: drop the unsent older one.
      const bool replaceable = status_only(state) || state == "WATCHDOG=1";
      if (replaceable) {
        for (auto it = queue_.begin(); it != queue_.end(); ++it) {
          if (status_only(state) ? status_only(*it) : *it == state) {
            queue_.erase(it);
            break;
          }
        }
      }
      queue_.push_back(state);
    }
    changed_.notify_all();
  }

  bool flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return queue_.empty() && !sending_; });
  }

 private:
  void send_loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return !queue_.empty(); });
      const std::string state = std::move(queue_.front());
      queue_.pop_front();
      sending_ = true;
      lock.unlock();
      const int r = sd_notify(0, state.c_str());
      if (r < 0) log::debug("sd_notify: error ", -r);
      lock.lock();
      sending_ = false;
      changed_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> queue_;
  bool sending_ = false;
  std::thread thread_;
};

Sender& sender() {
  static Sender* const instance = new Sender;  // deliberately never freed (see Sender)
  return *instance;
}

#endif

}  // namespace

std::string status_text(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) c = ' ';
  }
  return out;
}

bool notify(const std::string& state) {
#if LOOKOUT_WITH_SYSTEMD
  if (std::getenv("NOTIFY_SOCKET") == nullptr) return false;
  sender().post(state);
  return true;
#else
  (void)state;
  return false;
#endif
}

bool flush(std::chrono::milliseconds timeout) {
#if LOOKOUT_WITH_SYSTEMD
  if (std::getenv("NOTIFY_SOCKET") == nullptr) return true;
  return sender().flush(timeout);
#else
  (void)timeout;
  return true;
#endif
}

std::optional<std::chrono::microseconds> watchdog_interval() {
#if LOOKOUT_WITH_SYSTEMD
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    return std::chrono::microseconds(usec);
  }
#endif
  return std::nullopt;
}

}  // namespace lookout::systemd
