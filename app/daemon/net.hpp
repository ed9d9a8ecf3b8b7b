// What the daemon's TCP listeners share, lookout/1 (server.cpp) and HTTP
// (http_server.cpp): opening a listening socket, telling whether a client's
// address is allowed, comparing tokens, and keeping connection noise out of
// the journal, and the send timeouts' rule of progress.
//
// Threads: open_tcp() may run on any thread (it creates a new, unshared
// socket); a TcpListener and a LogLimiter belong to the I/O thread once in use.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/completion_condition.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.hpp"

namespace lookout::net {

// Keeps a port scan or a reconnect loop from flooding the journal: at most
// `burst` messages per minute, then one line saying how many were suppressed.
class LogLimiter {
 public:
  explicit LogLimiter(int burst) : burst_(burst) {}
  bool allow();

 private:
  int burst_;
  int count_ = 0;
  int suppressed_ = 0;
  std::chrono::steady_clock::time_point window_start_{};
};

// Compares in time independent of where the strings differ.
bool constant_time_equal(const std::string& a, const std::string& b);

// Bytes written to a stream socket that its peer has not taken yet (TCP: not
// acknowledged; Unix: not read), or -1.
int unsent_bytes(int fd);

// TCP keepalive after 60 s of silence, then every 10 s, 3 times: a peer
// that vanished (powered off, out of Wi-Fi range) or closed for good after
// half-closing is found in about 90 s even while nothing is sent to it (an
// MJPEG viewer while the camera is down). Linux's default waits two hours.
constexpr int kKeepaliveIdleS = 60;
void enable_keepalive(int fd);

// The send timeouts' rule, one for lookout/1 and HTTP streams: a write makes
// progress while its socket takes bytes. Taking bytes is a partial write
// completing, or a change in what the kernel still holds for the peer
// (unsent_bytes: it shrinks as the peer reads, and a full send buffer wakes
// a writer only once much of it has drained, which for a slow reader can
// take longer than the timeout). A slow reader is never cut off; one that
// takes nothing is. Owned by a session; I/O thread only.
class WriteProgress {
 public:
  using Clock = std::chrono::steady_clock;

  // A write was just started on `fd` (after async_write, whose first write
  // may have gone at once).
  void started(int fd) {
    last_ = Clock::now();
    last_unsent_ = unsent_bytes(fd);
  }
  // The completion condition for that async_write: transfer_all, with each
  // partial write counted. The session must outlive the write (its handler
  // holds it).
  auto transfer_all_counting() {
    return [this, sent = std::size_t{0}](const boost::system::error_code& ec,
                                         std::size_t total) mutable {
      if (total > sent) {
        sent = total;
        last_ = Clock::now();
      }
      return boost::asio::transfer_all()(ec, total);
    };
  }
  // The send timer looking: how long the socket has taken nothing.
  Clock::duration idle(int fd) {
    const int unsent = unsent_bytes(fd);
    if (unsent >= 0 && unsent != last_unsent_) last_ = Clock::now();
    last_unsent_ = unsent;
    return Clock::now() - last_;
  }

 private:
  Clock::time_point last_{};  // the socket last took bytes
  int last_unsent_ = 0;       // unsent_bytes() when last looked
};

// A client's address, kept to re-check it when allowed_networks changes.
struct PeerAddress {
  bool tcp = false;
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
};
PeerAddress peer_address(const boost::asio::ip::address& address);
// Non-TCP peers (Unix sockets) are always allowed: the socket file's
// permissions decide who may connect.
bool allowed(const std::vector<Network>& networks, const PeerAddress& peer);

// A listening TCP socket, opened but not yet accepting.
struct TcpListener {
  explicit TcpListener(boost::asio::io_context& io) : acceptor(io), retry(io) {}
  boost::asio::ip::tcp::acceptor acceptor;
  boost::asio::steady_timer retry;  // after accept failures such as EMFILE
  std::string address;              // as listened on, for logs ("127.0.0.1:7878")
  std::string bind;                 // as configured, to tell whether a reload changes it
  int port = 0;
};

// Binds and listens on bind:port ("::" serves IPv4 too). Throws
// std::runtime_error "cannot listen on <what> <address>: <reason>".
std::shared_ptr<TcpListener> open_tcp(boost::asio::io_context& io, const std::string& bind,
                                      int port, const std::string& what);

// Whether bind:port could be listened on, by binding a throw-away socket:
// the reason when it cannot (e.g. "Permission denied" for a port below 1024,
// "Cannot assign requested address" for an address this machine lacks);
// nullopt when it can or when the port is only in use (by the running
// lookoutd, perhaps), or for port 0. Any thread.
std::optional<std::string> bind_problem(const std::string& bind, int port);

// The listener a server accepts on after applying a configuration, from the
// running one and the one prepared for it (either may be null): a prepared
// listener replaces the running one; `enabled` false closes it; a new bind
// address on the same port, which cannot be bound next to the old one, is
// switched in place, going back to the old address when the new one fails
// (logged, naming both). Whatever is replaced is closed. I/O thread.
std::shared_ptr<TcpListener> switch_listener(boost::asio::io_context& io,
                                             const std::shared_ptr<TcpListener>& running,
                                             std::shared_ptr<TcpListener> prepared, bool enabled,
                                             const std::string& bind, int port,
                                             const std::string& what);

}  // namespace lookout::net
