// Publishing, tested against the real lookoutd process (real model, synthetic
// source) with real TCP and Unix socket clients: hello, detections, stats,
// subscribe filters, authentication, malformed input, over-long lines, a
// refused address and the client limit. The slow client and 100 concurrent
// clients are in server_load_test.cpp.
#include <algorithm>
#include <functional>
#include <set>

#include <doctest/doctest.h>

#include "core/version.hpp"
#include "harness.hpp"

using namespace lookout::test;

namespace {

const std::vector<std::string> kShapes = {"circle", "square", "triangle", "star", "cross"};

// One daemon shared by the test cases that need nothing special.
RunningDaemon& shared_daemon() {
  static RunningDaemon daemon{DaemonConfig{}};
  return daemon;
}

void check_detections_message(const json& m, const std::vector<std::string>& classes) {
  CHECK(m["type"] == "detections");
  CHECK(m["camera"] == "test-cam");
  CHECK(m["seq"].is_number_unsigned());
  // A capture time, in Unix seconds, of today (not a test of speed).
  const double now = static_cast<double>(std::time(nullptr));
  CHECK(m["ts"].get<double>() > now - 86400);
  CHECK(m["ts"].get<double>() < now + 86400);
  CHECK(m["frame"]["width"] == 320);
  CHECK(m["frame"]["height"] == 240);
  CHECK(m["latency_ms"]["inference"].get<double>() > 0);
  CHECK(m["latency_ms"]["total"].get<double>() >= m["latency_ms"]["inference"].get<double>());
  for (const auto& d : m["detections"]) {
    const int id = d["class_id"];
    REQUIRE(id >= 0);
    REQUIRE(static_cast<std::size_t>(id) < classes.size());
    CHECK(d["class"] == classes[static_cast<std::size_t>(id)]);
    CHECK(d["score"].get<double>() >= 0.25);  // the default conf
    CHECK(d["score"].get<double>() <= 1.0);
    const auto& box = d["box"];
    REQUIRE(box.size() == 4);
    CHECK(box[0].get<double>() >= 0);
    CHECK(box[1].get<double>() >= 0);
    CHECK(box[0].get<double>() <= box[2].get<double>());
    CHECK(box[1].get<double>() <= box[3].get<double>());
    CHECK(box[2].get<double>() <= 320);
    CHECK(box[3].get<double>() <= 240);
  }
}

// Reads detections messages until `count` arrived; returns them by seq.
std::map<std::uint64_t, json> collect(Client& c, std::size_t count) {
  std::map<std::uint64_t, json> out;
  while (out.size() < count) {
    auto m = c.next_of("detections");
    REQUIRE(m);
    out[(*m)["seq"].get<std::uint64_t>()] = *m;
  }
  return out;
}

// The client is refused: one error line saying why, then the daemon closes.
void check_refused(Client client, const std::string& message) {
  const auto e = client.next();
  REQUIRE(e);
  CHECK((*e)["type"] == "error");
  CHECK((*e)["message"] == message);
  CHECK(client.closed_by_server());
}

// Connects until a client is greeted instead of refused (the daemon frees a
// place a moment after it is given up), at most `patience`; `between` runs
// while waiting (a client that must keep reading).
std::optional<json> hello_once_a_place_frees(
    const RunningDaemon& d, std::chrono::milliseconds patience,
    const std::function<void()>& between = [] {}) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (std::chrono::steady_clock::now() < deadline) {
    between();
    Client c = d.tcp_client();
    const auto first = c.next();
    REQUIRE(first);
    if ((*first)["type"] == "hello") return first;
    std::this_thread::sleep_for(100ms);
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("a TCP client gets hello, then detections of every processed frame") {
  RunningDaemon& d = shared_daemon();
  Client c = d.tcp_client();
  const auto hello = c.next();
  REQUIRE(hello);
  CHECK((*hello)["type"] == "hello");
  CHECK((*hello)["protocol"] == "lookout/1");
  CHECK((*hello)["version"] == lookout::kVersion);
  CHECK((*hello)["camera"] == "test-cam");
  CHECK((*hello)["model"]["task"] == "detect");
  CHECK((*hello)["model"]["input"] == json::array({320, 256}));
  CHECK((*hello)["model"]["classes"] == kShapes);
  CHECK((*hello)["source"]["width"] == 320);
  CHECK((*hello)["source"]["height"] == 240);
  CHECK((*hello)["source"]["fps"] == 20.0);

  std::uint64_t last_seq = 0;
  bool first = true;
  std::size_t with_detections = 0;
  for (int i = 0; i < 20; ++i) {
    const auto m = c.next_of("detections");
    REQUIRE(m);
    check_detections_message(*m, kShapes);
    const auto seq = (*m)["seq"].get<std::uint64_t>();
    if (!first) CHECK(seq > last_seq);
    first = false;
    last_seq = seq;
    if (!(*m)["detections"].empty()) ++with_detections;
  }
  // Synthetic scenes always hold shapes, and the model finds them.
  CHECK(with_detections > 0);
}

TEST_CASE("a Unix socket client gets the same hello and the same frames") {
  RunningDaemon& d = shared_daemon();
  Client tcp = d.tcp_client();
  Client local = d.unix_client();
  const auto hello_tcp = tcp.next();
  const auto hello_unix = local.next();
  REQUIRE(hello_tcp);
  REQUIRE(hello_unix);
  CHECK(*hello_tcp == *hello_unix);
  const auto a = collect(tcp, 10);
  const auto b = collect(local, 10);
  // Both saw the same frames, serialized once and shared.
  std::size_t common = 0;
  for (const auto& [seq, m] : a) {
    if (b.count(seq)) {
      CHECK(b.at(seq) == m);
      ++common;
    }
  }
  CHECK(common > 0);
}

TEST_CASE("stats report frame counts, rates, inference time, clients and uptime") {
  RunningDaemon& d = shared_daemon();
  Client c = d.tcp_client();
  auto s = c.next_of("stats");
  REQUIRE(s);
  s = c.next_of("stats");  // the second covers a whole interval with this client connected
  REQUIRE(s);
  CHECK((*s)["camera"] == "test-cam");
  CHECK((*s)["uptime_s"].get<double>() > 0);
  const auto& frames = (*s)["frames"];
  CHECK(frames["captured"].get<std::uint64_t>() > 0);
  CHECK(frames["processed"].get<std::uint64_t>() > 0);
  CHECK(frames["captured"].get<std::uint64_t>() >= frames["processed"].get<std::uint64_t>() +
                                                       frames["skipped"].get<std::uint64_t>() +
                                                       frames["errors"].get<std::uint64_t>());
  CHECK((*s)["fps"]["captured"].get<double>() > 0);
  CHECK((*s)["fps"]["processed"].get<double>() > 0);
  CHECK((*s)["fps"].contains("skipped"));
  CHECK((*s)["inference_ms"]["p50"].get<double>() > 0);
  CHECK((*s)["inference_ms"]["p90"].get<double>() >= (*s)["inference_ms"]["p50"].get<double>());
  CHECK((*s)["clients"].get<int>() >= 1);
  CHECK((*s)["source"]["state"] == "running");
}

TEST_CASE("subscribe filters that client's stream and nobody else's") {
  RunningDaemon& d = shared_daemon();
  Client all = d.tcp_client();
  Client some = d.tcp_client();
  REQUIRE(all.next());
  REQUIRE(some.next());

  // Pick a class the model is finding right now.
  std::string wanted;
  while (wanted.empty()) {
    const auto m = all.next_of("detections");
    REQUIRE(m);
    if (!(*m)["detections"].empty()) wanted = (*m)["detections"][0]["class"];
  }
  some.send_line({{"type", "subscribe"}, {"classes", {wanted}}, {"min_score", 0.5}});
  auto ack = some.next_of("subscribed");
  REQUIRE(ack);
  CHECK((*ack)["classes"] == json::array({wanted}));
  CHECK((*ack)["min_score"] == 0.5);

  // From here on, for every frame both saw: filtered(all) == some.
  const auto everything = collect(all, 30);
  const auto filtered = collect(some, 30);
  std::size_t common = 0;
  std::size_t removed = 0;
  for (const auto& [seq, m] : filtered) {
    for (const auto& det : m["detections"]) {
      CHECK(det["class"] == wanted);
      CHECK(det["score"].get<double>() >= 0.5);
    }
    if (!everything.count(seq)) continue;
    ++common;
    json expected = json::array();
    for (const auto& det : everything.at(seq)["detections"]) {
      if (det["class"] == wanted && det["score"].get<double>() >= 0.5) {
        expected.push_back(det);
      } else {
        ++removed;
      }
    }
    CHECK(m["detections"] == expected);
    CHECK(m["seq"] == everything.at(seq)["seq"]);
  }
  CHECK(common > 0);

  // An unknown class is an error and leaves the filter as it was.
  some.send_line({{"type", "subscribe"}, {"classes", {"unicorn"}}});
  const auto error = some.next_of("error");
  REQUIRE(error);
  CHECK((*error)["message"].get<std::string>().find("unknown class \"unicorn\"") !=
        std::string::npos);
  for (int i = 0; i < 5; ++i) {
    const auto m = some.next_of("detections");
    REQUIRE(m);
    for (const auto& det : (*m)["detections"]) CHECK(det["class"] == wanted);
  }

  // An empty subscribe resets the filter: everything again.
  some.send_line({{"type", "subscribe"}});
  ack = some.next_of("subscribed");
  REQUIRE(ack);
  CHECK((*ack)["classes"].empty());
  CHECK((*ack)["min_score"] == 0);
  const auto again_all = collect(all, 10);
  const auto again_some = collect(some, 10);
  for (const auto& [seq, m] : again_some) {
    if (again_all.count(seq)) CHECK(again_all.at(seq) == m);
  }
}

TEST_CASE("ping is answered with pong and its id") {
  RunningDaemon& d = shared_daemon();
  Client c = d.unix_client();
  c.send_line({{"type", "ping"}, {"id", "abc"}});
  const auto pong = c.next_of("pong");
  REQUIRE(pong);
  CHECK((*pong)["id"] == "abc");
}

TEST_CASE("malformed messages get errors; repeated garbage disconnects only that client") {
  RunningDaemon& d = shared_daemon();
  Client bystander = d.unix_client();
  Client bad = d.tcp_client();
  REQUIRE(bad.next());
  REQUIRE(bystander.next());

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"hello?", "not valid JSON"},
      {"[1,2,3]", "expected a JSON object with a \"type\""},
      {R"({"kind":"subscribe"})", "missing \"type\" (subscribe, auth, ping)"},
      {R"({"type":"dance"})",
       "unknown message type: expected one of: subscribe, auth, ping; got 'dance'"},
      {R"({"type":"subscribe","min_score":"high"})", "subscribe: \"min_score\" must be a number"},
      {R"({"type":"subscribe","classes":"star"})",
       "subscribe: \"classes\" must be a list of names"},
      {R"({"type":"subscribe","min_score":2})", "subscribe: \"min_score\" must be between 0 and 1"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    bad.send(cases[i].first + "\n");
    const auto e = bad.next_of("error");
    REQUIRE(e);
    CHECK((*e)["message"] == cases[i].second);
    if (i % 3 == 2) {
      // A good message in between: strikes count bad messages in a row.
      bad.send_line({{"type", "ping"}});
      REQUIRE(bad.next_of("pong"));
    }
  }
  // Blank lines are ignored, not errors.
  bad.send("\n\r\n  \n");
  bad.send_line({{"type", "ping"}, {"id", "still here"}});
  const auto pong = bad.next_of("pong");
  REQUIRE(pong);
  CHECK((*pong)["id"] == "still here");

  const auto before = bystander.next_of("detections");
  REQUIRE(before);
  for (int i = 0; i < 5; ++i) bad.send("garbage " + std::to_string(i) + "\n");
  std::string last_error;
  std::string line;
  while (bad.next_line(line) == Client::Event::Line) {
    const auto j = json::parse(line);
    if (j["type"] == "error") last_error = j["message"];
  }
  CHECK(bad.saw_eof());
  CHECK(last_error == "not valid JSON; disconnecting after 5 bad messages in a row");
  // Nobody else noticed: the stream goes on.
  const auto after = bystander.next_of("detections");
  REQUIRE(after);
  CHECK((*after)["seq"].get<std::uint64_t>() > (*before)["seq"].get<std::uint64_t>());
}

TEST_CASE("more than 64 KiB without a newline disconnects only that client") {
  RunningDaemon& d = shared_daemon();
  Client bystander = d.tcp_client();
  Client flood = d.tcp_client();
  REQUIRE(bystander.next());
  REQUIRE(flood.next());
  const auto before = bystander.next_of("detections");
  REQUIRE(before);
  // Exactly 64 KiB is still a line...
  flood.send(std::string(65536, ' ') + "\n");
  flood.send_line({{"type", "ping"}, {"id", "alive"}});
  REQUIRE(flood.next_of("pong"));
  // ...one byte more is not.
  try {
    flood.send(std::string(65537, 'x'));
  } catch (const std::exception&) {
    // The server may already have closed; what it sent is still readable.
  }
  const auto e = flood.next_of("error");
  REQUIRE(e);
  CHECK((*e)["message"] == "line longer than 65536 bytes; disconnecting");
  CHECK(flood.closed_by_server());
  const auto after = bystander.next_of("detections");
  REQUIRE(after);
  CHECK((*after)["seq"].get<std::uint64_t>() > (*before)["seq"].get<std::uint64_t>());
}

TEST_CASE("with a token, a TCP client gets nothing until it authenticates") {
  DaemonConfig config;
  config.token = "s3cret-token";
  RunningDaemon d(config);

  Client quiet = d.tcp_client();
  std::string line;
  // Nothing arrives unasked: no hello, no detections, no stats.
  CHECK(quiet.next_line(line, 2500ms) == Client::Event::Timeout);
  CHECK(quiet.pending().empty());
  quiet.send_line({{"type", "subscribe"}});
  auto e = quiet.next();
  REQUIRE(e);
  CHECK((*e)["type"] == "error");
  CHECK((*e)["message"] == R"(authentication required: send {"type":"auth","token":"..."} first)");

  Client wrong = d.tcp_client();
  wrong.send_line({{"type", "auth"}, {"token", "guess"}});
  e = wrong.next();
  REQUIRE(e);
  CHECK((*e)["message"] == "authentication failed");
  CHECK(wrong.closed_by_server());

  quiet.send_line({{"type", "auth"}, {"token", "s3cret-token"}});
  const auto hello = quiet.next();
  REQUIRE(hello);
  CHECK((*hello)["type"] == "hello");
  const auto m = quiet.next_of("detections");
  REQUIRE(m);

  // The Unix socket is guarded by its file permissions, not the token.
  Client local = d.unix_client();
  const auto local_hello = local.next();
  REQUIRE(local_hello);
  CHECK((*local_hello)["type"] == "hello");
}

TEST_CASE("clients from outside the allowed networks are refused; Unix clients are not") {
  DaemonConfig config;
  config.allowed_networks = {"10.0.0.0/8", "fd00::/8"};
  RunningDaemon d(config);
  Client outsider = d.tcp_client();
  CHECK(outsider.closed_by_server());
  CHECK(outsider.pending().empty());  // not even a hello
  CHECK(d.daemon->log().find("refused client tcp 127.0.0.1:") != std::string::npos);
  Client local = d.unix_client();
  const auto hello = local.next();
  REQUIRE(hello);
  CHECK((*hello)["type"] == "hello");
}

TEST_CASE("beyond max_clients a client is told why and disconnected") {
  DaemonConfig config;
  config.max_clients = 2;
  RunningDaemon d(config);
  Client a = d.tcp_client();
  Client b = d.tcp_client();
  REQUIRE(a.next());
  REQUIRE(b.next());
  check_refused(d.tcp_client(), "too many clients (publish.max_clients is 2)");
  // A place frees up when a client leaves.
  { Client gone = std::move(b); }
  CHECK(hello_once_a_place_frees(d, 5000ms));
}

TEST_CASE("one host cannot take every place, and TCP clients never take the Unix socket's") {
  DaemonConfig config;
  config.max_clients = 4;
  config.max_clients_per_host = 2;
  config.unix_max_clients = 2;
  RunningDaemon d(config);
  Client a = d.tcp_client();
  Client b = d.tcp_client();
  REQUIRE(a.next());
  REQUIRE(b.next());
  check_refused(d.tcp_client(),
                "too many clients from your address (publish.tcp.max_clients_per_host is 2)");
  // Another address (127.0.0.2 is loopback too) still gets in.
  Client other = Client::tcp_from(d.port, "127.0.0.2");
  const auto other_hello = other.next();
  REQUIRE(other_hello);
  CHECK((*other_hello)["type"] == "hello");
  // Unix clients have places of their own, and a limit of their own.
  Client u1 = d.unix_client();
  Client u2 = d.unix_client();
  REQUIRE(u1.next());
  REQUIRE(u2.next());
  check_refused(d.unix_client(), "too many Unix socket clients (publish.unix.max_clients is 2)");
  // Everyone admitted keeps getting frames.
  for (Client* c : {&a, &b, &other, &u1, &u2}) CHECK(c->next_of("detections"));
  CHECK(d.daemon->log().find("refused client tcp 127.0.0.1:") != std::string::npos);
}

TEST_CASE("a connection flood from one host holds no descriptors without bound") {
  DaemonConfig config;
  config.max_clients = 4;
  config.max_clients_per_host = 2;
  RunningDaemon d(config);
  const auto open_fds = [&] { return open_fd_count(d.daemon->pid()); };
  Client first = d.tcp_client();
  REQUIRE(first.next());
  const std::size_t before = open_fds();
  // 300 connections held open and never read: each is refused; no more than
  // 32 wait for their error line to be read, the rest are closed at once.
  std::vector<Client> flood;
  for (int i = 0; i < 300; ++i) flood.push_back(d.tcp_client());
  // Once the daemon has dealt with each (an error line to read, or closed),
  // it holds at most the lingering ones; until then a connection may still
  // wait in the listen queue, not yet one of its descriptors.
  std::vector<int> fds;
  for (const auto& c : flood) fds.push_back(c.fd());
  REQUIRE(wait_until_answered(fds, 0, 20s) == fds.size());
  const std::size_t during = open_fds();
  CHECK(during <= before + 40);
  // A client from elsewhere is still served, and so is the first one.
  Client other = Client::tcp_from(d.port, "127.0.0.2");
  const auto hello = other.next();
  REQUIRE(hello);
  CHECK((*hello)["type"] == "hello");
  CHECK(first.next_of("detections"));
}

TEST_CASE("a client that shuts down its sending side keeps receiving") {
  RunningDaemon& d = shared_daemon();
  for (const bool tcp : {true, false}) {
    CAPTURE(tcp);
    Client c = tcp ? d.tcp_client() : d.unix_client();
    REQUIRE(c.next());  // hello
    // The last line has no newline: it still counts when the sending side closes.
    c.send(R"({"type":"ping","id":"last"})");
    REQUIRE(::shutdown(c.fd(), SHUT_WR) == 0);
    const auto pong = c.next_of("pong");
    REQUIRE(pong);
    CHECK((*pong)["id"] == "last");
    const auto first = c.next_of("detections");
    REQUIRE(first);
    std::uint64_t last = (*first)["seq"].get<std::uint64_t>();
    for (int i = 0; i < 5; ++i) {
      const auto m = c.next_of("detections");
      REQUIRE(m);
      CHECK((*m)["seq"].get<std::uint64_t>() > last);
      last = (*m)["seq"].get<std::uint64_t>();
    }
    CHECK(!c.saw_eof());
  }
}

TEST_CASE("a client that must authenticate and half-closes, or waits too long, is disconnected") {
  DaemonConfig config;
  config.token = "s3cret-token";
  config.tcp_extra = "    auth_timeout_s: 1\n";
  RunningDaemon d(config);
  Client closes = d.tcp_client();
  REQUIRE(::shutdown(closes.fd(), SHUT_WR) == 0);
  auto e = closes.next();
  REQUIRE(e);
  CHECK((*e)["message"] == "closed the connection without authenticating");
  CHECK(closes.closed_by_server());

  // A token sent with the sending side closed right after it is honoured.
  Client quick = d.tcp_client();
  quick.send(R"({"type":"auth","token":"s3cret-token"})");
  REQUIRE(::shutdown(quick.fd(), SHUT_WR) == 0);
  const auto hello = quick.next();
  REQUIRE(hello);
  CHECK((*hello)["type"] == "hello");
  CHECK(quick.next_of("detections"));

  Client slow = d.tcp_client();
  e = slow.next();  // nothing until the deadline, publish.tcp.auth_timeout_s
  REQUIRE(e);
  CHECK((*e)["message"] == "authentication timed out");
  CHECK(slow.closed_by_server());
}

TEST_CASE("a slow reader whose socket keeps taking bytes is not cut off by send_timeout_s") {
  DaemonConfig config;
  config.publish_extra = "  send_timeout_s: 1\n";
  config.fps = 60;
  config.stats_interval_s = 0.5;
  RunningDaemon d(config);
  // About 2 KB/s, a tenth of what the daemon sends: its queue drops, and a
  // batch of queued lines takes many seconds to go, but bytes move all the
  // time. The deadline is for a socket that takes nothing.
  Client slow = Client::tcp(d.port, 1);
  std::string received;
  const auto until = Clock::now() + 6s;
  bool eof = false;
  while (Clock::now() < until && !eof) {
    char chunk[200];
    const ssize_t n = ::recv(slow.fd(), chunk, sizeof chunk, MSG_DONTWAIT);
    if (n == 0) eof = true;
    if (n > 0) received.append(chunk, static_cast<std::size_t>(n));
    std::this_thread::sleep_for(100ms);
  }
  CHECK_FALSE(eof);
  CHECK(received.size() >= 5000);
  // Still connected: it reads fast now and gets the stream (the first line
  // read now is the rest of one begun above).
  std::string line;
  bool more_detections = false;
  for (int i = 0; i < 200 && !more_detections; ++i) {
    if (slow.next_line(line) != Client::Event::Line) break;
    more_detections = line.find(R"("type":"detections")") != std::string::npos;
  }
  CHECK(more_detections);
  CHECK_FALSE(slow.saw_eof());
  INFO(d.daemon->log());
  CHECK(d.daemon->log().find("took no data for publish.send_timeout_s") == std::string::npos);
}

TEST_CASE("a client whose socket takes nothing for send_timeout_s is disconnected") {
  DaemonConfig config;
  config.publish_extra = "  send_timeout_s: 1\n";
  config.max_clients = 2;
  config.fps = 60;
  config.stats_interval_s = 0.5;
  RunningDaemon d(config);
  // A tiny receive buffer that is never read: once the daemon's socket
  // buffer is full too (some seconds of messages), its writes stop.
  Client stalled = Client::tcp(d.port, 1);
  Client reader = d.tcp_client();
  REQUIRE(reader.next());
  // The stalled client's place is freed: a new client gets in although
  // max_clients is 2 and the reader stays (and keeps reading meanwhile).
  CHECK(hello_once_a_place_frees(d, 90s, [&] {
    std::string line;
    while (reader.next_line(line, 10ms) == Client::Event::Line) {
    }
  }));
  // Its connection was closed by the daemon: what was on its way, then the end.
  CHECK(stalled.closed_by_server(30000ms));
  CHECK(reader.next_of("detections"));
}
