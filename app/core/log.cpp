#include "core/log.hpp"

#include <unistd.h>

#include <atomic>

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

void set_level(Level level) { g_level.store(static_cast<int>(level)); }

Level level() { return static_cast<Level>(g_level.load()); }

void write(Level level, std::string_view message) {
  static const bool on_terminal = isatty(STDERR_FILENO) == 1;
  std::string line;
  line.reserve(message.size() + 16);
  if (on_terminal) {
    line += terminal_tag(level);
  } else {
    line += '<';
    line += static_cast<char>('0' + static_cast<int>(level));
    line += '>';
  }
  line.append(message);
  line += '\n';
  const char* data = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, data, left);
    if (n <= 0) return;  // nowhere to report a failing stderr
    data += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace lookout::log
