// A small HTTP/1.1 client over a raw TCP socket for the HTTP server's tests:
// raw so that a test can send exactly the bytes it means (a malformed request
// line, headers trickled byte by byte, a huge header) and bind the source
// address (127.0.0.2, for allowed networks).
//
// Timeouts are hang guards only (kPatience), never judgements of speed.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "harness.hpp"

namespace lookout::test {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpConnection {
 public:
  // Connects to 127.0.0.1:port, from `source` when given (e.g. "127.0.0.2"),
  // with a receive buffer of `receive_buffer` bytes when given (set before
  // connecting, as TCP's window needs).
  explicit HttpConnection(int port, const std::string& source = "", int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    if (!source.empty()) {
      sockaddr_in local{};
      local.sin_family = AF_INET;
      ::inet_pton(AF_INET, source.c_str(), &local.sin_addr);
      if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
        throw std::runtime_error("cannot bind to " + source + ": " + std::strerror(errno));
      }
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port) + ": " +
                               std::strerror(errno));
    }
  }
  ~HttpConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  int fd() const { return fd_; }
  // This end's port, as the daemon's log names the client.
  int local_port() const { return local_port_of(fd_); }
  void send(const std::string& data) {
    std::size_t sent = 0;
    while (sent < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error(std::string("send failed: ") + std::strerror(errno));
      sent += static_cast<std::size_t>(n);
    }
  }
  // False when the server closed its side (or reset) before anything came.
  bool try_send(const std::string& data) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    return n == static_cast<ssize_t>(data.size());
  }

  // Reads more into the buffer; false on close or after `patience`.
  bool fill(std::chrono::milliseconds patience = kPatience) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(patience.count())) <= 0) return false;
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buffer_.append(chunk, static_cast<std::size_t>(n));
    return true;
  }

  // True when the server closes the connection (EOF or reset) within
  // `patience` with nothing (more) sent.
  bool closed_without_data(std::chrono::milliseconds patience = kPatience) {
    const std::size_t before = buffer_.size();
    while (fill(patience)) {
    }
    return closed_ && buffer_.size() == before;
  }
  bool closed() const { return closed_; }

  // Reads one response (Content-Length bodies, or until close without one;
  // `head`: the answer to HEAD, which has no body whatever its Content-Length).
  std::optional<HttpResponse> read_response(std::chrono::milliseconds patience = kPatience,
                                            bool head_only = false) {
    const auto deadline = Clock::now() + patience;
    std::size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (Clock::now() > deadline || !fill(remaining(deadline))) return std::nullopt;
    }
    HttpResponse r;
    const std::string head = buffer_.substr(0, head_end);
    buffer_.erase(0, head_end + 4);
    std::size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) return std::nullopt;
    r.status = std::stoi(status_line.substr(9, 3));
    while (line_end != std::string::npos && line_end < head.size()) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line =
          head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers[name] = value;
    }
    if (head_only) return r;
    if (r.headers.count("content-length")) {
      const std::size_t length = std::stoul(r.headers["content-length"]);
      while (buffer_.size() < length) {
        if (Clock::now() > deadline || !fill(remaining(deadline))) return std::nullopt;
      }
      r.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
    } else if (r.header("content-type").rfind("multipart/", 0) != 0 &&
               r.header("content-type") != "text/event-stream") {
      while (fill(remaining(deadline))) {
      }
      r.body = std::move(buffer_);
      buffer_.clear();
    }
    return r;
  }

  // For streams: bytes after the response head, read as they come.
  std::string& buffer() { return buffer_; }

  // The next server-sent event (its "event:" name and "data:" payload).
  std::optional<std::pair<std::string, std::string>> next_event(
      std::chrono::milliseconds patience = kPatience) {
    const auto deadline = Clock::now() + patience;
    for (;;) {
      const auto end = buffer_.find("\n\n");
      if (end != std::string::npos) {
        const std::string block = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        std::string name, data;
        std::size_t start = 0;
        while (start < block.size()) {
          auto stop = block.find('\n', start);
          if (stop == std::string::npos) stop = block.size();
          const std::string line = block.substr(start, stop - start);
          if (line.rfind("event: ", 0) == 0) name = line.substr(7);
          if (line.rfind("data: ", 0) == 0) data = line.substr(6);
          start = stop + 1;
        }
        if (!name.empty()) return std::make_pair(name, data);
        continue;  // "retry:" and comments
      }
      if (Clock::now() > deadline || !fill(remaining(deadline))) return std::nullopt;
    }
  }

  // The next JPEG of a multipart/x-mixed-replace stream.
  std::optional<std::string> next_part(std::chrono::milliseconds patience = kPatience) {
    const auto deadline = Clock::now() + patience;
    for (;;) {
      const auto head_end = buffer_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const std::string head = buffer_.substr(0, head_end);
        const auto at = head.find("Content-Length: ");
        if (head.rfind("--lookoutframe\r\n", 0) != 0 || at == std::string::npos) {
          throw std::runtime_error("not a multipart part: " + head.substr(0, 200));
        }
        const std::size_t length = std::stoul(head.substr(at + 16));
        if (buffer_.size() >= head_end + 4 + length + 2) {
          std::string jpeg = buffer_.substr(head_end + 4, length);
          buffer_.erase(0, head_end + 4 + length + 2);
          return jpeg;
        }
      }
      if (Clock::now() > deadline || !fill(remaining(deadline))) return std::nullopt;
    }
  }

 private:
  static std::chrono::milliseconds remaining(Clock::time_point deadline) {
    return std::max(std::chrono::milliseconds(1),
                    std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
  }

  int fd_ = -1;
  std::string buffer_;
  bool closed_ = false;
};

// One request on a connection of its own.
inline std::optional<HttpResponse> http_get(int port, const std::string& target,
                                            const std::string& extra_headers = "") {
  HttpConnection c(port);
  c.send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers +
         "\r\n");
  return c.read_response();
}

}  // namespace lookout::test
