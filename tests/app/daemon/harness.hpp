// Test harness for the real lookoutd: runs the binary as a child process with a
// config file in a temporary directory, stands in for systemd's notify socket,
// and talks to it over real TCP and Unix sockets.
//
// Timeouts here only keep a broken daemon from hanging the test run; they are
// generous and never used to judge speed.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "support/paths.hpp"

namespace lookout::test {

using json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Hang guard for anything waiting on the daemon.
inline constexpr auto kPatience = std::chrono::seconds(60);

inline std::filesystem::path lookoutd_binary() {
  return LOOKOUTD_BINARY;
}

// The model the daemon tests run: the shipped one, unless $LOOKOUT_TEST_MODEL
// names another.
inline std::filesystem::path test_model() {
  if (const char* m = std::getenv("LOOKOUT_TEST_MODEL"); m != nullptr && m[0] != '\0') return m;
  return default_model();
}

class TempDir {
 public:
  TempDir() {
    // Short, under /tmp: Unix socket paths must fit in 108 bytes.
    char name[] = "/tmp/lookoutd-test-XXXXXX";
    if (mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = name;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The settings tests vary; yaml() writes a complete config around them.
struct DaemonConfig {
  std::string camera = "test-cam";
  std::string source_type = "synthetic";
  double fps = 20;
  int width = 320;
  int height = 240;
  int max_clients = 32;
  int max_clients_per_host = 0;  // publish.tcp.max_clients_per_host; 0 = max_clients
  int unix_max_clients = 0;      // publish.unix.max_clients; 0 = max_clients
  int send_queue = 64;
  double stats_interval_s = 1;
  std::string token;
  std::vector<std::string> allowed_networks = {"127.0.0.0/8"};
  std::string source_extra;   // more lines for the source section, each "  key: value\n"
  std::string publish_extra;  // more lines for the publish section, each "  key: value\n"
  std::string tcp_extra;      // more lines for publish.tcp, each "    key: value\n"
  std::string model_extra;    // more lines for the model section, each "  key: value\n"
  std::string unix_name = "lookoutd.sock";
  bool http = true;        // http.enabled (on 127.0.0.1)
  int http_port = 0;       // http.port; 0 = any free one
  std::string http_extra;  // more lines for the http section, each "  key: value\n"
  std::string sections;    // more top-level sections (e.g. "mqtt:\n  enabled: true\n")

  std::string yaml(const TempDir& dir) const {
    std::ostringstream y;
    y << "camera: " << camera << "\n"
      << "source:\n  type: " << source_type << "\n  width: " << width << "\n  height: " << height
      << "\n  fps: " << fps << "\n"
      << source_extra << "model:\n  path: " << test_model().string()
      << "\n  input: [320, 256]\n  threads: 1\n"
      << model_extra << "publish:\n  max_clients: " << max_clients
      << "\n  send_queue: " << send_queue << "\n  stats_interval_s: " << stats_interval_s << "\n"
      << publish_extra << "  tcp:\n    bind: 127.0.0.1\n    port: 0\n    token: \"" << token
      << "\"\n    max_clients_per_host: "
      << (max_clients_per_host > 0 ? max_clients_per_host : max_clients) << "\n"
      << tcp_extra << "    allowed_networks:\n";
    for (const auto& net : allowed_networks) y << "      - " << net << "\n";
    y << "  unix:\n    path: " << (dir / unix_name).string()
      << "\n    max_clients: " << (unix_max_clients > 0 ? unix_max_clients : max_clients) << "\n"
      << "http:\n  enabled: " << (http ? "true" : "false")
      << "\n  bind: 127.0.0.1\n  port: " << http_port << "\n"
      << http_extra << sections << "logging:\n  level: debug\n";
    return y.str();
  }
};

// A Unix datagram socket where the daemon's sd_notify messages arrive.
// A reader thread drains it continuously, as systemd does: sd_notify blocks
// once a datagram socket's queue is full (net.unix.max_dgram_qlen, 10 by
// default), and a socket nobody reads would stall the daemon's event loop
// after ten status updates (it did under qemu, where tests run long enough).
class NotifySocket {
 public:
  explicit NotifySocket(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (fd_ >= 0) ::close(fd_);
      throw std::runtime_error("cannot bind the notify socket " + path_.string());
    }
    reader_ = std::thread([this] { read_loop(); });
  }
  ~NotifySocket() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    reader_.join();  // the loop polls with a short timeout and sees stop_
    ::close(fd_);
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;
  const std::filesystem::path& path() const { return path_; }

  // Waits for a message containing `needle` (e.g. "READY=1") that arrived
  // after the last one matched or passed over; returns it.
  std::optional<std::string> wait_for(const std::string& needle,
                                      std::chrono::milliseconds patience = kPatience) {
    std::unique_lock lock(mutex_);
    std::optional<std::string> found;
    arrived_.wait_for(lock, patience, [&] {
      for (; seen_ < messages_.size(); ++seen_) {
        if (messages_[seen_].find(needle) != std::string::npos) {
          found = messages_[seen_++];
          return true;
        }
      }
      return false;
    });
    return found;
  }
  // Stops (true) or resumes reading the socket, like a manager too busy to
  // read: the datagrams queue in the kernel, and once ten are queued the
  // sender's next one blocks.
  void pause_reading(bool paused) {
    std::lock_guard lock(mutex_);
    paused_ = paused;
  }
  // Every message so far, in order of arrival.
  std::vector<std::string> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }

 private:
  void read_loop() {
    for (;;) {
      bool paused = false;
      {
        std::lock_guard lock(mutex_);
        if (stop_) return;
        paused = paused_;
      }
      if (paused) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      {
        std::lock_guard lock(mutex_);
        messages_.emplace_back(buf, static_cast<std::size_t>(n));
      }
      arrived_.notify_all();
    }
  }

  std::filesystem::path path_;
  int fd_ = -1;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<std::string> messages_;  // guarded by mutex_
  std::size_t seen_ = 0;               // guarded by mutex_: messages already matched or passed over
  bool stop_ = false;                  // guarded by mutex_
  bool paused_ = false;                // guarded by mutex_
  std::thread reader_;                 // last: started once everything above exists
};

// lookoutd as a child process; killed if the test ends while it runs.
class Daemon {
 public:
  struct Options {
    std::vector<std::string> args;  // defaults to --config FILE
    std::vector<std::string> env;   // extra NAME=value
  };

  Daemon(const TempDir& dir, const std::filesystem::path& config, Options options = {})
      : log_path_(dir / "daemon.log"), notify_(dir / "notify.sock") {
    std::vector<std::string> args = {lookoutd_binary().string()};
    if (options.args.empty()) {
      args.push_back("--config");
      args.push_back(config.string());
    } else {
      args.insert(args.end(), options.args.begin(), options.args.end());
    }
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "NOTIFY_SOCKET=", 14) != 0 && std::strncmp(*e, "WATCHDOG_", 9) != 0 &&
          std::strncmp(*e, "STATE_DIRECTORY=", 16) != 0) {
        env.emplace_back(*e);
      }
    }
    env.push_back("NOTIFY_SOCKET=" + notify_.path().string());
    // Event snapshots go below the test's own directory (as under systemd's
    // StateDirectory=), never into the user's ~/.local/state. A test may give
    // its own (the first of a name is the one getenv sees).
    env.insert(env.begin(), options.env.begin(), options.env.end());
    env.push_back("STATE_DIRECTORY=" + (dir / "state").string());
    pid_ = spawn(args, env, log_path_);
  }

  ~Daemon() {
    if (pid_ > 0 && !exit_status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }
  NotifySocket& notify() { return notify_; }
  std::string log() const { return read_file(log_path_); }

  // Waits for READY=1; false if the daemon exited instead.
  bool wait_ready() {
    const auto deadline = Clock::now() + kPatience;
    while (Clock::now() < deadline) {
      if (notify_.wait_for("READY=1", 200ms)) return true;
      if (exited()) return false;
    }
    return false;
  }

  // The TCP port from the "listening on TCP 127.0.0.1:PORT" log line (the
  // configs use port 0, so parallel tests never collide).
  int tcp_port() const { return logged_port("listening on TCP "); }
  // The HTTP port, from "listening on HTTP 127.0.0.1:PORT".
  int http_port() const { return logged_port("listening on HTTP "); }

  // The port of the last log line starting with `marker` and ending in ":PORT".
  int logged_port(const std::string& marker) const {
    const std::string text = log();
    const auto at = text.rfind(marker);
    if (at != std::string::npos) {
      const auto line_end = text.find('\n', at);
      const std::string address = text.substr(at + marker.size(), line_end - at - marker.size());
      const auto colon = address.rfind(':');
      if (colon != std::string::npos) return std::stoi(address.substr(colon + 1));
    }
    throw std::runtime_error("no '" + marker + "' port in the daemon's log:\n" + text);
  }

  void signal(int sig) const { ::kill(pid_, sig); }

  bool exited() {
    if (exit_status_) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_status_ = status;
      return true;
    }
    return false;
  }

  // The exit code, or -signal; nullopt if it is still running after `patience`.
  std::optional<int> wait_exit(std::chrono::milliseconds patience = kPatience) {
    const auto deadline = Clock::now() + patience;
    while (!exited()) {
      if (Clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
    return WIFEXITED(*exit_status_) ? WEXITSTATUS(*exit_status_) : -WTERMSIG(*exit_status_);
  }

  // Resident memory from /proc, in KiB.
  long rss_kib() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
  }

  static pid_t spawn(const std::vector<std::string>& args, const std::vector<std::string>& env,
                     const std::filesystem::path& output) {
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      const int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      std::vector<char*> argv, envp;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
      argv.push_back(nullptr);
      envp.push_back(nullptr);
      ::execve(argv[0], argv.data(), envp.data());
      ::_exit(127);
    }
    return pid;
  }

 private:
  std::filesystem::path log_path_;
  NotifySocket notify_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

// Runs lookoutd to completion (for --check-config and bad configs).
struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};
// Runs `argv` with `env` to completion; its output goes to `out`.
inline RunResult run_to_completion(const std::vector<std::string>& argv,
                                   const std::vector<std::string>& env,
                                   const std::filesystem::path& out) {
  const pid_t pid = Daemon::spawn(argv, env, out);
  int status = 0;
  ::waitpid(pid, &status, 0);
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  r.output = read_file(out);
  return r;
}
inline RunResult run_lookoutd(const TempDir& dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {lookoutd_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "NOTIFY_SOCKET=", 14) != 0 &&
        std::strncmp(*e, "STATE_DIRECTORY=", 16) != 0)
      env.emplace_back(*e);
  }
  env.push_back("STATE_DIRECTORY=" + (dir / "state").string());
  return run_to_completion(argv, env, dir / "run.log");
}

// One client connection, reading JSON lines.
class Client {
 public:
  enum class Event { Line, Timeout, Closed };

  // To 127.0.0.1:port; `receive_buffer` > 0 sets SO_RCVBUF (a slow reader).
  static Client tcp(int port, int receive_buffer = 0) {
    return tcp_connect(port, receive_buffer, "");
  }

  // From another loopback address (127.0.0.2, ...): a second host, as far
  // as the daemon can tell.
  static Client tcp_from(int port, const std::string& source_address) {
    return tcp_connect(port, 0, source_address);
  }

  static Client unix_socket(const std::filesystem::path& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      throw std::runtime_error("cannot connect to " + path.string() + ": " + std::strerror(errno));
    }
    return Client(fd);
  }

  Client(Client&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)),
        buffer_(std::move(other.buffer_)),
        closed_(other.closed_) {}
  Client& operator=(Client&& other) noexcept {
    std::swap(fd_, other.fd_);
    std::swap(buffer_, other.buffer_);
    std::swap(closed_, other.closed_);
    return *this;
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }

  int fd() const { return fd_; }

  void send(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error(std::string("send failed: ") + std::strerror(errno));
      done += static_cast<std::size_t>(n);
    }
  }
  void send_line(const json& j) { send(j.dump() + "\n"); }

  // Reads the next line within `patience`.
  Event next_line(std::string& line, std::chrono::milliseconds patience = kPatience) {
    const auto deadline = Clock::now() + patience;
    for (;;) {
      if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
        line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return Event::Line;
      }
      if (closed_) return Event::Closed;
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return Event::Timeout;
      if (!fill(left)) continue;
    }
  }

  // The next message, or nullopt on timeout or disconnection.
  std::optional<json> next(std::chrono::milliseconds patience = kPatience) {
    std::string line;
    if (next_line(line, patience) != Event::Line) return std::nullopt;
    return json::parse(line);
  }

  // The next message of `type`, skipping others.
  std::optional<json> next_of(const std::string& type,
                              std::chrono::milliseconds patience = kPatience) {
    const auto deadline = Clock::now() + patience;
    while (Clock::now() < deadline) {
      auto j = next(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (!j) return std::nullopt;
      if ((*j)["type"] == type) return j;
    }
    return std::nullopt;
  }

  // True when the server closes the connection within `patience` (whatever it
  // sends before is discarded).
  bool closed_by_server(std::chrono::milliseconds patience = kPatience) {
    std::string line;
    const auto deadline = Clock::now() + patience;
    while (Clock::now() < deadline) {
      const Event e = next_line(
          line, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
      if (e == Event::Closed) return true;
      if (e == Event::Timeout) return false;
    }
    return false;
  }

  // Bytes received and not yet returned as lines.
  const std::string& pending() const { return buffer_; }
  bool saw_eof() const { return closed_; }

 private:
  static Client tcp_connect(int port, int receive_buffer, const std::string& source_address) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (receive_buffer > 0) {
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    const std::string from = source_address.empty() ? "" : " from " + source_address;
    if (!source_address.empty()) {
      sockaddr_in source{};
      source.sin_family = AF_INET;
      if (::inet_pton(AF_INET, source_address.c_str(), &source.sin_addr) != 1 ||
          ::bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot bind to " + source_address + ": " + std::strerror(errno));
      }
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd);
      throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port) + from + ": " +
                               std::strerror(errno));
    }
    return Client(fd);
  }

  explicit Client(int fd) : fd_(fd) {}

  // Reads what is available within `patience`; false on timeout.
  bool fill(std::chrono::milliseconds patience) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(patience.count())) <= 0) return false;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      closed_ = true;
    } else {
      buffer_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
  bool closed_ = false;
};

// A daemon started from a DaemonConfig and ready to serve.
// Descriptors a process holds (its /proc/PID/fd).
inline std::size_t open_fd_count(pid_t pid) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) {
    ++n;
  }
  return n;
}

// Waits up to `patience` until all but `unanswered` of the connections `fds`
// have something to read or were closed: the daemon accepted and dealt with
// them (until then one may still wait in the listen queue, not yet one of the
// daemon's descriptors). Returns how many did.
inline std::size_t wait_until_answered(const std::vector<int>& fds, std::size_t unanswered,
                                       std::chrono::milliseconds patience) {
  std::vector<pollfd> polls;
  for (int fd : fds) polls.push_back({fd, POLLIN, 0});
  const auto until = Clock::now() + patience;
  std::size_t answered = 0;
  while (Clock::now() < until) {
    ::poll(polls.data(), polls.size(), 100);
    answered = 0;
    for (const auto& p : polls) answered += (p.revents & (POLLIN | POLLHUP | POLLERR)) ? 1 : 0;
    if (answered + unanswered >= polls.size()) break;
  }
  return answered;
}

// The keepalive timer of the daemon's side of a loopback TCP connection, in
// seconds, from /proc/net/tcp (the row whose local port is the daemon's and
// whose remote port is the client's; "tr" 2 is the keepalive timer, its
// "when" in USER_HZ ticks). nullopt when that timer is not what is pending.
inline std::optional<double> keepalive_timer_s(int daemon_port, int client_port) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  char local[16], remote[16];
  std::snprintf(local, sizeof local, ":%04X", daemon_port);
  std::snprintf(remote, sizeof remote, ":%04X", client_port);
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local_address, remote_address, state, queues, timer;
    if (!(fields >> slot >> local_address >> remote_address >> state >> queues >> timer)) continue;
    const auto ends_with = [](const std::string& text, const char* end) {
      const std::size_t n = std::strlen(end);
      return text.size() >= n && text.compare(text.size() - n, n, end) == 0;
    };
    if (!ends_with(local_address, local) || !ends_with(remote_address, remote)) continue;
    if (timer.rfind("02:", 0) != 0) return std::nullopt;
    return std::stoul(timer.substr(3), nullptr, 16) / double(::sysconf(_SC_CLK_TCK));
  }
  return std::nullopt;
}

// This end's port of a connected socket.
inline int local_port_of(int fd) {
  sockaddr_in local{};
  socklen_t size = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &size);
  return ntohs(local.sin_port);
}

struct RunningDaemon {
  TempDir dir;
  std::filesystem::path config_path;
  std::unique_ptr<Daemon> daemon;
  int port = 0;
  int http_port = 0;  // 0 when http is disabled

  explicit RunningDaemon(const DaemonConfig& config, Daemon::Options options = {}) {
    config_path = dir.write("lookout.yaml", config.yaml(dir));
    daemon = std::make_unique<Daemon>(dir, config_path, std::move(options));
    if (!daemon->wait_ready()) {
      throw std::runtime_error("lookoutd did not get ready; its log:\n" + daemon->log());
    }
    port = daemon->tcp_port();
    if (config.http) http_port = daemon->http_port();
  }
  std::filesystem::path socket_path(const std::string& name = "lookoutd.sock") const {
    return dir / name;
  }
  Client tcp_client() const { return Client::tcp(port); }
  Client unix_client() const { return Client::unix_socket(socket_path()); }
};

}  // namespace lookout::test
