// Vectorised SiLU and sigmoid for the engine's own TorchScript operators
// (lookout::silu_, lookout::sigmoid; see torch_model.cpp). Why: on aarch64,
// Debian's libtorch computes both with a scalar exp, about 38 instructions a
// value; yolov5n applies SiLU to 11.8 M values per 640x640 frame, which made
// it over a quarter of the whole XNNPACK forward pass. These run at about 6
// instructions a value (4 lanes of NEON, or SSE on x86).
//
// Accuracy: exp() from a degree-6 polynomial after range reduction, relative
// error below 4e-7 (tested against std::exp); results agree with
// x / (1 + exp(-x)) in double to within 1e-6 absolute for every float input.
//
// Pure functions; any thread. In-place use (out == in) is allowed.
#pragma once

#include <cstddef>

namespace lookout::engine {

void silu(const float* in, float* out, std::size_t n);
void sigmoid(const float* in, float* out, std::size_t n);

}  // namespace lookout::engine
