// Fuzz target "mjpeg": any bytes as one MJPEG camera buffer (what a V4L2
// webcam delivers; the engine decodes it, app/engine/preprocess.hpp), with
// the frame size the camera claims taken from the first four bytes (0 =
// unknown, as from a files source). Decoding either gives a frame of the
// JPEG's own size or throws std::invalid_argument naming the problem.
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

#include "core/frame.hpp"
#include "preprocess.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 5) return 0;
  const int width = (data[0] << 8 | data[1]) % 4097;
  const int height = (data[2] << 8 | data[3]) % 4097;
  lookout::Frame frame;
  frame.format = lookout::PixelFormat::MJPEG;
  frame.width = width;
  frame.height = height;
  frame.planes[0] = {data + 4, 0, size - 4};
  lookout::engine::Preprocessor preprocessor;
  try {
    const lookout::Frame& decoded = preprocessor.decode(frame);
    if (decoded.width <= 0 || decoded.height <= 0) std::abort();
    if ((width != 0 && decoded.width != width) || (height != 0 && decoded.height != height)) {
      std::abort();  // a size that disagrees with the camera's is refused
    }
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
