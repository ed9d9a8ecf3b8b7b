// Metrics: lookoutd's figures in the Prometheus text exposition format
// (version 0.0.4), served at GET /metrics (HTTP.md lists every metric).
//
// Counters the pipeline keeps (frames, source restarts) are read fresh from
// the DaemonStatus when rendering; what only the published frames tell
// (inference and capture-to-publish time histograms, detections per class)
// is accumulated here from every published frame.
//
// Threads: one owner on the I/O thread (the HTTP server); not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "output.hpp"

namespace lookout {

// Cumulative histogram over fixed upper bounds, in seconds.
class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds{0.005, 0.01, 0.025, 0.05, 0.1,  0.25,
                                                  0.5,   1.0,  2.5,   5.0,  10.0, 30.0};
  void observe(double seconds);
  // Appends the _bucket, _sum and _count lines of `name` with `labels`
  // ("camera=\"porch\"").
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::uint64_t, kBounds.size()> buckets_{};  // not cumulative; summed on render
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

// A label value with \, " and newlines escaped, as the format requires.
std::string prometheus_label(const std::string& value);

class Metrics {
 public:
  void observe(const PublishedFrame& frame);
  // Counts one HTTP request answered with `status`.
  void count_request(int status);
  // Adds CPU seconds the JPEG encoder spent and the pictures it encoded.
  void count_encoding(double cpu_seconds, std::uint64_t pictures);

  std::string render(const DaemonStatus& status, const std::string& camera,
                     const std::string& version) const;

 private:
  Histogram inference_;
  Histogram latency_;
  std::map<std::string, std::uint64_t> detections_;  // per class name, across reloads
  std::map<int, std::uint64_t> requests_;            // per HTTP status
  double encode_cpu_s_ = 0;
  std::uint64_t encoded_ = 0;
};

}  // namespace lookout
