#include "auto/auto_source.hpp"

#include <algorithm>

#include "core/log.hpp"
#include "drivers/factory.hpp"

namespace lookout {

namespace {

std::string seconds_text(std::chrono::milliseconds ms) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(ms).count();
  return std::to_string(std::max<long long>(1, s)) + " s";
}

}  // namespace

AutoSource::AutoSource(const SourceConfig& config, AutoSourceOptions options)
    : config_(config), options_(std::move(options)) {
  if (options_.watch_interval.count() <= 0 || options_.rescan_initial.count() <= 0 ||
      options_.rescan_max < options_.rescan_initial) {
    throw SourceError("auto source: nonsensical rescan intervals");
  }
  // The fallback's settings must hold before there is anything to fall back
  // from: constructing checks them without I/O.
  SourceConfig synthetic = config_;
  synthetic.type = SourceType::Synthetic;
  make_source(synthetic);
  info_ = {kAutoUnstartedName, config.width, config.height, config.fps, PixelFormat::RGB24};
}

AutoSource::~AutoSource() {
  stop();
}

std::string AutoSource::try_candidate(const discovery::Candidate& candidate) {
  std::unique_ptr<FrameSource> source;
  try {
    source = make_source(candidate.config);
    source->start();
  } catch (const SourceError& e) {
    return e.what();
  }
  // "Streams" means a frame arrives: nodes that start but deliver nothing (a
  // capture node of a pipeline stage nobody feeds) are not cameras.
  const auto deadline = Clock::now() + config_.frame_timeout;
  std::string why = "no frame within " + std::to_string(config_.frame_timeout.count()) + " ms";
  while (Clock::now() < deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    FrameResult result = source->next_frame(std::max(left, std::chrono::milliseconds(1)));
    if (result.status == FrameResult::Status::Ok) {
      info_ = source->info();
      first_frame_ = std::move(result.frame);
      inner_ = std::move(source);
      return {};
    }
    if (result.status == FrameResult::Status::Error ||
        result.status == FrameResult::Status::EndOfStream) {
      why = result.status == FrameResult::Status::Error ? result.error : "no frames";
      break;
    }
  }
  source->stop();
  return why;
}

void AutoSource::start() {
  stop();
  fallback_ = false;
  const discovery::Discovery found = options_.discover(config_, true);
  std::vector<std::string> failures;
  std::set<std::string> tried;
  for (const discovery::Candidate& candidate : found.candidates) {
    tried.insert(candidate.label);
    const std::string why = try_candidate(candidate);
    if (why.empty()) {
      log::notice("auto source: using ", candidate.label, " (", info_.width, "x", info_.height,
                  ")");
      camera_seen_ = true;
      last_summary_.clear();
      return;
    }
    failures.push_back(candidate.label + ": " + why);
  }
  std::string summary;
  for (const std::string& f : failures) summary += (summary.empty() ? "" : "; ") + f;
  const std::string others = found.summary();
  if (!found.skipped.empty() || !found.libcamera_error.empty() || summary.empty()) {
    summary += (summary.empty() ? "" : "; ") + others;
  }
  if (camera_seen_) {
    // The camera that ran is gone (or failing): retried like that camera.
    throw SourceError("auto source: no camera streams now (" + summary + ")");
  }
  SourceConfig synthetic = config_;
  synthetic.type = SourceType::Synthetic;
  inner_ = make_source(synthetic);
  inner_->start();
  info_ = inner_->info();
  info_.name = kAutoFallbackName;
  fallback_ = true;
  tried_ = std::move(tried);
  watched_ = options_.watch();
  const auto now = Clock::now();
  next_watch_ = now + options_.watch_interval;
  rescan_delay_ = options_.rescan_initial;
  next_rescan_ = now + rescan_delay_;
  if (summary != last_summary_) {
    log::warning("auto source: no camera found (", summary,
                 "); running the synthetic source and looking again when a device appears, "
                 "at least every ",
                 seconds_text(options_.rescan_max));
    last_summary_ = summary;
  }
}

std::string AutoSource::camera_appeared() {
  const auto now = Clock::now();
  bool nodes_changed = false;
  if (now >= next_watch_) {
    next_watch_ = now + options_.watch_interval;
    std::vector<std::string> names = options_.watch();
    if (names != watched_) {
      watched_ = std::move(names);
      nodes_changed = true;
    }
  }
  const bool timer = now >= next_rescan_;
  if (!nodes_changed && !timer) return {};
  if (timer) rescan_delay_ = std::min(rescan_delay_ * 2, options_.rescan_max);
  next_rescan_ = now + rescan_delay_;
  const discovery::Discovery found = options_.discover(config_, nodes_changed);
  for (const discovery::Candidate& candidate : found.candidates) {
    if (tried_.count(candidate.label) == 0) return candidate.label;
  }
  return {};
}

FrameResult AutoSource::next_frame(std::chrono::milliseconds timeout) {
  if (!inner_) return FrameResult::failure("auto source: not started");
  if (first_frame_) return FrameResult::ok(std::move(first_frame_));
  if (fallback_) {
    if (const std::string label = camera_appeared(); !label.empty()) {
      return FrameResult::failure("auto source: " + label + " appeared; switching to it");
    }
  }
  return inner_->next_frame(timeout);
}

void AutoSource::stop() {
  first_frame_.reset();
  if (inner_) {
    inner_->stop();
    inner_.reset();
  }
}

SourceInfo AutoSource::info() const {
  return info_;
}

}  // namespace lookout
