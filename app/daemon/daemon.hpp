// Daemon: lookoutd itself. Wires the configuration to the engine, the frame
// source, the pipeline and the server; handles signals (SIGTERM/SIGINT stop,
// SIGHUP reloads) and talks to systemd (readiness after model warm-up,
// watchdog fed only while the pipeline makes progress).
//
// Ownership: the Daemon owns the io_context, the server and the pipeline
// (which owns the engine and source). Declaration order makes the io_context
// outlive everything that holds handlers on it.
//
// Threads:
//  * the thread calling run() runs the io_context: signals, timers, every
//    client session (the "I/O thread");
//  * the pipeline's capture and inference threads; the inference thread
//    serializes each result once and posts it to the I/O thread;
//  * a reload worker per SIGHUP: parses the file, loads a new model, binds new
//    addresses, and only when all of that worked swaps them in. A bad file is
//    rejected and the running configuration stays.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/config.hpp"
#include "daemon/pipeline.hpp"
#include "daemon/server.hpp"
#include "engine/engine.hpp"

namespace lookout {

// The engine options a configuration asks for.
EngineOptions engine_options(const Config& config, bool warm_up = true);

// The per-frame settings for a loaded model: class names in model.classes and
// model.class_conf become ids. Throws ConfigError naming the key when a name
// is not one of the model's classes, or the model is not a detector.
PipelineSettings pipeline_settings(const Config& config, const ModelInfo& model);

// What --check-config does beyond parsing: loads the model (without warm-up),
// checks the class names against it and the source settings against the
// driver. Returns the model's info. Throws ConfigError, ModelError or SourceError.
ModelInfo check_config(const Config& config);

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
  void wait_for_signal();
  void shutdown(const char* why);
  void request_reload();
  void reload_worker(Config current);
  void reload_finished(bool ok, const std::string& message);
  void schedule_stats();
  void send_stats();
  void schedule_watchdog();
  protocol::HelloInfo hello_info() const;
  void log_summary(bool final_line);

  boost::asio::io_context io_;
  Server server_;
  Pipeline pipeline_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer stats_timer_;
  boost::asio::steady_timer watchdog_timer_;

  const std::string config_path_;
  // Written by the reload worker while it commits, read by the I/O thread.
  mutable std::mutex config_mutex_;
  Config config_;

  std::mutex commit_mutex_;  // a reload commit and shutdown exclude each other
  std::atomic<bool> stopping_{false};
  std::thread reload_thread_;
  bool reload_busy_ = false;   // I/O thread
  bool reload_again_ = false;  // I/O thread: a SIGHUP arrived during a reload

  const std::chrono::steady_clock::time_point started_;
  // I/O thread: for per-interval rates in stats and summaries.
  struct Sample {
    std::chrono::steady_clock::time_point at;
    PipelineStats stats;
  };
  Sample last_stats_;
  Sample last_summary_;
  std::optional<std::chrono::microseconds> watchdog_;
  bool watchdog_starved_ = false;
};

}  // namespace lookout
