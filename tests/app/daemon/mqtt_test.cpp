// lookoutd's MQTT output against a real broker (Debian's mosquitto, started
// per test on a free loopback port): every topic and payload, the Home
// Assistant discovery configs, the Last Will, a broker that is down at start
// or restarts, TLS with a CA made by openssl here, refused credentials, Home
// Assistant's birth message, the detection switch, snapshot requests, entity
// removal on reload, and the bounded queue while disconnected.
#include <algorithm>
#include <set>

#include <doctest/doctest.h>

#include "broker.hpp"
#include "harness.hpp"
#include "http_client.hpp"

namespace lookout::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kBase = "lookout/test-cam";

std::string mqtt_section(int port, const std::string& extra = "") {
  return "mqtt:\n  enabled: true\n  host: 127.0.0.1\n  port: " + std::to_string(port) +
         "\n  keepalive_s: 5\n" + extra;
}

DaemonConfig mqtt_config(int port, const std::string& extra = "") {
  DaemonConfig config;
  config.http = false;
  config.sections = mqtt_section(port, extra);
  return config;
}

std::size_t count_lines(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

bool is_jpeg(const std::string& bytes) {
  return bytes.size() > 4 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
         static_cast<unsigned char>(bytes[1]) == 0xD8 &&
         static_cast<unsigned char>(bytes[bytes.size() - 2]) == 0xFF &&
         static_cast<unsigned char>(bytes[bytes.size() - 1]) == 0xD9;
}

bool is_config(const MqttMessage& m) {
  return m.topic.rfind("homeassistant/", 0) == 0 && m.topic.size() > 7 &&
         m.topic.compare(m.topic.size() - 7, 7, "/config") == 0;
}

// The shapes model's classes get entities by default (5 <= 10): per class an
// occupancy binary_sensor and a count sensor, then fps, inference, source
// state, the snapshot camera, the detection switch and the snapshot button.
constexpr std::size_t kDefaultConfigs = 5 * 2 + 6;

std::set<std::string> config_topics(const std::vector<MqttMessage>& messages, bool non_empty) {
  std::set<std::string> out;
  for (const auto& m : messages) {
    if (is_config(m) && (!non_empty || !m.payload.empty())) out.insert(m.topic);
  }
  return out;
}

// Waits until `n` distinct discovery configs (non-empty) arrived from `from` on.
bool wait_for_configs(Subscriber& sub, std::size_t n, std::size_t from = 0) {
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto all = sub.messages();
    std::vector<MqttMessage> tail(all.begin() + static_cast<std::ptrdiff_t>(from), all.end());
    if (config_topics(tail, true).size() >= n) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// CPU time (user + system, in seconds) of the daemon's thread named `name`.
std::optional<double> thread_cpu_s(pid_t pid, const std::string& name) {
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::string comm = read_file(task.path() / "comm");
    while (!comm.empty() && comm.back() == '\n') comm.pop_back();
    if (comm != name) continue;
    const std::string stat = read_file(task.path() / "stat");
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; fields >> field; ++i) {
      if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
      if (i == 15) break;
    }
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return std::nullopt;
}

bool log_within(Daemon& daemon, const std::string& needle,
                std::chrono::milliseconds patience = kPatience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (std::chrono::steady_clock::now() < deadline) {
    if (daemon.log().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

}  // namespace

TEST_CASE("MQTT: every topic, its payload, and the Home Assistant discovery configs") {
  Broker broker;
  Subscriber sub(broker.port());
  RunningDaemon d{
      mqtt_config(broker.port(), "  detections_max_rate: 4\n  snapshot_interval_s: 1\n")};

  REQUIRE(sub.wait_for(kBase + "/availability", "online"));
  REQUIRE(wait_for_configs(sub, kDefaultConfigs));
  REQUIRE(sub.wait_for([](const MqttMessage& m) { return m.topic == kBase + "/snapshot"; }));
  REQUIRE(sub.wait_for([](const MqttMessage& m) { return m.topic == kBase + "/stats"; }));
  // Detections at most detections_max_rate a second (the source runs at 20 fps).
  const std::size_t mark = sub.size();
  std::this_thread::sleep_for(3s);
  const auto window = sub.on(kBase + "/detections", mark);
  CHECK(window.size() >= 4);
  CHECK(window.size() <= 4 * 3 + 2);

  for (const auto& m : sub.on(kBase + "/detections")) {
    const json j = json::parse(m.payload);
    CHECK(j["type"] == "detections");
    CHECK(j["camera"] == "test-cam");
    CHECK(j["detections"].is_array());
    CHECK(m.payload.back() != '\n');
  }
  const auto stats = sub.on(kBase + "/stats");
  REQUIRE(!stats.empty());
  const json s = json::parse(stats.back().payload);
  CHECK(s["type"] == "stats");
  CHECK(s["outputs"]["mqtt"]["state"] == "connected");
  CHECK(s["outputs"]["mqtt"]["sent"].get<int>() > 0);

  // Per-class topics: counts are numbers, presence ON/OFF.
  std::size_t counts = 0, presences = 0;
  for (const auto& m : sub.messages()) {
    if (m.topic.rfind(kBase + "/", 0) != 0) continue;
    const std::string rest = m.topic.substr(kBase.size() + 1);
    if (rest.size() > 6 && rest.compare(rest.size() - 6, 6, "/count") == 0) {
      ++counts;
      CHECK(std::all_of(m.payload.begin(), m.payload.end(), ::isdigit));
      CHECK(!m.payload.empty());
    } else if (rest.size() > 9 && rest.compare(rest.size() - 9, 9, "/detected") == 0) {
      ++presences;
      CHECK((m.payload == "ON" || m.payload == "OFF"));
    }
  }
  CHECK(counts >= 5);
  CHECK(presences >= 5);
  CHECK(sub.wait_for(kBase + "/detection/state", "ON"));
  for (const auto& m : sub.on(kBase + "/snapshot")) CHECK(is_jpeg(m.payload));

  // Every discovery config: parsed, with a unique id, where its state comes
  // from, the shared availability and the device.
  std::set<std::string> unique_ids, components;
  std::string device_id;
  for (const auto& m : sub.messages()) {
    if (!is_config(m) || m.payload.empty()) continue;
    INFO(m.topic);
    const json c = json::parse(m.payload);
    const std::string component = m.topic.substr(14, m.topic.find('/', 14) - 14);
    components.insert(component);
    CHECK(m.topic.find("/lookout_test-cam/") != std::string::npos);
    REQUIRE(c.contains("unique_id"));
    unique_ids.insert(c["unique_id"].get<std::string>());
    if (component == "camera") {
      CHECK(c["topic"] == kBase + "/snapshot");
    } else if (component == "button") {
      CHECK(c["command_topic"] == kBase + "/snapshot/request");
    } else {
      REQUIRE(c.contains("state_topic"));
      CHECK(c["state_topic"].get<std::string>().rfind(kBase + "/", 0) == 0);
    }
    if (component == "switch") CHECK(c["command_topic"] == kBase + "/detection/set");
    REQUIRE(c["availability"].is_array());
    CHECK(c["availability"][0]["topic"] == kBase + "/availability");
    CHECK(c["device"]["name"] == "test-cam");
    CHECK(!c["device"]["model"].get<std::string>().empty());
    CHECK(!c["device"]["sw_version"].get<std::string>().empty());
    CHECK(c["origin"]["name"] == "lookout");
    const std::string id = c["device"]["identifiers"][0];
    if (device_id.empty()) device_id = id;
    CHECK(id == device_id);  // one device per camera
  }
  CHECK(unique_ids.size() == kDefaultConfigs);
  CHECK(components ==
        std::set<std::string>{"binary_sensor", "button", "camera", "sensor", "switch"});

  // What is retained: a subscriber arriving now gets the states at once.
  Subscriber late(broker.port());
  REQUIRE(late.wait_for(kBase + "/availability", "online"));
  REQUIRE(wait_for_configs(late, kDefaultConfigs));
  REQUIRE(late.wait_for([](const MqttMessage& m) { return m.topic == kBase + "/snapshot"; }));
  REQUIRE(late.wait_for(kBase + "/detection/state", "ON"));
  for (const auto& m : late.messages()) {
    const bool streamed = m.topic == kBase + "/detections" || m.topic == kBase + "/stats";
    if (streamed) {
      CHECK_MESSAGE(!m.retained, m.topic);
    } else if (late.on(m.topic).front().payload == m.payload) {
      CHECK_MESSAGE(m.retained, m.topic);
    }
  }
}

TEST_CASE("MQTT: the Last Will says offline when lookoutd is killed; a clean stop says it too") {
  Broker broker;
  Subscriber sub(broker.port(), {kBase + "/availability"});
  {
    RunningDaemon d{mqtt_config(broker.port())};
    REQUIRE(sub.wait_for(kBase + "/availability", "online"));
    const std::size_t mark = sub.size();
    d.daemon->signal(SIGKILL);
    REQUIRE(sub.wait_for(kBase + "/availability", "offline", mark, 20s));
  }
  {
    const std::size_t mark = sub.size();
    RunningDaemon d{mqtt_config(broker.port())};
    REQUIRE(sub.wait_for(kBase + "/availability", "online", mark));
    d.daemon->signal(SIGTERM);
    REQUIRE(d.daemon->wait_exit() == 0);
    REQUIRE(sub.wait_for(kBase + "/availability", "offline", mark, 10s));
    CHECK(d.daemon->log().find("mqtt: stopped") != std::string::npos);
  }
}

TEST_CASE("MQTT: a broker down at start, then up, then restarted; logged once per change") {
  Broker broker({"", /*start=*/false});
  RunningDaemon d{mqtt_config(broker.port())};
  INFO("lookoutd's log:\n" << d.daemon->log() << "\nthe broker's log:\n" << broker.log());
  // lookoutd serves everything else meanwhile.
  auto client = d.tcp_client();
  const auto hello = client.next();
  REQUIRE(hello);
  CHECK((*hello)["type"] == "hello");
  // Attempts at 1, 2 and 4 s: one log line, not one per attempt.
  std::this_thread::sleep_for(4s);
  CHECK(count_lines(d.daemon->log(), "mqtt: cannot connect") == 1);

  broker.start();
  {
    Subscriber sub(broker.port());
    REQUIRE(sub.wait_for(kBase + "/availability", "online"));
    REQUIRE(wait_for_configs(sub, kDefaultConfigs));
    REQUIRE(sub.wait_for(kBase + "/detection/state", "ON"));
  }
  CHECK(count_lines(d.daemon->log(), "mqtt: connected") == 1);

  // The broker restarts empty (no persistence): lookoutd reconnects and
  // publishes availability, discovery and its states again.
  broker.stop();
  broker.start();
  Subscriber sub(broker.port());
  REQUIRE(sub.wait_for(kBase + "/availability", "online"));
  REQUIRE(wait_for_configs(sub, kDefaultConfigs));
  REQUIRE(sub.wait_for(kBase + "/detection/state", "ON"));
  REQUIRE(sub.wait_for([](const MqttMessage& m) {
    return m.topic.size() > 6 && m.topic.compare(m.topic.size() - 6, 6, "/count") == 0;
  }));
  const std::string log = d.daemon->log();
  CHECK(count_lines(log, "mqtt: lost the connection") == 1);
  CHECK(count_lines(log, "mqtt: connected") == 2);
  CHECK(count_lines(log, "mqtt: cannot connect") <= 2);
}

TEST_CASE("MQTT: TLS with a CA made here; a wrong CA is one error naming the key") {
  TempDir certs;
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  run_command(certs, "openssl req -x509 " + ec +
                         " -keyout ca.key -out ca.crt -days 2 -subj /CN=lookout-test-ca");
  run_command(certs, "openssl req -x509 " + ec +
                         " -keyout other-ca.key -out other-ca.crt -days 2 -subj /CN=other-ca");
  certs.write("server.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  run_command(certs, "openssl req " + ec +
                         " -keyout server.key -out server.csr -subj /CN=localhost && openssl "
                         "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
                         "-out server.crt -days 2 -extfile server.ext");
  run_command(certs, "openssl req " + ec +
                         " -keyout client.key -out client.csr -subj /CN=lookout && openssl x509 "
                         "-req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out "
                         "client.crt -days 2");
  const int tls_port = free_port();
  const std::string dir = certs.path().string();
  Broker broker({"listener " + std::to_string(tls_port) + " 127.0.0.1\ncafile " + dir +
                 "/ca.crt\ncertfile " + dir + "/server.crt\nkeyfile " + dir +
                 "/server.key\nrequire_certificate true\n"});
  Subscriber sub(broker.port(), {kBase + "/availability"});

  auto tls_config = [&](const std::string& ca) {
    DaemonConfig config;
    config.http = false;
    config.sections =
        "mqtt:\n  enabled: true\n  host: localhost\n  port: " + std::to_string(tls_port) +
        "\n  tls:\n    enabled: true\n    ca_file: " + dir + "/" + ca + "\n    cert_file: " + dir +
        "/client.crt\n    key_file: " + dir + "/client.key\n";
    return config;
  };
  {
    RunningDaemon d{tls_config("ca.crt")};
    REQUIRE(sub.wait_for(kBase + "/availability", "online"));
    CHECK(d.daemon->log().find("mqtt: connected to localhost:" + std::to_string(tls_port)) !=
          std::string::npos);
  }
  {
    // TLS to a broker that is down: attempts fail and back off; the
    // connection thread does not spin (libmosquitto 2.0.11 alone would retry
    // the handshake on the refused socket in a busy loop until its keep-alive).
    DaemonConfig config = tls_config("ca.crt");
    const int nobody = free_port();
    const std::string tls_port_text = std::to_string(tls_port);
    config.sections.replace(config.sections.find(tls_port_text), tls_port_text.size(),
                            std::to_string(nobody));
    RunningDaemon d{config};
    REQUIRE(log_within(*d.daemon, "mqtt: cannot connect to localhost:" + std::to_string(nobody)));
    const auto before = thread_cpu_s(d.daemon->pid(), "mqtt");
    REQUIRE(before);
    std::this_thread::sleep_for(3s);
    const auto after = thread_cpu_s(d.daemon->pid(), "mqtt");
    REQUIRE(after);
    CHECK(*after - *before < 0.5);  // a busy loop would be about 3 s
  }
  {
    RunningDaemon d{tls_config("other-ca.crt")};
    INFO("lookoutd's log:\n" << d.daemon->log());
    REQUIRE(log_within(*d.daemon, "mqtt: TLS with localhost"));
    std::this_thread::sleep_for(2s);
    const std::string log = d.daemon->log();
    CHECK(count_lines(log, "mqtt: TLS with localhost") == 1);
    CHECK(log.find("mqtt.tls.ca_file") != std::string::npos);
    CHECK(log.find("<3>mqtt: TLS") != std::string::npos);  // an error, for the journal
    CHECK(log.find("mqtt: connected") == std::string::npos);
    // lookoutd runs on without MQTT.
    auto client = d.tcp_client();
    const auto hello = client.next();
    REQUIRE(hello);
    CHECK((*hello)["type"] == "hello");
  }
}

TEST_CASE("MQTT: refused credentials are one error naming the keys; a reload fixes them") {
  TempDir secrets;
  run_command(secrets, "mosquitto_passwd -b -c passwd lookout right-password");
  Broker broker({"allow_anonymous false\npassword_file " + (secrets / "passwd").string() + "\n"});
  secrets.write("password", "wrong-password\n");
  DaemonConfig config = mqtt_config(broker.port(), "  username: lookout\n  password_file: " +
                                                       (secrets / "password").string() + "\n");
  RunningDaemon d{config};
  REQUIRE(log_within(*d.daemon, "refused the credentials"));
  std::this_thread::sleep_for(2s);
  std::string log = d.daemon->log();
  CHECK(count_lines(log, "refused the credentials") == 1);
  CHECK(log.find("mqtt.username and mqtt.password_file") != std::string::npos);
  CHECK(log.find("wrong-password") == std::string::npos);  // never logged
  auto client = d.tcp_client();
  REQUIRE(client.next());

  // The right password, and SIGHUP: the file is read again and lookoutd connects.
  secrets.write("password", "right-password\n");
  d.daemon->signal(SIGHUP);
  REQUIRE(log_within(*d.daemon, "mqtt: connected to 127.0.0.1"));
  CHECK(broker.log().find("as lookout-test-cam") != std::string::npos);
}

TEST_CASE("MQTT: Home Assistant's birth message brings the configs, then the states, again") {
  Broker broker;
  Subscriber sub(broker.port());
  RunningDaemon d{mqtt_config(broker.port())};
  REQUIRE(wait_for_configs(sub, kDefaultConfigs));
  REQUIRE(sub.wait_for(kBase + "/detection/state", "ON"));
  std::this_thread::sleep_for(500ms);
  const std::size_t mark = sub.size();
  sub.publish("homeassistant/status", "online");
  REQUIRE(wait_for_configs(sub, kDefaultConfigs, mark));
  const auto state = sub.wait_for(kBase + "/detection/state", "ON", mark);
  REQUIRE(state);
  // Every config came before the first state after the birth message.
  const auto all = sub.messages();
  std::size_t last_config = 0;
  for (std::size_t i = mark; i < all.size(); ++i) {
    if (is_config(all[i])) last_config = i;
  }
  CHECK(last_config < *state);
  CHECK(log_within(*d.daemon, "Home Assistant is online"));
}

TEST_CASE("MQTT: the detection switch pauses and resumes inference; bad commands are refused") {
  Broker broker;
  Subscriber sub(broker.port());
  DaemonConfig config = mqtt_config(broker.port(), "  detections_max_rate: 20\n");
  config.http = true;
  RunningDaemon d{config};
  REQUIRE(sub.wait_for([](const MqttMessage& m) { return m.topic == kBase + "/detections"; }));

  sub.publish(kBase + "/detection/set", "OFF");
  const auto off = sub.wait_for(kBase + "/detection/state", "OFF");
  REQUIRE(off);
  std::this_thread::sleep_for(1s);  // what was in flight arrives
  const std::size_t mark = sub.size();
  std::this_thread::sleep_for(2s);
  CHECK(sub.on(kBase + "/detections", mark).empty());
  // Nothing is detected while paused, and health says paused, not unhealthy.
  for (const auto& m : sub.messages()) {
    if (m.topic.size() > 9 && m.topic.compare(m.topic.size() - 9, 9, "/detected") == 0) {
      CHECK(sub.on(m.topic).back().payload == "OFF");
    }
  }
  const auto health = http_get(d.http_port, "/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(json::parse(health->body)["detection"] == "paused");
  const auto metrics = http_get(d.http_port, "/metrics");
  REQUIRE(metrics);
  CHECK(metrics->body.find("lookout_detection_enabled{camera=\"test-cam\"} 0") !=
        std::string::npos);
  CHECK(metrics->body.find("lookout_output_connected{camera=\"test-cam\",output=\"mqtt\"} 1") !=
        std::string::npos);
  // The MQTT families are valid exposition format too.
  const auto file = d.dir.write("metrics.txt", metrics->body);
  run_command(d.dir, "promtool check metrics < '" + file.string() + "'");

  // Bad payloads and unknown commands: a logged refusal, nothing else changes.
  sub.publish(kBase + "/detection/set", "MAYBE");
  sub.publish(kBase + "/detection/set", std::string(1 << 20, 'x'));  // 1 MiB: cut, refused
  sub.publish(kBase + "/lights/set", "ON");
  REQUIRE(log_within(*d.daemon, "refused the command on " + kBase + "/lights/set"));
  CHECK(d.daemon->log().find("refused the command on " + kBase +
                             "/detection/set: the payload must be ON or OFF, got 'MAYBE'") !=
        std::string::npos);
  CHECK(d.daemon->log().find("got '" + std::string(40, 'x') + "...'") != std::string::npos);

  sub.publish(kBase + "/detection/set", "on");
  REQUIRE(sub.wait_for(kBase + "/detection/state", "ON", *off + 1));
  const std::size_t resumed = sub.size();
  REQUIRE(
      sub.wait_for([](const MqttMessage& m) { return m.topic == kBase + "/detections"; }, resumed));
}

TEST_CASE("MQTT: a snapshot request is answered with the next frame") {
  Broker broker;
  Subscriber sub(broker.port(), {kBase + "/snapshot"});
  RunningDaemon d{mqtt_config(broker.port(), "  snapshot_interval_s: 3600\n")};
  // The first frame with a detection makes the first snapshot; no more for an hour.
  REQUIRE(sub.wait_for([](const MqttMessage& m) { return is_jpeg(m.payload); }));
  std::this_thread::sleep_for(1500ms);
  const std::size_t mark = sub.size();
  CHECK(mark == 1);
  sub.publish(kBase + "/snapshot/request", "PRESS");
  REQUIRE(sub.wait_for([](const MqttMessage& m) { return is_jpeg(m.payload); }, mark, 20s));
}

TEST_CASE("MQTT: entities leave Home Assistant when their class leaves the choice") {
  Broker broker;
  // A config an earlier run left behind, for an entity this run does not have.
  const std::string stale = "homeassistant/sensor/lookout_test-cam/old_count/config";
  {
    Subscriber seed(broker.port(), {"seed/none"});
    seed.publish(stale, R"({"name":"old"})", true);
    std::this_thread::sleep_for(300ms);
  }
  Subscriber sub(broker.port());
  REQUIRE(sub.wait_for([&](const MqttMessage& m) { return m.topic == stale; }));
  DaemonConfig config = mqtt_config(broker.port(), "  discovery:\n    classes: [circle, square]\n");
  RunningDaemon d{config};
  REQUIRE(wait_for_configs(sub, 2 * 2 + 6));
  REQUIRE(
      sub.wait_for([&](const MqttMessage& m) { return m.topic == stale && m.payload.empty(); }));
  CHECK(config_topics(sub.messages(), true)
            .count("homeassistant/binary_sensor/lookout_test-cam/triangle_occupancy/config") == 0);

  const std::size_t mark = sub.size();
  config.sections = mqtt_section(broker.port(), "  discovery:\n    classes: [circle]\n");
  d.dir.write("lookout.yaml", config.yaml(d.dir));
  d.daemon->signal(SIGHUP);
  for (const char* gone : {"homeassistant/binary_sensor/lookout_test-cam/square_occupancy/config",
                           "homeassistant/sensor/lookout_test-cam/square_count/config"}) {
    INFO(gone);
    CHECK(sub.wait_for([&](const MqttMessage& m) { return m.topic == gone && m.payload.empty(); },
                       mark));
  }
  // The broker keeps no config for them: a new subscriber sees circle's only.
  std::this_thread::sleep_for(500ms);
  Subscriber late(broker.port(), {"homeassistant/#"});
  REQUIRE(wait_for_configs(late, 1 * 2 + 6));
  std::this_thread::sleep_for(500ms);
  const auto retained = config_topics(late.messages(), true);
  CHECK(retained.size() == 1 * 2 + 6);
  CHECK(retained.count("homeassistant/sensor/lookout_test-cam/square_count/config") == 0);
  CHECK(retained.count(stale) == 0);
}

TEST_CASE("MQTT: a new topic_prefix moves the topics and keeps the entities") {
  Broker broker;
  Subscriber sub(broker.port());
  DaemonConfig config = mqtt_config(broker.port());
  RunningDaemon d{config};
  REQUIRE(wait_for_configs(sub, kDefaultConfigs));
  REQUIRE(sub.wait_for(kBase + "/availability", "online"));
  const std::size_t mark = sub.size();
  config.sections = mqtt_section(broker.port(), "  topic_prefix: site/north\n");
  d.dir.write("lookout.yaml", config.yaml(d.dir));
  d.daemon->signal(SIGHUP);
  REQUIRE(sub.wait_for("site/north/test-cam/availability", "online", mark));
  REQUIRE(sub.wait_for(kBase + "/availability", "offline", mark));
  REQUIRE(wait_for_configs(sub, kDefaultConfigs, mark));
  std::this_thread::sleep_for(500ms);
  const auto all = sub.messages();
  for (std::size_t i = mark; i < all.size(); ++i) {
    if (!is_config(all[i])) continue;
    INFO(all[i].topic);
    CHECK(!all[i].payload.empty());  // never removed on the way
    const json c = json::parse(all[i].payload);
    const std::string topic = c.contains("state_topic") ? c["state_topic"]
                              : c.contains("topic")     ? c["topic"]
                                                        : c["command_topic"];
    CHECK(topic.rfind("site/north/test-cam/", 0) == 0);
    CHECK(c["availability"][0]["topic"] == "site/north/test-cam/availability");
  }
}

TEST_CASE(
    "MQTT: while the broker is away, at most max_queued messages wait; the rest are counted") {
  Broker broker({"", /*start=*/false});
  DaemonConfig config = mqtt_config(broker.port(), "  max_queued: 5\n  detections_max_rate: 20\n");
  config.stats_interval_s = 0.5;
  RunningDaemon d{config};
  auto client = d.tcp_client();
  json last;
  const auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto j = client.next_of("stats");
    REQUIRE(j);
    last = *j;
    if (last["outputs"]["mqtt"]["dropped"].get<int>() > 20) break;
  }
  REQUIRE(last.is_object());
  const json& mqtt = last["outputs"]["mqtt"];
  CHECK(mqtt["state"] == "retrying");
  CHECK(mqtt["queued"].get<int>() <= 5);
  CHECK(mqtt["dropped"].get<int>() > 20);
  CHECK(mqtt["error"].get<std::string>().find("refused") != std::string::npos);

  // Up again: what waited goes out (at most 5), in order, then the stream.
  broker.start();
  Subscriber sub(broker.port(), {kBase + "/detections", kBase + "/stats"});
  REQUIRE(sub.wait_for([](const MqttMessage& m) { return m.topic == kBase + "/detections"; }));
}

}  // namespace lookout::test
