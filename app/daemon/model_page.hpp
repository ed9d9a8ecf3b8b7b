// ModelPageMaker: draws the running model's page for the HTTP server's
// /model (HTTP.md) by running the lookout CLI, `lookout model inspect --html`,
// as a child process: the layout is Graphviz's, which lookoutd never links,
// and the child's memory and any fault in drawing are its own.
//
// With a profile asked for, the child also times every layer on the running
// backend and thread count: it then competes with live inference for the
// cores, which is why it only happens when a client asks (never at load). The
// child runs at a lower priority (nice 10) so the camera keeps its pace.
//
// Ownership: the HTTP server's hub owns one maker. The maker owns its worker
// thread and the child; destroying it kills a running child and joins.
//
// Threads: start() and busy() on the I/O thread; the worker waits for the
// child and posts the result to the io_context, where `done` runs.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "engine/engine.hpp"

namespace lookout {

// What to draw: the running model as the engine runs it.
struct ModelPageRequest {
  std::string model_path;
  int input_width = 0;
  int input_height = 0;
  Backend backend = Backend::Auto;
  int threads = 0;
  int profile_runs = 0;  // 0 = no profile

  // The same model at the same size on the same backend (a page drawn for
  // one request serves the other, profiled or not).
  bool same_model(const ModelPageRequest& other) const {
    return model_path == other.model_path && input_width == other.input_width &&
           input_height == other.input_height && backend == other.backend &&
           threads == other.threads;
  }
};

struct ModelPageResult {
  ModelPageRequest request;
  std::shared_ptr<const std::string> html;  // null when drawing failed
  std::string error;                        // why, with the CLI's own message
};

// The command that runs the CLI: $LOOKOUT_CLI if set (one program path; the
// tests point it at their launcher, which runs the CLI under an emulator),
// else `lookout` beside lookoutd's own executable or in ../bin from it
// (/usr/sbin/lookoutd, /usr/bin/lookout). Empty when none is found.
std::string find_lookout_cli();

class ModelPageMaker {
 public:
  ModelPageMaker(boost::asio::io_context& io, std::string cli, std::chrono::seconds timeout);
  ~ModelPageMaker();
  ModelPageMaker(const ModelPageMaker&) = delete;
  ModelPageMaker& operator=(const ModelPageMaker&) = delete;

  bool busy() const { return busy_; }
  // The request being drawn (valid while busy()).
  const ModelPageRequest& current() const { return current_; }
  // Starts drawing; `done` runs on the I/O thread when the child has ended
  // (or could not start, or ran out of time). Not while busy().
  void start(const ModelPageRequest& request, std::function<void(ModelPageResult)> done);

 private:
  boost::asio::io_context& io_;
  const std::string cli_;
  const std::chrono::seconds timeout_;
  bool busy_ = false;
  ModelPageRequest current_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for the posted results
  std::thread worker_;
  std::atomic<bool> stopping_{false};
};

}  // namespace lookout
