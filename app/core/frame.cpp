#include "core/frame.hpp"

#include <cstring>
#include <stdexcept>

namespace lookout {

namespace {

bool is_subsampled_420(PixelFormat format) {
  return format == PixelFormat::I420 || format == PixelFormat::NV12;
}

// Bytes per row and number of rows of each plane of a tightly packed frame.
struct PlaneShape {
  std::size_t row_bytes;
  std::size_t rows;
};

std::array<PlaneShape, 3> packed_shapes(PixelFormat format, int width, int height) {
  const auto w = static_cast<std::size_t>(width);
  const auto h = static_cast<std::size_t>(height);
  switch (format) {
    case PixelFormat::RGB24:
    case PixelFormat::BGR24:
      return {{{w * 3, h}, {0, 0}, {0, 0}}};
    case PixelFormat::I420:
      return {{{w, h}, {w / 2, h / 2}, {w / 2, h / 2}}};
    case PixelFormat::NV12:
      return {{{w, h}, {w, h / 2}, {0, 0}}};
    case PixelFormat::YUYV:
      return {{{w * 2, h}, {0, 0}, {0, 0}}};
    case PixelFormat::GRAY8:
      return {{{w, h}, {0, 0}, {0, 0}}};
    case PixelFormat::MJPEG:
      return {{{0, 0}, {0, 0}, {0, 0}}};
  }
  return {};
}

}  // namespace

int plane_count(PixelFormat format) {
  switch (format) {
    case PixelFormat::I420:
      return 3;
    case PixelFormat::NV12:
      return 2;
    default:
      return 1;
  }
}

std::optional<std::string> frame_size_problem(int width, int height) {
  if (width <= 0 || height <= 0) {
    return "frame size must be positive, got " + std::to_string(width) + "x" +
           std::to_string(height);
  }
  if (width > kMaxFrameSide || height > kMaxFrameSide) {
    return "image is " + std::to_string(width) + "x" + std::to_string(height) +
           "; sides of at most " + std::to_string(kMaxFrameSide) + " pixels are taken";
  }
  const std::int64_t pixels = std::int64_t{width} * height;
  if (pixels > kMaxFramePixels) {
    return "image is " + std::to_string(width) + "x" + std::to_string(height) + " = " +
           std::to_string(pixels) + " pixels; at most " + std::to_string(kMaxFramePixels) +
           " (8192x8192) are taken";
  }
  return std::nullopt;
}

std::shared_ptr<Frame> Frame::allocate(PixelFormat format, int width, int height,
                                       std::size_t compressed_bytes) {
  if (const auto problem = frame_size_problem(width, height)) {
    throw std::invalid_argument(*problem);
  }
  if ((is_subsampled_420(format) || format == PixelFormat::YUYV) && width % 2 != 0) {
    throw std::invalid_argument(std::string(to_string(format)) + " needs an even width, got " +
                                std::to_string(width));
  }
  if (is_subsampled_420(format) && height % 2 != 0) {
    throw std::invalid_argument(std::string(to_string(format)) + " needs an even height, got " +
                                std::to_string(height));
  }
  auto frame = std::make_shared<Frame>();
  frame->format = format;
  frame->width = width;
  frame->height = height;
  if (format == PixelFormat::MJPEG) {
    frame->storage.resize(compressed_bytes);
    frame->planes[0] = {frame->storage.data(), 0, compressed_bytes};
    return frame;
  }
  const auto shapes = packed_shapes(format, width, height);
  std::size_t total = 0;
  for (const auto& shape : shapes) total += shape.row_bytes * shape.rows;
  frame->storage.resize(total);
  std::size_t offset = 0;
  for (int i = 0; i < plane_count(format); ++i) {
    const auto& shape = shapes[static_cast<std::size_t>(i)];
    frame->planes[static_cast<std::size_t>(i)] = {frame->storage.data() + offset, shape.row_bytes,
                                                  shape.row_bytes * shape.rows};
    offset += shape.row_bytes * shape.rows;
  }
  return frame;
}

std::shared_ptr<Frame> Frame::clone() const {
  std::shared_ptr<Frame> copy;
  if (format == PixelFormat::MJPEG) {
    const Plane& in = planes[0];
    if (in.data == nullptr && in.size != 0) {
      throw std::invalid_argument("cannot clone an MJPEG frame: plane 0 has no data");
    }
    copy = std::make_shared<Frame>();
    copy->format = format;
    copy->width = width;
    copy->height = height;
    copy->storage.assign(in.data, in.data + in.size);
    copy->planes[0] = {copy->storage.data(), 0, in.size};
  } else {
    if (const std::string problem = validate_layout(*this); !problem.empty()) {
      throw std::invalid_argument("cannot clone a " + std::string(to_string(format)) +
                                  " frame: " + problem);
    }
    copy = allocate(format, width, height);
    const auto shapes = packed_shapes(format, width, height);
    for (int i = 0; i < plane_count(format); ++i) {
      const auto index = static_cast<std::size_t>(i);
      const Plane& in = planes[index];
      const auto& shape = shapes[index];
      std::uint8_t* out = copy->mutable_plane(i);
      // Row by row: the source's stride may include padding the copy drops.
      for (std::size_t row = 0; row < shape.rows; ++row) {
        std::memcpy(out + row * shape.row_bytes, in.data + row * in.stride, shape.row_bytes);
      }
    }
  }
  copy->sequence = sequence;
  copy->capture_time = capture_time;
  copy->capture_steady = capture_steady;
  copy->truth = truth;
  return copy;
}

std::string validate_layout(const Frame& frame) {
  if (frame.width <= 0 || frame.height <= 0) {
    return "frame size " + std::to_string(frame.width) + "x" + std::to_string(frame.height) +
           " is not positive";
  }
  if (frame.format == PixelFormat::MJPEG) {
    if (frame.planes[0].data == nullptr || frame.planes[0].size == 0) return "MJPEG frame is empty";
    return {};
  }
  if ((is_subsampled_420(frame.format) && (frame.width % 2 != 0 || frame.height % 2 != 0)) ||
      (frame.format == PixelFormat::YUYV && frame.width % 2 != 0)) {
    return std::string(to_string(frame.format)) + " frame has odd size " +
           std::to_string(frame.width) + "x" + std::to_string(frame.height);
  }
  const auto shapes = packed_shapes(frame.format, frame.width, frame.height);
  for (int i = 0; i < plane_count(frame.format); ++i) {
    const auto& plane = frame.planes[static_cast<std::size_t>(i)];
    const auto& shape = shapes[static_cast<std::size_t>(i)];
    const std::string which = "plane " + std::to_string(i);
    if (plane.data == nullptr) return which + " has no data";
    if (plane.stride < shape.row_bytes) {
      return which + " stride " + std::to_string(plane.stride) + " is less than its row of " +
             std::to_string(shape.row_bytes) + " bytes";
    }
    const std::size_t needed = plane.stride * (shape.rows - 1) + shape.row_bytes;
    if (plane.size < needed) {
      return which + " holds " + std::to_string(plane.size) + " bytes, needs " +
             std::to_string(needed);
    }
  }
  return {};
}

}  // namespace lookout
