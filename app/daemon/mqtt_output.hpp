// MqttOutput: lookoutd's results on an MQTT broker (MQTT.md fixes every topic
// and payload): availability, rate-limited detections, per-class counts and
// presence, stats, snapshots, the detection switch, and Home Assistant
// discovery, so that the camera shows up in Home Assistant with no
// integration to install.
//
// It is an Output like the lookout/1 and HTTP servers: the daemon hands it
// the same greeting, frames and stats. The broker connection itself is an
// MqttClient (mqtt_client.hpp) on its own thread, so nothing here waits for
// the network; a reload that changes the connection starts a new client and
// lets the old one say "offline" and finish on its own thread.
//
// Snapshots: the newest frame with a detection, at most one per
// mqtt.snapshot_interval_s, or the next frame after a request. Pictures are
// asked of the pipeline only when one is due, and encoded on a PictureEncoder
// thread of the output's own.
//
// Ownership: the daemon owns the output; the output owns its clients and its
// encoder. Work posted back from their threads holds the output weakly (a
// token), so destroying it with handlers still queued is safe.
//
// Threads: the I/O thread, except prepare() (any thread; it binds nothing).
#pragma once

#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "output.hpp"

namespace lookout {

struct MqttHub;

class MqttOutput final : public Output {
 public:
  MqttOutput(boost::asio::io_context& io, DaemonView& daemon, std::string version);
  ~MqttOutput() override;
  MqttOutput(const MqttOutput&) = delete;
  MqttOutput& operator=(const MqttOutput&) = delete;

  std::unique_ptr<OutputPrepared> prepare(const Config* running, const Config& next) override;
  void apply(const Config& config, std::unique_ptr<OutputPrepared> prepared) override;
  void set_hello(const protocol::HelloInfo& hello) override;
  void publish(const std::shared_ptr<const PublishedFrame>& frame) override;
  void publish_stats(const std::shared_ptr<const PublishedStats>& stats) override;
  // Events on P/C/events, zone and line counts (retained), class snapshots.
  void publish_events(const std::shared_ptr<const PublishedEvents>& events) override;
  void count_clients(std::vector<ClientCount>& counts) const override;
  void report(std::vector<protocol::OutputStats>& out) const override;
  void close() override;

 private:
  std::shared_ptr<MqttHub> hub_;
};

}  // namespace lookout
