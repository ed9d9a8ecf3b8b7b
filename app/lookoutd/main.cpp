// lookoutd: the detection daemon. See app/config/lookout.yaml for its
// configuration and app/daemon/PROTOCOL.md for what clients receive.
//
// Exit codes: 0 stopped by SIGTERM/SIGINT; 1 a runtime failure (e.g. the TCP
// port is in use); 78 (EX_CONFIG) a bad configuration or model, which the
// systemd unit does not restart on (RestartPreventExitStatus=78).
#include <csignal>
#include <cstdio>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "core/log.hpp"
#include "core/version.hpp"
#include "daemon/daemon.hpp"
#include "drivers/source.hpp"
#include "engine/engine.hpp"

namespace {

constexpr int kExitConfig = 78;

void report(const lookout::ConfigError& e) {
  for (const auto& problem : e.problems()) lookout::log::error(problem);
}

// A setting's value for the summary: strings bare, everything else as JSON.
std::string shown(const nlohmann::json& value) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    return text.empty() ? "\"\"" : text;
  }
  if (value.is_number_float()) return lookout::config::detail::format_real(value.get<double>());
  return value.dump();
}

int check(const std::string& path) {
  try {
    const lookout::Config config = lookout::load_config_file(path);
    const lookout::CheckedConfig checked = lookout::check_config(config);
    const lookout::ModelInfo& model = checked.model;
    // The summary is built first and printed whole at the end, after
    // everything that can fail: OK is never followed by an error.
    std::ostringstream out;
    out << path << ": OK\n"
        << "  camera  " << config.camera << "\n"
        << "  source  " << lookout::enum_name(config.source.type) << " " << config.source.width
        << "x" << config.source.height << " at " << config.source.fps << " fps\n"
        << "  model   " << model.name << " (" << model.class_names.size() << " classes, input "
        << model.input_width << "x" << model.input_height << ") from "
        << config.model.engine.model_path << "\n";
    if (config.publish.tcp.enabled) {
      out << "  tcp     " << config.publish.tcp.bind << ":" << config.publish.tcp.port
          << (config.publish.tcp.token.empty() ? "" : " (token required)") << "\n";
    }
    if (config.publish.unix_socket.enabled) {
      out << "  unix    " << config.publish.unix_socket.path << "\n";
    }
    // Every setting the file changes, from the schema's rows: the keys it
    // writes with a value other than the default (as resolved: a model path
    // is shown where it was found).
    std::vector<lookout::config::Change> changed;
    for (auto& change : lookout::plan_reload(lookout::Config{}, config).changes) {
      if (config.locations.written(change.key)) changed.push_back(std::move(change));
    }
    if (changed.empty()) {
      out << "  every setting has its default\n";
    } else {
      out << "  settings other than the defaults:\n";
      for (const auto& change : changed) {
        out << "    " << change.key << ": " << shown(change.after) << " (default "
            << shown(change.before) << ")\n";
      }
    }
    std::cout << out.str();
    for (const auto& warning : checked.warnings) {
      lookout::log::warning(warning, " (here, as this user; it may work where lookoutd runs)");
    }
    return 0;
  } catch (const lookout::ConfigError& e) {
    report(e);
  } catch (const std::exception& e) {
    lookout::log::error(path, ": ", e.what());
  }
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "lookoutd: captures frames, detects objects and streams the detections to clients "
      "(protocol lookout/1, JSON lines over TCP and a Unix socket)."};
  std::string config_path;
  std::string check_path;
  bool print_default = false;
  auto* config_option =
      app.add_option("-c,--config", config_path,
                     "Configuration file (YAML). Without it, the embedded default runs: synthetic "
                     "scenes, the shipped model, TCP port 7878.");
  auto* check_option = app.add_option(
      "--check-config", check_path,
      "Validate FILE (and load its model) without starting, then exit: 0 when valid.");
  app.add_flag("--print-default-config", print_default,
               "Print the embedded default configuration (every key, documented) and exit.");
  // Internal: lookoutd runs itself with this to read a model file in a
  // separate process before loading it (EngineOptions::probe_command).
  std::string probe_path;
  auto* probe_option = app.add_option("--probe-model", probe_path)->group("");
  app.set_version_flag("-V,--version", std::string("lookoutd ") + lookout::kVersion);
  CLI11_PARSE(app, argc, argv);
  if (*probe_option) return lookout::probe_model_file(probe_path);

  if (print_default) {
    std::cout << lookout::default_config_text();
    return 0;
  }
  // Given is what counts, not empty: `--check-config "$UNSET"` must check
  // (and fail), never start the daemon on the embedded default.
  if (*check_option) return check(check_path);
  if (*config_option && config_path.empty()) {
    lookout::log::error("--config: the file name is empty");
    return kExitConfig;
  }

  // Clients that vanish must not kill us; Asio reports EPIPE instead.
  std::signal(SIGPIPE, SIG_IGN);
  lookout::Config config;
  try {
    config = config_path.empty() ? lookout::load_default_config()
                                 : lookout::load_config_file(config_path);
  } catch (const lookout::ConfigError& e) {
    report(e);
    return kExitConfig;
  }
  try {
    lookout::Daemon daemon(std::move(config), config_path);
    return daemon.run();
  } catch (const lookout::ConfigError& e) {
    report(e);
    return kExitConfig;
  } catch (const lookout::ModelError& e) {
    lookout::log::error(e.what());
    return kExitConfig;
  } catch (const lookout::SourceError& e) {
    lookout::log::error(e.what());
    return kExitConfig;
  } catch (const std::exception& e) {
    lookout::log::error(e.what());
    return 1;
  }
}
