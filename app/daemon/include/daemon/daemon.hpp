// Daemon: lookoutd itself. Wires the configuration to the engine, the frame
// source, the pipeline and the server; handles signals (SIGTERM/SIGINT stop,
// SIGHUP reloads) and talks to systemd (readiness after model warm-up,
// watchdog fed only while the pipeline makes progress).
//
// Ownership: the Daemon owns the io_context, the server and the pipeline
// (which owns the engine and source), all behind its implementation.
//
// Threads:
//  * the thread calling run() runs the io_context: signals, timers, every
//    client session (the "I/O thread");
//  * the pipeline's capture and inference threads; the inference thread
//    serializes each result once and posts it to the I/O thread;
//  * a reload worker per SIGHUP: parses the file, loads a new model, binds new
//    addresses, and only when all of that worked swaps them in. A bad file is
//    rejected and the running configuration stays. What a reload restarts is
//    computed from the configuration schema (config::plan_reload).
#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "engine/engine.hpp"

namespace lookout {

// What --check-config does beyond parsing: loads the model (without warm-up),
// checks the class names against it and the source settings against the
// driver, and what listening would meet here. Throws ConfigError, ModelError
// or SourceError for what fails wherever lookoutd runs.
struct CheckedConfig {
  ModelInfo model;
  // What fails here but may work where lookoutd really runs, as another user,
  // with systemd's RuntimeDirectory, once the network is up (the socket's
  // directory missing or not writable, a port this user may not take, an
  // address this machine lacks now), each at its key. A start refuses the
  // Unix socket ones (exit 78) and fails on the others.
  std::vector<std::string> warnings;
};
CheckedConfig check_config(const Config& config);

class Daemon {
 public:
  // Loads and warms up the model, builds the source, opens the listeners and
  // starts the pipeline. `config_path` is re-read on SIGHUP (empty: the
  // embedded default, which cannot be reloaded). Throws ConfigError,
  // ModelError, SourceError, or std::runtime_error (an address in use).
  Daemon(Config config, std::string config_path);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Tells systemd it is ready and serves until SIGTERM or SIGINT. Returns the
  // process exit code.
  int run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lookout
