#include "v4l2/v4l2_source.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include <linux/videodev2.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "common/lending_pool.hpp"
#include "core/log.hpp"

namespace lookout {

namespace {

constexpr unsigned kBufferCount = 4;

static_assert(v4l2::kMjpeg == V4L2_PIX_FMT_MJPEG && v4l2::kYuyv == V4L2_PIX_FMT_YUYV &&
                  v4l2::kNv12 == V4L2_PIX_FMT_NV12 && v4l2::kYu12 == V4L2_PIX_FMT_YUV420 &&
                  v4l2::kRgb24 == V4L2_PIX_FMT_RGB24 && v4l2::kBgr24 == V4L2_PIX_FMT_BGR24 &&
                  v4l2::kGrey == V4L2_PIX_FMT_GREY && v4l2::kJpeg == V4L2_PIX_FMT_JPEG,
              "fourcc constants must match linux/videodev2.h");

int xioctl(int fd, unsigned long request, void* arg) {
  int r;
  do {
    r = ::ioctl(fd, request, arg);
  } while (r == -1 && errno == EINTR);
  return r;
}

std::string errno_text(int error) {
  return std::strerror(error);
}

// Why open() failed, for users.
std::string open_problem(int error) {
  switch (error) {
    case ENOENT:
      return "no such device (is the camera plugged in?)";
    case EACCES:
      return "permission denied (is the user in the 'video' group?)";
    case EBUSY:
      return "device busy (used by another program?)";
    default:
      return "cannot open: " + errno_text(error);
  }
}

// Why VIDIOC_QUERYCAP failed.
std::string querycap_problem(int error) {
  if (error == ENOTTY || error == EINVAL) return "not a V4L2 device";
  // qemu-user (cross tests) answers ioctls it cannot translate with ENOSYS.
  if (error == ENOSYS) return "not a V4L2 device (VIDIOC_QUERYCAP not implemented here)";
  return "VIDIOC_QUERYCAP failed: " + errno_text(error);
}

std::uint32_t node_caps(const v4l2_capability& cap) {
  return (cap.capabilities & V4L2_CAP_DEVICE_CAPS) != 0 ? cap.device_caps : cap.capabilities;
}

double fps_of(const v4l2_fract& interval) {
  return interval.numerator > 0 ? static_cast<double>(interval.denominator) / interval.numerator
                                : 0;
}

double max_fps(int fd, std::uint32_t fourcc, std::uint32_t width, std::uint32_t height) {
  double best = 0;
  v4l2_frmivalenum ival{};
  ival.pixel_format = fourcc;
  ival.width = width;
  ival.height = height;
  for (ival.index = 0; xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &ival) == 0; ++ival.index) {
    if (ival.type == V4L2_FRMIVAL_TYPE_DISCRETE) {
      best = std::max(best, fps_of(ival.discrete));
    } else {
      best = std::max(best, fps_of(ival.stepwise.min));
      break;
    }
  }
  return best;
}

std::vector<v4l2::FormatCaps> enumerate(int fd) {
  std::vector<v4l2::FormatCaps> caps;
  v4l2_fmtdesc desc{};
  desc.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  for (desc.index = 0; xioctl(fd, VIDIOC_ENUM_FMT, &desc) == 0; ++desc.index) {
    v4l2::FormatCaps format;
    format.fourcc = desc.pixelformat;
    format.emulated = (desc.flags & V4L2_FMT_FLAG_EMULATED) != 0;
    v4l2_frmsizeenum size{};
    size.pixel_format = desc.pixelformat;
    for (size.index = 0; xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &size) == 0; ++size.index) {
      if (size.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
        format.sizes.push_back(
            {size.discrete.width, size.discrete.height,
             max_fps(fd, desc.pixelformat, size.discrete.width, size.discrete.height)});
      } else {
        const auto& s = size.stepwise;
        format.range = v4l2::SizeRange{s.min_width,  s.max_width,   s.step_width, s.min_height,
                                       s.max_height, s.step_height, 0.0};
        break;
      }
    }
    caps.push_back(std::move(format));
  }
  return caps;
}

}  // namespace

struct V4l2Source::Device {
  struct Mapping {
    void* data = MAP_FAILED;
    std::size_t length = 0;
  };
  int fd = -1;
  std::vector<Mapping> buffers;
  bool streaming = false;

  Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  ~Device() {
    if (streaming) stream_off();
    for (auto& b : buffers) {
      if (b.data != MAP_FAILED) ::munmap(b.data, b.length);
    }
    if (fd >= 0) ::close(fd);
  }
  void stream_off() {
    int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    xioctl(fd, VIDIOC_STREAMOFF, &type);
    streaming = false;
  }
  bool queue(std::size_t index) const {
    v4l2_buffer buf{};
    buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    buf.memory = V4L2_MEMORY_MMAP;
    buf.index = static_cast<std::uint32_t>(index);
    return xioctl(fd, VIDIOC_QBUF, &buf) == 0;
  }
};

v4l2::NodeInfo probe_v4l2_node(const std::string& path, int number) {
  v4l2::NodeInfo node;
  node.path = path;
  node.number = number;
  // Opening a V4L2 node does not start it; O_NONBLOCK keeps a wedged
  // driver's open from blocking the capture thread.
  const int fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    node.error = open_problem(errno);
    return node;
  }
  v4l2_capability cap{};
  if (xioctl(fd, VIDIOC_QUERYCAP, &cap) != 0) {
    node.error = querycap_problem(errno);
  } else {
    node.driver = reinterpret_cast<const char*>(cap.driver);
    node.card = reinterpret_cast<const char*>(cap.card);
    node.caps = node_caps(cap);
    if ((node.caps & V4L2_CAP_VIDEO_CAPTURE) != 0) {
      for (const v4l2::FormatCaps& format : enumerate(fd)) {
        node.capture_formats.push_back(format.fourcc);
      }
    }
  }
  ::close(fd);
  return node;
}

V4l2Source::V4l2Source(const SourceConfig& config) : config_(config) {
  if (config.device.empty()) throw SourceError("v4l2 source: no device given (source.device)");
  if (config.width <= 0 || config.height <= 0) {
    throw SourceError("v4l2 source: size " + std::to_string(config.width) + "x" +
                      std::to_string(config.height) + " is not positive");
  }
  request_.width = config.width;
  request_.height = config.height;
  request_.fps = config.fps;
  if (config.format) {
    if (!v4l2::to_fourcc(*config.format)) {
      throw SourceError("v4l2 source: cannot capture format " +
                        std::string(to_string(*config.format)));
    }
    request_.format = config.format;
  }
  info_ = {"v4l2:" + config.device, config.width, config.height, config.fps,
           request_.format.value_or(PixelFormat::YUYV)};
}

V4l2Source::~V4l2Source() {
  stop();
}

void V4l2Source::start() {
  stop();
  const std::string& path = config_.device;
  const std::string where = "v4l2 source " + path + ": ";
  auto device = std::make_shared<Device>();
  device->fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (device->fd < 0) throw SourceError(where + open_problem(errno));

  v4l2_capability cap{};
  if (xioctl(device->fd, VIDIOC_QUERYCAP, &cap) != 0) {
    throw SourceError(where + querycap_problem(errno));
  }
  const std::uint32_t caps = node_caps(cap);
  if ((caps & V4L2_CAP_VIDEO_CAPTURE) == 0) {
    if ((caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE) != 0) {
      throw SourceError(where +
                        "only multi-planar capture (a camera ISP node? use the libcamera "
                        "source)");
    }
    throw SourceError(where + "not a video capture node (" +
                      reinterpret_cast<const char*>(cap.card) +
                      "; webcams often have a second, metadata-only node)");
  }
  if ((caps & V4L2_CAP_STREAMING) == 0) throw SourceError(where + "no streaming I/O support");

  std::string why;
  const auto choice = v4l2::negotiate(enumerate(device->fd), request_, &why);
  if (!choice) throw SourceError(where + why);

  v4l2_format fmt{};
  fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  fmt.fmt.pix.width = choice->width;
  fmt.fmt.pix.height = choice->height;
  fmt.fmt.pix.pixelformat = choice->fourcc;
  fmt.fmt.pix.field = V4L2_FIELD_NONE;
  if (xioctl(device->fd, VIDIOC_S_FMT, &fmt) != 0) {
    const int error = errno;
    if (error == EBUSY) {
      throw SourceError(where +
                        "device busy (frames of the previous session still held, or "
                        "another program streams from it)");
    }
    throw SourceError(where + "cannot set format " + fourcc_name(choice->fourcc) + " " +
                      std::to_string(choice->width) + "x" + std::to_string(choice->height) + ": " +
                      errno_text(error));
  }
  if (fmt.fmt.pix.pixelformat != choice->fourcc) {
    throw SourceError(where + "driver replaced " + fourcc_name(choice->fourcc) + " with " +
                      fourcc_name(fmt.fmt.pix.pixelformat));
  }
  layout_ = {fmt.fmt.pix.pixelformat, fmt.fmt.pix.width, fmt.fmt.pix.height,
             fmt.fmt.pix.bytesperline, fmt.fmt.pix.sizeimage};

  double fps = choice->max_fps;
  v4l2_streamparm parm{};
  parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  if (config_.fps > 0 && xioctl(device->fd, VIDIOC_G_PARM, &parm) == 0 &&
      (parm.parm.capture.capability & V4L2_CAP_TIMEPERFRAME) != 0) {
    parm.parm.capture.timeperframe = {1000,
                                      static_cast<std::uint32_t>(std::lround(config_.fps * 1000))};
    if (xioctl(device->fd, VIDIOC_S_PARM, &parm) == 0) fps = fps_of(parm.parm.capture.timeperframe);
  }

  v4l2_requestbuffers req{};
  req.count = kBufferCount;
  req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  req.memory = V4L2_MEMORY_MMAP;
  if (xioctl(device->fd, VIDIOC_REQBUFS, &req) != 0) {
    const int error = errno;
    throw SourceError(where + (error == EBUSY ? std::string("device busy")
                                              : "cannot allocate buffers: " + errno_text(error)));
  }
  if (req.count < 2)
    throw SourceError(where + "driver granted only " + std::to_string(req.count) + " buffer");
  device->buffers.resize(req.count);
  for (std::uint32_t i = 0; i < req.count; ++i) {
    v4l2_buffer buf{};
    buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    buf.memory = V4L2_MEMORY_MMAP;
    buf.index = i;
    if (xioctl(device->fd, VIDIOC_QUERYBUF, &buf) != 0) {
      throw SourceError(where + "VIDIOC_QUERYBUF failed: " + errno_text(errno));
    }
    void* data =
        ::mmap(nullptr, buf.length, PROT_READ | PROT_WRITE, MAP_SHARED, device->fd, buf.m.offset);
    if (data == MAP_FAILED) throw SourceError(where + "cannot map buffer: " + errno_text(errno));
    device->buffers[i] = {data, buf.length};
  }

  Device* raw = device.get();
  auto pool =
      LendingPool::create(req.count, [raw](std::size_t index) { return raw->queue(index); });
  pool->keep(device);
  for (std::uint32_t i = 0; i < req.count; ++i) {
    if (!raw->queue(i)) throw SourceError(where + "VIDIOC_QBUF failed: " + errno_text(errno));
  }
  int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
  if (xioctl(raw->fd, VIDIOC_STREAMON, &type) != 0) {
    throw SourceError(where + "cannot start streaming: " + errno_text(errno));
  }
  raw->streaming = true;

  pool_ = std::move(pool);
  device_ = raw;
  sequence_ = 0;
  last_driver_sequence_.reset();
  bad_frames_ = 0;
  info_.width = static_cast<int>(layout_.width);
  info_.height = static_cast<int>(layout_.height);
  info_.fps = fps > 0 ? fps : config_.fps;
  info_.format = *v4l2::to_pixel_format(layout_.fourcc);
  log::info("v4l2 source ", path, ": ", reinterpret_cast<const char*>(cap.card), ", ",
            fourcc_name(layout_.fourcc), " ", layout_.width, "x", layout_.height, " stride ",
            layout_.bytesperline, ", ", req.count, " buffers");
}

FrameResult V4l2Source::next_frame(std::chrono::milliseconds timeout) {
  if (!pool_) return FrameResult::failure("v4l2 source: not started");
  const std::string& path = config_.device;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd pfd{device_->fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return FrameResult::failure("v4l2 source " + path + ": poll failed: " + errno_text(errno));
    }
    if (ready == 0) return FrameResult::timeout();

    v4l2_buffer buf{};
    buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    buf.memory = V4L2_MEMORY_MMAP;
    if (xioctl(device_->fd, VIDIOC_DQBUF, &buf) != 0) {
      const int error = errno;
      if (error == EAGAIN) {
        // Older kernels flag POLLERR while every buffer is lent out to frames
        // still in use: nothing to dequeue yet, so wait a little.
        if ((pfd.revents & POLLERR) != 0 && pool_->outstanding() == device_->buffers.size()) {
          if (std::chrono::steady_clock::now() >= deadline) return FrameResult::timeout();
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        if (std::chrono::steady_clock::now() >= deadline) return FrameResult::timeout();
        continue;
      }
      if (error == ENODEV || error == EIO || error == ENXIO) {
        return FrameResult::failure("v4l2 source " + path + ": device disconnected or failed (" +
                                    errno_text(error) + ")");
      }
      return FrameResult::failure("v4l2 source " + path +
                                  ": VIDIOC_DQBUF failed: " + errno_text(error));
    }
    if (buf.index >= device_->buffers.size()) {
      return FrameResult::failure("v4l2 source " + path + ": driver returned buffer " +
                                  std::to_string(buf.index) + " it never had");
    }

    // Sequence: follow the driver's counter so its drops show as gaps.
    if (last_driver_sequence_)
      sequence_ += static_cast<std::uint32_t>(buf.sequence - *last_driver_sequence_);
    last_driver_sequence_ = buf.sequence;

    const auto& mapping = device_->buffers[buf.index];
    Frame frame;
    std::string problem;
    if ((buf.flags & V4L2_BUF_FLAG_ERROR) != 0) {
      problem = "driver flagged the frame as corrupt";
    } else {
      problem = v4l2::describe_buffer(layout_, static_cast<const std::uint8_t*>(mapping.data),
                                      mapping.length, buf.bytesused, frame);
    }
    if (!problem.empty()) {
      // Drop it, give the buffer straight back, and say so now and then.
      const auto count = ++bad_frames_;
      if ((count & (count - 1)) == 0) {
        log::warning("v4l2 source ", path, ": dropped a frame: ", problem, " (", count, " so far)");
      }
      device_->queue(buf.index);
      if (std::chrono::steady_clock::now() >= deadline) return FrameResult::timeout();
      continue;
    }

    frame.sequence = sequence_;
    const auto now_steady = std::chrono::steady_clock::now();
    const auto now_system = std::chrono::system_clock::now();
    frame.capture_steady = now_steady;
    if ((buf.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC &&
        (buf.timestamp.tv_sec != 0 || buf.timestamp.tv_usec != 0)) {
      // CLOCK_MONOTONIC, which is what std::chrono::steady_clock reads on Linux.
      const std::chrono::steady_clock::time_point stamp(
          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
              std::chrono::seconds(buf.timestamp.tv_sec) +
              std::chrono::microseconds(buf.timestamp.tv_usec)));
      if (stamp <= now_steady) frame.capture_steady = stamp;
    }
    frame.capture_time =
        now_system - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                         now_steady - frame.capture_steady);
    return FrameResult::ok(pool_->lend(buf.index, std::move(frame)));
  }
}

void V4l2Source::stop() {
  if (!pool_) return;
  pool_->deactivate();
  device_->stream_off();
  // Frames still out keep the pool, and so the mappings and fd, alive.
  device_ = nullptr;
  pool_.reset();
}

SourceInfo V4l2Source::info() const {
  return info_;
}

}  // namespace lookout
