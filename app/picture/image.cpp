#include "picture/image.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "convert.hpp"

namespace lookout::picture {

namespace {

RgbImage blank(Size size) {
  RgbImage image;
  image.width = size.width;
  image.height = size.height;
  image.pixels.resize(static_cast<std::size_t>(size.width) * static_cast<std::size_t>(size.height) *
                      3);
  return image;
}

RgbImage decode_jpeg(const Frame& frame, jpeg::Decompressor& decompressor) {
  const Plane& in = frame.planes[0];
  if (in.data == nullptr || in.size == 0) {
    throw jpeg::JpegError("not a readable JPEG: the MJPEG frame is empty", "empty frame");
  }
  // The JPEG's own size, which is what it decodes to whatever the frame says.
  const jpeg::Header header = decompressor.header(in.data, in.size);
  RgbImage image = blank({header.width, header.height});
  // A warning (a truncated JPEG, its missing rows grey) still gives a picture.
  decompressor.decode_rgb(in.data, in.size, image.pixels.data(), 0);
  return image;
}

void require_positive_size(const Frame& frame) {
  if (frame.width <= 0 || frame.height <= 0) {
    throw std::runtime_error(std::string(to_string(frame.format)) + " frame size " +
                             std::to_string(frame.width) + "x" + std::to_string(frame.height) +
                             " is not positive");
  }
}

RgbImage raw_to_rgb(const Frame& frame, int width) {
  require_positive_size(frame);  // before the size rule; convert_to_rgb checks the rest
  RgbImage image = blank(fit_width(frame.width, frame.height, width));
  convert_to_rgb(frame, {image.width, image.height}, image.pixels.data());
  return image;
}

}  // namespace

RgbImage to_rgb(const Frame& frame, jpeg::Decompressor& decompressor, int width) {
  if (frame.format == PixelFormat::MJPEG) {
    RgbImage image = decode_jpeg(frame, decompressor);
    return width > 0 && width < image.width ? scaled(image, width) : image;
  }
  return raw_to_rgb(frame, width);
}

RgbImage to_rgb(const Frame& frame, int width) {
  // Raw frames need no handle; making one would only cost a turbojpeg allocation.
  if (frame.format != PixelFormat::MJPEG) return raw_to_rgb(frame, width);
  jpeg::Decompressor decompressor;
  return to_rgb(frame, decompressor, width);
}

RgbImage scaled(const RgbImage& image, int width) {
  const std::size_t expected = static_cast<std::size_t>(std::max(image.width, 0)) *
                               static_cast<std::size_t>(std::max(image.height, 0)) * 3;
  if (image.width <= 0 || image.height <= 0 || image.pixels.size() != expected) {
    throw std::runtime_error("RGB image " + std::to_string(image.width) + "x" +
                             std::to_string(image.height) + " holds " +
                             std::to_string(image.pixels.size()) + " bytes, not " +
                             std::to_string(expected));
  }
  RgbImage out = blank(fit_width(image.width, image.height, width));
  scale_rgb(image.pixels.data(), {image.width, image.height},
            static_cast<std::size_t>(image.width) * 3, out.pixels.data(), {out.width, out.height});
  return out;
}

std::shared_ptr<const Frame> small_copy(const Frame& frame, int max_width) {
  auto copy = std::make_shared<Frame>();
  small_copy_into(frame, max_width, *copy);
  return copy;
}

void small_copy_into(const Frame& frame, int max_width, Frame& out) {
  out.planes = {};
  out.truth.clear();
  if (frame.format == PixelFormat::MJPEG) {
    const Plane& in = frame.planes[0];
    if (in.data == nullptr && in.size != 0) {
      throw std::invalid_argument("cannot copy an MJPEG frame: plane 0 has no data");
    }
    out.storage.assign(in.data, in.data + in.size);  // keeps the capacity it has
    out.format = PixelFormat::MJPEG;
    out.width = frame.width;
    out.height = frame.height;
    out.planes[0] = {out.storage.data(), 0, in.size};
    out.truth = frame.truth;  // same size: boxes as they are
  } else {
    require_positive_size(frame);
    const Size size = fit_width(frame.width, frame.height, max_width);
    const std::size_t row = static_cast<std::size_t>(size.width) * 3;
    const std::size_t bytes = row * static_cast<std::size_t>(size.height);
    // resize() only grows: a reused buffer of the same size is neither
    // reallocated nor cleared, and the conversion writes every byte.
    if (out.storage.size() < bytes) out.storage.resize(bytes);
    out.format = PixelFormat::RGB24;
    out.width = size.width;
    out.height = size.height;
    out.planes[0] = {out.storage.data(), row, bytes};
    // Converted straight into the copy's own storage: no intermediate image.
    convert_to_rgb(frame, size, out.storage.data());
    const float sx = static_cast<float>(size.width) / static_cast<float>(frame.width);
    const float sy = static_cast<float>(size.height) / static_cast<float>(frame.height);
    out.truth.reserve(frame.truth.size());
    for (const LabelledBox& box : frame.truth) {
      out.truth.push_back({box.class_id, box.x1 * sx, box.y1 * sy, box.x2 * sx, box.y2 * sy});
    }
  }
  out.sequence = frame.sequence;
  out.capture_time = frame.capture_time;
  out.capture_steady = frame.capture_steady;
}

}  // namespace lookout::picture
