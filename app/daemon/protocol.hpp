// Protocol lookout/1: the JSON lines lookoutd exchanges with its clients
// (documented for client authors in app/daemon/PROTOCOL.md).
//
// Everything here is a pure function over plain data: it builds the lines the
// server sends (each ending in '\n') and parses the lines clients send. It
// owns nothing and may be called from any thread; the pipeline's inference
// thread serializes each frame's detections once, and the server's I/O thread
// re-serializes only for clients with a filter.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/engine.hpp"
#include "tracking/objects.hpp"

namespace lookout::protocol {

inline constexpr const char* kName = "lookout/1";
// A client line longer than this (without its newline) gets the client disconnected.
inline constexpr std::size_t kMaxLineBytes = 64 * 1024;

struct ModelDescription {
  std::string name;
  std::string task;
  int input_width = 0;
  int input_height = 0;
  std::vector<std::string> classes;
  std::string backend;  // how the engine runs it (engine.hpp Backend names)
  int threads = 0;      // inference threads
};

struct SourceDescription {
  std::string name;  // e.g. "synthetic"; informative
  int width = 0;
  int height = 0;
  double fps = 0;
};

struct HelloInfo {
  std::string version;
  std::string camera;
  ModelDescription model;
  SourceDescription source;
};

// One processed frame, as the pipeline hands it to the server.
struct FrameDetections {
  std::uint64_t seq = 0;
  std::chrono::system_clock::time_point capture_time{};
  int width = 0;
  int height = 0;
  double inference_ms = 0;  // the engine's time for this frame
  double total_ms = 0;      // capture to hand-over for publishing
  std::vector<Detection> detections;
  // While tracking: one per detection, the id of its track (0 = none took
  // it); empty while tracking is off.
  std::vector<std::uint64_t> track_ids;
  // Names for class ids and the camera name, shared by all frames of one
  // configuration.
  std::shared_ptr<const std::vector<std::string>> class_names;
  std::shared_ptr<const std::string> camera;
};

// What tracking made of one frame (or of the end of tracking): events, the
// counts of zones and lines, and the objects whose best picture this frame is.
struct FrameEvents {
  std::vector<tracking::ObjectEvent> events;
  // The newest counts (null while tracking is off); counts_changed says
  // whether this frame changed them.
  std::shared_ptr<const tracking::Counts> counts;
  bool counts_changed = false;
  std::vector<tracking::ObjectState> new_bests;
  std::shared_ptr<const std::vector<std::string>> class_names;
  std::shared_ptr<const std::string> camera;
  int width = 0, height = 0;  // the frame's size, which boxes refer to (0 when not from a frame)
  bool empty() const { return events.empty() && new_bests.empty() && !counts_changed; }
};

// Where an event's snapshot is, for its "snapshot" field: the directory
// (empty = snapshots are off) and the URL path the HTTP server serves it at.
std::string snapshot_path(const std::string& directory, const std::string& event_id);
std::string snapshot_crop_path(const std::string& directory, const std::string& event_id);
std::string snapshot_url(const std::string& event_id);
// Event ids are digits and one '-' (tracking/objects.hpp); anything else is
// refused before it reaches a path.
bool valid_event_id(std::string_view id);

// What a client asked to see. Empty `classes` = every class.
struct Filter {
  std::vector<std::string> classes;
  float min_score = 0;
  bool active() const { return !classes.empty() || min_score > 0; }
  bool operator==(const Filter& other) const {
    return classes == other.classes && min_score == other.min_score;
  }
};

// What an output beside lookout/1 reports of itself in stats (the MQTT
// output: its broker connection and its queue).
struct OutputStats {
  std::string name;   // "mqtt"
  std::string state;  // "connected", "retrying", ... (the output's own names)
  std::string error;  // why it is not connected, if it is not
  std::uint64_t sent = 0, dropped = 0;
  std::size_t queued = 0;
};

struct Stats {
  std::string camera;
  double uptime_s = 0;
  std::uint64_t captured = 0, processed = 0, skipped = 0, errors = 0;
  double captured_fps = 0, processed_fps = 0, skipped_fps = 0;
  double inference_p50_ms = 0, inference_p90_ms = 0;
  std::size_t clients = 0;
  // "stopped", "starting", "running", "restarting" or "finished": the
  // SourceHealth::State names (drivers/supervised_source.hpp)
  std::string source_state;
  std::uint64_t source_restarts = 0;
  std::string source_error;  // the last failure, empty if none
  bool detection = true;     // false while detection is paused (MQTT.md, detection/set)
  std::vector<OutputStats> outputs;
  // While tracking: objects per zone and crossings per line, by class.
  std::shared_ptr<const tracking::Counts> counts;
  std::shared_ptr<const std::vector<std::string>> class_names;
};

// ---- server -> client --------------------------------------------------------

std::string hello(const HelloInfo& info);
// With a filter, only matching detections are listed (the frame is still sent).
std::string detections(const FrameDetections& frame, const Filter* filter = nullptr);
std::string stats(const Stats& stats);
// An `event` line. `snapshot_directory` empty = no snapshot field.
std::string event(const tracking::ObjectEvent& event, const std::string& camera,
                  const std::vector<std::string>* class_names,
                  const std::string& snapshot_directory);
// Whether an event passes a client's filter (its class, and its top score).
bool event_passes(const tracking::ObjectEvent& event, const std::vector<std::string>* class_names,
                  const Filter& filter);
std::string error(std::string_view message);
// `count` messages were dropped because the client read too slowly; `total` since it connected.
std::string dropped(std::uint64_t count, std::uint64_t total);
std::string subscribed(const Filter& filter);
std::string pong(const std::optional<std::string>& id);

// ---- client -> server --------------------------------------------------------

// The "type" of a client message.
enum class ClientMessageType { Subscribe, Auth, Ping };

}  // namespace lookout::protocol

template <>
struct lookout::EnumTable<lookout::protocol::ClientMessageType> {
  using T = protocol::ClientMessageType;
  static constexpr std::array<EnumName<T>, 3> entries{{
      {T::Subscribe, "subscribe"},
      {T::Auth, "auth"},
      {T::Ping, "ping"},
  }};
};

namespace lookout::protocol {

struct Subscribe {
  Filter filter;
};
struct Auth {
  std::string token;
};
struct Ping {
  std::optional<std::string> id;  // at most kMaxPingIdBytes (as a string, or dumped JSON)
};
inline constexpr std::size_t kMaxPingIdBytes = 256;
using ClientMessage = std::variant<Subscribe, Auth, Ping>;

// Parses one line (without its newline). A std::string result is the error
// message to send back.
std::variant<ClientMessage, std::string> parse_client_line(std::string_view line);

// Splits what a client sends into lines (without their '\n'), as lookout/1
// frames messages. Memory is bounded: it keeps at most kMaxLineBytes of a
// line still waiting for its newline, and each byte is searched for a
// newline once however the bytes are split (work linear in what arrives).
// Plain value type; one client's, on that client's thread.
class LineFramer {
 public:
  // Takes `bytes` and calls on_line(std::string_view) for each complete line
  // that is not blank (spaces, tabs and a CR only), in order, until on_line
  // returns false. Returns false when a line exceeds kMaxLineBytes: the
  // client must be disconnected, and the framer holds nothing more.
  template <typename OnLine>
  bool feed(std::string_view bytes, OnLine&& on_line) {
    pending_.append(bytes.data(), bytes.size());
    std::size_t start = 0;
    for (;;) {
      const std::size_t newline = pending_.find('\n', scanned_);
      if (newline == std::string::npos) break;
      if (newline - start > kMaxLineBytes) return overflow();
      const std::string_view line(pending_.data() + start, newline - start);
      start = newline + 1;
      scanned_ = start;
      if (!blank(line) && !on_line(line)) {
        // The rest was not searched yet: the next feed() starts there.
        pending_.erase(0, start);
        scanned_ = 0;
        return true;
      }
    }
    consume(start);
    return pending_.size() <= kMaxLineBytes || overflow();
  }
  // The last line when the stream ends without a newline ("" when blank).
  std::string take_rest();

  static bool blank(std::string_view line) {
    return line.find_first_not_of(" \t\r") == std::string_view::npos;
  }

 private:
  void consume(std::size_t bytes) {
    pending_.erase(0, bytes);
    scanned_ = pending_.size();
  }
  bool overflow() {
    pending_.clear();
    scanned_ = 0;
    return false;
  }

  std::string pending_;      // received bytes not yet forming a whole line
  std::size_t scanned_ = 0;  // bytes of pending_ already searched for '\n'
};

// The name of class `id` in `names` (null: none), or the id as text.
std::string class_name(const std::vector<std::string>* names, int id);

// Unix seconds with millisecond resolution, as sent in "ts".
double unix_seconds(std::chrono::system_clock::time_point t);

}  // namespace lookout::protocol
