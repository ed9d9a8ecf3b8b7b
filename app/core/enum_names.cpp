#include "core/enum_names.hpp"

#include <algorithm>
#include <cctype>

namespace lookout {

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::optional<std::string_view> closest_name(std::string_view got,
                                             const std::vector<std::string_view>& candidates) {
  // Long inputs are not typos of short names; skip the quadratic work too.
  if (got.size() > 64) return std::nullopt;
  const std::string wanted = lower(got);
  std::optional<std::string_view> best;
  std::size_t best_distance = 3;
  for (const auto candidate : candidates) {
    const std::size_t d = edit_distance(wanted, lower(candidate));
    if (d < best_distance && d < candidate.size()) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

void append_hex_escape(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xF];
}

std::string printable(std::string_view text, std::size_t limit) {
  std::string out;
  out.reserve(std::min(text.size(), limit) + 3);
  for (const char c : text) {
    if (out.size() >= limit) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7F) {
      append_hex_escape(out, u);
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> text_fault(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto hex = [](unsigned u) {
    return std::string("0x") + kHex[(u >> 4) & 0xF] + kHex[u & 0xF];
  };
  const auto at = [](std::size_t i) { return " at offset " + std::to_string(i); };
  std::size_t i = 0;
  while (i < text.size()) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (u < 0x80) {
      if (u < 0x20 || u == 0x7F) return "a control character (" + hex(u) + ")" + at(i);
      ++i;
      continue;
    }
    // The length of the sequence and the bounds of its first continuation
    // byte (which exclude overlong forms, surrogates and values past U+10FFFF).
    std::size_t length = 0;
    unsigned low = 0x80, high = 0xBF;
    if (u >= 0xC2 && u <= 0xDF) {
      length = 2;
    } else if (u >= 0xE0 && u <= 0xEF) {
      length = 3;
      if (u == 0xE0) low = 0xA0;
      if (u == 0xED) high = 0x9F;
    } else if (u >= 0xF0 && u <= 0xF4) {
      length = 4;
      if (u == 0xF0) low = 0x90;
      if (u == 0xF4) high = 0x8F;
    } else {
      return "byte " + hex(u) + at(i) + " is not valid UTF-8";
    }
    if (i + length > text.size()) return "byte " + hex(u) + at(i) + " is not valid UTF-8";
    for (std::size_t k = 1; k < length; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      if (c < (k == 1 ? low : 0x80) || c > (k == 1 ? high : 0xBF)) {
        return "byte " + hex(u) + at(i) + " is not valid UTF-8";
      }
    }
    // C1 controls, U+0080..U+009F: 0xC2 0x80..0x9F.
    if (u == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) {
      return "a control character (U+00" + hex(static_cast<unsigned char>(text[i + 1])).substr(2) +
             ")" + at(i);
    }
    i += length;
  }
  return std::nullopt;
}

std::string join_names(const std::vector<std::string_view>& names, std::string_view separator) {
  std::string out;
  for (const auto name : names) {
    if (!out.empty()) out += separator;
    out += name;
  }
  return out;
}

std::string expected_one_of(const std::vector<std::string_view>& names, std::string_view got) {
  std::string message = "expected one of: " + join_names(names) + "; got '" + printable(got) + "'";
  if (const auto suggestion = closest_name(got, names)) {
    message += " (did you mean '" + std::string(*suggestion) + "'?)";
  }
  return message;
}

}  // namespace lookout
