#include "pipeline.hpp"

#include <pthread.h>

#include <stdexcept>
#include <utility>

#include "core/log.hpp"
#include "core/percentile.hpp"
#include "picture/image.hpp"

namespace lookout {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kTimingWindow = 128;
// How long each thread may wait before going round its loop again (to see a
// stop request and to show it is alive).
constexpr auto kCaptureWait = std::chrono::milliseconds(200);
constexpr auto kInferenceWait = std::chrono::milliseconds(200);
// With no frame processed for this long (seconds), tracking is fed an empty
// frame, so that objects are lost and end on time.
constexpr double kTrackingGap = 1.0;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Logs the first few failures of a kind, then every power of two.
bool worth_logging(std::uint64_t count) {
  return count <= 3 || (count & (count - 1)) == 0;
}

}  // namespace

// Picture buffers that the inference thread fills (picture::small_copy_into)
// and the outputs hold (a snapshot's latest picture, encoder jobs). A picture
// comes back here when its last holder lets go, on whichever thread that is,
// so steady watching allocates nothing: a fresh 900 KB buffer per picture
// cost the inference thread page faults, and glibc's trimming of the memory
// freed on the I/O thread cost its other allocations more. Thread-safe.
class PicturePool : public std::enable_shared_from_this<PicturePool> {
 public:
  FramePtr copy(const Frame& frame, int max_width) {
    std::unique_ptr<Frame> buffer;
    {
      std::lock_guard lock(mutex_);
      if (!free_.empty()) {
        buffer = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (!buffer) buffer = std::make_unique<Frame>();
    picture::small_copy_into(frame, max_width, *buffer);
    return FramePtr(buffer.release(), [pool = weak_from_this()](const Frame* picture) {
      std::unique_ptr<Frame> owned(const_cast<Frame*>(picture));
      if (const auto self = pool.lock()) self->give_back(std::move(owned));
    });
  }

 private:
  // More than viewers and encoder jobs hold at once is freed.
  static constexpr std::size_t kKeep = 4;
  void give_back(std::unique_ptr<Frame> buffer) {
    std::lock_guard lock(mutex_);
    if (free_.size() < kKeep) free_.push_back(std::move(buffer));
  }
  std::mutex mutex_;
  std::vector<std::unique_ptr<Frame>> free_;
};

namespace {

// A small copy of `frame` for pictures (snapshots, streams), or null when it
// cannot be made: a picture is a convenience, never a reason to lose the
// frame's detections.
FramePtr take_picture(PicturePool& pool, const Frame& frame, int max_width, std::uint64_t seq) {
  try {
    return pool.copy(frame, max_width);
  } catch (const std::exception& e) {
    static std::atomic<std::uint64_t> failures{0};
    const std::uint64_t n = ++failures;
    if (worth_logging(n))
      log::warning("no picture of frame ", seq, " (", n, " so far): ", e.what());
    return nullptr;
  }
}

}  // namespace

Pipeline::Pipeline(ResultSink on_result, SourceSink on_source)
    : on_result_(std::move(on_result)),
      on_source_(std::move(on_source)),
      picture_pool_(std::make_shared<PicturePool>()) {
  inference_ms_.reserve(kTimingWindow);
}

Pipeline::~Pipeline() {
  stop();
}

void Pipeline::start(std::unique_ptr<SupervisedSource> source, std::unique_ptr<Engine> engine,
                     PipelineSettings settings, protocol::SourceDescription expected) {
  if (!source || !engine)
    throw std::invalid_argument("pipeline: a source and an engine are needed");
  std::lock_guard control(control_mutex_);
  stop_capture();
  stop_inference();
  {
    std::lock_guard lock(parts_mutex_);
    source_ = std::move(source);
    engine_ = std::move(engine);
    settings_ = std::make_shared<const PipelineSettings>(std::move(settings));
    source_description_ = std::move(expected);
  }
  start_inference();
  start_capture();
}

void Pipeline::replace(std::unique_ptr<SupervisedSource> source, std::unique_ptr<Engine> engine,
                       PipelineSettings settings,
                       std::optional<protocol::SourceDescription> expected) {
  std::lock_guard control(control_mutex_);
  if (engine) {
    stop_inference();
    std::unique_ptr<Engine> old;
    {
      std::lock_guard lock(parts_mutex_);
      old = std::exchange(engine_, std::move(engine));
      settings_ = std::make_shared<const PipelineSettings>(std::move(settings));
    }
    old.reset();  // outside the lock: freeing a model takes a moment
    start_inference();
  } else {
    std::lock_guard lock(parts_mutex_);
    settings_ = std::make_shared<const PipelineSettings>(std::move(settings));
  }
  if (source) {
    stop_capture();
    std::unique_ptr<SupervisedSource> old;
    {
      std::lock_guard lock(parts_mutex_);
      old = std::exchange(source_, std::move(source));
      if (expected) source_description_ = std::move(*expected);
    }
    old.reset();
    start_capture();
  }
}

void Pipeline::update(PipelineSettings settings) {
  std::lock_guard lock(parts_mutex_);
  settings_ = std::make_shared<const PipelineSettings>(std::move(settings));
}

void Pipeline::stop() {
  std::lock_guard control(control_mutex_);
  // Capture first, so no new frame arrives for an inference thread that is gone.
  stop_capture();
  stop_inference();
  std::lock_guard lock(slot_mutex_);
  if (slot_) {
    // A frame nobody will process now: skipped, so the counts add up.
    slot_.reset();  // and a camera buffer must not outlive the source by our doing
    ++skipped_;
  }
}

void Pipeline::start_capture() {
  if (!source_) return;
  // A new source numbers its frames from 0 again: continue after the last seq.
  seq_base_ = next_seq_;
  capture_running_ = true;
  capture_beat_ = now_ns();
  capture_thread_ = std::thread([this] { capture_loop(); });
}

void Pipeline::stop_capture() {
  capture_running_ = false;
  if (capture_thread_.joinable()) capture_thread_.join();
}

void Pipeline::start_inference() {
  if (!engine_) return;
  inference_running_ = true;
  inference_beat_ = now_ns();
  inference_thread_ = std::thread([this] { inference_loop(); });
}

void Pipeline::stop_inference() {
  {
    std::lock_guard lock(slot_mutex_);
    inference_running_ = false;
  }
  slot_ready_.notify_all();
  if (inference_thread_.joinable()) inference_thread_.join();
}

void Pipeline::beat(std::atomic<std::int64_t>& heartbeat) {
  heartbeat = now_ns();
}

std::uint64_t Pipeline::wire_seq(std::uint64_t sequence) {
  std::uint64_t seq = seq_base_ + sequence;
  if (seq < next_seq_) {
    // The source's numbering went back without a restart we know of (a
    // driver that restarted on its own): rebase, so seq still only increases
    // and the source's later gaps still show.
    seq_base_ = next_seq_ - sequence;
    seq = next_seq_;
  }
  next_seq_ = seq + 1;
  return seq;
}

void Pipeline::capture_loop() {
  pthread_setname_np(pthread_self(), "capture");  // for top -H, perf, gdb
  SupervisedSource& source = *source_;
  // Never throws for the camera's own failures: the supervisor retries them.
  source.start();
  int last_width = 0, last_height = 0;
  std::uint64_t last_starts = 0;
  std::string last_name;
  bool finished = false;
  while (capture_running_) {
    beat(capture_beat_);
    FrameResult result = source.next_frame(kCaptureWait);
    switch (result.status) {
      case FrameResult::Status::Ok: {
        Captured captured;
        captured.frame = std::move(result.frame);
        captured.seq = wire_seq(captured.frame->sequence);
        ++captured_;
        captured.received_steady = Clock::now();
        captured.received_wall = std::chrono::system_clock::now();
        const int width = captured.frame->width, height = captured.frame->height;
        bool replaced = false;
        {
          std::lock_guard lock(slot_mutex_);
          replaced = slot_.has_value();
          slot_ = std::move(captured);
        }
        slot_ready_.notify_one();
        if (replaced) ++skipped_;
        bool renamed = false;
        if (const std::uint64_t starts = source.starts(); starts != last_starts) {
          // Restarted: perhaps as another source (auto's fallback handing
          // over to a camera that appeared, at the same size).
          last_starts = starts;
          std::string name = source.info().name;
          renamed = name != last_name;
          last_name = std::move(name);
        }
        if (width != last_width || height != last_height || renamed) {
          // The first frame (or a new mode or source after a restart) says
          // what the source really delivers; clients are told through a new
          // hello.
          last_width = width;
          last_height = height;
          const SourceInfo info = source.info();
          protocol::SourceDescription description;
          description.name = info.name;
          description.width = width;
          description.height = height;
          description.fps = info.fps;
          {
            std::lock_guard lock(parts_mutex_);
            source_description_ = description;
          }
          if (on_source_) on_source_(description);
        }
        break;
      }
      case FrameResult::Status::Timeout:
        break;
      case FrameResult::Status::EndOfStream:
        if (!finished) {
          log::notice("the source has no more frames; waiting for a reload or stop");
          finished = true;
        }
        std::this_thread::sleep_for(kCaptureWait);
        break;
      case FrameResult::Status::Corrupt: {
        // A frame the source could not decode: skipped and counted, as one the
        // engine rejects, so captured = processed + skipped + errors holds.
        ++captured_;
        const std::uint64_t n = ++errors_;
        if (worth_logging(n)) log::warning("source: ", result.error, " (", n, " errors so far)");
        break;
      }
      case FrameResult::Status::Error:
        // The supervisor turns failures into restarts; this is defensive.
        log::warning("source: ", result.error);
        std::this_thread::sleep_for(kCaptureWait);
        break;
    }
  }
  source.stop();
}

void Pipeline::inference_loop() {
  pthread_setname_np(pthread_self(), "inference");
  Engine& engine = *engine_;
  while (true) {
    beat(inference_beat_);
    std::optional<Captured> captured;
    {
      std::unique_lock lock(slot_mutex_);
      slot_ready_.wait_for(lock, kInferenceWait,
                           [this] { return slot_.has_value() || !inference_running_; });
      if (!inference_running_) break;
      if (slot_) {
        captured = std::move(slot_);
        slot_.reset();
      }
    }
    if (!captured || paused_) {
      if (captured) ++skipped_;  // paused: the frame goes back at once
      // No frame processed: objects are still lost on time and end.
      track_without_frame();
      continue;
    }
    std::shared_ptr<const PipelineSettings> settings;
    {
      std::lock_guard lock(parts_mutex_);
      settings = settings_;
    }
    // Only the few fields the result needs are kept: the frame itself goes
    // as soon as the engine has prepared its own input from it, so a camera
    // buffer returns to the driver before the forward pass rather than after
    // it (on a Pi a forward takes ~300 ms, and libcamera has only a few
    // buffers: one held that long costs captured frames).
    const std::uint64_t seq = captured->seq;
    int width = 0, height = 0;
    std::chrono::system_clock::time_point capture_time;
    Clock::time_point captured_at;
    {
      const Frame& frame = *captured->frame;
      width = frame.width;
      height = frame.height;
      // Sources stamp the capture instant; fall back to when we received it.
      capture_time = frame.capture_time.time_since_epoch().count() != 0 ? frame.capture_time
                                                                        : captured->received_wall;
      captured_at = frame.capture_steady.time_since_epoch().count() != 0 &&
                            frame.capture_steady <= captured->received_steady
                        ? frame.capture_steady
                        : captured->received_steady;
    }
    if (settings->tracking != tracking_applied_ || (objects_ && !settings->tracking)) {
      protocol::FrameEvents ended;
      apply_tracking(settings->tracking, *settings, ended);
      if (!ended.empty() && on_result_) {
        PipelineResult alone;
        alone.events = std::move(ended);
        on_result_(std::move(alone));
      }
    }
    const TrackingSettings* tracking = objects_ ? settings->tracking.get() : nullptr;
    DetectResult result;
    FramePtr picture;
    FramePtr best_picture;
    try {
      PreparedFrame prepared = engine.prepare(*captured->frame);
      const std::int64_t now = now_ns();
      if (now < pictures_until_.load() && now - last_picture_ >= picture_interval_.load()) {
        picture = take_picture(*picture_pool_, *captured->frame, picture_width_.load(), seq);
        last_picture_ = now;
      }
      if (tracking != nullptr && tracking->snapshot_width > 0 &&
          objects_->may_want_picture(
              std::chrono::duration<double>(captured_at.time_since_epoch()).count())) {
        best_picture =
            take_picture(*picture_pool_, *captured->frame, tracking->snapshot_width, seq);
      }
      captured.reset();  // the source's buffer goes back now, before the forward pass
      result = engine.detect(std::move(prepared), settings->detect);
    } catch (const std::exception& e) {
      // A bad frame (corrupt JPEG, odd layout) is skipped, never fatal.
      const std::uint64_t n = ++errors_;
      if (worth_logging(n))
        log::warning("frame ", seq, " not processed (", n, " so far): ", e.what());
      continue;
    }
    PipelineResult out;
    protocol::FrameDetections& frame = out.frame;
    frame.seq = seq;
    frame.capture_time = capture_time;
    frame.width = width;
    frame.height = height;
    frame.inference_ms = result.times.total_ms();
    frame.class_names = settings->class_names;
    frame.camera = settings->camera;
    if (tracking != nullptr) {
      // The tracker sees every detection down to its low score; clients see
      // those scoring model.conf or more, and the weaker ones that continue a
      // confirmed track, each with its track id.
      all_detections_ = std::move(result.detections);
      tracking_out_.clear();
      const double steady_s = std::chrono::duration<double>(captured_at.time_since_epoch()).count();
      objects_->process(all_detections_, width, height, steady_s, capture_time, tracking_out_,
                        best_picture != nullptr);
      last_tracked_ = steady_s;
      tracked_width_ = width;
      tracked_height_ = height;
      frame.detections.reserve(all_detections_.size());
      frame.track_ids.reserve(all_detections_.size());
      for (std::size_t i = 0; i < all_detections_.size(); ++i) {
        const Detection& d = all_detections_[i];
        const auto own = tracking->publish_class_conf.find(d.class_id);
        const float threshold =
            own != tracking->publish_class_conf.end() ? own->second : tracking->publish_conf;
        // A weaker box that continues a confirmed track is published too:
        // that is ByteTrack's point (an object half hidden behind another
        // still scores something, and stays seen).
        if (d.score < threshold && tracking_out_.track_ids[i] == 0) continue;
        frame.detections.push_back(d);
        frame.track_ids.push_back(tracking_out_.track_ids[i]);
      }
      if (tracking_out_.counts_changed) {
        counts_ = std::make_shared<const tracking::Counts>(objects_->counts());
      }
      protocol::FrameEvents& events = out.events;
      events.events = std::move(tracking_out_.events);
      events.new_bests = std::move(tracking_out_.new_bests);
      events.counts = counts_;
      events.counts_changed = tracking_out_.counts_changed;
      events.class_names = settings->class_names;
      events.camera = settings->camera;
      events.width = width;
      events.height = height;
      // New bests are only made on frames with a copy (process() was told).
      if (!events.new_bests.empty()) out.best_picture = std::move(best_picture);
    } else {
      frame.detections = std::move(result.detections);
    }
    record_inference_ms(frame.inference_ms);
    ++processed_;
    frame.total_ms = std::chrono::duration<double, std::milli>(Clock::now() - captured_at).count();
    out.picture = std::move(picture);
    if (on_result_) on_result_(std::move(out));
  }
}

void Pipeline::apply_tracking(const std::shared_ptr<const TrackingSettings>& settings,
                              const PipelineSettings& all, protocol::FrameEvents& events) {
  tracking::ObjectTracker::Output out;
  // Objects ended here were made with the settings applied so far: their
  // class ids mean those class names, not a new model's.
  const auto old_names =
      tracking_applied_
          ? std::make_shared<const std::vector<std::string>>(tracking_applied_->setup.class_names)
          : all.class_names;
  if (!settings) {
    if (objects_) objects_->finish(out);
    objects_.reset();
    // No zones and no lines any more: outputs withdraw their counts.
    counts_ = std::make_shared<const tracking::Counts>();
    out.counts_changed = true;
  } else if (!objects_) {
    objects_ = std::make_unique<tracking::ObjectTracker>(settings->setup);
    out.counts_changed = true;
  } else {
    objects_->configure(settings->setup, out);
  }
  tracking_applied_ = settings;
  if (objects_ && out.counts_changed) {
    counts_ = std::make_shared<const tracking::Counts>(objects_->counts());
  }
  events.events = std::move(out.events);
  events.counts = counts_;
  events.counts_changed = out.counts_changed;
  events.class_names = events.events.empty() ? all.class_names : old_names;
  events.camera = all.camera;
}

void Pipeline::track_without_frame() {
  if (!objects_ || tracked_width_ == 0) return;
  const double now = std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
  // Frames come every period or so; only a real gap counts as unseen.
  if (now - last_tracked_ < kTrackingGap) return;
  std::shared_ptr<const PipelineSettings> settings;
  {
    std::lock_guard lock(parts_mutex_);
    settings = settings_;
  }
  if (!settings || settings->tracking != tracking_applied_) return;  // the next frame applies it
  tracking_out_.clear();
  objects_->process({}, tracked_width_, tracked_height_, now, std::chrono::system_clock::now(),
                    tracking_out_, false);
  last_tracked_ = now;
  PipelineResult alone;
  protocol::FrameEvents& events = alone.events;
  if (tracking_out_.counts_changed) {
    counts_ = std::make_shared<const tracking::Counts>(objects_->counts());
  }
  events.events = std::move(tracking_out_.events);
  events.counts = counts_;
  events.counts_changed = tracking_out_.counts_changed;
  events.class_names = settings->class_names;
  events.camera = settings->camera;
  if (!events.empty() && on_result_) on_result_(std::move(alone));
}

protocol::FrameEvents Pipeline::finish_tracking() {
  std::lock_guard control(control_mutex_);
  protocol::FrameEvents events;
  if (inference_running_ || !objects_) return events;
  tracking::ObjectTracker::Output out;
  objects_->finish(out);
  counts_ = std::make_shared<const tracking::Counts>(objects_->counts());
  events.events = std::move(out.events);
  events.counts = counts_;
  events.counts_changed = out.counts_changed;
  std::shared_ptr<const PipelineSettings> settings;
  {
    std::lock_guard lock(parts_mutex_);
    settings = settings_;
  }
  if (settings) {
    events.class_names = settings->class_names;
    events.camera = settings->camera;
  }
  if (tracking_applied_) {
    events.class_names =
        std::make_shared<const std::vector<std::string>>(tracking_applied_->setup.class_names);
  }
  return events;
}

void Pipeline::want_pictures(Clock::time_point until, int max_width, Clock::duration interval) {
  picture_width_ = max_width;
  picture_interval_ = std::chrono::duration_cast<std::chrono::nanoseconds>(interval).count();
  pictures_until_ =
      std::chrono::duration_cast<std::chrono::nanoseconds>(until.time_since_epoch()).count();
}

void Pipeline::record_inference_ms(double ms) {
  std::lock_guard lock(timing_mutex_);
  if (inference_ms_.size() < kTimingWindow) {
    inference_ms_.push_back(ms);
  } else {
    inference_ms_[inference_next_] = ms;
  }
  inference_next_ = (inference_next_ + 1) % kTimingWindow;
}

PipelineStats Pipeline::stats() const {
  PipelineStats s;
  s.captured = captured_;
  s.processed = processed_;
  s.skipped = skipped_;
  s.errors = errors_;
  std::vector<double> times;
  {
    std::lock_guard lock(timing_mutex_);
    times = inference_ms_;
  }
  // The same definition as `lookout bench` (core/percentile.hpp: nearest rank).
  s.inference_p50_ms = percentile(times, 50);
  s.inference_p90_ms = percentile(times, 90);
  std::lock_guard lock(parts_mutex_);
  if (source_) s.source = source_->health();
  return s;
}

bool Pipeline::alive(Clock::duration max_age) const {
  if (!capture_running_ || !inference_running_) return false;
  const std::int64_t now = now_ns();
  const auto limit = std::chrono::duration_cast<std::chrono::nanoseconds>(max_age).count();
  return now - capture_beat_ <= limit && now - inference_beat_ <= limit;
}

ModelInfo Pipeline::model_info() const {
  std::lock_guard lock(parts_mutex_);
  return engine_ ? engine_->info() : ModelInfo{};
}

protocol::SourceDescription Pipeline::source_description() const {
  std::lock_guard lock(parts_mutex_);
  return source_description_;
}

PipelineSettings Pipeline::settings() const {
  std::lock_guard lock(parts_mutex_);
  return settings_ ? *settings_ : PipelineSettings{};
}

}  // namespace lookout
