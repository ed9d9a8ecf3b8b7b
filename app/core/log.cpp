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

void set_level(Level level) {
  g_level.store(static_cast<int>(level));
}

Level level() {
  return static_cast<Level>(g_level.load());
}

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
