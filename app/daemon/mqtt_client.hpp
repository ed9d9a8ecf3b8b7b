// MqttClient: one connection to an MQTT broker through libmosquitto, kept up
// on a thread of its own ("mqtt"), so that a slow, absent or misconfigured
// broker never holds up inference, lookout/1 or HTTP.
//
// What it sends comes in two kinds:
//  * retained states (availability aside: birth, Last Will and clean stop are
//    the client's own): one value per topic, the newest. Never dropped, never
//    queued twice: a change made while disconnected is simply the value
//    published on the next connect, where every state is published again
//    (discovery configs first, then states: Group). Clearing a state
//    publishes an empty retained message, which removes it from the broker.
//  * streamed messages (detections, stats, events): a queue of at most
//    `max_queued`, oldest dropped first and counted. While disconnected the
//    newest `max_queued` wait and go out in order on reconnect.
// At most kMaxInflight messages are handed to libmosquitto at a time, so its
// own (unbounded) queue never grows either.
//
// Connecting: it retries with exponential backoff (1 s doubling to 60 s, with
// jitter so that a fleet does not reconnect in step after a broker restart)
// and logs once per change of state, not per attempt. A broker that refuses
// the credentials, or a TLS setup that fails, is one error naming the keys to
// fix; the client then keeps trying at the longest interval, quietly.
//
// Ownership: the owner (MqttOutput) holds it by unique_ptr; libmosquitto's
// handle belongs to the client's thread alone.
//
// Threads: every public function may be called from any thread (the I/O
// thread in practice); the message handler runs on the "mqtt" thread.
#pragma once

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/enum_names.hpp"

struct mosquitto;
struct mosquitto_message;

namespace lookout {

enum class MqttState {
  Connecting,  // the first attempt, or one after a lost connection
  Connected,
  Retrying,  // the last attempt failed; waiting to try again
  Refused,   // the broker refused the credentials, or TLS failed: fix the configuration
  Stopped,
};

template <>
struct EnumTable<MqttState> {
  static constexpr std::array<EnumName<MqttState>, 5> entries{{
      {MqttState::Connecting, "connecting"},
      {MqttState::Connected, "connected"},
      {MqttState::Retrying, "retrying"},
      {MqttState::Refused, "refused"},
      {MqttState::Stopped, "stopped"},
  }};
};

// What a streamed message is, for the counters (fleet-sim compares the
// detections delivered with what subscribers received).
enum class MqttKind { Detections, Stats, Events, Other };

struct MqttSettings {
  std::string host;
  int port = 1883;
  std::string client_id;
  std::string username;  // empty = anonymous
  std::string password;
  bool tls = false;
  std::string ca_file;  // empty = the system's CAs
  std::string cert_file, key_file;
  int keepalive_s = 30;
  int qos = 1;
  std::string availability_topic;  // "online" on connect; "offline" as Last Will and on stop
  std::vector<std::string> subscriptions;
  std::size_t max_queued = 100;

  bool operator==(const MqttSettings& o) const;
  bool operator!=(const MqttSettings& o) const { return !(*this == o); }
};

struct MqttCounters {
  MqttState state = MqttState::Connecting;
  std::string error;       // why the last attempt failed, while not connected
  std::uint64_t sent = 0;  // streamed messages delivered (QoS 0: written; else acknowledged)
  std::uint64_t detections_sent = 0;
  std::uint64_t dropped = 0;  // streamed messages dropped (queue full, lost with a connection)
  std::size_t queued = 0;     // streamed messages waiting now
  std::uint64_t connects = 0;
};

class MqttClient {
 public:
  // On the mqtt thread, for every message on a subscribed topic, with its
  // retain flag; payloads longer than kMaxPayloadBytes are cut to that (they
  // are commands).
  static constexpr std::size_t kMaxPayloadBytes = 1024;
  using MessageHandler =
      std::function<void(const std::string& topic, std::string payload, bool retained)>;
  // Retained states go out in group order after each connect.
  enum class Group { Discovery = 0, State = 1 };
  static constexpr std::size_t kMaxInflight = 20;

  MqttClient(MqttSettings settings, MessageHandler on_message);
  ~MqttClient();  // stop(), then joins
  MqttClient(const MqttClient&) = delete;
  MqttClient& operator=(const MqttClient&) = delete;

  const MqttSettings& settings() const { return settings_; }

  // Sets a retained state; it goes out now if connected and changed, and
  // after every connect.
  void set_retained(const std::string& topic, std::shared_ptr<const std::string> payload,
                    Group group);
  // Removes a retained state from the broker (an empty retained message).
  void clear_retained(const std::string& topic);
  bool has_retained(const std::string& topic) const;
  // Publishes every retained state again (Home Assistant came online).
  void republish_retained();
  // Queues a streamed message.
  void send(std::string topic, std::shared_ptr<const std::string> payload, MqttKind kind);
  void set_max_queued(std::size_t max_queued);

  MqttCounters counters() const;

  // Asks the thread to publish "offline", deliver what is queued (for at
  // most `flush`), disconnect cleanly and end. Returns at once.
  void stop(std::chrono::milliseconds flush = std::chrono::seconds(2));
  // Whether the thread has ended (after stop()).
  bool finished() const;
  // Detaches the thread, which still uses this object: only for a client
  // whose owner then leaks it at shutdown (a thread stuck in a lookup).
  void abandon() { thread_.detach(); }

 private:
  struct Retained {
    std::shared_ptr<const std::string> payload;  // empty string = clear
    Group group = Group::State;
    bool dirty = true;
  };
  struct Streamed {
    std::string topic;
    std::shared_ptr<const std::string> payload;
    MqttKind kind = MqttKind::Other;
  };
  struct Inflight {
    bool streamed = false;
    MqttKind kind = MqttKind::Other;
    int qos = 0;
    std::string cleared_topic;  // a clear: forgotten once delivered
  };

  void run();
  bool make_handle();
  void destroy_handle();
  bool connect_once(bool first);
  void pump();
  bool publish_raw(const std::string& topic, const std::string& payload, bool retain,
                   Inflight what);
  void connection_failed(std::string why, bool refused);
  void connection_lost(int rc);
  void set_state(MqttState state, const std::string& why);
  bool is_connected() const;  // counters_.state is Connected
  std::string describe_error(int rc) const;
  std::string tls_failure(int rc) const;  // names the keys to check

  // libmosquitto callbacks, on the mqtt thread inside mosquitto_loop.
  static void on_connect(struct mosquitto*, void* self, int rc);
  static void on_disconnect(struct mosquitto*, void* self, int rc);
  static void on_publish(struct mosquitto*, void* self, int mid);
  static void on_message(struct mosquitto*, void* self, const struct mosquitto_message* message);
  static void on_log(struct mosquitto*, void* self, int level, const char* text);

  const MqttSettings settings_;
  const MessageHandler on_message_;

  // ---- mqtt thread only -------------------------------------------------------------
  struct mosquitto* mosq_ = nullptr;
  bool socket_open_ = false;    // a connection attempt or connection in progress
  bool session_ready_ = false;  // CONNACK accepted; subscriptions and availability still to send
  int connack_ = -1;            // the last CONNACK code, -1 = none yet
  std::string library_error_;   // libmosquitto's last error log line (TLS details)
  std::chrono::steady_clock::duration backoff_{};
  std::chrono::steady_clock::time_point attempt_started_{};
  std::map<int, Inflight> inflight_;  // by message id

  // ---- shared, under mutex_ ---------------------------------------------------------
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, Retained> retained_;
  std::deque<Streamed> queue_;
  std::size_t max_queued_;
  MqttCounters counters_;
  bool stop_requested_ = false;
  bool finished_ = false;
  std::chrono::milliseconds flush_{0};

  std::thread thread_;
};

}  // namespace lookout
