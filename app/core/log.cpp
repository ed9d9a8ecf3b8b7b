#include "core/log.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include <sys/socket.h>
#include <sys/stat.h>

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

// Writing to stderr never blocks the thread that logs. A line is written at
// once when stderr takes it without waiting: always for a regular file or a
// terminal; for the journal's socket with MSG_DONTWAIT; for a pipe when
// poll() says it has room (a write of at most PIPE_BUF bytes then fits
// whole). No file status flag is changed: stdout may share the description.
// When stderr would block (journald slow or stopped, a pipe nobody reads),
// lines queue, bounded in bytes, for a writer thread that may block; past
// the bound they are dropped and counted, and the count is written once
// stderr takes lines again. While lines queue, new ones queue behind them,
// so the order is kept. The last quarter of the bound is kept for notices,
// warnings and errors: a flood of debug or info lines (a client per line)
// cannot crowd out "stopping" or an error.
class Writer {
 public:
  static constexpr std::size_t kMaxQueuedBytes = 256 * 1024;

  Writer() {
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) == 0) {
      socket_ = S_ISSOCK(st.st_mode);
      pipe_ = S_ISFIFO(st.st_mode);
    }
  }

  void post(std::string line, bool important) {
    std::lock_guard lock(mutex_);
    const std::size_t bound = important ? kMaxQueuedBytes : kMaxQueuedBytes / 4 * 3;
    if (queue_.empty() && !writing_ && dropped_ == 0) {
      const std::size_t written = write_now(line);
      if (written == line.size()) return;
      line.erase(0, written);  // the rest waits for the writer thread, first in line
    } else if (queued_bytes_ + line.size() > bound) {
      ++dropped_;
      return;
    }
    if (!started_) {
      started_ = true;
      std::thread([this] { loop(); }).detach();
      std::atexit([] { flush(std::chrono::seconds(2)); });
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
  // Writes what stderr takes without waiting; the bytes written. Errors
  // other than "would block" count as written: there is nowhere to report a
  // failing stderr.
  std::size_t write_now(const std::string& text) const {
    std::size_t done = 0;
    while (done < text.size()) {
      std::size_t chunk = text.size() - done;
      if (pipe_) {
        pollfd p{STDERR_FILENO, POLLOUT, 0};
        if (::poll(&p, 1, 0) != 1 || (p.revents & POLLOUT) == 0) return done;
        chunk = std::min<std::size_t>(chunk, PIPE_BUF);
      }
      const ssize_t n =
          socket_ ? ::send(STDERR_FILENO, text.data() + done, chunk, MSG_DONTWAIT | MSG_NOSIGNAL)
                  : ::write(STDERR_FILENO, text.data() + done, chunk);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return done;
      } else {
        return text.size();
      }
    }
    return done;
  }

  // Writer thread: waits as long as stderr needs.
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

  void loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return !queue_.empty() || dropped_ > 0; });
      std::string batch;
      while (!queue_.empty() && batch.size() < 64 * 1024) {
        queued_bytes_ -= queue_.front().size();
        batch += queue_.front();
        queue_.pop_front();
      }
      if (dropped_ > 0 && queue_.empty()) {
        batch += "<4>" + std::to_string(dropped_) +
                 " log lines were dropped: stderr (the journal) did not take them in time\n";
        dropped_ = 0;
      }
      writing_ = true;
      lock.unlock();
      write_all(batch);
      lock.lock();
      writing_ = false;
      changed_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  std::uint64_t dropped_ = 0;
  bool writing_ = false;
  bool started_ = false;
  bool socket_ = false;
  bool pipe_ = false;
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
      append_hex_escape(line, u);
    } else {
      line += c;
    }
  }
  line += '\n';
  writer().post(std::move(line), level <= Level::Notice);
}

bool flush(std::chrono::milliseconds timeout) {
  return writer().wait_empty(timeout);
}

}  // namespace lookout::log
