// Server: publishes detections to clients over TCP (LAN) and a Unix socket
// (local), protocol lookout/1 (see PROTOCOL.md).
//
// Ownership: the Server owns its listening sockets and, through an internal
// hub, every client session. Sessions are kept alive by their pending
// asynchronous operations and reach the hub through a weak reference, so
// destroying the Server while the io_context still holds handlers is safe.
//
// Threads: everything runs on the thread that runs the io_context (the "I/O
// thread"), which is the only thread that touches sessions; other threads hand
// work over with boost::asio::post. The one exception is prepare(), which
// only creates new, unshared sockets and may run on any thread (the reload
// worker binds new addresses before anything is switched over).
//
// Each client has a bounded send queue: a client that reads too slowly loses
// its oldest queued messages (and is told how many in a "dropped" message);
// nothing it does can block the pipeline or grow memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "config/config.hpp"
#include "output.hpp"
#include "protocol.hpp"

namespace lookout {

namespace net {
struct TcpListener;
}
struct UnixListener;
// Listening sockets opened for a publish configuration but not yet accepting.
// Each kind is null when it was not asked for.
struct Listeners : OutputPrepared {
  std::shared_ptr<net::TcpListener> tcp;
  std::shared_ptr<UnixListener> unix_socket;
};
// The server's state shared with its sessions (server.cpp).
struct ServerHub;

// Why a Unix socket could not be created at `path` (already resolved):
// something other than a socket is there, or its directory is missing or
// not writable (which depends on who runs and when: systemd makes
// RuntimeDirectory= only as the service starts); nullopt when it could (a
// live socket there, perhaps the running lookoutd's, is only found when
// binding). Any thread.
struct UnixSocketProblem {
  std::string why;
  bool depends_on_environment = false;
};
std::optional<UnixSocketProblem> unix_socket_problem(const std::string& path);

class Server final : public Output {
 public:
  explicit Server(boost::asio::io_context& io);
  ~Server() override;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on the TCP address and/or Unix socket of `next.publish`
  // that the running configuration does not listen on yet (Listeners). Any
  // thread.
  std::unique_ptr<OutputPrepared> prepare(const Config* running, const Config& next) override;

  // ---- I/O thread only --------------------------------------------------------

  // Applies `config.publish`: client limits, queue size, token and allowed
  // networks take effect at once (TCP clients no longer allowed are
  // disconnected); listeners prepared replace the current ones of the same
  // kind; a kind disabled in `config` is closed.
  void apply(const Config& config, std::unique_ptr<OutputPrepared> prepared) override;
  // Sets what new clients are greeted with; when it differs from the last
  // one, connected clients are sent the new hello too.
  void set_hello(const protocol::HelloInfo& hello) override;
  void publish(const std::shared_ptr<const PublishedFrame>& frame) override;
  void publish_stats(const std::shared_ptr<const PublishedStats>& stats) override;
  // Each event line to every client whose filter it passes (class, top score).
  void publish_events(const std::shared_ptr<const PublishedEvents>& events) override;
  void count_clients(std::vector<ClientCount>& counts) const override;
  // Sends `line` to every authenticated client.
  void broadcast(const std::shared_ptr<const std::string>& line);
  // Stops accepting and disconnects every client.
  void close() override;

 private:
  std::shared_ptr<ServerHub> hub_;
};

}  // namespace lookout
