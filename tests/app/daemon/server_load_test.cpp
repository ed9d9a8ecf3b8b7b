// Publishing under load, against the real lookoutd: a client that stops
// reading loses its oldest messages (and is told how many) without slowing
// anyone else, and 100 clients at once all get the stream.
#include <map>
#include <set>

#include <doctest/doctest.h>

#include "harness.hpp"

using namespace lookout::test;

TEST_CASE("a slow client loses its oldest messages, is told so, and stalls nobody") {
  DaemonConfig config;
  config.fps = 30;
  config.send_queue = 4;
  // Big messages (many low-score boxes) fill the kernel's socket buffers in a
  // few frames, so the daemon's own bounded queue is what overflows.
  config.model_extra = "  conf: 0.001\n  max_detections: 1000\n";
  RunningDaemon d(config);

  // The slow client's receive buffer is as small as the kernel allows.
  Client slow = Client::tcp(d.port, 1);
  Client fast = d.tcp_client();
  REQUIRE(fast.next());

  // While the slow client reads nothing, the fast one gets every frame.
  std::vector<std::uint64_t> fast_seqs;
  std::uint64_t processed_at_start = 0, processed_at_end = 0;
  int stats_seen = 0;
  while (fast_seqs.size() < 60 || stats_seen < 2) {
    const auto m = fast.next();
    REQUIRE(m);
    if ((*m)["type"] == "detections") fast_seqs.push_back((*m)["seq"]);
    if ((*m)["type"] == "stats") {
      const auto processed = (*m)["frames"]["processed"].get<std::uint64_t>();
      if (stats_seen++ == 0) processed_at_start = processed;
      processed_at_end = processed;
    }
    CHECK((*m)["type"] != "dropped");
  }
  // Frames kept being processed and published to the reader meanwhile.
  CHECK(processed_at_end > processed_at_start);
  for (std::size_t i = 1; i < fast_seqs.size(); ++i) CHECK(fast_seqs[i] > fast_seqs[i - 1]);

  // Now the slow client reads what it was left: its hello, some detections,
  // then a "dropped" notice where its oldest messages were discarded.
  std::optional<json> dropped;
  std::vector<std::uint64_t> slow_seqs;
  std::uint64_t seq_before_gap = 0, seq_after_gap = 0;
  for (int i = 0; i < 200 && !(dropped && seq_after_gap); ++i) {
    const auto m = slow.next();
    REQUIRE(m);
    if ((*m)["type"] == "detections") {
      slow_seqs.push_back((*m)["seq"]);
      if (dropped && !seq_after_gap) seq_after_gap = (*m)["seq"];
      if (!dropped) seq_before_gap = (*m)["seq"];
    }
    if ((*m)["type"] == "dropped" && !dropped) dropped = m;
  }
  REQUIRE(dropped);
  CHECK((*dropped)["count"].get<std::uint64_t>() > 0);
  CHECK((*dropped)["total"].get<std::uint64_t>() >= (*dropped)["count"].get<std::uint64_t>());
  // The gap in its stream is at least as long as what it was told it lost
  // (stats messages count too, so it can be shorter in frames).
  CHECK(seq_after_gap > seq_before_gap + 1);
  // Once reading again it catches up with the live stream.
  const auto live = fast.next_of("detections");
  REQUIRE(live);
  bool caught_up = false;
  for (int i = 0; i < 400 && !caught_up; ++i) {
    const auto m = slow.next_of("detections");
    REQUIRE(m);
    caught_up = (*m)["seq"] >= (*live)["seq"];
  }
  CHECK(caught_up);
}

TEST_CASE("100 concurrent clients all get hello and the same frames") {
  DaemonConfig config;
  config.max_clients = 128;
  RunningDaemon d(config);
  std::vector<Client> clients;
  for (int i = 0; i < 100; ++i) {
    clients.push_back(i % 4 == 3 ? d.unix_client() : d.tcp_client());
  }
  for (auto& c : clients) {
    const auto hello = c.next();
    REQUIRE(hello);
    CHECK((*hello)["type"] == "hello");
  }
  // Everybody gets the same frames, from one all of them were connected for.
  const auto start = clients.back().next_of("detections");
  REQUIRE(start);
  const std::uint64_t from = (*start)["seq"].get<std::uint64_t>() + 1;
  std::map<std::uint64_t, int> seen;  // seq -> clients that got it
  for (auto& c : clients) {
    std::set<std::uint64_t> mine;
    while (mine.size() < 5) {
      const auto m = c.next_of("detections");
      REQUIRE(m);
      const auto seq = (*m)["seq"].get<std::uint64_t>();
      if (seq >= from) mine.insert(seq);
    }
    for (const auto seq : mine) ++seen[seq];
  }
  // The first frame published after `from` reached all 100.
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.begin()->second == 100);
  // And the daemon counts them.
  const auto stats = clients.front().next_of("stats");
  REQUIRE(stats);
  CHECK((*stats)["clients"] == 100);
}
