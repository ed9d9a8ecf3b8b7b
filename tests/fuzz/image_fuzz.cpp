// Fuzz target "image": any bytes as an image file of the files source
// (JPEG through libturbojpeg, PNG through FFmpeg; drivers/image_decoder.hpp)
// to an RGB24 frame or ImageDecodeError, then that frame letterboxed as the
// engine would (app/engine/preprocess.hpp).
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "drivers/image_decoder.hpp"
#include "letterbox.hpp"
#include "preprocess.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<std::uint8_t> bytes(data, data + size);
  std::shared_ptr<lookout::Frame> frame;
  try {
    frame = lookout::decode_image_bytes(bytes, "fuzz.img");
  } catch (const lookout::ImageDecodeError&) {
    return 0;
  }
  if (!frame || frame->width <= 0 || frame->height <= 0 ||
      std::int64_t{frame->width} * frame->height > lookout::kMaxFramePixels) {
    std::abort();  // a decoded frame always has a size within the limit
  }
  // Big pictures are letterboxed on a sample only, to keep each run short.
  if (std::int64_t{frame->width} * frame->height > (1 << 22)) return 0;
  namespace engine = lookout::engine;
  const auto input = engine::fit_input_size(frame->width, frame->height, {320, 320}, 32);
  const auto box = engine::make_letterbox(frame->width, frame->height, input.width, input.height);
  std::vector<float> tensor(static_cast<std::size_t>(3 * input.width * input.height));
  engine::Preprocessor preprocessor;
  preprocessor.run(*frame, box, 3, 114, tensor.data(), false);
  return 0;
}
