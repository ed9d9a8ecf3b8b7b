// FrameSource: where frames come from (camera, files, generated scenes).
//
// Lifecycle, as in rpicam-apps' stages: construct (cheap, no I/O) ->
// start() (opens the device or files; throws SourceError on failure) ->
// next_frame() repeatedly -> stop(). A stopped source may be started again;
// that is how the supervisor restarts a camera that failed.
//
// Threads: one thread (the pipeline's capture thread) calls start, next_frame
// and stop. Frames it returns may be held on any thread for as long as needed;
// a source whose frames borrow its buffers must keep those buffers valid until
// the last FramePtr is dropped, even after stop() or destruction (frames keep
// the shared state they need alive through their deleter).
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/frame.hpp"

namespace lookout {

// Thrown by start() and constructors for faults that need a restart or a
// config change: device missing, format not supported, file unreadable.
class SourceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a source says about the frames it will deliver. Known after start().
struct SourceInfo {
  std::string name;  // e.g. "synthetic", "v4l2:/dev/video0", "libcamera:imx708"
  int width = 0;
  int height = 0;
  double fps = 0;  // nominal rate; 0 = as fast as they are taken
  PixelFormat format = PixelFormat::RGB24;
};

// The outcome of one next_frame() call. The per-frame loop uses this instead
// of exceptions.
struct FrameResult {
  enum class Status {
    Ok,           // `frame` holds a frame
    Timeout,      // no frame within the timeout; the source may still recover
    EndOfStream,  // a finite source (files without loop) has no more frames
    Error,        // the source failed; `error` says why; restart needed
    Corrupt,      // one frame could not be used (an undecodable file); `error` names it;
                  // the source goes on, and the frame is counted as an error
  };
  Status status = Status::Ok;
  FramePtr frame;
  std::string error;

  static FrameResult ok(FramePtr f) { return {Status::Ok, std::move(f), {}}; }
  static FrameResult timeout() { return {Status::Timeout, nullptr, {}}; }
  static FrameResult end_of_stream() { return {Status::EndOfStream, nullptr, {}}; }
  static FrameResult failure(std::string why) { return {Status::Error, nullptr, std::move(why)}; }
  static FrameResult corrupt(std::string why) { return {Status::Corrupt, nullptr, std::move(why)}; }
};

class FrameSource {
 public:
  FrameSource() = default;
  FrameSource(const FrameSource&) = delete;
  FrameSource& operator=(const FrameSource&) = delete;
  virtual ~FrameSource() = default;

  virtual void start() = 0;
  // Waits at most `timeout` for the next frame. Paced sources (fps > 0) return
  // frames at their rate; unpaced ones return the next frame at once.
  virtual FrameResult next_frame(std::chrono::milliseconds timeout) = 0;
  virtual void stop() = 0;
  virtual SourceInfo info() const = 0;
};

}  // namespace lookout
