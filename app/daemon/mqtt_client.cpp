#include "mqtt_client.hpp"

#include <mosquitto.h>
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <tuple>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "core/log.hpp"

namespace lookout {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::chrono::seconds kFirstBackoff{1};
constexpr std::chrono::seconds kMaxBackoff{60};
// mosquitto_loop waits at most this long for the socket, so that what the I/O
// thread queued goes out within it.
constexpr int kLoopTimeoutMs = 50;
constexpr const char* kSystemCaDirectory = "/etc/ssl/certs";

// libmosquitto's global state, set up once for the process.
void ensure_library() {
  struct Library {
    Library() { mosquitto_lib_init(); }
    ~Library() { mosquitto_lib_cleanup(); }
  };
  static Library library;
}

std::string where(const MqttSettings& s) {
  return s.host + ":" + std::to_string(s.port);
}

// Spreads the reconnects of a fleet (±20 %) so that they do not come in step.
Clock::duration jittered(Clock::duration d) {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor(0.8, 1.2);
  return std::chrono::duration_cast<Clock::duration>(d * factor(rng));
}

// A connection attempt stops counting as "in progress" after this.
constexpr std::chrono::seconds kConnectTimeout{10};

// The error of a TCP socket the kernel has closed (a refused or reset
// connect: ECONNREFUSED, ...), or 0 while it is open or connecting.
int closed_socket_error(int fd) {
  if (fd < 0) return EBADF;
  tcp_info info{};
  socklen_t length = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return 0;
  if (info.tcpi_state != TCP_CLOSE) return 0;
  int error = 0;
  length = sizeof error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
  return error != 0 ? error : ECONNRESET;
}

bool looks_like_tls(const std::string& text) {
  return text.find("SSL") != std::string::npos || text.find("TLS") != std::string::npos ||
         text.find("certificate") != std::string::npos;
}

}  // namespace

bool MqttSettings::operator==(const MqttSettings& o) const {
  return std::tie(host, port, client_id, username, password, tls, ca_file, cert_file, key_file,
                  keepalive_s, qos, availability_topic, subscriptions) ==
         std::tie(o.host, o.port, o.client_id, o.username, o.password, o.tls, o.ca_file,
                  o.cert_file, o.key_file, o.keepalive_s, o.qos, o.availability_topic,
                  o.subscriptions);
}

MqttClient::MqttClient(MqttSettings settings, MessageHandler on_message)
    : settings_(std::move(settings)),
      on_message_(std::move(on_message)),
      max_queued_(std::max<std::size_t>(1, settings_.max_queued)) {
  ensure_library();
  thread_ = std::thread([this] { run(); });
}

MqttClient::~MqttClient() {
  stop();
  if (thread_.joinable()) thread_.join();
}

// ---- any thread ------------------------------------------------------------------------

void MqttClient::set_retained(const std::string& topic, std::shared_ptr<const std::string> payload,
                              Group group) {
  std::lock_guard lock(mutex_);
  Retained& r = retained_[topic];
  if (r.payload && *r.payload == *payload && r.group == group) return;
  r.payload = std::move(payload);
  r.group = group;
  r.dirty = true;
}

void MqttClient::clear_retained(const std::string& topic) {
  static const auto empty = std::make_shared<const std::string>();
  std::lock_guard lock(mutex_);
  Retained& r = retained_[topic];
  if (r.payload && r.payload->empty()) return;  // already being cleared
  r.payload = empty;
  r.dirty = true;
}

bool MqttClient::has_retained(const std::string& topic) const {
  std::lock_guard lock(mutex_);
  const auto it = retained_.find(topic);
  return it != retained_.end() && it->second.payload && !it->second.payload->empty();
}

void MqttClient::republish_retained() {
  std::lock_guard lock(mutex_);
  for (auto& [topic, r] : retained_) r.dirty = true;
}

void MqttClient::send(std::string topic, std::shared_ptr<const std::string> payload,
                      MqttKind kind) {
  std::lock_guard lock(mutex_);
  if (stop_requested_) return;
  queue_.push_back({std::move(topic), std::move(payload), kind});
  while (queue_.size() > max_queued_) {
    queue_.pop_front();
    ++counters_.dropped;
  }
}

void MqttClient::set_max_queued(std::size_t max_queued) {
  std::lock_guard lock(mutex_);
  max_queued_ = std::max<std::size_t>(1, max_queued);
  while (queue_.size() > max_queued_) {
    queue_.pop_front();
    ++counters_.dropped;
  }
}

MqttCounters MqttClient::counters() const {
  std::lock_guard lock(mutex_);
  MqttCounters c = counters_;
  c.queued = queue_.size();
  return c;
}

void MqttClient::stop(std::chrono::milliseconds flush) {
  std::lock_guard lock(mutex_);
  if (stop_requested_) return;
  stop_requested_ = true;
  flush_ = flush;
  wake_.notify_all();
}

bool MqttClient::is_connected() const {
  std::lock_guard lock(mutex_);
  return counters_.state == MqttState::Connected;
}

bool MqttClient::finished() const {
  std::lock_guard lock(mutex_);
  return finished_;
}

// ---- the mqtt thread ---------------------------------------------------------------------

void MqttClient::run() {
  pthread_setname_np(pthread_self(), "mqtt");
  backoff_ = kFirstBackoff;
  Clock::time_point next_attempt = Clock::now();
  // The next attempt after a failure: the backoff, jittered, and doubled for the one after.
  auto back_off = [&] {
    next_attempt = Clock::now() + jittered(backoff_);
    backoff_ = std::min<Clock::duration>(backoff_ * 2, kMaxBackoff);
  };
  bool first_attempt = true;
  log::info("mqtt: connecting to ", where(settings_), " as ", settings_.client_id);
  while (true) {
    if (!socket_open_) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait_until(lock, next_attempt, [this] { return stop_requested_; });
        if (stop_requested_) break;
      }
      if (!connect_once(first_attempt)) back_off();
      first_attempt = false;
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      if (stop_requested_) break;
    }
    const int closed_error =
        session_ready_ || is_connected() ? 0 : closed_socket_error(mosquitto_socket(mosq_));
    if (!session_ready_ && !is_connected() &&
        (closed_error != 0 || Clock::now() - attempt_started_ > kConnectTimeout)) {
      // libmosquitto 2.0.11 keeps retrying a TLS handshake on a socket whose
      // TCP connection was refused (it sees SSL_ERROR_SYSCALL as "try again"),
      // a busy loop until its keep-alive check; and a connect that hangs
      // would wait as long. Give the attempt up here instead. A TCP
      // connection that is up with TLS but no CONNACK is a handshake that
      // failed or stalled: the TLS settings are the ones to check.
      const bool tls_stalled = settings_.tls && closed_error == 0;
      if (tls_stalled && library_error_.empty()) library_error_ = "the handshake did not finish";
      const std::string why =
          tls_stalled         ? tls_failure(MOSQ_ERR_TLS)
          : closed_error != 0 ? std::string(std::strerror(closed_error))
                              : "no connection within " + std::to_string(kConnectTimeout.count()) +
                                    " s (the broker is unreachable or not answering)";
      library_error_.clear();
      destroy_handle();
      connection_failed(why, tls_stalled);
      back_off();
      continue;
    }
    const int rc = mosquitto_loop(mosq_, kLoopTimeoutMs, 1);
    if (session_ready_) {
      // The broker accepted us: subscribe, say we are online, then publish
      // every retained state again (the broker may have restarted empty).
      session_ready_ = false;
      for (const auto& topic : settings_.subscriptions) {
        mosquitto_subscribe(mosq_, nullptr, topic.c_str(), std::min(settings_.qos, 1));
      }
      publish_raw(settings_.availability_topic, "online", true, {});
      {
        std::lock_guard lock(mutex_);
        ++counters_.connects;
        counters_.error.clear();
        for (auto& [topic, r] : retained_) r.dirty = true;
      }
      backoff_ = kFirstBackoff;
      set_state(MqttState::Connected, "");
    }
    if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(mosq_) < 0) {
      connection_lost(rc);
      back_off();
      continue;
    }
    if (is_connected()) pump();
  }

  // Stopping: a clean goodbye when connected (the broker then drops the Last
  // Will, so "offline" is published here), after what is queued, within flush_.
  std::chrono::milliseconds flush{0};
  {
    std::lock_guard lock(mutex_);
    flush = flush_;
  }
  if (is_connected() && socket_open_) {
    const auto deadline = Clock::now() + flush;
    while (Clock::now() < deadline) {
      pump();
      bool idle = false;
      {
        std::lock_guard lock(mutex_);
        idle = queue_.empty() && std::none_of(retained_.begin(), retained_.end(),
                                              [](const auto& r) { return r.second.dirty; });
      }
      if (idle && inflight_.empty()) break;
      if (mosquitto_loop(mosq_, 20, 1) != MOSQ_ERR_SUCCESS || mosquitto_socket(mosq_) < 0) break;
    }
    if (mosquitto_socket(mosq_) >= 0) {
      publish_raw(settings_.availability_topic, "offline", true, {});
      for (int i = 0; i < 25 && !inflight_.empty() && mosquitto_socket(mosq_) >= 0; ++i) {
        if (mosquitto_loop(mosq_, 20, 1) != MOSQ_ERR_SUCCESS) break;
      }
      mosquitto_disconnect(mosq_);
      for (int i = 0; i < 10 && mosquitto_socket(mosq_) >= 0; ++i) {
        if (mosquitto_loop(mosq_, 20, 1) != MOSQ_ERR_SUCCESS) break;
      }
    }
  }
  destroy_handle();  // counts what was still in flight as dropped
  MqttCounters final_counters;
  {
    std::lock_guard lock(mutex_);
    counters_.dropped += queue_.size();
    queue_.clear();
    final_counters = counters_;
  }
  log::info("mqtt: stopped (", where(settings_), "): ", final_counters.sent, " messages sent (",
            final_counters.detections_sent, " detections), ", final_counters.dropped, " dropped");
  set_state(MqttState::Stopped, "");
  std::lock_guard lock(mutex_);
  finished_ = true;
}

bool MqttClient::make_handle() {
  mosq_ = mosquitto_new(settings_.client_id.c_str(), /*clean_session=*/true, this);
  if (mosq_ == nullptr) {
    connection_failed("cannot create an MQTT client: " + std::string(std::strerror(errno)), false);
    return false;
  }
  mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  // Publishing from this thread queues; only mosquitto_loop writes, so that
  // acknowledgements always arrive through the loop (and never inside a
  // mosquitto_publish call).
  mosquitto_threaded_set(mosq_, true);
  mosquitto_max_inflight_messages_set(mosq_, kMaxInflight);
  mosquitto_connect_callback_set(mosq_, &MqttClient::on_connect);
  mosquitto_disconnect_callback_set(mosq_, &MqttClient::on_disconnect);
  mosquitto_publish_callback_set(mosq_, &MqttClient::on_publish);
  mosquitto_message_callback_set(mosq_, &MqttClient::on_message);
  mosquitto_log_callback_set(mosq_, &MqttClient::on_log);
  int rc = MOSQ_ERR_SUCCESS;
  if (!settings_.username.empty()) {
    rc = mosquitto_username_pw_set(
        mosq_, settings_.username.c_str(),
        settings_.password.empty() ? nullptr : settings_.password.c_str());
    if (rc != MOSQ_ERR_SUCCESS) {
      destroy_handle();
      connection_failed("mqtt.username: " + std::string(mosquitto_strerror(rc)), true);
      return false;
    }
  }
  static const char kOffline[] = "offline";
  rc = mosquitto_will_set(mosq_, settings_.availability_topic.c_str(), sizeof kOffline - 1,
                          kOffline, settings_.qos, /*retain=*/true);
  if (rc != MOSQ_ERR_SUCCESS) {
    destroy_handle();
    connection_failed("cannot set the Last Will on " + settings_.availability_topic + ": " +
                          mosquitto_strerror(rc),
                      true);
    return false;
  }
  if (settings_.tls) {
    auto or_null = [](const std::string& s) { return s.empty() ? nullptr : s.c_str(); };
    rc = mosquitto_tls_set(mosq_, or_null(settings_.ca_file),
                           settings_.ca_file.empty() ? kSystemCaDirectory : nullptr,
                           or_null(settings_.cert_file), or_null(settings_.key_file), nullptr);
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_tls_opts_set(mosq_, 1, nullptr, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      destroy_handle();
      connection_failed("TLS setup failed: " + std::string(mosquitto_strerror(rc)) +
                            " (check mqtt.tls.ca_file, mqtt.tls.cert_file, mqtt.tls.key_file)",
                        true);
      return false;
    }
  }
  return true;
}

void MqttClient::destroy_handle() {
  if (mosq_ != nullptr) mosquitto_destroy(mosq_);
  mosq_ = nullptr;
  socket_open_ = false;
  // What the handle still held dies with it: a new handle numbers its
  // messages from 1 again, so no acknowledgement could ever clear these.
  std::lock_guard lock(mutex_);
  for (const auto& [mid, what] : inflight_) {
    if (what.streamed) ++counters_.dropped;
  }
  inflight_.clear();
}

bool MqttClient::connect_once(bool first) {
  bool fresh = false;
  if (mosq_ == nullptr) {
    if (!make_handle()) return false;
    fresh = true;
  }
  connack_ = -1;
  library_error_.clear();
  errno = 0;
  const int rc = fresh || first ? mosquitto_connect_async(mosq_, settings_.host.c_str(),
                                                          settings_.port, settings_.keepalive_s)
                                : mosquitto_reconnect_async(mosq_);
  if (rc != MOSQ_ERR_SUCCESS) {
    const bool tls = rc == MOSQ_ERR_TLS || looks_like_tls(library_error_);
    const std::string why = tls ? tls_failure(rc) : describe_error(rc);
    // A handle left half-connected is started afresh next time.
    if (mosquitto_socket(mosq_) >= 0 || tls) destroy_handle();
    connection_failed(why, tls);
    return false;
  }
  socket_open_ = true;
  attempt_started_ = Clock::now();
  if (counters().state == MqttState::Retrying) {
    log::debug("mqtt: connecting to ", where(settings_), " again");
  }
  return true;
}

void MqttClient::pump() {
  while (inflight_.size() < kMaxInflight) {
    std::string topic;
    std::shared_ptr<const std::string> payload;
    Inflight what;
    bool retain = false;
    {
      std::lock_guard lock(mutex_);
      auto next = retained_.end();
      for (auto it = retained_.begin(); it != retained_.end(); ++it) {
        if (!it->second.dirty) continue;
        if (next == retained_.end() || it->second.group < next->second.group) next = it;
        if (next->second.group == Group::Discovery) break;
      }
      if (next != retained_.end()) {
        next->second.dirty = false;
        topic = next->first;
        payload = next->second.payload;
        retain = true;
        if (payload->empty()) what.cleared_topic = topic;
      } else if (!queue_.empty()) {
        topic = std::move(queue_.front().topic);
        payload = std::move(queue_.front().payload);
        what.streamed = true;
        what.kind = queue_.front().kind;
        queue_.pop_front();
      } else {
        return;
      }
    }
    if (!publish_raw(topic, *payload, retain, what)) {
      std::lock_guard lock(mutex_);
      if (retain) {
        if (auto it = retained_.find(topic); it != retained_.end()) it->second.dirty = true;
      } else if (queue_.size() < max_queued_) {
        queue_.push_front({std::move(topic), std::move(payload), what.kind});
      } else {
        ++counters_.dropped;
      }
      return;
    }
  }
}

bool MqttClient::publish_raw(const std::string& topic, const std::string& payload, bool retain,
                             Inflight what) {
  int mid = 0;
  what.qos = settings_.qos;
  const int rc = mosquitto_publish(mosq_, &mid, topic.c_str(), static_cast<int>(payload.size()),
                                   payload.data(), settings_.qos, retain);
  if (rc != MOSQ_ERR_SUCCESS) {
    log::debug("mqtt: publishing on ", topic, " failed: ", mosquitto_strerror(rc));
    return false;
  }
  inflight_[mid] = std::move(what);
  return true;
}

void MqttClient::connection_failed(std::string why, bool refused) {
  {
    std::lock_guard lock(mutex_);
    counters_.error = why;
  }
  if (refused) backoff_ = kMaxBackoff;
  set_state(refused ? MqttState::Refused : MqttState::Retrying, why);
}

void MqttClient::connection_lost(int rc) {
  bool stopping = false;
  {
    std::lock_guard lock(mutex_);
    stopping = stop_requested_;
  }
  if (stopping) {
    // Lost while saying goodbye: nothing to retry or report.
    destroy_handle();
    return;
  }
  const bool handle_broken = mosquitto_socket(mosq_) >= 0;  // the library left it open
  const bool was_connected = is_connected();
  // What libmosquitto still holds at QoS 1 and 2 is sent again on reconnect;
  // QoS 0 messages not yet written are gone.
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    if (handle_broken || it->second.qos == 0) {
      if (it->second.streamed) {
        std::lock_guard lock(mutex_);
        ++counters_.dropped;
      }
      it = inflight_.erase(it);
    } else {
      ++it;
    }
  }
  std::string why;
  bool refused = false;
  if (connack_ == 4 || connack_ == 5) {
    why = "the broker at " + where(settings_) +
          " refused the credentials: " + mosquitto_connack_string(connack_) +
          " (check mqtt.username and mqtt.password_file)";
    refused = true;
  } else if (connack_ == 2) {
    why = "the broker at " + where(settings_) + " refused client id '" + settings_.client_id +
          "' (mqtt.client_id)";
    refused = true;
  } else if (connack_ == 3) {
    // "Server unavailable": the broker is starting or overloaded; try again.
    why = "the broker at " + where(settings_) +
          " is unavailable: " + mosquitto_connack_string(connack_);
  } else if (connack_ > 0) {
    why = "the broker at " + where(settings_) +
          " refused the connection: " + mosquitto_connack_string(connack_);
    refused = true;
  } else if (rc == MOSQ_ERR_TLS || (!was_connected && looks_like_tls(library_error_))) {
    why = tls_failure(rc);
    refused = true;
  } else {
    why = describe_error(rc);
  }
  if (handle_broken || refused) {
    destroy_handle();
  } else {
    socket_open_ = false;
  }
  if (was_connected && !refused) {
    log::warning("mqtt: lost the connection to ", where(settings_), " (", why,
                 "); reconnecting with backoff");
    // Logged here already: the state changes quietly.
    std::lock_guard lock(mutex_);
    counters_.error = why;
    counters_.state = MqttState::Retrying;
    return;
  }
  connection_failed(why, refused);
}

void MqttClient::set_state(MqttState state, const std::string& why) {
  MqttState before;
  {
    std::lock_guard lock(mutex_);
    before = counters_.state;
    counters_.state = state;
  }
  if (before == state) return;
  switch (state) {
    case MqttState::Connected:
      log::notice("mqtt: connected to ", where(settings_), " as ", settings_.client_id);
      break;
    case MqttState::Retrying:
      log::warning("mqtt: cannot connect to ", where(settings_), ": ", why,
                   "; retrying with backoff (up to ", kMaxBackoff.count(),
                   " s), logged again when connected");
      break;
    case MqttState::Refused:
      log::error("mqtt: ", why, "; lookoutd runs on without MQTT and tries again every ",
                 kMaxBackoff.count(), " s");
      break;
    case MqttState::Connecting:
    case MqttState::Stopped:
      break;
  }
}

std::string MqttClient::tls_failure(int rc) const {
  return "TLS with " + where(settings_) + " failed: " +
         (library_error_.empty() ? std::string(mosquitto_strerror(rc)) : library_error_) +
         " (check mqtt.tls.ca_file, mqtt.tls.cert_file, mqtt.tls.key_file, and that mqtt.host "
         "is a name in the broker's certificate)";
}

std::string MqttClient::describe_error(int rc) const {
  std::string text;
  if (rc == MOSQ_ERR_ERRNO) {
    text = errno != 0 ? std::strerror(errno) : "system error";
  } else if (rc == MOSQ_ERR_SUCCESS) {
    text = "the connection closed";
  } else {
    text = mosquitto_strerror(rc);
  }
  if (!library_error_.empty() && rc != MOSQ_ERR_ERRNO) text += " (" + library_error_ + ")";
  return text;
}

// ---- callbacks (mqtt thread, inside mosquitto_loop) ------------------------------------------

void MqttClient::on_connect(struct mosquitto*, void* self, int rc) {
  auto* client = static_cast<MqttClient*>(self);
  client->connack_ = rc;
  if (rc == 0) client->session_ready_ = true;
}

void MqttClient::on_disconnect(struct mosquitto*, void*, int) {
  // The loop's return value says it; connection_lost() handles it.
}

void MqttClient::on_publish(struct mosquitto*, void* self, int mid) {
  auto* client = static_cast<MqttClient*>(self);
  const auto it = client->inflight_.find(mid);
  if (it == client->inflight_.end()) return;
  {
    std::lock_guard lock(client->mutex_);
    if (it->second.streamed) {
      ++client->counters_.sent;
      if (it->second.kind == MqttKind::Detections) ++client->counters_.detections_sent;
    }
    if (!it->second.cleared_topic.empty()) {
      const auto r = client->retained_.find(it->second.cleared_topic);
      if (r != client->retained_.end() && r->second.payload->empty() && !r->second.dirty) {
        client->retained_.erase(r);
      }
    }
  }
  client->inflight_.erase(it);
}

void MqttClient::on_message(struct mosquitto*, void* self, const struct mosquitto_message* m) {
  auto* client = static_cast<MqttClient*>(self);
  if (!client->on_message_ || m->topic == nullptr) return;
  // Commands are a word: a long payload is cut rather than copied on. (The
  // library has read it whole by now; the broker's message_size_limit bounds that.)
  const std::size_t length =
      m->payload == nullptr ? 0
                            : std::min(static_cast<std::size_t>(m->payloadlen), kMaxPayloadBytes);
  std::string payload(static_cast<const char*>(m->payload), length);
  client->on_message_(m->topic, std::move(payload), m->retain);
}

void MqttClient::on_log(struct mosquitto*, void* self, int level, const char* text) {
  auto* client = static_cast<MqttClient*>(self);
  if ((level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)) != 0 && text != nullptr) {
    client->library_error_ = text;
  }
  if ((level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING | MOSQ_LOG_NOTICE)) != 0 && text != nullptr) {
    log::debug("mqtt: libmosquitto: ", text);
  }
}

}  // namespace lookout
