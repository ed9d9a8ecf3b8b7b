// SupervisedSource: keeps a frame source alive through failures and stalls.
//
// Cameras disappear, stall and time out in the field. The supervisor wraps the
// configured source (the "inner" one) and, when it fails (next_frame reports
// Error, start() throws) or stalls (no frame within the frame timeout), stops
// it and starts it again after a backoff that doubles from backoff_initial up
// to backoff_max. Meanwhile next_frame() keeps returning Timeout within the
// caller's timeout, so the pipeline thread stays responsive (stop requests,
// watchdog) and the daemon keeps serving clients. Restart attempts run on a
// short-lived helper thread because a wedged device can block in open() or
// start(); the inner source is only ever touched by one thread at a time.
//
// Frame sequence numbers continue across restarts (the inner source counts
// from 0 after each start), so gaps still mean dropped frames.
//
// Logging: a failure is logged at warning, repeated failures of the same kind
// only when their count reaches a power of two or a minute has passed;
// recovery at notice. Never per frame.
//
// Ownership: owns the inner source. Threads: one thread (the pipeline's
// capture thread) calls start/next_frame/stop; health() and info() may be
// called from any thread (stats).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "core/source_config.hpp"
#include "drivers/source.hpp"

namespace lookout {

struct SourceHealth {
  enum class State {
    Stopped,     // before start() or after stop()
    Starting,    // first start attempt under way
    Running,     // delivering frames
    Restarting,  // failed or stalled; waiting for the next attempt or in one
    Finished,    // a finite source reached its end
  };
  State state = State::Stopped;
  std::string name;                        // the inner source's info().name
  std::uint64_t frames = 0;                // frames delivered since start()
  std::uint64_t failures = 0;              // failures and stalls since start()
  std::uint64_t restarts = 0;              // successful restarts after a failure
  std::uint64_t consecutive_failures = 0;  // since the last good frame
  std::string last_error;                  // most recent failure, empty if none
  std::chrono::system_clock::time_point last_error_time{};
  std::chrono::milliseconds retry_in{0};  // Restarting: time to the next attempt
  std::chrono::milliseconds backoff{0};   // delay chosen after the last failure
};

}  // namespace lookout

template <>
struct lookout::EnumTable<lookout::SourceHealth::State> {
  using State = SourceHealth::State;
  static constexpr std::array<EnumName<State>, 5> entries{{
      {State::Stopped, "stopped"},
      {State::Starting, "starting"},
      {State::Running, "running"},
      {State::Restarting, "restarting"},
      {State::Finished, "finished"},
  }};
};

namespace lookout {

// The state's name, as stats and the protocol show it.
constexpr std::string_view to_string(SourceHealth::State state) {
  return enum_name(state);
}

struct SupervisorOptions {
  // No frame for this long counts as a stall (at least two frame periods of
  // the source's nominal rate are always allowed).
  std::chrono::milliseconds frame_timeout{3000};
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};

  static SupervisorOptions from(const SourceConfig& config);
};

class SupervisedSource final : public FrameSource {
 public:
  // Throws SourceError for nonsensical options (non-positive durations,
  // initial backoff above the maximum).
  SupervisedSource(std::unique_ptr<FrameSource> inner, SupervisorOptions options);
  ~SupervisedSource() override;

  // Makes the first start attempt on the calling thread. Never throws for the
  // inner source's failures: they are logged, reported in health() and
  // retried with backoff.
  void start() override;
  // Ok with a frame, Timeout while there is none (including while restarting),
  // EndOfStream once a finite source is done. Never Error. Returns within
  // `timeout` as long as the inner source's next_frame honours its timeout.
  FrameResult next_frame(std::chrono::milliseconds timeout) override;
  // Stops the inner source. Waits for a restart attempt in progress.
  void stop() override;
  // The inner source's info as of its last successful start (before that, as
  // the inner source reports it unstarted).
  SourceInfo info() const override;

  SourceHealth health() const;
  // Successful starts of the inner source (the first and every restart): a
  // change tells the pipeline that info() may name another source (auto's
  // fallback handing over to a camera) even when the frame size is the same.
  // Any thread.
  std::uint64_t starts() const { return starts_.load(std::memory_order_acquire); }

 private:
  using Clock = std::chrono::steady_clock;

  void attempt_now(bool is_restart);              // synchronous attempt (start())
  void launch_attempt();                          // asynchronous attempt (restarts)
  bool poll_attempt(Clock::time_point deadline);  // true when it finished
  void on_started(bool is_restart);
  void on_failure(const std::string& why);
  FramePtr renumber(FramePtr frame);
  Clock::duration stall_limit() const;

  std::unique_ptr<FrameSource> inner_;
  const SupervisorOptions options_;

  // Pipeline-thread state.
  std::chrono::milliseconds backoff_;
  Clock::time_point retry_at_{};
  Clock::time_point last_progress_{};
  Clock::time_point running_since_{};
  std::uint64_t sequence_base_ = 0;  // added to the inner sequence numbers
  std::uint64_t next_sequence_ = 0;  // one past the last published sequence
  Clock::time_point last_warning_{};

  // Restart attempt on the helper thread.
  std::thread attempt_;
  bool attempt_running_ = false;  // guarded by mutex_
  bool attempt_ok_ = false;       // guarded by mutex_
  std::string attempt_error_;     // guarded by mutex_
  std::condition_variable attempt_done_;

  std::atomic<std::uint64_t> starts_{0};
  mutable std::mutex mutex_;  // guards health_, info_ and the attempt fields
  SourceHealth health_;
  SourceInfo info_;
};

}  // namespace lookout
