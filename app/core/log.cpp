#include "core/log.hpp"

#include <fcntl.h>
#include <poll.h>
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
// terminal; for the journal's socket and for pipes, in non-blocking mode.
// When stderr would block (journald slow or stopped, a pipe nobody reads),
// lines queue, bounded in bytes, for a writer thread that waits for stderr
// to take them; past the bound they are dropped and counted, and the count
// is written once stderr takes lines again. While lines queue, new ones
// queue behind them, so the order is kept.
class Writer {
 public:
  static constexpr std::size_t kMaxQueuedBytes = 256 * 1024;

  Writer() {
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) == 0) {
      if (S_ISSOCK(st.st_mode)) {
        socket_ = true;  // send(MSG_DONTWAIT): the description's flags stay as they are
      } else if (S_ISFIFO(st.st_mode)) {
        // A pipe's write end is ours alone (unlike a terminal, shared with the shell).
        // (Should that fail, writes just block as before.)
        const int flags = ::fcntl(STDERR_FILENO, F_GETFL);
        if (flags >= 0) ::fcntl(STDERR_FILENO, F_SETFL, flags | O_NONBLOCK);
      }
    }
  }

  void post(std::string line) {
    std::lock_guard lock(mutex_);
    if (queue_.empty() && !writing_ && dropped_ == 0) {
      const std::size_t written = write_some(line);
      if (written == line.size()) return;
      line.erase(0, written);  // the rest waits for the writer thread, first in line
    } else if (queued_bytes_ + line.size() > kMaxQueuedBytes) {
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
  // Writes what stderr takes now (all of it unless it would block); the
  // bytes written. Errors other than "would block" count as written: there
  // is nowhere to report a failing stderr.
  std::size_t write_some(const std::string& text) const {
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = socket_ ? ::send(STDERR_FILENO, text.data() + done, text.size() - done,
                                         MSG_DONTWAIT | MSG_NOSIGNAL)
                                : ::write(STDERR_FILENO, text.data() + done, text.size() - done);
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

  // Writer thread: waits until stderr takes more, then writes.
  void write_all(const std::string& text) const {
    std::size_t done = 0;
    while (done < text.size()) {
      done += write_some(text.substr(done));
      if (done < text.size()) {
        pollfd p{STDERR_FILENO, POLLOUT, 0};
        ::poll(&p, 1, 1000);
      }
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
  writer().post(std::move(line));
}

bool flush(std::chrono::milliseconds timeout) {
  return writer().wait_empty(timeout);
}

}  // namespace lookout::log
