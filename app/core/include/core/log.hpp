// Logging to stderr with the "<N>" severity prefixes that journald (and
// sd-daemon(3)) understand, so `journalctl -p warning` works for lookoutd.
// On a terminal the prefix is replaced by a readable tag.
//
// Threads: any thread may log, without ever blocking on stderr; messages
// are written whole and in order, so lines from different threads never
// interleave.
#pragma once

#include <chrono>
#include <sstream>
#include <string>
#include <string_view>

#include "core/enum_names.hpp"

namespace lookout::log {

// Values are syslog priorities.
enum class Level { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

}  // namespace lookout::log

namespace lookout {
template <>
struct EnumTable<log::Level> {
  static constexpr std::array<EnumName<log::Level>, 5> entries{{
      {log::Level::Error, "error"},
      {log::Level::Warning, "warning"},
      {log::Level::Notice, "notice"},
      {log::Level::Info, "info"},
      {log::Level::Debug, "debug"},
  }};
};
}  // namespace lookout

namespace lookout::log {

// Messages above this level are dropped. Default Info.
void set_level(Level level);
Level level();

// Writes one message to stderr, at once when stderr takes it without
// waiting; otherwise it queues for a writer thread (log.cpp), so a blocked
// journal never blocks the caller; when it stays blocked, lines are dropped
// and counted. Never blocks.
void write(Level level, std::string_view message);

// Waits until every queued line is written, at most `timeout`; false on
// timeout. Runs by itself at exit (2 s at most); tests that capture stderr
// call it before they look.
bool flush(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& out, const T& first, const Rest&... rest) {
  out << first;
  append(out, rest...);
}
}  // namespace detail

template <typename... Args>
void message(Level lvl, const Args&... args) {
  if (static_cast<int>(lvl) > static_cast<int>(level())) return;
  std::ostringstream out;
  detail::append(out, args...);
  write(lvl, out.str());
}

template <typename... Args>
void error(const Args&... args) {
  message(Level::Error, args...);
}
template <typename... Args>
void warning(const Args&... args) {
  message(Level::Warning, args...);
}
template <typename... Args>
void notice(const Args&... args) {
  message(Level::Notice, args...);
}
template <typename... Args>
void info(const Args&... args) {
  message(Level::Info, args...);
}
template <typename... Args>
void debug(const Args&... args) {
  message(Level::Debug, args...);
}

}  // namespace lookout::log
