// The schema machinery (config/schema.hpp) with tables of the test's own, so
// that what it does for lookoutd's keys is shown for any table: reading with
// every kind of problem, describing, listing, planning a reload, and that
// adding a key is one row plus the member.
#include "config/schema.hpp"

#include <optional>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace lookout {

enum class Colour { Red, Green, Blue };

template <>
struct EnumTable<Colour> {
  static constexpr std::array<EnumName<Colour>, 3> entries{{
      {Colour::Red, "red"},
      {Colour::Green, "green"},
      {Colour::Blue, "blue"},
  }};
};

namespace {

using config::Restart;

struct Inner {
  int depth = 1;
  std::string label = "x";
};

struct Settings {
  int rate = 5;
  bool on = false;
  Colour colour = Colour::Red;
  std::optional<Colour> tint;
  std::vector<int> sizes;
  double ratio = 0.5;
  float score = 0.45f;
  std::string secret;
  std::uint64_t seed = 1;
  Inner inner;
  int added = 7;  // a member only the extended table has a row for
};

const config::Section<Inner>& inner_schema() {
  static const config::Section<Inner> schema{
      {
          config::field("depth", &Inner::depth, config::Integer<int>{0, 9}, Restart::Listener,
                        "how deep"),
          config::field("label", &Inner::label, config::Text{8}, Restart::Nothing, "a label"),
      },
      [](config::Reader& reader, const Inner& inner, const std::string& path) {
        if (inner.depth == 0 && inner.label.empty()) {
          reader.problem(reader.locations().of(path + ".label"), "needed at depth 0");
        }
      }};
  return schema;
}

std::vector<config::Field<Settings>> base_rows() {
  using S = Settings;
  return {
      config::field("rate", &S::rate, config::Integer<int>{1, 100}, Restart::Source, "a rate"),
      config::field("on", &S::on, config::Boolean{}, Restart::Nothing, "a switch"),
      config::field("colour", &S::colour, config::Choice<Colour>{}, Restart::Engine, "a colour"),
      config::field("tint", &S::tint, config::ChoiceOr<Colour>{"none"}, Restart::Nothing,
                    "a colour or none"),
      config::field("sizes", &S::sizes, config::ListOf<config::Integer<int>>{{0, 10}},
                    Restart::Nothing, "sizes"),
      config::field("ratio", &S::ratio, config::Real<double>{0, 1}, Restart::Nothing, "a ratio"),
      config::field("score", &S::score, config::Real<float>{0, 1}, Restart::Nothing, "a score"),
      config::field("secret", &S::secret, config::Text{16, true}, Restart::Output, "a secret"),
      config::field("seed", &S::seed,
                    config::Integer<std::uint64_t>{0, std::numeric_limits<std::uint64_t>::max()},
                    Restart::Nothing, "a seed"),
      config::section("inner", &S::inner, inner_schema(), "a section"),
  };
}

const config::Section<Settings>& base_schema() {
  static const config::Section<Settings> schema{base_rows(), nullptr};
  return schema;
}

// The same table with one row more: all it takes to add a key.
const config::Section<Settings>& extended_schema() {
  static const config::Section<Settings> schema{
      [] {
        auto rows = base_rows();
        rows.push_back(config::field("added", &Settings::added, config::Integer<int>{0, 100},
                                     Restart::Engine, "the new key"));
        return rows;
      }(),
      nullptr};
  return schema;
}

std::vector<std::string> problems(const config::Section<Settings>& schema,
                                  const std::string& text) {
  try {
    config::parse_with(schema, text, "t.yaml");
  } catch (const ConfigError& e) {
    return e.problems();
  }
  return {};
}

std::string only(const std::string& text) {
  const auto p = problems(base_schema(), text);
  REQUIRE(p.size() == 1);
  return p[0];
}

}  // namespace

TEST_CASE("a table reads every key; keys not written keep the members' defaults") {
  const Settings s = config::parse_with(base_schema(), R"(
rate: 42
on: Yes
colour: blue
tint: green
sizes: [1, 2, 3]
ratio: 0.125
score: 0.3
secret: hush
seed: 18446744073709551615
inner:
  depth: 3
)",
                                        "t.yaml");
  CHECK(s.rate == 42);
  CHECK(s.on);
  CHECK(s.colour == Colour::Blue);
  CHECK(s.tint == Colour::Green);
  CHECK(s.sizes == std::vector<int>{1, 2, 3});
  CHECK(s.ratio == 0.125);
  CHECK(s.score == doctest::Approx(0.3));
  CHECK(s.secret == "hush");
  CHECK(s.seed == std::numeric_limits<std::uint64_t>::max());
  CHECK(s.inner.depth == 3);
  CHECK(s.inner.label == "x");  // not written: the default
  const Settings none = config::parse_with(base_schema(), "tint: none\nsizes:\n", "t.yaml");
  CHECK_FALSE(none.tint);
  CHECK(none.sizes.empty());
  const Settings empty = config::parse_with(base_schema(), "", "t.yaml");
  CHECK(empty.rate == 5);
  CHECK(empty.colour == Colour::Red);
}

TEST_CASE("every kind of problem, with file, line, column and key") {
  CHECK(only("rte: 1\n") == "t.yaml:1:1: rte: unknown key (did you mean 'rate'?)");
  CHECK(only("zzz: 1\n") == "t.yaml:1:1: zzz: unknown key");
  CHECK(only("rate: 1\nrate: 2\n") == "t.yaml:2:1: rate: duplicate key");
  CHECK(only("[a]: 1\n") == "t.yaml:1:1: (top level): keys must be plain names, got a list");
  CHECK(only("rate: fast\n") == "t.yaml:1:7: rate: expected an integer, got 'fast'");
  CHECK(only("rate: 1.5\n") == "t.yaml:1:7: rate: expected an integer, got '1.5'");
  CHECK(only("rate: 0\n") == "t.yaml:1:7: rate: must be between 1 and 100, got 0");
  CHECK(only("rate: 99999999999999999999\n") ==
        "t.yaml:1:7: rate: must be between 1 and 100, got 99999999999999999999");
  CHECK(only("seed: -1\n") == "t.yaml:1:7: seed: expected an integer, got '-1'");
  CHECK(only("rate:\n") == "t.yaml:1:1: rate: expected an integer, got nothing");
  CHECK(only("on: maybe\n") == "t.yaml:1:5: on: expected true or false, got 'maybe'");
  CHECK(only("colour: bleu\n") ==
        "t.yaml:1:9: colour: expected one of: red, green, blue; got 'bleu' (did you mean "
        "'blue'?)");
  CHECK(only("tint: nothing\n") ==
        "t.yaml:1:7: tint: expected one of: none, red, green, blue; got 'nothing'");
  CHECK(only("sizes: 3\n") == "t.yaml:1:8: sizes: expected a list, got '3'");
  CHECK(only("sizes: [1, 20]\n") == "t.yaml:1:12: sizes[1]: must be between 0 and 10, got 20");
  CHECK(only("ratio: 2\n") == "t.yaml:1:8: ratio: must be between 0 and 1, got 2");
  CHECK(only("ratio: 1e999\n") == "t.yaml:1:8: ratio: expected a number, got '1e999'");
  CHECK(only("ratio: nan\n") == "t.yaml:1:8: ratio: expected a number, got 'nan'");
  CHECK(only("secret: " + std::string(17, 's') + "\n") ==
        "t.yaml:1:9: secret: must be at most 16 characters");
  CHECK(only("secret: {a: 1}\n") == "t.yaml:1:9: secret: expected a string, got a mapping");
  CHECK(only("inner: 3\n") == "t.yaml:1:8: inner: expected a mapping, got '3'");
  CHECK(only("inner:\n  dept: 1\n") ==
        "t.yaml:2:3: inner.dept: unknown key (did you mean 'depth'?)");
  CHECK(only("- 1\n") ==
        "t.yaml:1:1: expected a mapping of keys (rate, on, colour, ...), got a list");
  CHECK(only("rate: [unclosed\n").rfind("t.yaml:2:1: not valid YAML: ", 0) == 0);
  // A section's own rule, reported at the key it is about (or the section).
  CHECK(only("inner:\n  depth: 0\n  label: \"\"\n") ==
        "t.yaml:3:10: inner.label: needed at depth 0");
  CHECK(only("inner:\n  depth: 0\n  label:\n") == "t.yaml:3:3: inner.label: needed at depth 0");
  // What a user wrote is quoted printable and bounded.
  const std::string p = only("colour: \"a\\nb" + std::string(300, 'c') + "\"\n");
  CHECK(p.find('\n') == std::string::npos);
  CHECK(p.size() < 200);
}

TEST_CASE("all problems of a file come at once, in file order") {
  const auto p = problems(base_schema(), "zzz: 1\nrate: 0\ninner:\n  depth: 10\non: 3\n");
  REQUIRE(p.size() == 4);
  CHECK(p[0] == "t.yaml:1:1: zzz: unknown key");
  CHECK(p[1] == "t.yaml:2:7: rate: must be between 1 and 100, got 0");
  CHECK(p[2] == "t.yaml:4:10: inner.depth: must be between 0 and 9, got 10");
  CHECK(p[3] == "t.yaml:5:5: on: expected true or false, got '3'");
}

TEST_CASE("adding a key is one row: read, described, listed and planned with no other edit") {
  const std::string text = "rate: 3\nadded: 11\n";
  // Without the row the key is unknown (and suggested from the rows there are).
  REQUIRE(problems(base_schema(), text).size() == 1);
  CHECK(problems(base_schema(), text)[0] == "t.yaml:2:1: added: unknown key");
  // With it, it is read...
  const Settings a = config::parse_with(extended_schema(), text, "t.yaml");
  CHECK(a.added == 11);
  CHECK(problems(extended_schema(), "aded: 1\n")[0] ==
        "t.yaml:1:1: aded: unknown key (did you mean 'added'?)");
  CHECK(problems(extended_schema(), "added: 101\n")[0] ==
        "t.yaml:1:8: added: must be between 0 and 100, got 101");
  // ...described...
  CHECK(config::to_json(extended_schema(), a).at("added") == 11);
  CHECK_FALSE(config::to_json(base_schema(), a).contains("added"));
  // ...listed with its default, type and description...
  const auto keys = config::list_keys(extended_schema());
  const auto it = std::find_if(keys.begin(), keys.end(),
                               [](const config::KeyInfo& k) { return k.key == "added"; });
  REQUIRE(it != keys.end());
  CHECK(it->default_value == 7);
  CHECK(it->type == "integer 0 .. 100");
  CHECK(it->description == "the new key");
  CHECK(it->restart == Restart::Engine);
  // ...and a reload that changes it restarts what its row says.
  const Settings b = config::parse_with(extended_schema(), "rate: 3\nadded: 12\n", "t.yaml");
  const auto plan = config::plan_reload(extended_schema(), a, b);
  REQUIRE(plan.changes.size() == 1);
  CHECK(plan.changes[0].key == "added");
  CHECK(plan.changes[0].before == 11);
  CHECK(plan.changes[0].after == 12);
  CHECK(plan.restarts(Restart::Engine));
  CHECK_FALSE(plan.restarts(Restart::Source));
  // The table without the row does not see the change at all.
  CHECK(config::plan_reload(base_schema(), a, b).empty());
}

TEST_CASE("a reload plan names changed keys, nested ones by their path, and their parts") {
  const Settings a = config::parse_with(base_schema(), "", "a.yaml");
  const Settings b = config::parse_with(
      base_schema(), "rate: 6\ninner:\n  depth: 2\n  label: y\nsecret: s\nscore: 0.5\n", "b.yaml");
  const auto plan = config::plan_reload(base_schema(), a, b);
  REQUIRE(plan.changes.size() == 5);
  CHECK(plan.changes[0].key == "rate");
  CHECK(plan.changes[1].key == "score");
  CHECK(plan.changes[1].before == 0.45);  // floats as written, not 0.449999988
  CHECK(plan.changes[2].key == "secret");
  CHECK(plan.changes[2].after == "(set)");  // never the secret itself
  CHECK(plan.changes[3].key == "inner.depth");
  CHECK(plan.changes[3].section == "inner");
  CHECK(plan.changes[4].key == "inner.label");
  CHECK(plan.restarts(Restart::Source));
  CHECK(plan.restarts(Restart::Output, ""));
  CHECK(plan.restarts(Restart::Listener, "inner"));
  CHECK_FALSE(plan.restarts(Restart::Listener, "outer"));
  CHECK_FALSE(plan.restarts(Restart::Engine));
  CHECK(plan.summary() == "source, listener inner, output");
  CHECK(config::plan_reload(base_schema(), b, b).empty());
}

TEST_CASE("describe shows every key, secrets masked, floats as written") {
  Settings s;
  s.secret = "hush";
  const auto j = config::to_json(base_schema(), s);
  CHECK(j.at("secret") == "(set)");
  CHECK(j.at("score") == 0.45);
  CHECK(j.at("tint") == "none");
  CHECK(j.at("colour") == "red");
  CHECK(j.at("inner").at("label") == "x");
  CHECK(j.dump().find("hush") == std::string::npos);
  s.secret.clear();
  CHECK(config::to_json(base_schema(), s).at("secret") == "");
}

TEST_CASE("locations fall back to the enclosing section, then the file") {
  config::Locations locations("f.yaml");
  locations.record({"f.yaml", 3, 3, "a"});
  locations.record({"f.yaml", 5, 7, "a.b"});
  CHECK(locations.of("a.b").format("m") == "f.yaml:5:7: a.b: m");
  CHECK(locations.of("a.c").format("m") == "f.yaml:3:3: a.c: m");
  CHECK(locations.of("a.b[2]").format("m") == "f.yaml:5:7: a.b[2]: m");
  CHECK(locations.of("z.y").format("m") == "f.yaml: z.y: m");
  CHECK(locations.written("a.b"));
  CHECK_FALSE(locations.written("a.c"));
}

TEST_CASE("restart names come from their table") {
  CHECK(config::restart_names(Restart::Nothing) == "nothing");
  CHECK(config::restart_names(Restart::Source | Restart::Engine) == "source, engine");
  CHECK(enum_name(Restart::Listener) == "listener");
}

}  // namespace lookout
