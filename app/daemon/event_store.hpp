// EventStore: keeps each event's best picture on disk (events.directory):
// <id>.jpg, the frame with the object's box drawn, and <id>-crop.jpg, the
// object alone, with retention by count, bytes and age (events.max_count,
// max_mb, max_age_days). An Output like the others: it takes what tracking
// publishes (PublishedEvents) and nothing else.
//
// Pictures are encoded and written on its own thread ("snapshots"), never on
// the inference or I/O thread. Its queue holds the newest picture per event,
// at most kMaxQueued events; a picture replaced before it was written was not
// needed. A file is written to a temporary name and renamed, so readers
// (the HTTP server's /api/events/<id>/snapshot.jpg) never see half a file.
//
// Faults never stop detection: an unwritable or missing directory, or a full
// disk, is logged once (again only after writing worked in between), the
// picture is dropped and counted, and the next picture tries again.
//
// Ownership: the daemon owns it; the writer thread is joined by close() and
// by the destructor. Threads: the Output methods run on the I/O thread
// (prepare() anywhere); the writer thread touches only the queue (under its
// mutex) and the directory.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "output.hpp"

namespace lookout {

class EventStore final : public Output {
 public:
  static constexpr std::size_t kMaxQueued = 16;

  EventStore();
  ~EventStore() override;
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  std::unique_ptr<OutputPrepared> prepare(const Config*, const Config&) override { return nullptr; }
  void apply(const Config& config, std::unique_ptr<OutputPrepared> prepared) override;
  void set_hello(const protocol::HelloInfo&) override {}
  void publish(const std::shared_ptr<const PublishedFrame>&) override {}
  void publish_stats(const std::shared_ptr<const PublishedStats>&) override {}
  void publish_events(const std::shared_ptr<const PublishedEvents>& events) override;
  void count_clients(std::vector<ClientCount>&) const override {}
  // As outputs.events: state "writing" or "failing" (with the error) while
  // snapshots are on, "disabled" otherwise; sent = pictures written, dropped
  // = pictures that could not be written, queued.
  void report(std::vector<protocol::OutputStats>& out) const override;
  // Writes what is queued (at most kCloseWait), then stops the writer.
  void close() override;

 private:
  struct Settings {
    bool enabled = false;
    std::string directory;
    std::size_t max_count = 1000;
    std::uint64_t max_bytes = 0;
    double max_age_s = 0;
    int quality = 85;
  };
  struct Job {
    std::string id;
    tracking::ObjectState object;
    FramePtr picture;
    int frame_width = 0, frame_height = 0;
    std::shared_ptr<const std::vector<std::string>> class_names;
  };
  struct Kept {
    std::uint64_t bytes = 0;
    std::int64_t written = 0;  // Unix seconds
  };

  void writer_loop();
  // Writer thread: one picture, as two files. Returns the error, or "".
  std::string write(const Job& job, const Settings& settings);
  // Writer thread: reads what the directory already holds (once per directory).
  void scan(const Settings& settings);
  // Writer thread: removes the oldest until every limit is kept, with
  // `room` more events to come within max_count.
  void enforce(const Settings& settings, std::size_t room);

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  Settings settings_;
  std::deque<Job> queue_;
  bool stop_ = false;
  bool busy_ = false;  // the writer holds a job
  std::thread writer_;
  std::uint64_t written_ = 0, failed_ = 0;
  std::string error_;  // the last failure, "" after a success

  // Writer thread only.
  std::string scanned_;               // the directory the index is of
  std::map<std::string, Kept> kept_;  // by event id
  bool failing_logged_ = false;
};

}  // namespace lookout
