#include "core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace lookout::log {

namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};

const char* terminal_tag(Level level) {
  switch (level) {
    case Level::Error:
      return "error: ";
    case Level::Warning:
      return "warning: ";
    case Level::Notice:
      return "notice: ";
    case Level::Info:
      return "info: ";
    case Level::Debug:
      return "debug: ";
  }
  return "";
}
}  // namespace

void set_level(Level level) {
  g_level.store(static_cast<int>(level));
}

Level level() {
  return static_cast<Level>(g_level.load());
}

namespace {

// Lines go to stderr from a writer thread of their own, through a queue
// bounded in bytes: a journald that is slow or stopped (or a pipe nobody
// reads) blocks that thread only, never the thread that logs (the I/O
// thread above all). When the queue is full, lines are dropped and counted,
// and the count is written once stderr takes lines again.
class Writer {
 public:
  static constexpr std::size_t kMaxQueuedBytes = 256 * 1024;

  void post(std::string line) {
    std::lock_guard lock(mutex_);
    if (!started_) {
      started_ = true;
      std::thread([this] { loop(); }).detach();
      std::atexit([] { flush(std::chrono::seconds(2)); });
    }
    if (queued_bytes_ + line.size() > kMaxQueuedBytes) {
      ++dropped_;
      return;
    }
    queued_bytes_ += line.size();
    queue_.push_back(std::move(line));
    changed_.notify_all();
  }

  bool wait_empty(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [this] { return queue_.empty() && !writing_; });
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return !queue_.empty(); });
      std::string batch;
      if (dropped_ > 0) {
        batch = "<4>" + std::to_string(dropped_) +
                " log lines were dropped: stderr (the journal) did not take them in time\n";
        dropped_ = 0;
      }
      while (!queue_.empty() && batch.size() < 64 * 1024) {
        queued_bytes_ -= queue_.front().size();
        batch += queue_.front();
        queue_.pop_front();
      }
      writing_ = true;
      lock.unlock();
      write_all(batch);
      lock.lock();
      writing_ = false;
      changed_.notify_all();
    }
  }

  static void write_all(const std::string& text) {
    const char* data = text.data();
    std::size_t left = text.size();
    while (left > 0) {
      const ssize_t n = ::write(STDERR_FILENO, data, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // nowhere to report a failing stderr
      data += n;
      left -= static_cast<std::size_t>(n);
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  std::uint64_t dropped_ = 0;
  bool writing_ = false;
  bool started_ = false;
};

// Never destroyed: its detached thread may be inside write(2) at exit.
Writer& writer() {
  static Writer* const instance = new Writer;
  return *instance;
}

}  // namespace

void write(Level level, std::string_view message) {
  static const bool on_terminal = isatty(STDERR_FILENO) == 1;
  std::string prefix;
  if (on_terminal) {
    prefix = terminal_tag(level);
  } else {
    prefix = {'<', static_cast<char>('0' + static_cast<int>(level)), '>'};
  }
  // Every line of a message starts with its own prefix, and other control
  // characters are escaped: text from outside (a file name, a client's
  // address, a configuration value) can neither forge a line of another
  // severity for journald nor move a terminal's cursor.
  std::string line;
  line.reserve(message.size() + 16);
  line += prefix;
  for (const char c : message) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      line += '\n';
      line += prefix;
    } else if ((u < 0x20 && c != '\t') || u == 0x7F) {
      static constexpr char kHex[] = "0123456789abcdef";
      line += "\\x";
      line += kHex[u >> 4];
      line += kHex[u & 0xF];
    } else {
      line += c;
    }
  }
  line += '\n';
  writer().post(std::move(line));
}

bool flush(std::chrono::milliseconds timeout) {
  return writer().wait_empty(timeout);
}

}  // namespace lookout::log
