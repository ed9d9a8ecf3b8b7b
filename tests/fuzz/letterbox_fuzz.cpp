// Fuzz target "letterbox": preprocessing over any frame geometry (format,
// size, row stride, plane layout) and any model input size, including 1
// pixel sides and extreme aspect ratios (app/engine/letterbox.hpp,
// preprocess.hpp). The first bytes choose the geometry; the rest are pixels.
// Every geometry made here is one a frame can have, so the frame is always
// letterboxed into the input: an exception, a crash, an abort in libyuv or
// a read out of bounds is a failure.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "core/frame.hpp"
#include "letterbox.hpp"
#include "preprocess.hpp"

namespace {

constexpr lookout::PixelFormat kFormats[] = {
    lookout::PixelFormat::RGB24, lookout::PixelFormat::BGR24, lookout::PixelFormat::I420,
    lookout::PixelFormat::NV12,  lookout::PixelFormat::YUYV,  lookout::PixelFormat::GRAY8};

struct Bytes {
  const std::uint8_t* data;
  std::size_t size;
  std::size_t at = 0;
  int next(int modulo) {
    const int high = at < size ? data[at++] : 0;
    const int low = at < size ? data[at++] : 0;
    return (high << 8 | low) % modulo;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace engine = lookout::engine;
  Bytes in{data, size};
  const lookout::PixelFormat format = kFormats[in.next(6)];
  // Sides up to 65535 (extreme aspect ratios; past kMaxFrameSide a frame is
  // refused), at most 2^20 pixels per frame so that each run stays fast.
  const int width = 1 + in.next(65535);
  const int height = std::max(1, std::min(1 + in.next(65535), (1 << 20) / width));
  const int row_padding = in.next(64);
  const int input_w = 32 * (1 + in.next(20));
  const int input_h = 32 * (1 + in.next(20));
  const bool dynamic = in.next(2) == 1;
  const bool center = in.next(2) == 1;
  const bool nhwc = in.next(2) == 1;
  const int channels = in.next(2) == 1 ? 1 : 3;

  std::shared_ptr<lookout::Frame> owned;
  try {
    owned = lookout::Frame::allocate(format, width, height);
  } catch (const std::invalid_argument&) {
    return 0;  // a size this format cannot have (odd sizes of subsampled ones)
  }
  // A borrowed layout with padded rows, as cameras deliver, filled from the input.
  lookout::Frame frame;
  frame.format = format;
  frame.width = width;
  frame.height = height;
  std::vector<std::vector<std::uint8_t>> planes;
  for (std::size_t p = 0; p < owned->planes.size(); ++p) {
    const lookout::Plane& packed = owned->planes[p];
    if (packed.data == nullptr || packed.size == 0) continue;
    const std::size_t rows = packed.size / packed.stride;
    const std::size_t stride = packed.stride + static_cast<std::size_t>(row_padding);
    std::vector<std::uint8_t> plane(stride * rows);
    for (std::size_t i = 0; i < plane.size(); ++i) {
      plane[i] = in.at < size ? data[in.at++] : static_cast<std::uint8_t>(i);
    }
    frame.planes[p] = {plane.data(), stride, plane.size()};
    planes.push_back(std::move(plane));
  }
  engine::InputSize input{input_w, input_h};
  if (dynamic) input = engine::fit_input_size(width, height, input, 32);
  const auto box = engine::make_letterbox(width, height, input.width, input.height, center);
  if (box.scaled_width < 1 || box.scaled_height < 1 || box.scaled_width > input.width ||
      box.scaled_height > input.height) {
    std::abort();
  }
  std::vector<float> tensor(static_cast<std::size_t>(channels) * input.width * input.height);
  engine::Preprocessor preprocessor(in.next(2) == 1);
  preprocessor.run(frame, box, channels, 114, tensor.data(), nhwc);
  return 0;
}
