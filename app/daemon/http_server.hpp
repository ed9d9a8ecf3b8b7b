// HttpServer: the web viewer and HTTP API on Boost.Beast (endpoints in
// HTTP.md): the viewer page, health, Prometheus metrics, status and the
// latest detections as JSON, detections and stats as server-sent events,
// annotated snapshots and MJPEG streams.
//
// It is an Output like the lookout/1 server: it sees the same greeting,
// frames and stats, and admits clients the same way (publish.tcp's allowed
// networks, closed before a byte is sent, and its token: a cookie set by the
// login page or ?token=, or "Authorization: Bearer").
//
// Pictures cost nothing while nobody watches: the server asks the daemon for
// them (DaemonView::want_pictures) only while an MJPEG viewer is connected or
// a snapshot was asked for, and a PictureEncoder thread encodes each picture
// once per variant for everyone who wants it.
//
// Ownership: the server owns its listener and, through an internal hub, every
// connection and the encoder. Connections hold the hub weakly, as the
// lookout/1 sessions do, so destroying the server with handlers still queued
// is safe.
//
// Threads: the I/O thread, except prepare() (any thread) and the encoder's
// own thread inside the hub.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "output.hpp"

namespace lookout {

struct HttpHub;

class HttpServer final : public Output {
 public:
  HttpServer(boost::asio::io_context& io, DaemonView& daemon, std::string version);
  ~HttpServer() override;
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::unique_ptr<OutputPrepared> prepare(const Config* running, const Config& next) override;
  void apply(const Config& config, std::unique_ptr<OutputPrepared> prepared) override;
  void set_hello(const protocol::HelloInfo& hello) override;
  void publish(const std::shared_ptr<const PublishedFrame>& frame) override;
  void publish_stats(const std::shared_ptr<const PublishedStats>& stats) override;
  // Into /api/events and to /api/stream listeners as `event`.
  void publish_events(const std::shared_ptr<const PublishedEvents>& events) override;
  void count_clients(std::vector<ClientCount>& counts) const override;
  void close() override;

 private:
  std::shared_ptr<HttpHub> hub_;
};

}  // namespace lookout
