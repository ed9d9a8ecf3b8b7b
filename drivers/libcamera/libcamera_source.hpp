// LibcameraSource: Raspberry Pi CSI cameras (Camera Module 2/3, HQ, GS) and
// anything else libcamera drives.
//
// start() picks the camera (config.camera: empty = first, a number = index,
// otherwise a libcamera id), configures one stream at the requested size in
// a format the engine takes without a copy (libcamera_format.hpp; YUV in
// BT.601 limited range as Frame promises), allocates the stream's buffers,
// maps each buffer's dmabuf planes once, sets the frame duration for
// config.fps and queues one request per buffer. Frames borrow the mapped
// buffers; when the last FramePtr to a frame drops, its request is reused and
// queued again (LendingPool), on whatever thread that happens.
//
// Builds against Debian 12's libcamera 0.0.3 and newer releases (Raspberry Pi
// OS's fork; the Pi 5 needs >= 0.1); API differences are guarded with
// libcamera/version.h in libcamera_source.cpp.
//
// Failures: start() throws SourceError ("no cameras found", unknown index or
// id, camera busy, configuration rejected). A camera that disconnects makes
// next_frame return an Error; the supervisor restarts it with backoff. Like
// V4L2, a restart succeeds once the previous session's frames are released.
//
// Ownership: the source owns its session (camera, allocator, requests,
// mappings), shared with its frames through the LendingPool. libcamera's
// CameraManager is one per process, shared by all sessions. Threads: one
// capture thread calls start/next_frame/stop; libcamera completes requests on
// its own thread (they are handed over through a queue); frames are released
// on any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/source_config.hpp"
#include "drivers/source.hpp"

namespace lookout {

class LendingPool;

// The ids of the cameras libcamera sees now, in its order (what `source.type:
// auto` tries first). Shares the process's CameraManager, starting one when
// none runs; throws SourceError if it cannot start. Any thread.
std::vector<std::string> list_libcamera_cameras();

class LibcameraSource final : public FrameSource {
 public:
  // Throws SourceError for a non-positive size or a format libcamera cannot
  // deliver to us.
  explicit LibcameraSource(const SourceConfig& config);
  ~LibcameraSource() override;

  void start() override;
  FrameResult next_frame(std::chrono::milliseconds timeout) override;
  void stop() override;
  SourceInfo info() const override;

  struct Session;  // libcamera_source.cpp

 private:
  SourceConfig config_;
  std::optional<PixelFormat> requested_;
  SourceInfo info_;
  std::shared_ptr<Session> session_;
  std::shared_ptr<LendingPool> pool_;
  std::uint64_t sequence_ = 0;
  std::optional<std::uint32_t> last_camera_sequence_;
  std::uint64_t bad_frames_ = 0;
};

}  // namespace lookout
