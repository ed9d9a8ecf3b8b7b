// A real MQTT broker and a real MQTT client for lookoutd's MQTT tests:
//
//  * Broker: Debian's mosquitto, started on a free loopback port with a
//    config written for the test (listeners, TLS, password file), stopped,
//    restarted on the same port, or killed.
//  * Subscriber: a libmosquitto client on its own thread that records every
//    message (topic, payload, retain flag) and can publish (commands, Home
//    Assistant's birth message).
#pragma once

#include <mosquitto.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>

#include "harness.hpp"

namespace lookout::test {

inline const char* kMosquitto = "/usr/sbin/mosquitto";

// A port nothing listens on now (the kernel's choice for port 0).
inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

inline bool port_accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// `extra` holds mosquitto.conf lines after the plain listener on port() (a
// TLS listener, "allow_anonymous false" and a password file, ...).
struct BrokerOptions {
  std::string extra;
  bool start = true;  // false: only reserve the port (a broker that is down)
};

class Broker {
 public:
  explicit Broker(BrokerOptions options = {}) : options_(std::move(options)), port_(free_port()) {
    if (::access(kMosquitto, X_OK) != 0) {
      throw std::runtime_error(std::string(kMosquitto) +
                               " not found: scripts/install-deps.sh installs it (Debian package "
                               "mosquitto)");
    }
    if (options_.start) start();
  }
  ~Broker() { kill(); }
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  int port() const { return port_; }
  const TempDir& dir() const { return dir_; }
  std::string log() const { return read_file(dir_.path() / "broker.log"); }

  void start() {
    if (pid_ > 0) return;
    std::string conf = "listener " + std::to_string(port_) +
                       " 127.0.0.1\npersistence false\nlog_type all\n"
                       // Run as root, mosquitto would become user "mosquitto" and could
                       // not read the tests' private directories; otherwise no effect.
                       "user root\n";
    if (options_.extra.find("allow_anonymous") == std::string::npos) {
      conf += "allow_anonymous true\n";
    }
    conf += options_.extra;
    const auto path = dir_.write("mosquitto.conf", conf);
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    pid_ = Daemon::spawn({kMosquitto, "-c", path.string()}, env, dir_.path() / "broker.log");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!port_accepts(port_)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("mosquitto exited at start; its log:\n" + log());
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("mosquitto does not listen on port " + std::to_string(port_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // SIGTERM and wait: clients see their connection closed.
  void stop() { end(SIGTERM); }
  // SIGKILL: the broker is gone at once.
  void kill() { end(SIGKILL); }

 private:
  void end(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  BrokerOptions options_;
  TempDir dir_;
  int port_;
  pid_t pid_ = -1;
};

struct MqttMessage {
  std::string topic;
  std::string payload;
  bool retained = false;
};

// A libmosquitto client that records what arrives on `filter` (or publishes).
class Subscriber {
 public:
  explicit Subscriber(int port, std::vector<std::string> filters = {"#"}) {
    static const int initialised = mosquitto_lib_init();
    (void)initialised;
    mosq_ = mosquitto_new(nullptr, true, this);
    if (mosq_ == nullptr) throw std::runtime_error("mosquitto_new failed");
    filters_ = std::move(filters);
    mosquitto_connect_callback_set(mosq_, [](mosquitto* m, void* self, int rc) {
      auto* s = static_cast<Subscriber*>(self);
      if (rc != 0) return;
      for (const auto& f : s->filters_) mosquitto_subscribe(m, nullptr, f.c_str(), 1);
    });
    mosquitto_subscribe_callback_set(mosq_, [](mosquitto*, void* self, int, int, const int*) {
      auto* s = static_cast<Subscriber*>(self);
      std::lock_guard lock(s->mutex_);
      ++s->subscribed_;
      s->arrived_.notify_all();
    });
    mosquitto_message_callback_set(mosq_, [](mosquitto*, void* self, const mosquitto_message* m) {
      auto* s = static_cast<Subscriber*>(self);
      std::lock_guard lock(s->mutex_);
      s->messages_.push_back({m->topic,
                              std::string(static_cast<const char*>(m->payload),
                                          m->payload ? static_cast<std::size_t>(m->payloadlen) : 0),
                              m->retain});
      s->arrived_.notify_all();
    });
    if (mosquitto_connect(mosq_, "127.0.0.1", port, 30) != MOSQ_ERR_SUCCESS) {
      mosquitto_destroy(mosq_);
      throw std::runtime_error("the test subscriber cannot connect to port " +
                               std::to_string(port));
    }
    mosquitto_loop_start(mosq_);
    std::unique_lock lock(mutex_);
    if (!arrived_.wait_for(lock, std::chrono::seconds(20),
                           [&] { return subscribed_ >= filters_.size(); })) {
      throw std::runtime_error("the test subscriber could not subscribe");
    }
  }
  ~Subscriber() {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, true);
    mosquitto_destroy(mosq_);
  }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  void publish(const std::string& topic, const std::string& payload, bool retain = false) {
    mosquitto_publish(mosq_, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                      payload.data(), 1, retain);
  }

  std::vector<MqttMessage> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }
  std::vector<MqttMessage> on(const std::string& topic, std::size_t from = 0) const {
    std::vector<MqttMessage> out;
    const auto all = messages();
    for (std::size_t i = from; i < all.size(); ++i) {
      if (all[i].topic == topic) out.push_back(all[i]);
    }
    return out;
  }
  // Waits until a message from index `from` on satisfies `match`; returns its index.
  std::optional<std::size_t> wait_for(const std::function<bool(const MqttMessage&)>& match,
                                      std::size_t from = 0,
                                      std::chrono::milliseconds patience = kPatience) {
    std::unique_lock lock(mutex_);
    std::optional<std::size_t> found;
    arrived_.wait_for(lock, patience, [&] {
      for (std::size_t i = from; i < messages_.size(); ++i) {
        if (match(messages_[i])) {
          found = i;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::optional<std::size_t> wait_for(const std::string& topic, const std::string& payload,
                                      std::size_t from = 0,
                                      std::chrono::milliseconds patience = kPatience) {
    return wait_for([&](const MqttMessage& m) { return m.topic == topic && m.payload == payload; },
                    from, patience);
  }

 private:
  mosquitto* mosq_ = nullptr;
  std::vector<std::string> filters_;
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<MqttMessage> messages_;
  std::size_t subscribed_ = 0;
};

// Runs a shell command (openssl, mosquitto_passwd); throws with its output on failure.
inline void run_command(const TempDir& dir, const std::string& command) {
  const auto log = dir.path() / "command.log";
  const std::string full =
      "cd '" + dir.path().string() + "' && (" + command + ") > '" + log.string() + "' 2>&1";
  if (std::system(full.c_str()) != 0) {
    throw std::runtime_error("command failed: " + command + "\n" + read_file(log));
  }
}

}  // namespace lookout::test
