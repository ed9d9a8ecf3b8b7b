// V4l2Source: USB webcams (UVC) and other single-planar V4L2 capture devices.
//
// start() opens config.device, negotiates format and size (v4l2_format.hpp:
// MJPEG, YUYV, NV12, I420, RGB, GREY), sets the frame rate, maps 4 driver
// buffers once (mmap streaming) and starts streaming. Frames borrow the
// mapped buffers without copying; a buffer is queued back to the driver
// (VIDIOC_QBUF) when the last FramePtr to its frame drops, on whatever thread
// that happens (LendingPool). Frames carry the driver's capture timestamp and
// a sequence number that skips frames the driver or we dropped.
//
// Failures: start() throws SourceError with a clear message (no such device,
// permission, not a V4L2 capture node, no usable format, device busy). A
// device that disappears or errors while streaming makes next_frame return an
// Error; the supervisor reopens it with backoff. Restarting needs the frames
// of the previous session to be released first (the driver keeps its buffers
// until they are unmapped); until then start() fails with "busy" and the
// supervisor retries.
//
// Ownership: the source owns its LendingPool (shared with its frames), which
// owns the device fd and mappings. Threads: one capture thread calls
// start/next_frame/stop; frames are released on any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/source_config.hpp"
#include "drivers/source.hpp"
#include "v4l2/v4l2_format.hpp"

namespace lookout {

class LendingPool;

// Opens the node (without starting it), and reads its driver, card,
// capabilities and capture formats; `error` says why when it cannot. For
// `source.type: auto`. Any thread.
v4l2::NodeInfo probe_v4l2_node(const std::string& path, int number);

class V4l2Source final : public FrameSource {
 public:
  // Throws SourceError for an empty device path or a non-positive size.
  explicit V4l2Source(const SourceConfig& config);
  ~V4l2Source() override;

  void start() override;
  FrameResult next_frame(std::chrono::milliseconds timeout) override;
  void stop() override;
  SourceInfo info() const override;

  struct Device;  // fd + mappings (v4l2_source.cpp)

 private:
  SourceConfig config_;
  v4l2::Request request_;
  SourceInfo info_;
  std::shared_ptr<LendingPool> pool_;
  Device* device_ = nullptr;  // owned by pool_
  v4l2::Layout layout_;
  std::uint64_t sequence_ = 0;
  std::optional<std::uint32_t> last_driver_sequence_;
  std::uint64_t bad_frames_ = 0;
};

}  // namespace lookout
