// Internal to app/engine: the loaded TorchScript module, shared by the two
// translation units that see libtorch (torch_model.cpp, inspect.cpp).
//
// Ownership: owns the module. Threads: one thread at a time calls forward().
#pragma once

#include <string>

#include <torch/script.h>

namespace lookout::engine {

// How the loaded module is rewritten for the backend.
enum class Rewrite {
  None,     // as stored
  Freeze,   // torch::jit::freeze: weights become constants, Conv+BN folded
  OneDnn,   // freeze + optimize_for_inference: every convolution on oneDNN
  Xnnpack,  // optimizeForMobile: convolutions as XNNPACK ops, weights prepacked
};

class TorchModel {
 public:
  // Checks the file (exists, non-empty, a zip archive), loads it with its
  // config.txt, puts it in eval mode and rewrites it as asked. `source`,
  // when given, is where to read it (a ModelSnapshot of the checked file).
  // Throws ModelError naming the file and the reason.
  TorchModel(const std::string& path, Rewrite rewrite, bool fast_activations,
             const std::string& source = "");
  TorchModel(const TorchModel&) = delete;
  TorchModel& operator=(const TorchModel&) = delete;

  c10::IValue forward(const torch::Tensor& input);
  torch::jit::Module& module() { return module_; }
  const std::string& config_text() const { return config_text_; }
  const std::string& path() const { return path_; }
  // aten::silu/sigmoid nodes replaced by lookout's faster ones.
  int fast_activations() const { return fast_activations_; }

 private:
  std::string path_;
  torch::jit::Module module_;
  std::string config_text_;
  int fast_activations_ = 0;
};

}  // namespace lookout::engine
