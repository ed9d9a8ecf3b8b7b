// Output: where lookoutd's results go. The lookout/1 server (server.hpp),
// the HTTP server (http_server.hpp), the MQTT output (mqtt_output.hpp) and the
// event store (event_store.hpp: snapshots on disk) are peers behind this one
// interface: the daemon hands every output the same greeting, frames, events
// and stats, and knows nothing of their protocols.
//
// Ownership: the daemon owns its outputs (unique_ptr) for its whole life and
// closes them before the io_context stops. Whatever an output needs from the
// daemon it reaches through the DaemonView it was given, which outlives it.
//
// Threads: prepare() runs on any thread (the daemon's startup thread or its
// reload worker) and may only create new, unshared things (bound sockets);
// everything else runs on the I/O thread, the one thread that runs the
// daemon's io_context.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/frame.hpp"
#include "engine/engine.hpp"
#include "pipeline.hpp"
#include "protocol.hpp"

namespace lookout {

// One processed frame ready to publish: the data (for clients with a filter),
// its unfiltered lookout/1 line, serialized once and shared by all clients,
// and, only while some output asked for pictures (DaemonView::want_pictures),
// a small copy of the frame (picture/image.hpp small_copy) for snapshots and
// streams. The camera's own buffer is never kept.
struct PublishedFrame {
  protocol::FrameDetections frame;
  std::shared_ptr<const std::string> line;
  FramePtr picture;  // may be null
};

// What tracking made of a frame (events, counts, new best pictures), with
// each event's lookout/1 line (serialized once, in the order of
// events.events) and, when some object's best picture is this frame, a copy
// of the frame (`picture`: the frame as captured, converted to RGB at most
// the snapshot width). Published after the frame it belongs to; at shutdown
// and when tracking ends, alone (end events).
struct PublishedEvents {
  protocol::FrameEvents events;
  std::vector<std::shared_ptr<const std::string>> lines;
  FramePtr picture;       // null unless events.new_bests is not empty
  std::uint64_t seq = 0;  // the frame's, or 0 when not from a frame
};

// A stats message: its data and its lookout/1 line.
struct PublishedStats {
  protocol::Stats stats;
  std::shared_ptr<const std::string> line;
};

// How many clients one transport of an output has ("tcp", "unix", "http").
struct ClientCount {
  std::string transport;
  std::size_t count = 0;
};

// What the daemon tells an output when asked, on the I/O thread.
struct DaemonStatus {
  PipelineStats pipeline;  // fresh counters, timings and source health
  double uptime_s = 0;
  std::vector<ClientCount> clients;            // of every output
  ModelInfo model;                             // the running model
  bool detection = true;                       // false while detection is paused
  std::vector<protocol::OutputStats> outputs;  // what outputs report of themselves
  // While tracking: the newest zone and line counts and the model's class names.
  std::shared_ptr<const tracking::Counts> counts;
  std::shared_ptr<const std::vector<std::string>> class_names;
  std::uint64_t events[3] = {0, 0, 0};  // events made since start, by tracking::EventType
};

// The daemon, as its outputs see it. I/O thread only.
class DaemonView {
 public:
  virtual ~DaemonView() = default;
  virtual DaemonStatus status() const = 0;
  // Asks the pipeline to attach pictures (at most `max_width` wide, at most
  // one per `interval`: copying a frame costs the inference thread, so only
  // as many are made as viewers can use) to the frames it publishes for the
  // next `duration`. Outputs call it again while anyone still watches;
  // pictures cost nothing once nobody asks.
  virtual void want_pictures(std::chrono::steady_clock::duration duration, int max_width,
                             std::chrono::steady_clock::duration interval) = 0;
  // Pauses (false) or resumes (true) inference: while paused, frames are
  // captured and let go unprocessed, and nothing is published.
  virtual void set_detection(bool on) = 0;
};

// Whatever an output made ready off the I/O thread for apply() (its new
// listening sockets). Each output knows its own concrete type.
struct OutputPrepared {
  virtual ~OutputPrepared() = default;
};

class Output {
 public:
  virtual ~Output() = default;

  // Any thread. Binds what `next` needs that the running configuration does
  // not have (`running` is null at startup), so that an address in use
  // rejects a reload before anything is switched. Throws std::runtime_error
  // naming the address.
  virtual std::unique_ptr<OutputPrepared> prepare(const Config* running, const Config& next) = 0;

  // ---- I/O thread only ------------------------------------------------------------
  // Applies `config` with what prepare() made (limits and access at once;
  // clients no longer allowed are disconnected).
  virtual void apply(const Config& config, std::unique_ptr<OutputPrepared> prepared) = 0;
  // What clients are greeted with; also sent to connected clients when it changed.
  virtual void set_hello(const protocol::HelloInfo& hello) = 0;
  virtual void publish(const std::shared_ptr<const PublishedFrame>& frame) = 0;
  virtual void publish_stats(const std::shared_ptr<const PublishedStats>& stats) = 0;
  // Events of tracking (see PublishedEvents); outputs without events ignore them.
  virtual void publish_events(const std::shared_ptr<const PublishedEvents>& /*events*/) {}
  // Appends this output's clients per transport.
  virtual void count_clients(std::vector<ClientCount>& counts) const = 0;
  // Appends what this output reports of itself in stats and /metrics, if anything.
  virtual void report(std::vector<protocol::OutputStats>& /*out*/) const {}
  // Stops accepting and disconnects every client. Idempotent.
  virtual void close() = 0;
};

}  // namespace lookout
