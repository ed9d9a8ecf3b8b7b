// Closed sets of values are enums, and each has exactly one name table. The
// table is the only place a value's name is written: the configuration
// reader, the command line (app/lookout, app/lookoutd), the protocol, logs and
// error messages ("expected one of: ...", with a suggestion) all take names
// from it, so adding a value is one row.
//
// A closed set declares its table next to the enum, in the same header:
//
//   enum class Backend { Auto, OneDnn, Blas, Xnnpack };
//   template <>
//   struct EnumTable<Backend> {
//     static constexpr std::array<EnumName<Backend>, 4> entries{{
//         {Backend::Auto, "auto"}, {Backend::OneDnn, "onednn"}, ...}};
//   };
//
// The order of the rows is the order names are listed in (help texts, "one of"
// messages). Plain functions over constant tables; any thread.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lookout {

template <typename E>
struct EnumName {
  E value;
  std::string_view name;
};

// Specialised for every closed set, with `static constexpr std::array<EnumName<E>, N> entries`.
template <typename E>
struct EnumTable;

// The value's name; "?" for a value outside the table (a cast from a wrong
// integer), which a test of every table rules out.
template <typename E>
constexpr std::string_view enum_name(E value) {
  for (const auto& entry : EnumTable<E>::entries) {
    if (entry.value == value) return entry.name;
  }
  return "?";
}

// The value named exactly `name` (names are case-sensitive, as in the files
// users write; suggestions below catch case slips).
template <typename E>
constexpr std::optional<E> enum_from_name(std::string_view name) {
  for (const auto& entry : EnumTable<E>::entries) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

template <typename E>
std::vector<std::string_view> enum_names() {
  std::vector<std::string_view> names;
  names.reserve(EnumTable<E>::entries.size());
  for (const auto& entry : EnumTable<E>::entries) names.push_back(entry.name);
  return names;
}

// Levenshtein distance (insertions, deletions, substitutions).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate `got` was most likely meant to be: a case-insensitive edit
// distance of at most 2 (and less than the candidate's length, so "x" never
// suggests "auto"). nullopt when nothing is that close.
std::optional<std::string_view> closest_name(std::string_view got,
                                             const std::vector<std::string_view>& candidates);

// `text` for an error message or a log line: control characters escaped
// (\n, \t, \xNN) and at most `limit` bytes kept ("..." marks a cut), so
// nothing a user or a client wrote can break a line or flood a log.
std::string printable(std::string_view text, std::size_t limit = 80);

// Appends byte `c` as "\xNN" (lower-case hex): how printable() and the log
// show a control character.
void append_hex_escape(std::string& out, unsigned char c);

// Why `text` is not clean text: the first byte that is not valid UTF-8, or
// the first control character (C0, DEL or C1; tabs included), e.g. "byte
// 0xe9 at offset 3 is not valid UTF-8"; nullopt when it is clean. Names,
// paths and other text from configuration files must be clean, as they end
// up in log lines, sd_notify messages and JSON.
std::optional<std::string> text_fault(std::string_view text);

// "a, b, c".
std::string join_names(const std::vector<std::string_view>& names,
                       std::string_view separator = ", ");

// "expected one of: a, b, c; got 'x'" plus " (did you mean 'b'?)" when one is close.
std::string expected_one_of(const std::vector<std::string_view>& names, std::string_view got);

template <typename E>
std::string expected_one_of(std::string_view got) {
  return expected_one_of(enum_names<E>(), got);
}

}  // namespace lookout
