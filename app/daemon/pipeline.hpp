// Pipeline: capture and inference on their own threads, newest frame wins.
//
// The capture thread pulls frames from the (supervised) source and puts each
// into a one-frame slot; a frame arriving while the slot is still full
// replaces the waiting one, which counts as skipped. The inference thread
// takes the slot's frame, has the engine prepare its input from it, lets the
// frame go (a camera buffer returns to the driver before the forward pass,
// not after it), runs the model and hands the result to the sink.
// Nothing queues, so latency never grows: a result is at most one inference
// period plus its own inference old.
//
// Sequence numbers: a result's seq is its frame's own sequence (numbered by
// the driver, continued across camera restarts by the SupervisedSource), so
// gaps show frames the camera or its driver dropped as well as those skipped
// here. A source swapped in by replace() counts from 0 again; its seqs are
// offset to continue after the last one, and seq never goes backwards.
//
// Ownership: the pipeline owns the source and the engine while it runs them
// (start/replace take them by unique_ptr). The sink is borrowed.
//
// Threads:
//  * capture thread: source start/next_frame/stop; calls the SourceSink when
//    the delivered frame size changes.
//  * inference thread: engine.prepare and engine.detect, then tracking
//    (tracking/objects.hpp: track ids, events, zone and line counts); calls
//    the ResultSink once per processed frame (the daemon serializes there and
//    posts to the I/O thread). While tracking keeps event snapshots, it
//    copies the frame before it goes back whenever an object may reach a new
//    best picture on it (ObjectTracker::may_want_picture), and hands the
//    copy on only when one did. While pictures are wanted (want_pictures), it also makes a
//    small copy of the frame before the frame goes back (picture/image.hpp
//    small_copy: a libyuv scale, or the compressed bytes of an MJPEG frame)
//    and hands it to the sink with the detections; otherwise that costs
//    nothing.
//  * start/replace/update/stop: one control thread at a time (the daemon's
//    startup, reload worker and shutdown); serialized by an internal mutex.
//  * stats/alive/model_info/source_description/want_pictures/set_paused: any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "drivers/supervised_source.hpp"
#include "engine/engine.hpp"
#include "protocol.hpp"

namespace lookout {

class PicturePool;

// Tracking on the inference thread (tracking/objects.hpp), after NMS.
struct TrackingSettings {
  tracking::TrackingSetup setup;
  // The engine runs down to the tracker's low_score (DetectOptions::conf
  // and class_conf); detections scoring this much (model.conf, or the
  // class's own model.class_conf) are published, and weaker ones only when
  // they continue a confirmed track.
  float publish_conf = 0.25f;
  std::map<int, float> publish_class_conf;
  // Best pictures for event snapshots are kept at most this wide; 0 = none.
  int snapshot_width = 0;
};

// What the inference thread applies to each frame; replaced whole on reload.
struct PipelineSettings {
  std::shared_ptr<const std::string> camera;
  std::shared_ptr<const std::vector<std::string>> class_names;
  DetectOptions detect;
  std::shared_ptr<const TrackingSettings> tracking;  // null = tracking off
};

// One processed frame as the pipeline hands it over.
struct PipelineResult {
  protocol::FrameDetections frame;
  FramePtr picture;  // null unless pictures are wanted (want_pictures)
  // While tracking: what this frame made of objects; `events.new_bests`
  // come with `best_picture`, the frame's copy at most snapshot_width wide.
  protocol::FrameEvents events;
  FramePtr best_picture;
};

// While running, captured = processed + skipped + errors + the frames in the
// slot and in inference (at most 2); after stop() the sum is exact.
struct PipelineStats {
  std::uint64_t captured = 0;   // frames received from the source (not those its driver dropped)
  std::uint64_t processed = 0;  // frames run through the model and published
  std::uint64_t skipped = 0;    // frames replaced by a newer one before inference, or paused
  std::uint64_t errors = 0;     // frames the source could not decode or the engine rejected
  double inference_p50_ms = 0;  // over the last frames
  double inference_p90_ms = 0;
  SourceHealth source;
};

class Pipeline {
 public:
  // Called once per processed frame, and once with only events when tracking
  // ends (finish_tracking) or is switched off by update/replace.
  using ResultSink = std::function<void(PipelineResult&&)>;
  using SourceSink = std::function<void(const protocol::SourceDescription&)>;

  Pipeline(ResultSink on_result, SourceSink on_source);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Takes the parts and starts both threads. `expected` describes the source
  // until its first frame arrives.
  void start(std::unique_ptr<SupervisedSource> source, std::unique_ptr<Engine> engine,
             PipelineSettings settings, protocol::SourceDescription expected);
  // Swaps in the non-null parts, restarting only the thread that uses each
  // (a new engine does not restart the camera). Frame counters and sequence
  // numbers continue.
  void replace(std::unique_ptr<SupervisedSource> source, std::unique_ptr<Engine> engine,
               PipelineSettings settings, std::optional<protocol::SourceDescription> expected);
  // Takes effect from the next frame; no restart.
  void update(PipelineSettings settings);
  // Joins both threads (waits for an inference in progress). Idempotent.
  void stop();
  // After stop(): ends every tracked object and returns their end events
  // (empty when tracking is off). Control thread.
  protocol::FrameEvents finish_tracking();

  PipelineStats stats() const;
  // True when running and both threads went round their loops within
  // `max_age`: what the systemd watchdog is fed on.
  bool alive(std::chrono::steady_clock::duration max_age) const;
  // The running model's info (empty before start).
  ModelInfo model_info() const;
  protocol::SourceDescription source_description() const;
  // The current settings (for the reload worker to compare against).
  PipelineSettings settings() const;
  // Frames processed before `until` come with a picture at most `max_width`
  // wide, at most one per `interval` (0 = every frame; the frames between
  // come without). A later call replaces all three.
  void want_pictures(std::chrono::steady_clock::time_point until, int max_width,
                     std::chrono::steady_clock::duration interval = {});
  // While paused, the inference thread takes each frame and lets it go
  // unprocessed (counted as skipped): the camera keeps running, nothing is
  // published. Survives replace().
  void set_paused(bool paused) { paused_ = paused; }
  bool paused() const { return paused_; }

 private:
  struct Captured {
    FramePtr frame;
    std::uint64_t seq = 0;  // what clients see: the frame's sequence, offset (wire_seq)
    std::chrono::steady_clock::time_point received_steady;
    std::chrono::system_clock::time_point received_wall;
  };

  void start_capture();
  void stop_capture();
  void start_inference();
  void stop_inference();
  void capture_loop();
  void inference_loop();
  void beat(std::atomic<std::int64_t>& heartbeat);
  // The published seq of a frame with this source sequence. Capture thread.
  std::uint64_t wire_seq(std::uint64_t sequence);
  void record_inference_ms(double ms);
  // Inference thread: brings the objects in line with the settings (made,
  // reconfigured or ended: end events go into `events`).
  void apply_tracking(const std::shared_ptr<const TrackingSettings>& settings,
                      const PipelineSettings& all, protocol::FrameEvents& events);
  // Inference thread, while no frame is processed: feeds tracking an empty
  // frame once in a while, so that objects are lost and end on time.
  void track_without_frame();

  ResultSink on_result_;
  SourceSink on_source_;

  std::mutex control_mutex_;  // one start/replace/stop at a time
  std::atomic<bool> capture_running_{false};
  std::atomic<bool> inference_running_{false};
  std::thread capture_thread_;
  std::thread inference_thread_;

  // Parts: replaced only while the thread using them is stopped; the pointers are
  // guarded by parts_mutex_ for readers on other threads (stats, model_info).
  mutable std::mutex parts_mutex_;
  std::unique_ptr<SupervisedSource> source_;
  std::unique_ptr<Engine> engine_;
  std::shared_ptr<const PipelineSettings> settings_;
  protocol::SourceDescription source_description_;

  // The one-frame slot between the threads.
  std::mutex slot_mutex_;
  std::condition_variable slot_ready_;
  std::optional<Captured> slot_;

  // Capture thread only (start_capture sets the base while no capture thread
  // runs): the current source's offset, and one past the last seq given out.
  std::uint64_t seq_base_ = 0;
  std::uint64_t next_seq_ = 0;

  std::atomic<std::uint64_t> captured_{0};
  std::atomic<std::uint64_t> processed_{0};
  std::atomic<std::uint64_t> skipped_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<bool> paused_{false};
  std::atomic<std::int64_t> pictures_until_{0};  // steady clock, nanoseconds
  std::atomic<int> picture_width_{640};
  std::atomic<std::int64_t> picture_interval_{0};  // nanoseconds
  // The buffers pictures are made in, reused (pipeline.cpp); shared with the
  // pictures' deleters, which may run after the pipeline is gone.
  std::shared_ptr<PicturePool> picture_pool_;
  std::int64_t last_picture_ = 0;  // inference thread: when it last made one (steady, ns)
  // Tracking state, the inference thread's while it runs (and the control
  // thread's while it does not): the objects, the settings they were made
  // with, and the newest counts.
  std::unique_ptr<tracking::ObjectTracker> objects_;
  std::shared_ptr<const TrackingSettings> tracking_applied_;
  std::shared_ptr<const tracking::Counts> counts_;
  tracking::ObjectTracker::Output tracking_out_;  // reused per frame
  std::vector<Detection> all_detections_;         // reused per frame
  double last_tracked_ = 0;                       // steady seconds of the last tracking update
  int tracked_width_ = 0, tracked_height_ = 0;    // that frame's size
  std::atomic<std::int64_t> capture_beat_{0};     // steady clock, nanoseconds
  std::atomic<std::int64_t> inference_beat_{0};

  mutable std::mutex timing_mutex_;
  std::vector<double> inference_ms_;  // ring of the last kTimingWindow values
  std::size_t inference_next_ = 0;
};

}  // namespace lookout
