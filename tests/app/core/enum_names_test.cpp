// The name tables of the closed sets in lookout_core, and the helpers that
// turn them into parsing, listing and "expected one of" messages.
#include "core/enum_names.hpp"

#include <set>
#include <string>

#include <doctest/doctest.h>

#include "core/frame.hpp"
#include "core/log.hpp"
#include "core/source_config.hpp"

namespace lookout {
namespace {

// Every row round-trips, names and values are unique, and a value outside the
// table has no name.
template <typename E>
void check_table(std::size_t expected_rows) {
  const auto& entries = EnumTable<E>::entries;
  CHECK(entries.size() == expected_rows);
  std::set<std::string_view> names;
  std::set<int> values;
  for (const auto& entry : entries) {
    CHECK(enum_name(entry.value) == entry.name);
    CHECK(enum_from_name<E>(entry.name) == entry.value);
    CHECK_FALSE(entry.name.empty());
    names.insert(entry.name);
    values.insert(static_cast<int>(entry.value));
  }
  CHECK(names.size() == entries.size());
  CHECK(values.size() == entries.size());
  CHECK(enum_name(static_cast<E>(1000)) == "?");
  CHECK_FALSE(enum_from_name<E>("no such name"));
}

TEST_CASE("the core name tables are complete and unambiguous") {
  check_table<PixelFormat>(7);
  check_table<log::Level>(5);
  check_table<SourceType>(6);
  CHECK(to_string(PixelFormat::NV12) == "NV12");
  CHECK(pixel_format_from_string("MJPEG") == PixelFormat::MJPEG);
  CHECK_FALSE(pixel_format_from_string("mjpeg"));  // names are exact
  CHECK(join_names(enum_names<SourceType>()) == "synthetic, files, v4l2, libcamera, stream, auto");
}

TEST_CASE("'expected one of' lists the table and suggests the closest name") {
  CHECK(expected_one_of<SourceType>("webcam") ==
        "expected one of: synthetic, files, v4l2, libcamera, stream, auto; got 'webcam'");
  CHECK(expected_one_of<SourceType>("v4l") ==
        "expected one of: synthetic, files, v4l2, libcamera, stream, auto; got 'v4l' (did you mean "
        "'v4l2'?)");
  // A case slip is suggested too.
  CHECK(expected_one_of<PixelFormat>("nv12").find("(did you mean 'NV12'?)") != std::string::npos);
  CHECK(expected_one_of<log::Level>("warn").find("(did you mean 'warning'?)") == std::string::npos);
  CHECK(closest_name("warnin", enum_names<log::Level>()) == std::string_view("warning"));
  // Nothing far away, and nothing from an input that is mostly not a name.
  CHECK_FALSE(closest_name("x", {"auto", "blas"}));
  CHECK_FALSE(closest_name("ab", {"auto", "blas"}));
  CHECK_FALSE(closest_name(std::string(1000, 'a'), {"auto"}));
}

TEST_CASE("what a user wrote is quoted printable and bounded") {
  CHECK(printable("plain") == "plain");
  CHECK(printable("two\nlines\tand\x01") == "two\\nlines\\tand\\x01");
  const std::string quoted = expected_one_of<SourceType>(std::string(5000, 'z') + "\n");
  CHECK(quoted.size() < 200);
  CHECK(quoted.find('\n') == std::string::npos);
  CHECK(printable(std::string(100, 'a'), 10) == "aaaaaaaaaa...");
}

TEST_CASE("edit distance") {
  CHECK(edit_distance("", "") == 0);
  CHECK(edit_distance("port", "prot") == 2);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("abc", "") == 3);
}

}  // namespace
}  // namespace lookout

TEST_CASE("text_fault finds the first byte that is not clean UTF-8 text") {
  using lookout::text_fault;
  CHECK_FALSE(text_fault(""));
  CHECK_FALSE(text_fault("porch camera"));
  CHECK_FALSE(text_fault("Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x88"));  // é € and a cat
  CHECK(text_fault("caf\xe9") == "byte 0xe9 at offset 3 is not valid UTF-8");
  CHECK(text_fault("a\nb") == "a control character (0x0a) at offset 1");
  CHECK(text_fault("tab\there") == "a control character (0x09) at offset 3");
  CHECK(text_fault(std::string("nul\0x", 5)) == "a control character (0x00) at offset 3");
  CHECK(text_fault("del\x7f") == "a control character (0x7f) at offset 3");
  CHECK(text_fault("c1 \xc2\x85") == "a control character (U+0085) at offset 3");
  CHECK(text_fault("\xc0\xaf") == "byte 0xc0 at offset 0 is not valid UTF-8");      // overlong '/'
  CHECK(text_fault("\xe0\x80\xaf") == "byte 0xe0 at offset 0 is not valid UTF-8");  // overlong
  CHECK(text_fault("\xed\xa0\x80") == "byte 0xed at offset 0 is not valid UTF-8");  // a surrogate
  CHECK(text_fault("\xf4\x90\x80\x80") ==
        "byte 0xf4 at offset 0 is not valid UTF-8");                              // > U+10FFFF
  CHECK(text_fault("ok\xe2\x82") == "byte 0xe2 at offset 2 is not valid UTF-8");  // cut short
  CHECK(text_fault("\x80") == "byte 0x80 at offset 0 is not valid UTF-8");
}
