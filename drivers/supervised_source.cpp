#include "drivers/supervised_source.hpp"

#include <algorithm>
#include <cmath>

#include "common/frame_util.hpp"
#include "core/log.hpp"

namespace lookout {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

bool is_power_of_two(std::uint64_t n) {
  return n != 0 && (n & (n - 1)) == 0;
}

// Rounds up so a wait of "0.3 ms left" is not turned into a busy 0 ms poll loop.
milliseconds ceil_ms(std::chrono::steady_clock::duration d) {
  if (d <= d.zero()) return milliseconds(0);
  return std::chrono::ceil<milliseconds>(d);
}

}  // namespace

SupervisorOptions SupervisorOptions::from(const SourceConfig& config) {
  SupervisorOptions options;
  options.frame_timeout = config.frame_timeout;
  options.backoff_initial = config.backoff_initial;
  options.backoff_max = config.backoff_max;
  return options;
}

SupervisedSource::SupervisedSource(std::unique_ptr<FrameSource> inner, SupervisorOptions options)
    : inner_(std::move(inner)), options_(options), backoff_(options.backoff_initial) {
  if (!inner_) throw SourceError("supervised source: no source given");
  if (options_.frame_timeout.count() <= 0 || options_.backoff_initial.count() <= 0 ||
      options_.backoff_max.count() <= 0) {
    throw SourceError(
        "source supervision: frame_timeout, backoff_initial and backoff_max must be "
        "positive");
  }
  if (options_.backoff_initial > options_.backoff_max) {
    throw SourceError("source supervision: backoff_initial (" +
                      std::to_string(options_.backoff_initial.count()) +
                      " ms) is larger than backoff_max (" +
                      std::to_string(options_.backoff_max.count()) + " ms)");
  }
  info_ = inner_->info();
  health_.name = info_.name;
}

SupervisedSource::~SupervisedSource() {
  stop();
}

void SupervisedSource::start() {
  stop();
  backoff_ = options_.backoff_initial;
  sequence_base_ = 0;
  next_sequence_ = 0;
  {
    std::lock_guard lock(mutex_);
    const std::string name = health_.name;
    health_ = SourceHealth{};
    health_.name = name;
    health_.state = SourceHealth::State::Starting;
  }
  attempt_now(false);
}

void SupervisedSource::attempt_now(bool is_restart) {
  try {
    inner_->start();
  } catch (const std::exception& e) {
    on_failure(e.what());
    return;
  }
  on_started(is_restart);
}

void SupervisedSource::launch_attempt() {
  {
    std::lock_guard lock(mutex_);
    attempt_running_ = true;
    attempt_ok_ = false;
    attempt_error_.clear();
  }
  attempt_ = std::thread([this] {
    bool ok = false;
    std::string error;
    try {
      inner_->stop();
      inner_->start();
      ok = true;
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "unknown exception while starting";
    }
    std::lock_guard lock(mutex_);
    attempt_running_ = false;
    attempt_ok_ = ok;
    attempt_error_ = std::move(error);
    attempt_done_.notify_all();
  });
}

bool SupervisedSource::poll_attempt(Clock::time_point deadline) {
  bool ok = false;
  std::string error;
  {
    std::unique_lock lock(mutex_);
    if (!attempt_done_.wait_until(lock, deadline, [this] { return !attempt_running_; })) {
      return false;
    }
    ok = attempt_ok_;
    error = attempt_error_;
  }
  attempt_.join();
  if (ok) {
    on_started(true);
  } else {
    on_failure(error);
  }
  return true;
}

void SupervisedSource::on_started(bool is_restart) {
  const auto now = Clock::now();
  last_progress_ = now;
  running_since_ = now;
  sequence_base_ = next_sequence_;
  SourceInfo info;
  try {
    info = inner_->info();
  } catch (const std::exception&) {
    std::lock_guard lock(mutex_);
    info = info_;
  }
  std::uint64_t failures = 0;
  {
    std::lock_guard lock(mutex_);
    info_ = info;
    health_.name = info.name;
    health_.state = SourceHealth::State::Running;
    health_.retry_in = milliseconds(0);
    if (is_restart) ++health_.restarts;
    failures = health_.consecutive_failures;
  }
  starts_.fetch_add(1, std::memory_order_release);
  if (is_restart) {
    log::notice("source ", info.name, ": restarted after ", failures, " failure",
                failures == 1 ? "" : "s");
  } else {
    log::info("source ", info.name, ": started, ", info.width, "x", info.height, " ",
              to_string(info.format), info.fps > 0 ? " at " : "",
              info.fps > 0 ? std::to_string(info.fps) : std::string(),
              info.fps > 0 ? " fps" : " unpaced");
  }
}

void SupervisedSource::on_failure(const std::string& why) {
  const auto now = Clock::now();
  retry_at_ = now + backoff_;
  std::uint64_t count = 0;
  std::string name;
  {
    std::lock_guard lock(mutex_);
    ++health_.failures;
    count = ++health_.consecutive_failures;
    health_.last_error = why;
    health_.last_error_time = std::chrono::system_clock::now();
    health_.state = SourceHealth::State::Restarting;
    health_.retry_in = backoff_;
    health_.backoff = backoff_;
    name = health_.name;
  }
  if (count == 1 || is_power_of_two(count) || now - last_warning_ >= std::chrono::minutes(1)) {
    log::warning("source ", name, ": ", why, " (", count, " failure", count == 1 ? "" : "s",
                 " in a row; next attempt in ", backoff_.count(), " ms)");
    last_warning_ = now;
  } else {
    log::debug("source ", name, ": ", why, " (failure ", count, ")");
  }
  backoff_ = std::min(backoff_ * 2, options_.backoff_max);
}

SupervisedSource::Clock::duration SupervisedSource::stall_limit() const {
  Clock::duration limit = options_.frame_timeout;
  double fps = 0;
  {
    std::lock_guard lock(mutex_);
    fps = info_.fps;
  }
  if (fps > 0 && std::isfinite(fps)) {
    const auto two_periods =
        duration_cast<Clock::duration>(std::chrono::duration<double>(2.0 / fps));
    limit = std::max(limit, two_periods);
  }
  return limit;
}

FramePtr SupervisedSource::renumber(FramePtr frame) {
  const std::uint64_t sequence = sequence_base_ + frame->sequence;
  next_sequence_ = sequence + 1;
  if (sequence == frame->sequence) return frame;
  return restamp(frame, sequence);
}

FrameResult SupervisedSource::next_frame(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    SourceHealth::State state;
    {
      std::lock_guard lock(mutex_);
      state = health_.state;
    }
    switch (state) {
      case SourceHealth::State::Stopped:
      case SourceHealth::State::Starting:
        return FrameResult::failure("source not started");
      case SourceHealth::State::Finished:
        return FrameResult::end_of_stream();
      case SourceHealth::State::Restarting: {
        if (attempt_.joinable()) {
          if (!poll_attempt(deadline)) return FrameResult::timeout();
          continue;
        }
        auto now = Clock::now();
        if (now >= retry_at_) {
          launch_attempt();
          continue;
        }
        {
          std::lock_guard lock(mutex_);
          health_.retry_in = ceil_ms(retry_at_ - now);
        }
        if (now >= deadline) return FrameResult::timeout();
        std::this_thread::sleep_until(std::min(deadline, retry_at_));
        continue;
      }
      case SourceHealth::State::Running:
        break;
    }

    const auto now = Clock::now();
    const auto stall_at = last_progress_ + stall_limit();
    const auto wait = ceil_ms(std::min(deadline, stall_at) - now);
    FrameResult result;
    try {
      result = inner_->next_frame(wait);
    } catch (const std::exception& e) {
      result = FrameResult::failure(std::string("next_frame threw: ") + e.what());
    }
    const auto after = Clock::now();
    switch (result.status) {
      case FrameResult::Status::Ok: {
        last_progress_ = after;
        if (after - running_since_ >= options_.backoff_max) backoff_ = options_.backoff_initial;
        auto frame = renumber(std::move(result.frame));
        {
          std::lock_guard lock(mutex_);
          ++health_.frames;
          health_.consecutive_failures = 0;
        }
        return FrameResult::ok(std::move(frame));
      }
      case FrameResult::Status::Timeout:
        if (after >= stall_at) {
          const auto waited = duration_cast<milliseconds>(after - last_progress_).count();
          on_failure("stalled: no frame for " + std::to_string(waited) + " ms");
          continue;
        }
        if (after >= deadline) return FrameResult::timeout();
        continue;
      case FrameResult::Status::EndOfStream: {
        std::lock_guard lock(mutex_);
        health_.state = SourceHealth::State::Finished;
        return FrameResult::end_of_stream();
      }
      case FrameResult::Status::Error:
        on_failure(result.error.empty() ? "failed" : result.error);
        continue;
      case FrameResult::Status::Corrupt:
        last_progress_ = after;  // the source is alive: it made a frame, if a bad one
        return result;
    }
  }
}

void SupervisedSource::stop() {
  if (attempt_.joinable()) attempt_.join();
  {
    std::lock_guard lock(mutex_);
    if (health_.state == SourceHealth::State::Stopped) return;
    health_.state = SourceHealth::State::Stopped;
    health_.retry_in = milliseconds(0);
  }
  try {
    inner_->stop();
  } catch (const std::exception& e) {
    log::warning("source ", info().name, ": stop failed: ", e.what());
  }
}

SourceInfo SupervisedSource::info() const {
  std::lock_guard lock(mutex_);
  return info_;
}

SourceHealth SupervisedSource::health() const {
  std::lock_guard lock(mutex_);
  return health_;
}

}  // namespace lookout
