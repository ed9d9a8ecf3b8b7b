#include "server.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <variant>
#include <vector>

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <sys/socket.h>
#include <sys/stat.h>

#include "core/log.hpp"
#include "net.hpp"

namespace lookout {

namespace asio = boost::asio;
using boost::system::error_code;
using tcp = asio::ip::tcp;
using local = asio::local::stream_protocol;
using StreamSocket = asio::generic::stream_protocol::socket;
using net::allowed;
using net::constant_time_equal;
using net::LogLimiter;
using net::peer_address;
using net::PeerAddress;
using net::TcpListener;

namespace {

// Kernel send buffer per client. Small enough that a stalled client's backlog
// is mostly in our bounded queue (where it is dropped oldest-first and counted)
// rather than in kernel memory; large enough for bursts at LAN speeds.
constexpr int kSocketSendBuffer = 64 * 1024;
// Consecutive bad messages after which a client is disconnected.
constexpr int kMaxStrikes = 5;
// How long a client being disconnected gets to read its last error.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
// Refused clients that may wait at once for their error line to be read. In
// a connection flood the rest are closed at once without one, so that
// refused sockets never pile up into the descriptor limit.
constexpr std::size_t kMaxRefusedLingering = 32;
// Lines written with one system call at most.
constexpr std::size_t kMaxBatch = 16;

std::shared_ptr<const std::string> shared_line(std::string line) {
  return std::make_shared<const std::string>(std::move(line));
}

std::chrono::steady_clock::duration seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}

class Session;

}  // namespace

// ---- listeners -------------------------------------------------------------------

// Owns the socket file: removes it on destruction, unless another process
// has replaced it meanwhile.
struct UnixListener {
  explicit UnixListener(asio::io_context& io) : acceptor(io), retry(io) {}
  ~UnixListener() {
    error_code ec;
    acceptor.close(ec);
    struct stat st {};
    if (!path.empty() && ::lstat(path.c_str(), &st) == 0 && st.st_ino == inode &&
        st.st_dev == device) {
      ::unlink(path.c_str());
    }
  }
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;
  local::acceptor acceptor;
  asio::steady_timer retry;
  std::string path;
  ino_t inode = 0;
  dev_t device = 0;
};

std::optional<UnixSocketProblem> unix_socket_problem(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path socket_path(path);
  const fs::path directory = socket_path.parent_path();
  std::error_code ec;
  const auto status = fs::symlink_status(socket_path, ec);
  if (fs::exists(status) && !fs::is_socket(status)) {
    return UnixSocketProblem{path + " exists and is not a socket", false};
  }
  if (!fs::is_directory(directory, ec)) {
    return UnixSocketProblem{
        "the socket's directory " + directory.string() +
            (fs::exists(directory, ec) ? " is not a directory" : " does not exist"),
        !fs::exists(directory, ec)};
  }
  if (::access(directory.c_str(), W_OK | X_OK) != 0) {
    return UnixSocketProblem{
        "cannot create the socket in " + directory.string() + ": " + std::strerror(errno), true};
  }
  return std::nullopt;
}

namespace {

std::shared_ptr<UnixListener> open_unix(asio::io_context& io, const UnixConfig& config) {
  auto listener = std::make_shared<UnixListener>(io);
  const std::string& path = config.path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      throw std::runtime_error("cannot create Unix socket " + path +
                               ": the path exists and is not a socket");
    }
    // A socket file left behind by a crash is removed; a live one is not ours to take.
    local::socket probe(io);
    error_code ec;
    probe.connect(local::endpoint(path), ec);
    if (!ec) {
      throw std::runtime_error("cannot create Unix socket " + path +
                               ": another process is listening on it");
    }
    ::unlink(path.c_str());
  }
  try {
    listener->acceptor.open(local());
    listener->acceptor.bind(local::endpoint(path));
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("cannot create Unix socket " + path + ": " + e.code().message());
  }
  listener->path = path;
  if (::lstat(path.c_str(), &st) == 0) {
    listener->inode = st.st_ino;
    listener->device = st.st_dev;
  }
  if (::chmod(path.c_str(), static_cast<mode_t>(config.mode)) != 0) {
    throw std::runtime_error("cannot set the permissions of Unix socket " + path + ": " +
                             std::strerror(errno));
  }
  try {
    listener->acceptor.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("cannot listen on Unix socket " + path + ": " + e.code().message());
  }
  return listener;
}

}  // namespace

// ---- the hub: shared state of the server and its sessions -------------------------

struct ServerHub : std::enable_shared_from_this<ServerHub> {
  explicit ServerHub(asio::io_context& context) : io(context) {}

  asio::io_context& io;
  PublishConfig config;
  std::shared_ptr<const std::string> hello_line;
  std::vector<std::string> class_names;
  std::shared_ptr<TcpListener> tcp_listener;
  std::shared_ptr<UnixListener> unix_listener;
  std::map<std::uint64_t, std::shared_ptr<Session>> sessions;
  std::size_t refused_lingering = 0;  // refused clients still being told why
  std::uint64_t next_id = 1;
  // Every line about one client goes through this: a flood of clients (or
  // of bad messages) must not flood the journal, nor stall this thread on a
  // blocked stderr.
  LogLimiter limiter{20};
  bool closed = false;

  void accept_tcp(const std::shared_ptr<TcpListener>& listener);
  void accept_unix(const std::shared_ptr<UnixListener>& listener);
  void admit(StreamSocket socket, std::string peer, PeerAddress address, bool needs_auth);
  std::vector<std::shared_ptr<Session>> snapshot() const {
    std::vector<std::shared_ptr<Session>> out;
    out.reserve(sessions.size());
    for (const auto& entry : sessions) out.push_back(entry.second);
    return out;
  }
};

namespace {

// One connected client. Lives while its asynchronous operations are pending
// (they hold shared_ptrs) and, once admitted, in the hub's session map.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::weak_ptr<ServerHub> hub, StreamSocket socket, std::string peer, PeerAddress address,
          bool needs_auth, std::uint64_t id)
      : hub_(std::move(hub)),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        send_timer_(socket_.get_executor()),
        peer_(std::move(peer)),
        address_(address),
        needs_auth_(needs_auth),
        authenticated_(!needs_auth),
        id_(id) {}

  void start(const std::shared_ptr<const std::string>& hello) {
    if (needs_auth_) {
      const auto hub = hub_.lock();
      timer_.expires_after(seconds(hub ? hub->config.tcp.auth_timeout_s : 10));
      timer_.async_wait([self = shared_from_this()](error_code ec) {
        if (!ec && !self->authenticated_) {
          self->log_notice("did not authenticate in time; disconnecting");
          self->close_after(protocol::error("authentication timed out"));
        }
      });
    } else if (hello) {
      send(hello);
    }
    read();
  }

  // Queues a line; when the queue is full the oldest waiting line is dropped.
  void send(std::shared_ptr<const std::string> line) {
    if (closed_ || closing_) return;
    const auto hub = hub_.lock();
    const std::size_t limit =
        hub ? static_cast<std::size_t>(hub->config.send_queue) : std::size_t{64};
    while (queue_.size() >= limit) {
      queue_.pop_front();
      ++dropped_pending_;
      ++dropped_total_;
    }
    queue_.push_back(std::move(line));
    if (!writing_) write();
  }

  // Sends `line` (after what is queued), then disconnects gracefully: once
  // it is written we send FIN and discard what the client still sends until
  // it closes too (closing with unread input would send a reset, which can
  // destroy the error message before the client reads it). A client that
  // does not close is cut off after kLingerTimeout.
  void close_after(std::string line) {
    if (closed_ || closing_) return;
    queue_.push_back(shared_line(std::move(line)));
    closing_ = true;
    timer_.expires_after(kLingerTimeout);
    timer_.async_wait([self = shared_from_this()](error_code timer_ec) {
      if (!timer_ec) self->close();
    });
    if (!writing_) write();
    read();  // to drain; a no-op when a read is already pending
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_both, ec);
    socket_.close(ec);
    timer_.cancel();
    send_timer_.cancel();
    queue_.clear();
    if (const auto hub = hub_.lock()) {
      if (refused_) --hub->refused_lingering;
      if (hub->sessions.erase(id_) > 0) {
        log::debug("client ", peer_, " disconnected (", dropped_total_, " messages dropped)");
      }
    }
  }

  // A client refused at admission: counted while it is told why.
  void mark_refused() { refused_ = true; }

  // Logs one line about this client at notice level, within the hub's budget.
  void log_notice(const std::string& what) const {
    const auto hub = hub_.lock();
    if (hub && hub->limiter.allow()) log::notice("client ", peer_, " ", what);
  }

  bool authenticated() const { return authenticated_ && !closing_ && !closed_; }
  const protocol::Filter& filter() const { return filter_; }
  const PeerAddress& address() const { return address_; }
  const std::string& peer() const { return peer_; }

 private:
  void read() {
    if (reading_ || closed_ || peer_done_) return;
    reading_ = true;
    socket_.async_read_some(
        asio::buffer(chunk_),
        [self = shared_from_this()](error_code ec, std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(error_code ec, std::size_t n) {
    reading_ = false;
    if (closed_) return;
    if (ec == asio::error::eof && !closing_) return peer_finished_sending();
    if (ec) {
      close();  // a reset, or EOF while we close: the client left (or finished leaving)
      return;
    }
    if (!closing_) {
      // Catch-all: nothing a client sends may take the daemon down; an
      // unexpected failure becomes a protocol error for this client only.
      try {
        take_lines(n);
      } catch (const std::exception& e) {
        log::warning("client ", peer_, ": ", e.what());
        framer_ = protocol::LineFramer();
        strike(std::string("internal error: ") + e.what());
      }
    }
    read();  // while closing: discards input until the client closes
  }

  // The client shut down its sending side (TCP half-close, as `nc -N` or a
  // script reading from /dev/null does): it has said all it will say, and
  // keeps receiving. A last line without a newline still counts. The
  // session ends when a write fails (the client closed) or takes no bytes
  // for publish.send_timeout_s.
  void peer_finished_sending() {
    peer_done_ = true;
    if (const std::string last = framer_.take_rest(); !last.empty()) {
      try {
        handle_line(last);
      } catch (const std::exception& e) {
        strike(std::string("internal error: ") + e.what());
      }
    }
    if (closing_ || closed_) return;
    if (!authenticated_) {
      log_notice("closed its sending side without authenticating; disconnecting");
      return close_after(protocol::error("closed the connection without authenticating"));
    }
    log::debug("client ", peer_, " closed its sending side; still sending to it");
    // Nothing reads any more, so an error on the socket (a reset when it
    // closes for good, or keepalive giving up on it) would wait for the
    // next write, which may be long in coming: watch for it instead.
    socket_.async_wait(asio::socket_base::wait_error, [self = shared_from_this()](error_code ec) {
      if (ec || self->closed_) return;
      log::debug("client ", self->peer_, " is gone");
      self->close();
    });
  }

  void take_lines(std::size_t n) {
    const bool fits = framer_.feed({chunk_.data(), n}, [this](std::string_view line) {
      handle_line(line);
      return !closing_ && !closed_;
    });
    if (!fits) too_long();
  }

  void too_long() {
    log_notice("sent more than " + std::to_string(protocol::kMaxLineBytes) +
               " bytes without a newline; disconnecting");
    close_after(protocol::error("line longer than " + std::to_string(protocol::kMaxLineBytes) +
                                " bytes; disconnecting"));
  }

  void strike(const std::string& message) {
    if (++strikes_ >= kMaxStrikes) {
      log_notice("sent " + std::to_string(strikes_) + " bad messages in a row; disconnecting");
      close_after(protocol::error(message + "; disconnecting after " + std::to_string(kMaxStrikes) +
                                  " bad messages in a row"));
    } else {
      send(shared_line(protocol::error(message)));
    }
  }

  void handle_line(std::string_view line) {
    auto parsed = protocol::parse_client_line(line);
    if (auto* problem = std::get_if<std::string>(&parsed)) return strike(*problem);
    auto& message = std::get<protocol::ClientMessage>(parsed);
    const auto hub = hub_.lock();
    if (!hub) return;
    if (auto* auth = std::get_if<protocol::Auth>(&message)) {
      if (authenticated_) return;  // harmless: clients may always send their token
      if (!constant_time_equal(auth->token, hub->config.tcp.token)) {
        log_notice("sent a wrong token; disconnecting");
        return close_after(protocol::error("authentication failed"));
      }
      authenticated_ = true;
      strikes_ = 0;
      timer_.cancel();
      if (hub->hello_line) send(hub->hello_line);
      return;
    }
    if (!authenticated_) {
      return strike(R"(authentication required: send {"type":"auth","token":"..."} first)");
    }
    if (auto* sub = std::get_if<protocol::Subscribe>(&message)) {
      for (const auto& name : sub->filter.classes) {
        if (std::find(hub->class_names.begin(), hub->class_names.end(), name) ==
            hub->class_names.end()) {
          std::string known;
          for (const auto& c : hub->class_names) known += (known.empty() ? "" : ", ") + c;
          return strike("subscribe: unknown class \"" + name.substr(0, 64) +
                        "\" (the model has: " + known + ")");
        }
      }
      filter_ = sub->filter;
      strikes_ = 0;
      return send(shared_line(protocol::subscribed(filter_)));
    }
    if (auto* ping = std::get_if<protocol::Ping>(&message)) {
      strikes_ = 0;
      return send(shared_line(protocol::pong(ping->id)));
    }
  }

  void write() {
    in_flight_.clear();
    if (dropped_pending_ > 0) {
      in_flight_.push_back(shared_line(protocol::dropped(dropped_pending_, dropped_total_)));
      dropped_pending_ = 0;
    }
    while (!queue_.empty() && in_flight_.size() < kMaxBatch) {
      in_flight_.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    if (in_flight_.empty()) {
      writing_ = false;
      send_timer_.cancel();
      if (closing_) {
        error_code ec;
        socket_.shutdown(asio::socket_base::shutdown_send, ec);  // FIN after the last line
        // A client that already sent its FIN has nothing left to drain.
        if (peer_done_) close();
      }
      return;
    }
    writing_ = true;
    buffers_.clear();
    for (const auto& line : in_flight_) buffers_.push_back(asio::buffer(*line));
    // The socket must take some bytes within send_timeout_s: a client that
    // reads nothing at all (or vanished without a reset) loses its place
    // instead of holding it for ever. Its queue is bounded either way. A
    // slow reader that keeps taking bytes is not cut off, however long its
    // batch takes.
    const auto hub = hub_.lock();
    send_timeout_ = seconds(hub ? hub->config.send_timeout_s : 30);
    const std::uint64_t batch = ++write_batches_;
    arm_send_timer(batch, send_timeout_);
    asio::async_write(socket_, buffers_, progress_.transfer_all_counting(),
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        if (self->closed_) return;
                        if (ec) return self->close();
                        self->write();
                      });
    progress_.started(socket_.native_handle());
  }

  // The generation (batch): a deadline that expired just as its batch
  // finished must not cut off the next one.
  void arm_send_timer(std::uint64_t batch, std::chrono::steady_clock::duration wait) {
    send_timer_.expires_after(wait);
    send_timer_.async_wait([self = shared_from_this(), batch](error_code ec) {
      if (ec || self->closed_ || !self->writing_ || self->write_batches_ != batch) return;
      const auto idle = self->progress_.idle(self->socket_.native_handle());
      if (idle < self->send_timeout_)
        return self->arm_send_timer(batch, self->send_timeout_ - idle);
      if (!self->closing_) {
        self->log_notice("took no data for publish.send_timeout_s; disconnecting");
      }
      self->close();
    });
  }

  std::weak_ptr<ServerHub> hub_;
  StreamSocket socket_;
  asio::steady_timer timer_;       // authentication deadline, then linger deadline
  asio::steady_timer send_timer_;  // the write in flight must finish by then
  std::string peer_;
  PeerAddress address_;
  bool needs_auth_;
  bool authenticated_;
  std::uint64_t id_;
  protocol::Filter filter_;
  int strikes_ = 0;

  std::array<char, 4096> chunk_{};
  protocol::LineFramer framer_;

  std::deque<std::shared_ptr<const std::string>> queue_;
  std::vector<std::shared_ptr<const std::string>> in_flight_;
  std::vector<asio::const_buffer> buffers_;
  bool writing_ = false;
  bool reading_ = false;
  bool closing_ = false;
  bool closed_ = false;
  std::uint64_t write_batches_ = 0;  // batches started, for send_timer_
  net::WriteProgress progress_;      // of the batch in flight
  std::chrono::steady_clock::duration send_timeout_{};
  bool peer_done_ = false;  // the client shut down its sending side
  bool refused_ = false;    // refused at admission (ServerHub::refused_lingering)
  std::uint64_t dropped_pending_ = 0;
  std::uint64_t dropped_total_ = 0;
};

}  // namespace

void ServerHub::admit(StreamSocket socket, std::string peer, PeerAddress address, bool needs_auth) {
  // TCP and Unix clients are counted apart (LAN clients never take local
  // ones' places), and TCP clients per address too (one host never takes
  // everybody's).
  std::size_t same_kind = 0, same_host = 0;
  for (const auto& entry : sessions) {
    const PeerAddress& other = entry.second->address();
    if (other.tcp != address.tcp) continue;
    ++same_kind;
    if (address.tcp && other.v6 == address.v6 && other.bytes == address.bytes) ++same_host;
  }
  std::string refusal;
  if (!address.tcp && same_kind >= static_cast<std::size_t>(config.unix_socket.max_clients)) {
    refusal = "too many Unix socket clients (publish.unix.max_clients is " +
              std::to_string(config.unix_socket.max_clients) + ")";
  } else if (address.tcp && same_kind >= static_cast<std::size_t>(config.max_clients)) {
    refusal =
        "too many clients (publish.max_clients is " + std::to_string(config.max_clients) + ")";
  } else if (address.tcp &&
             same_host >= static_cast<std::size_t>(config.tcp.max_clients_per_host)) {
    refusal = "too many clients from your address (publish.tcp.max_clients_per_host is " +
              std::to_string(config.tcp.max_clients_per_host) + ")";
  }
  if (!refusal.empty()) {
    if (limiter.allow()) log::notice("refused client ", peer, ": ", refusal);
    if (refused_lingering >= kMaxRefusedLingering) {
      error_code ec;
      socket.close(ec);  // a flood: no goodbye, no descriptor held
      return;
    }
    // Not registered: it only says why and goes.
    auto session = std::make_shared<Session>(weak_from_this(), std::move(socket), std::move(peer),
                                             address, needs_auth, next_id++);
    ++refused_lingering;
    session->mark_refused();
    session->close_after(protocol::error(refusal));
    return;
  }
  const std::uint64_t id = next_id++;
  auto session = std::make_shared<Session>(weak_from_this(), std::move(socket), std::move(peer),
                                           address, needs_auth, id);
  if (limiter.allow()) log::info("client ", session->peer(), " connected");
  sessions.emplace(id, session);
  session->start(hello_line);
}

void ServerHub::accept_tcp(const std::shared_ptr<TcpListener>& listener) {
  listener->acceptor.async_accept(
      [hub = weak_from_this(), listener](error_code ec, tcp::socket socket) {
        const auto self = hub.lock();
        if (!self || ec == asio::error::operation_aborted || !listener->acceptor.is_open()) return;
        if (ec) {
          // Out of descriptors or memory: wait a little instead of spinning.
          if (self->limiter.allow()) log::warning("accepting a TCP client failed: ", ec.message());
          listener->retry.expires_after(std::chrono::milliseconds(200));
          listener->retry.async_wait([hub, listener](error_code timer_ec) {
            if (const auto h = hub.lock(); h && !timer_ec) h->accept_tcp(listener);
          });
          return;
        }
        error_code endpoint_ec;
        const auto remote = socket.remote_endpoint(endpoint_ec);
        if (!endpoint_ec) {
          const std::string peer =
              "tcp " + remote.address().to_string() + ":" + std::to_string(remote.port());
          const PeerAddress address = peer_address(remote.address());
          if (!allowed(self->config.tcp.allowed_networks, address)) {
            if (self->limiter.allow()) {
              log::notice("refused client ", peer, ": not in publish.tcp.allowed_networks");
            }
            socket.close(endpoint_ec);
          } else {
            socket.set_option(tcp::no_delay(true), endpoint_ec);
            net::enable_keepalive(socket.native_handle());
            socket.set_option(asio::socket_base::send_buffer_size(kSocketSendBuffer), endpoint_ec);
            self->admit(StreamSocket(std::move(socket)), peer, address,
                        !self->config.tcp.token.empty());
          }
        }
        self->accept_tcp(listener);
      });
}

void ServerHub::accept_unix(const std::shared_ptr<UnixListener>& listener) {
  listener->acceptor.async_accept(
      [hub = weak_from_this(), listener](error_code ec, local::socket socket) {
        const auto self = hub.lock();
        if (!self || ec == asio::error::operation_aborted || !listener->acceptor.is_open()) return;
        if (ec) {
          if (self->limiter.allow()) log::warning("accepting a Unix client failed: ", ec.message());
          listener->retry.expires_after(std::chrono::milliseconds(200));
          listener->retry.async_wait([hub, listener](error_code timer_ec) {
            if (const auto h = hub.lock(); h && !timer_ec) h->accept_unix(listener);
          });
          return;
        }
        std::string peer = "unix";
        struct ucred cred {};
        socklen_t len = sizeof cred;
        if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
          peer += " pid " + std::to_string(cred.pid) + " uid " + std::to_string(cred.uid);
        }
        error_code option_ec;
        socket.set_option(asio::socket_base::send_buffer_size(kSocketSendBuffer), option_ec);
        // The socket file's permissions decide who may connect; no token here.
        self->admit(StreamSocket(std::move(socket)), peer, PeerAddress{}, false);
        self->accept_unix(listener);
      });
}

// ---- Server ------------------------------------------------------------------------

Server::Server(asio::io_context& io) : hub_(std::make_shared<ServerHub>(io)) {}

Server::~Server() {
  close();
}

std::unique_ptr<OutputPrepared> Server::prepare(const Config* running, const Config& next) {
  auto listeners = std::make_unique<Listeners>();
  const TcpConfig& tcp_next = next.publish.tcp;
  const UnixConfig& unix_next = next.publish.unix_socket;
  // A new bind address on the same port cannot be bound next to the old one;
  // apply() switches that one over in place.
  const bool tcp_new = tcp_next.enabled && (!running || !running->publish.tcp.enabled ||
                                            running->publish.tcp.port != tcp_next.port);
  const bool unix_new = unix_next.enabled && (!running || !running->publish.unix_socket.enabled ||
                                              running->publish.unix_socket.path != unix_next.path);
  if (tcp_new) listeners->tcp = net::open_tcp(hub_->io, tcp_next.bind, tcp_next.port, "TCP");
  if (unix_new) listeners->unix_socket = open_unix(hub_->io, unix_next);
  return listeners;
}

void Server::apply(const Config& full_config, std::unique_ptr<OutputPrepared> prepared) {
  const PublishConfig& config = full_config.publish;
  std::unique_ptr<Listeners> fresh(dynamic_cast<Listeners*>(prepared.release()));
  ServerHub& hub = *hub_;
  hub.config = config;
  hub.closed = false;
  auto replace_unix = [&](std::shared_ptr<UnixListener> next) {
    if (hub.unix_listener) {
      error_code ec;
      hub.unix_listener->acceptor.close(ec);
      hub.unix_listener->retry.cancel();
    }
    hub.unix_listener = std::move(next);
    if (hub.unix_listener) {
      log::notice("listening on Unix socket ", hub.unix_listener->path);
      hub.accept_unix(hub.unix_listener);
    }
  };
  auto tcp_next = net::switch_listener(hub.io, hub.tcp_listener, fresh ? fresh->tcp : nullptr,
                                       config.tcp.enabled, config.tcp.bind, config.tcp.port, "TCP");
  if (tcp_next != hub.tcp_listener) {
    hub.tcp_listener = std::move(tcp_next);
    if (hub.tcp_listener) {
      log::notice("listening on TCP ", hub.tcp_listener->address);
      hub.accept_tcp(hub.tcp_listener);
    }
  }
  if (fresh && fresh->unix_socket) {
    replace_unix(std::move(fresh->unix_socket));
  } else if (!config.unix_socket.enabled) {
    replace_unix(nullptr);
  } else if (hub.unix_listener && ::chmod(hub.unix_listener->path.c_str(),
                                          static_cast<mode_t>(config.unix_socket.mode)) != 0) {
    log::warning("cannot set the permissions of ", hub.unix_listener->path, ": ",
                 std::strerror(errno));
  }
  for (const auto& session : hub.snapshot()) {
    if (!allowed(config.tcp.allowed_networks, session->address())) {
      log::notice("disconnecting client ", session->peer(),
                  ": no longer in publish.tcp.allowed_networks");
      session->close_after(protocol::error("this address is no longer allowed"));
    }
  }
}

void Server::set_hello(const protocol::HelloInfo& hello) {
  auto line = shared_line(protocol::hello(hello));
  hub_->class_names = hello.model.classes;
  if (hub_->hello_line && *hub_->hello_line == *line) return;
  const bool changed = hub_->hello_line != nullptr;
  hub_->hello_line = line;
  if (changed) broadcast(line);
}

void Server::publish(const std::shared_ptr<const PublishedFrame>& frame) {
  // Clients with the same filter share one serialization too.
  std::vector<std::pair<protocol::Filter, std::shared_ptr<const std::string>>> filtered;
  for (const auto& session : hub_->snapshot()) {
    if (!session->authenticated()) continue;
    const protocol::Filter& filter = session->filter();
    if (!filter.active()) {
      session->send(frame->line);
      continue;
    }
    auto it = std::find_if(filtered.begin(), filtered.end(),
                           [&](const auto& entry) { return entry.first == filter; });
    if (it == filtered.end()) {
      filtered.emplace_back(filter, shared_line(protocol::detections(frame->frame, &filter)));
      it = std::prev(filtered.end());
    }
    session->send(it->second);
  }
}

void Server::publish_stats(const std::shared_ptr<const PublishedStats>& stats) {
  broadcast(stats->line);
}

void Server::publish_events(const std::shared_ptr<const PublishedEvents>& events) {
  const auto& list = events->events.events;
  if (list.empty()) return;
  const auto* names = events->events.class_names.get();
  for (const auto& session : hub_->snapshot()) {
    if (!session->authenticated()) continue;
    const protocol::Filter& filter = session->filter();
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (!filter.active() || protocol::event_passes(list[i], names, filter)) {
        session->send(events->lines[i]);
      }
    }
  }
}

void Server::count_clients(std::vector<ClientCount>& counts) const {
  std::size_t tcp_clients = 0;
  for (const auto& entry : hub_->sessions) tcp_clients += entry.second->address().tcp ? 1 : 0;
  counts.push_back({"tcp", tcp_clients});
  counts.push_back({"unix", hub_->sessions.size() - tcp_clients});
}

void Server::broadcast(const std::shared_ptr<const std::string>& line) {
  for (const auto& session : hub_->snapshot()) {
    if (session->authenticated()) session->send(line);
  }
}

void Server::close() {
  ServerHub& hub = *hub_;
  if (hub.closed) return;
  hub.closed = true;
  error_code ec;
  if (hub.tcp_listener) {
    hub.tcp_listener->acceptor.close(ec);
    hub.tcp_listener->retry.cancel();
    hub.tcp_listener.reset();
  }
  if (hub.unix_listener) {
    hub.unix_listener->acceptor.close(ec);
    hub.unix_listener->retry.cancel();
    hub.unix_listener.reset();  // removes the socket file once no handler holds it
  }
  for (const auto& session : hub.snapshot()) session->close();
  hub.sessions.clear();
}

}  // namespace lookout
