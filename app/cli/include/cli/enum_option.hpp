// Command-line options whose value is one of a closed set: the allowed names,
// the check, the error message ("expected one of: ...", with a suggestion)
// and the help text all come from the enum's name table
// (core/enum_names.hpp), like the configuration file's. For CLI11, which both
// executables use.
#pragma once

#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "core/enum_names.hpp"

namespace lookout::cli {

namespace detail {
// `auto_name` (when given) is accepted before the enum's own names.
template <typename E>
CLI::Validator enum_validator(std::optional<std::string> auto_name) {
  const auto names = [auto_name] {
    std::vector<std::string_view> out;
    if (auto_name) out.emplace_back(*auto_name);
    for (const auto name : enum_names<E>()) out.push_back(name);
    return out;
  };
  return CLI::Validator(
      [auto_name, names](std::string& text) -> std::string {
        if ((auto_name && text == *auto_name) || enum_from_name<E>(text)) return {};
        return expected_one_of(names(), text);
      },
      "{" + join_names(names(), ",") + "}");
}
}  // namespace detail

// --name VALUE, stored into `value` (whose current value is the default shown).
template <typename E>
CLI::Option* add_enum_option(CLI::App& app, const std::string& name, E& value,
                             const std::string& description) {
  auto* option = app.add_option_function<std::string>(
      name, [&value](const std::string& text) { value = *enum_from_name<E>(text); }, description);
  option->check(detail::enum_validator<E>(std::nullopt));
  option->default_str(std::string(enum_name(value)));
  return option;
}

// The same for a preference where `auto_name` (e.g. "auto") means "no
// preference" (nullopt).
template <typename E>
CLI::Option* add_enum_option(CLI::App& app, const std::string& name, std::optional<E>& value,
                             const std::string& auto_name, const std::string& description) {
  auto* option = app.add_option_function<std::string>(
      name,
      [&value, auto_name](const std::string& text) {
        value = text == auto_name ? std::nullopt : enum_from_name<E>(text);
      },
      description);
  option->check(detail::enum_validator<E>(auto_name));
  option->default_str(value ? std::string(enum_name(*value)) : auto_name);
  return option;
}

}  // namespace lookout::cli
