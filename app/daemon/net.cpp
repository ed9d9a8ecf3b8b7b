#include "net.hpp"

#include <algorithm>
#include <stdexcept>

#include <boost/asio/ip/v6_only.hpp>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "core/log.hpp"

namespace lookout::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

bool LogLimiter::allow() {
  const auto now = std::chrono::steady_clock::now();
  if (now - window_start_ > std::chrono::minutes(1)) {
    if (suppressed_ > 0) {
      log::notice(suppressed_, " connection messages suppressed in the last minute");
    }
    window_start_ = now;
    count_ = 0;
    suppressed_ = 0;
  }
  if (count_ < burst_) {
    ++count_;
    return true;
  }
  ++suppressed_;
  return false;
}

void enable_keepalive(int fd) {
  const int on = 1, idle = kKeepaliveIdleS, interval = 10, count = 3;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

int unsent_bytes(int fd) {
  int unsent = 0;
  return ::ioctl(fd, SIOCOUTQ, &unsent) == 0 ? unsent : -1;
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

bool allowed(const std::vector<Network>& networks, const PeerAddress& peer) {
  if (!peer.tcp) return true;
  return std::any_of(networks.begin(), networks.end(),
                     [&](const Network& net) { return net.contains(peer.bytes.data(), peer.v6); });
}

PeerAddress peer_address(const asio::ip::address& address) {
  PeerAddress peer;
  peer.tcp = true;
  if (address.is_v4()) {
    const auto b = address.to_v4().to_bytes();
    std::copy(b.begin(), b.end(), peer.bytes.begin());
  } else {
    peer.v6 = true;
    const auto b = address.to_v6().to_bytes();
    std::copy(b.begin(), b.end(), peer.bytes.begin());
  }
  return peer;
}

std::shared_ptr<TcpListener> open_tcp(asio::io_context& io, const std::string& bind, int port,
                                      const std::string& what) {
  auto listener = std::make_shared<TcpListener>(io);
  listener->bind = bind;
  listener->port = port;
  const std::string wanted =
      (bind.find(':') != std::string::npos ? "[" + bind + "]" : bind) + ":" + std::to_string(port);
  try {
    const tcp::endpoint endpoint(asio::ip::make_address(bind), static_cast<unsigned short>(port));
    listener->acceptor.open(endpoint.protocol());
    listener->acceptor.set_option(asio::socket_base::reuse_address(true));
    if (endpoint.address().is_v6()) {
      // "::" serves IPv4 clients too, whatever the system's bindv6only default.
      listener->acceptor.set_option(asio::ip::v6_only(false));
    }
    listener->acceptor.bind(endpoint);
    listener->acceptor.listen(asio::socket_base::max_listen_connections);
    const auto actual = listener->acceptor.local_endpoint();
    const std::string host = actual.address().to_string();
    listener->address =
        (actual.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(actual.port());
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("cannot listen on " + what + " " + wanted + ": " + e.code().message());
  }
  return listener;
}

std::optional<std::string> bind_problem(const std::string& bind, int port) {
  if (port == 0) return std::nullopt;
  asio::io_context io;
  tcp::acceptor probe(io);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(bind, ec);
  if (ec) return ec.message();
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  probe.open(endpoint.protocol(), ec);
  if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && address.is_v6()) probe.set_option(asio::ip::v6_only(false), ec);
  if (!ec) probe.bind(endpoint, ec);
  if (!ec || ec == asio::error::address_in_use) return std::nullopt;
  return ec.message();
}

std::shared_ptr<TcpListener> switch_listener(asio::io_context& io,
                                             const std::shared_ptr<TcpListener>& running,
                                             std::shared_ptr<TcpListener> prepared, bool enabled,
                                             const std::string& bind, int port,
                                             const std::string& what) {
  auto close = [&] {
    if (!running) return;
    boost::system::error_code ec;
    running->acceptor.close(ec);
    running->retry.cancel();
  };
  if (prepared) {
    close();
    return prepared;
  }
  if (!enabled) {
    close();
    return nullptr;
  }
  if (!running || (running->bind == bind && running->port == port)) return running;
  const std::string old_bind = running->bind;
  const int old_port = running->port;
  close();
  try {
    return open_tcp(io, bind, port, what);
  } catch (const std::exception& e) {
    log::error(e.what(), "; staying on ", old_bind, ":", old_port);
    try {
      return open_tcp(io, old_bind, old_port, what);
    } catch (const std::exception& again) {
      log::error(again.what(), "; ", what, " clients cannot connect until the next reload");
      return nullptr;
    }
  }
}

}  // namespace lookout::net
