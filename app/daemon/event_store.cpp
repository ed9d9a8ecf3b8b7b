#include "event_store.hpp"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "core/jpeg.hpp"
#include "core/log.hpp"
#include "picture/annotate.hpp"
#include "picture/image.hpp"

namespace lookout {

namespace fs = std::filesystem;

namespace {

// Short: the daemon's whole stop must stay within its stop guard (5 s),
// and the MQTT output may take 3 s saying goodbye to an unreachable broker.
constexpr auto kCloseWait = std::chrono::seconds(1);
// The writer wakes this often with nothing to do, to apply max_age_days.
constexpr auto kAgeCheck = std::chrono::seconds(60);
// Around the object in its crop, as a share of the box's size on each side.
constexpr double kCropMargin = 0.15;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Writes `bytes` to `path` through a temporary file and a rename. Returns
// the error, or "".
std::string write_file(const fs::path& path, const std::string& bytes) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return "cannot create " + tmp.string() + ": " + std::strerror(errno);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) {
      const std::string why = std::strerror(errno);
      out.close();
      std::error_code ignored;
      fs::remove(tmp, ignored);
      return "cannot write " + tmp.string() + ": " + why;
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return "cannot rename " + tmp.string() + ": " + ec.message();
  }
  return {};
}

// The id of a snapshot file name ("<id>.jpg" or "<id>-crop.jpg"), or "".
std::string id_of_file(const std::string& name) {
  constexpr std::string_view kCrop = "-crop.jpg", kFull = ".jpg";
  std::string_view n(name);
  if (n.size() > kCrop.size() && n.substr(n.size() - kCrop.size()) == kCrop) {
    n.remove_suffix(kCrop.size());
  } else if (n.size() > kFull.size() && n.substr(n.size() - kFull.size()) == kFull) {
    n.remove_suffix(kFull.size());
  } else {
    return {};
  }
  return protocol::valid_event_id(n) ? std::string(n) : std::string();
}

}  // namespace

EventStore::EventStore() = default;

EventStore::~EventStore() {
  close();
}

void EventStore::apply(const Config& config, std::unique_ptr<OutputPrepared>) {
  Settings next;
  next.enabled = config.tracking.enabled && config.events.snapshots;
  next.directory = config.events.directory;
  next.max_count = static_cast<std::size_t>(config.events.max_count);
  next.max_bytes = static_cast<std::uint64_t>(config.events.max_mb * 1024 * 1024);
  next.max_age_s = config.events.max_age_days * 86400;
  next.quality = config.events.jpeg_quality;
  bool start = false;
  {
    std::lock_guard lock(mutex_);
    settings_ = next;
    if (!next.enabled) queue_.clear();
    start = next.enabled && !writer_.joinable() && !stop_;
    if (start) {
      writer_ = std::thread([this] { writer_loop(); });
    }
  }
  wake_.notify_all();
}

void EventStore::publish_events(const std::shared_ptr<const PublishedEvents>& events) {
  if (!events->picture || events->events.new_bests.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (!settings_.enabled || stop_) return;
    for (const auto& object : events->events.new_bests) {
      Job job{object.id,
              object,
              events->picture,
              events->events.width,
              events->events.height,
              events->events.class_names};
      const auto same = std::find_if(queue_.begin(), queue_.end(),
                                     [&](const Job& queued) { return queued.id == object.id; });
      if (same != queue_.end()) {
        *same = std::move(job);  // a newer best of the same event: the older was not needed
        continue;
      }
      if (queue_.size() >= kMaxQueued) {
        queue_.pop_front();
        ++failed_;
      }
      queue_.push_back(std::move(job));
    }
  }
  wake_.notify_one();
}

void EventStore::report(std::vector<protocol::OutputStats>& out) const {
  std::lock_guard lock(mutex_);
  protocol::OutputStats s;
  s.name = "events";
  s.state = !settings_.enabled ? "disabled" : error_.empty() ? "writing" : "failing";
  s.error = error_;
  s.sent = written_;
  s.dropped = failed_;
  s.queued = queue_.size() + (busy_ ? 1 : 0);
  out.push_back(std::move(s));
}

void EventStore::close() {
  std::thread writer;
  {
    std::unique_lock lock(mutex_);
    if (!writer_.joinable()) {
      stop_ = true;
      return;
    }
    // What is queued is written first, for a while.
    wake_.wait_for(lock, kCloseWait, [this] { return queue_.empty() && !busy_; });
    stop_ = true;
    queue_.clear();
    writer = std::move(writer_);
  }
  wake_.notify_all();
  writer.join();
}

void EventStore::writer_loop() {
  pthread_setname_np(pthread_self(), "snapshots");
  std::unique_lock lock(mutex_);
  while (!stop_) {
    wake_.wait_for(lock, kAgeCheck, [this] { return stop_ || !queue_.empty(); });
    if (stop_) break;
    const Settings settings = settings_;
    std::optional<Job> job;
    if (!queue_.empty()) {
      job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    lock.unlock();
    std::string error;
    if (settings.enabled) {
      std::error_code ec;
      fs::create_directories(settings.directory, ec);
      if (ec) {
        error = "cannot create " + settings.directory + ": " + ec.message();
      } else {
        scan(settings);
        if (job) {
          // Room first, so that the directory never holds more than
          // max_count events, not even for a moment (a new best picture of
          // an event already kept replaces its files).
          enforce(settings, kept_.count(job->id) == 0 ? 1 : 0);
          error = write(*job, settings);
        }
        enforce(settings, 0);
      }
    }
    if (!error.empty() && !failing_logged_) {
      log::warning("event snapshots: ", error,
                   "; snapshots are dropped (detection goes on) until writing works again");
      failing_logged_ = true;
    } else if (error.empty() && job && failing_logged_) {
      log::notice("event snapshots: writing to ", settings.directory, " works again");
      failing_logged_ = false;
    }
    lock.lock();
    busy_ = false;
    if (job) {
      if (error.empty()) {
        ++written_;
        error_.clear();
      } else {
        ++failed_;
        error_ = error;
      }
    } else if (!error.empty()) {
      error_ = error;
    }
    wake_.notify_all();  // close() may be waiting for the queue to empty
  }
}

std::string EventStore::write(const Job& job, const Settings& settings) {
  std::string full, crop;
  try {
    jpeg::Decompressor decompressor;
    jpeg::Compressor compressor;
    const Detection d = job.object.best_detection();
    picture::JpegOptions options;
    options.quality = settings.quality;
    const std::vector<std::string> no_names;
    full = picture::annotated_jpeg(decompressor, compressor, *job.picture, job.frame_width,
                                   job.frame_height, {d},
                                   job.class_names ? *job.class_names : no_names, options);
    // The crop: the object with a margin, from the same picture, undrawn.
    const picture::RgbImage rgb = picture::to_rgb(*job.picture, decompressor);
    const double sx = static_cast<double>(rgb.width) / std::max(job.frame_width, 1);
    const double sy = static_cast<double>(rgb.height) / std::max(job.frame_height, 1);
    const double mx = (d.x2 - d.x1) * kCropMargin, my = (d.y2 - d.y1) * kCropMargin;
    const int x1 = std::clamp(static_cast<int>((d.x1 - mx) * sx), 0, rgb.width - 1);
    const int y1 = std::clamp(static_cast<int>((d.y1 - my) * sy), 0, rgb.height - 1);
    const int x2 = std::clamp(static_cast<int>((d.x2 + mx) * sx + 0.5), x1 + 1, rgb.width);
    const int y2 = std::clamp(static_cast<int>((d.y2 + my) * sy + 0.5), y1 + 1, rgb.height);
    const std::size_t stride = static_cast<std::size_t>(rgb.width) * 3;
    const auto bytes =
        compressor.compress_rgb(rgb.pixels.data() + static_cast<std::size_t>(y1) * stride +
                                    static_cast<std::size_t>(x1) * 3,
                                x2 - x1, y2 - y1, stride, settings.quality);
    crop.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  } catch (const std::exception& e) {
    return std::string("cannot encode the snapshot of event ") + job.id + ": " + e.what();
  }
  const fs::path dir(settings.directory);
  // Each file counts for retention as soon as it is there.
  if (auto error = write_file(dir / (job.id + ".jpg"), full); !error.empty()) return error;
  kept_[job.id] = {full.size(), unix_now()};
  if (auto error = write_file(dir / (job.id + "-crop.jpg"), crop); !error.empty()) return error;
  kept_[job.id].bytes += crop.size();
  return {};
}

void EventStore::scan(const Settings& settings) {
  if (scanned_ == settings.directory) return;
  scanned_ = settings.directory;
  kept_.clear();
  std::error_code ec;
  std::vector<fs::path> leftovers;
  for (fs::directory_iterator it(settings.directory, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() > 8 && name.compare(name.size() - 8, 8, ".jpg.tmp") == 0 &&
        !id_of_file(name.substr(0, name.size() - 4)).empty()) {
      leftovers.push_back(it->path());  // from a write that a crash cut short
      continue;
    }
    const std::string id = id_of_file(name);
    if (id.empty()) continue;
    std::error_code stat_ec;
    const auto size = it->file_size(stat_ec);
    const auto time = it->last_write_time(stat_ec);
    if (stat_ec) continue;
    Kept& k = kept_[id];
    k.bytes += size;
    // file_clock to Unix seconds: the difference from now, on both clocks.
    const auto age = fs::file_time_type::clock::now() - time;
    const std::int64_t written =
        unix_now() - std::chrono::duration_cast<std::chrono::seconds>(age).count();
    k.written = k.written == 0 ? written : std::min(k.written, written);
  }
  for (const auto& path : leftovers) fs::remove(path, ec);
}

void EventStore::enforce(const Settings& settings, std::size_t room) {
  std::uint64_t bytes = 0;
  for (const auto& [id, k] : kept_) bytes += k.bytes;
  const std::int64_t now = unix_now();
  while (!kept_.empty()) {
    auto oldest = std::min_element(kept_.begin(), kept_.end(), [](const auto& a, const auto& b) {
      return a.second.written != b.second.written ? a.second.written < b.second.written
                                                  : a.first < b.first;
    });
    const bool too_many = kept_.size() + room > settings.max_count;
    const bool too_big = settings.max_bytes > 0 && bytes > settings.max_bytes;
    const bool too_old = static_cast<double>(now - oldest->second.written) > settings.max_age_s;
    if (!too_many && !too_big && !too_old) break;
    const fs::path dir(settings.directory);
    std::error_code ec;
    fs::remove(dir / (oldest->first + ".jpg"), ec);
    fs::remove(dir / (oldest->first + "-crop.jpg"), ec);
    bytes -= std::min(bytes, oldest->second.bytes);
    kept_.erase(oldest);
  }
}

}  // namespace lookout
