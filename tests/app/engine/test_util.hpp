// Helpers for the engine and CLI tests: scratch directories, running real
// processes, and where the test models are.
#pragma once

#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/wait.h>

#include "support/paths.hpp"

namespace lookout::test {

// Models made by the ctest fixtures (tests/app/engine/make_test_models.py).
inline std::filesystem::path toy_model(const std::string& name) {
  return binary_dir() / "test-models" / "toy" / name;
}
inline std::filesystem::path data_model(const std::string& name) {
  return binary_dir() / "test-models" / "data" / name;
}
// The shipped default model, from the source tree.
inline std::string shipped_model() {
  return (std::filesystem::path(LOOKOUT_SOURCE_DIR) / "models/default/shapes.torchscript").string();
}
inline std::filesystem::path shared_image(const std::string& name) {
  return shared_data_dir() / "yolov5" / name;
}

// A fresh, empty directory under the build tree for one test.
inline std::filesystem::path scratch_dir(const std::string& name) {
  const auto dir = binary_dir() / "test-tmp" / (name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

struct ProcessResult {
  int exit_code = -1;
  std::string out;  // stdout
};

// Runs a shell command, capturing stdout (stderr goes to the test's stderr,
// or wherever the command redirects it).
inline ProcessResult run_command(const std::string& command) {
  ProcessResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buf{};
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) result.out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

inline std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  std::string text(static_cast<std::size_t>(in.tellg()), '\0');
  in.seekg(0);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  return text;
}

}  // namespace lookout::test
