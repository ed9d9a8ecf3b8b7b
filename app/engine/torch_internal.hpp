// Internal to app/engine: the loaded TorchScript module, shared by the two
// translation units that see libtorch (torch_model.cpp, inspect.cpp).
//
// Ownership: owns the module. Threads: one thread at a time calls forward().
#pragma once

#include <torch/script.h>

#include <string>

namespace lookout::engine {

class TorchModel {
 public:
  // Checks the file (exists, non-empty, a zip archive), loads it with its
  // config.txt, puts it in eval mode and, when asked, rewrites it for XNNPACK.
  // Throws ModelError naming the file and the reason.
  TorchModel(const std::string& path, bool optimize_for_mobile);
  TorchModel(const TorchModel&) = delete;
  TorchModel& operator=(const TorchModel&) = delete;

  c10::IValue forward(const torch::Tensor& input);
  torch::jit::Module& module() { return module_; }
  const std::string& config_text() const { return config_text_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  torch::jit::Module module_;
  std::string config_text_;
};

}  // namespace lookout::engine
