#include "libcamera/libcamera_source.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <vector>

#include <libcamera/libcamera.h>
#include <libcamera/version.h>
#include <sys/mman.h>

#include "common/lending_pool.hpp"
#include "core/log.hpp"
#include "libcamera/libcamera_format.hpp"

// One number to compare libcamera releases by: 0.0.3 -> 3, 0.1.0 -> 100.
#define LOOKOUT_LIBCAMERA_VERSION \
  (LIBCAMERA_VERSION_MAJOR * 10000 + LIBCAMERA_VERSION_MINOR * 100 + LIBCAMERA_VERSION_PATCH)

namespace lookout {

namespace {

namespace lcam = libcamera;

static_assert(lc::kYuv420 == lcam::formats::YUV420.fourcc() &&
                  lc::kNv12 == lcam::formats::NV12.fourcc() &&
                  lc::kRgb888 == lcam::formats::RGB888.fourcc() &&
                  lc::kBgr888 == lcam::formats::BGR888.fourcc() &&
                  lc::kYuyv == lcam::formats::YUYV.fourcc() &&
                  lc::kR8 == lcam::formats::R8.fourcc() &&
                  lc::kMjpeg == lcam::formats::MJPEG.fourcc(),
              "fourcc constants must match libcamera/formats.h");

// libcamera allows one CameraManager per process (a second one is fatal), so
// every session shares one, created on demand and stopped with the last
// session. The mutex also covers destruction, so a new manager is never
// constructed while the previous one is still being torn down.
std::mutex manager_mutex;
std::weak_ptr<lcam::CameraManager> manager_instance;

std::shared_ptr<lcam::CameraManager> shared_manager() {
  std::lock_guard lock(manager_mutex);
  if (auto manager = manager_instance.lock()) return manager;
  // libcamera logs every start at INFO on stderr; keep its warnings, unless
  // the user set their own levels.
  ::setenv("LIBCAMERA_LOG_LEVELS", "*:WARN", 0);
  // Its lines go to journald, which has no use for colour codes.
  ::setenv("LIBCAMERA_LOG_NO_COLOR", "1", 0);
  std::shared_ptr<lcam::CameraManager> manager(new lcam::CameraManager, [](lcam::CameraManager* m) {
    std::lock_guard inner(manager_mutex);
    m->stop();
    delete m;
  });
  if (const int error = manager->start(); error != 0) {
    // Not started: the deleter's stop() is harmless.
    throw SourceError(std::string("libcamera source: camera manager failed to start: ") +
                      std::strerror(-error));
  }
  manager_instance = manager;
  return manager;
}

std::unique_ptr<lcam::CameraConfiguration> generate_configuration(lcam::Camera& camera) {
  // Viewfinder: the role for continuous frames at modest sizes. The roles
  // parameter is a std::vector up to 0.0.x and a Span from 0.1; a vector
  // converts to both.
  const std::vector<lcam::StreamRole> roles{lcam::StreamRole::Viewfinder};
  return camera.generateConfiguration(roles);
}

void set_identity_orientation(lcam::CameraConfiguration& config) {
  // Upright images as the sensor's mounting dictates; no user flips. 0.2
  // replaced `transform` with `orientation`.
#if LOOKOUT_LIBCAMERA_VERSION >= 200
  config.orientation = lcam::Orientation::Rotate0;
#else
  config.transform = lcam::Transform::Identity;
#endif
}

bool is_index(const std::string& text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

struct LibcameraSource::Session {
  struct Mapping {
    void* data = MAP_FAILED;
    std::size_t length = 0;
  };

  // Declaration order is teardown order in reverse: the manager outlives the
  // camera, the camera outlives its allocator and requests.
  std::shared_ptr<lcam::CameraManager> manager;
  std::shared_ptr<lcam::Camera> camera;
  bool acquired = false;
  bool started = false;
  std::unique_ptr<lcam::CameraConfiguration> config;
  lcam::Stream* stream = nullptr;
  std::unique_ptr<lcam::FrameBufferAllocator> allocator;
  std::vector<std::unique_ptr<lcam::Request>> requests;
  std::vector<Mapping> mappings;
  // Per request: its buffer's planes, mapped.
  std::vector<std::vector<lc::MappedPlane>> planes;

  // Completed requests, from libcamera's thread to the capture thread.
  std::mutex mutex;
  std::condition_variable completed_ready;
  std::deque<lcam::Request*> completed;
  bool disconnected = false;

  Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  ~Session() {
    if (camera) {
      if (started) camera->stop();
      camera->requestCompleted.disconnect(this);
      camera->disconnected.disconnect(this);
    }
    requests.clear();
    if (allocator && stream != nullptr) allocator->free(stream);
    allocator.reset();
    for (auto& m : mappings) {
      if (m.data != MAP_FAILED) ::munmap(m.data, m.length);
    }
    if (acquired) camera->release();
    camera.reset();
  }

  // libcamera's thread.
  void on_request_completed(lcam::Request* request) {
    std::lock_guard lock(mutex);
    completed.push_back(request);
    completed_ready.notify_one();
  }
  void on_disconnected() {
    std::lock_guard lock(mutex);
    disconnected = true;
    completed_ready.notify_one();
  }

  bool requeue(std::size_t index) {
    lcam::Request* request = requests[index].get();
    request->reuse(lcam::Request::ReuseBuffers);
    return camera->queueRequest(request) == 0;
  }

  // Maps each dmabuf once (planes of one buffer usually share an fd).
  void map_buffer(const lcam::FrameBuffer& buffer, const std::string& where) {
    std::map<int, std::size_t> extent;
    for (const auto& plane : buffer.planes()) {
      auto& end = extent[plane.fd.get()];
      end = std::max(end, static_cast<std::size_t>(plane.offset) + plane.length);
    }
    std::map<int, const std::uint8_t*> base;
    for (const auto& [fd, length] : extent) {
      void* data = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
      if (data == MAP_FAILED)
        throw SourceError(where + "cannot map a buffer: " + std::strerror(errno));
      mappings.push_back({data, length});
      base[fd] = static_cast<const std::uint8_t*>(data);
    }
    std::vector<lc::MappedPlane> views;
    for (const auto& plane : buffer.planes()) {
      views.push_back({base[plane.fd.get()] + plane.offset, plane.length, 0});
    }
    planes.push_back(std::move(views));
  }
};

LibcameraSource::LibcameraSource(const SourceConfig& config) : config_(config) {
  if (config.width <= 0 || config.height <= 0) {
    throw SourceError("libcamera source: size " + std::to_string(config.width) + "x" +
                      std::to_string(config.height) + " is not positive");
  }
  if (config.format) {
    if (!lc::to_fourcc(*config.format)) {
      throw SourceError("libcamera source: cannot capture format " +
                        std::string(to_string(*config.format)));
    }
    requested_ = config.format;
  }
  info_ = {"libcamera" + (config.camera.empty() ? std::string() : ":" + config.camera),
           config.width, config.height, config.fps, requested_.value_or(PixelFormat::RGB24)};
}

std::vector<std::string> list_libcamera_cameras() {
  const auto manager = shared_manager();
  std::vector<std::string> ids;
  for (const auto& camera : manager->cameras()) ids.push_back(camera->id());
  return ids;
}

LibcameraSource::~LibcameraSource() {
  stop();
}

void LibcameraSource::start() {
  stop();
  auto session = std::make_shared<Session>();
  session->manager = shared_manager();
  const auto cameras = session->manager->cameras();
  if (cameras.empty()) {
    const std::string pi5 = lc::pi5_camera_advice(lc::board_model(), LOOKOUT_LIBCAMERA_VERSION);
    throw SourceError(pi5.empty() ? "libcamera source: no cameras found (is the camera connected "
                                    "and enabled, e.g. camera_auto_detect=1 in config.txt?)"
                                  : "libcamera source: no cameras found: " + pi5);
  }
  std::string list;
  for (std::size_t i = 0; i < cameras.size(); ++i) {
    list += (i ? ", " : "") + std::to_string(i) + ": " + cameras[i]->id();
  }
  if (config_.camera.empty()) {
    session->camera = cameras.front();
  } else if (is_index(config_.camera)) {
    const auto index = std::strtoul(config_.camera.c_str(), nullptr, 10);
    if (index >= cameras.size()) {
      throw SourceError("libcamera source: no camera " + config_.camera + " (found " + list + ")");
    }
    session->camera = cameras[index];
  } else {
    session->camera = session->manager->get(config_.camera);
    if (!session->camera) {
      throw SourceError("libcamera source: no camera '" + config_.camera + "' (found " + list +
                        ")");
    }
  }
  lcam::Camera& camera = *session->camera;
  const std::string where = "libcamera source " + camera.id() + ": ";
  if (camera.acquire() != 0) throw SourceError(where + "camera busy (used by another program?)");
  session->acquired = true;

  session->config = generate_configuration(camera);
  if (!session->config || session->config->empty()) {
    throw SourceError(where + "cannot generate a configuration");
  }
  set_identity_orientation(*session->config);
  lcam::StreamConfiguration& stream_config = session->config->at(0);
  std::vector<std::uint32_t> offered;
  for (const auto& f : stream_config.formats().pixelformats()) offered.push_back(f.fourcc());
  std::string why;
  const auto fourcc = lc::choose_format(offered, requested_, &why);
  if (!fourcc) throw SourceError(where + why);
  stream_config.pixelFormat = lcam::PixelFormat(*fourcc);
  stream_config.size =
      lcam::Size(static_cast<unsigned>(config_.width), static_cast<unsigned>(config_.height));
  // Two frames may be out at a time (pipeline slot and inference); keep at
  // least two more queued so the sensor never waits for us.
  if (stream_config.bufferCount < 4) stream_config.bufferCount = 4;
  const auto format = lc::to_pixel_format(*fourcc);
  if (format == PixelFormat::I420 || format == PixelFormat::NV12 || format == PixelFormat::YUYV) {
    // Frame promises BT.601 limited range for YUV.
    stream_config.colorSpace = lcam::ColorSpace::Smpte170m;
  }
  switch (session->config->validate()) {
    case lcam::CameraConfiguration::Invalid:
      throw SourceError(where + "configuration " + stream_config.toString() + " rejected");
    case lcam::CameraConfiguration::Adjusted:
      log::info(where, "camera adjusted the configuration to ", stream_config.toString());
      break;
    case lcam::CameraConfiguration::Valid:
      break;
  }
  const auto actual = lc::to_pixel_format(stream_config.pixelFormat.fourcc());
  if (!actual) {
    throw SourceError(where + "camera insists on " + stream_config.pixelFormat.toString() +
                      ", which lookout cannot use");
  }
  if (camera.configure(session->config.get()) != 0) {
    throw SourceError(where + "cannot configure " + stream_config.toString());
  }
  session->stream = stream_config.stream();

  session->allocator = std::make_unique<lcam::FrameBufferAllocator>(session->camera);
  if (session->allocator->allocate(session->stream) < 0) {
    throw SourceError(where + "cannot allocate buffers");
  }
  const auto& buffers = session->allocator->buffers(session->stream);
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    auto request = camera.createRequest(i);
    if (!request || request->addBuffer(session->stream, buffers[i].get()) != 0) {
      throw SourceError(where + "cannot create capture requests");
    }
    session->map_buffer(*buffers[i], where);
    session->requests.push_back(std::move(request));
  }
  if (session->requests.size() < 2) throw SourceError(where + "too few buffers");

  Session* raw = session.get();
  auto pool = LendingPool::create(session->requests.size(),
                                  [raw](std::size_t index) { return raw->requeue(index); });
  pool->keep(session);
  camera.requestCompleted.connect(raw, &Session::on_request_completed);
  camera.disconnected.connect(raw, &Session::on_disconnected);

  lcam::ControlList controls(lcam::controls::controls);
  double fps = config_.fps;
  if (config_.fps > 0 && camera.controls().count(lcam::controls::FrameDurationLimits.id()) > 0) {
    const std::int64_t frame_us = std::llround(1e6 / config_.fps);
    const std::int64_t limits[2] = {frame_us, frame_us};
    controls.set(lcam::controls::FrameDurationLimits, lcam::Span<const std::int64_t, 2>(limits));
  }
  if (camera.start(&controls) != 0) throw SourceError(where + "cannot start the camera");
  session->started = true;
  for (std::size_t i = 0; i < session->requests.size(); ++i) {
    if (camera.queueRequest(session->requests[i].get()) != 0) {
      throw SourceError(where + "cannot queue capture requests");
    }
  }

  std::string model = camera.id();
  if (const auto name = camera.properties().get(lcam::properties::Model)) model = *name;
  // The id, not the model: two cameras of one model (a Pi 5's two ports)
  // must be told apart in `hello`.
  info_ = {"libcamera:" + camera.id(), static_cast<int>(stream_config.size.width),
           static_cast<int>(stream_config.size.height), fps, *actual};
  sequence_ = 0;
  last_camera_sequence_.reset();
  bad_frames_ = 0;
  session_ = std::move(session);
  pool_ = std::move(pool);
  log::info(where, model, " ", stream_config.toString(), " stride ", stream_config.stride, ", ",
            session_->requests.size(), " buffers (libcamera ", lcam::CameraManager::version(), ")");
}

FrameResult LibcameraSource::next_frame(std::chrono::milliseconds timeout) {
  if (!session_) return FrameResult::failure("libcamera source: not started");
  Session& s = *session_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    lcam::Request* request = nullptr;
    {
      std::unique_lock lock(s.mutex);
      if (!s.completed_ready.wait_until(lock, deadline,
                                        [&s] { return !s.completed.empty() || s.disconnected; })) {
        return FrameResult::timeout();
      }
      if (s.disconnected)
        return FrameResult::failure("libcamera source " + info_.name + ": camera disconnected");
      request = s.completed.front();
      s.completed.pop_front();
    }
    const auto index = static_cast<std::size_t>(request->cookie());
    if (request->status() == lcam::Request::RequestCancelled) continue;
    const lcam::FrameBuffer* buffer = request->findBuffer(s.stream);
    std::string problem;
    Frame frame;
    if (buffer == nullptr) {
      problem = "request without a buffer";
    } else if (buffer->metadata().status != lcam::FrameMetadata::FrameSuccess) {
      problem = "camera flagged the frame as bad";
    } else {
      std::vector<lc::MappedPlane> planes = s.planes[index];
      const auto meta = buffer->metadata().planes();
      for (std::size_t i = 0; i < planes.size() && i < meta.size(); ++i)
        planes[i].bytesused = meta[i].bytesused;
      const auto& stream_config = s.config->at(0);
      problem = lc::describe_planes(info_.format, info_.width, info_.height, stream_config.stride,
                                    planes, frame);
    }
    if (!problem.empty()) {
      const auto count = ++bad_frames_;
      if ((count & (count - 1)) == 0) {
        log::warning("libcamera source ", info_.name, ": dropped a frame: ", problem, " (", count,
                     " so far)");
      }
      s.requeue(index);
      if (std::chrono::steady_clock::now() >= deadline) return FrameResult::timeout();
      continue;
    }

    const auto& meta = buffer->metadata();
    if (last_camera_sequence_)
      sequence_ += static_cast<std::uint32_t>(meta.sequence - *last_camera_sequence_);
    last_camera_sequence_ = meta.sequence;
    frame.sequence = sequence_;
    const auto now_steady = std::chrono::steady_clock::now();
    const auto now_system = std::chrono::system_clock::now();
    frame.capture_steady = now_steady;
    // Sensor timestamps are CLOCK_MONOTONIC nanoseconds on the Pi (steady_clock
    // on Linux); anything implausible falls back to "now".
    const std::chrono::steady_clock::time_point stamp(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::nanoseconds(meta.timestamp)));
    if (meta.timestamp != 0 && stamp <= now_steady &&
        now_steady - stamp < std::chrono::seconds(10)) {
      frame.capture_steady = stamp;
    }
    frame.capture_time =
        now_system - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                         now_steady - frame.capture_steady);
    return FrameResult::ok(pool_->lend(index, std::move(frame)));
  }
}

void LibcameraSource::stop() {
  if (!session_) return;
  pool_->deactivate();
  if (session_->started) {
    session_->camera->stop();
    session_->started = false;
  }
  {
    std::lock_guard lock(session_->mutex);
    session_->completed.clear();
  }
  // Frames still out keep the session (camera, buffers, mappings) alive.
  pool_.reset();
  session_.reset();
}

SourceInfo LibcameraSource::info() const {
  return info_;
}

}  // namespace lookout
