// Engine: turns a Frame into detections (or class scores) with a TorchScript
// model. This header is libtorch-free on purpose: only the engine's own .cpp
// files include torch, so the rest of the project compiles fast.
//
// Ownership: Engine::load returns the only owner (std::unique_ptr). The engine
// owns the loaded module and its reusable input/output buffers.
// Threads: one thread at a time may call detect()/classify() (the pipeline's
// inference thread); prepare() may run on another thread meanwhile (see
// PreparedFrame); info() may be read from any thread after load.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/enum_names.hpp"
#include "core/frame.hpp"

namespace lookout {

// What a model does: boxes with classes, or one score per class.
enum class Task { Detect, Classify };

template <>
struct EnumTable<Task> {
  static constexpr std::array<EnumName<Task>, 2> entries{{
      {Task::Detect, "detect"},
      {Task::Classify, "classify"},
  }};
};

// How the model's operators run. Auto picks by measurement on this kind of
// machine (app/engine/BENCHMARKS.md); the others force one.
enum class Backend {
  Auto,
  OneDnn,   // libtorch's oneDNN (MKL-DNN) kernels
  Blas,     // libtorch's own kernels over BLAS, oneDNN off
  Xnnpack,  // XNNPACK (the model rewritten for it, channels-last input)
};

template <>
struct EnumTable<Backend> {
  static constexpr std::array<EnumName<Backend>, 4> entries{{
      {Backend::Auto, "auto"},
      {Backend::OneDnn, "onednn"},
      {Backend::Blas, "blas"},
      {Backend::Xnnpack, "xnnpack"},
  }};
};

// A model that cannot be used: missing, corrupt, wrong shape, bad metadata.
// The message names the file and the reason.
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ModelInfo {
  std::string path;
  std::string name;  // from config.txt "name", else the file stem
  Task task = Task::Detect;
  int input_width = 0;  // input size the engine feeds (after auto sizing)
  int input_height = 0;
  int channels = 3;
  int stride = 32;
  bool dynamic = false;  // accepts any stride-aligned size
  std::vector<std::string> class_names;
  Backend backend = Backend::Auto;         // the backend actually in use (never Auto once loaded)
  int threads = 0;                         // intra-op threads actually in use
  std::vector<std::int64_t> output_shape;  // of the dry forward at input_width x input_height
};

struct EngineOptions {
  std::string model_path;
  // Requested input size. 0x0 = the model's default shape. For dynamic models
  // the engine may pick a smaller stride-aligned size that still holds a frame
  // of `frame_width` x `frame_height` letterboxed at this size (640x384 for a
  // 16:9 frame instead of 640x640).
  int input_width = 0;
  int input_height = 0;
  int frame_width = 0;  // 0 = unknown: use the requested size as is
  int frame_height = 0;
  int threads = 0;  // intra-op threads, 0 = auto (all big cores)
  int inter_op_threads = 1;
  Backend backend = Backend::Auto;
  std::vector<int> pin_cores;  // pin the inference thread(s) to these cores
  bool warm_up = true;
  // Run SiLU/sigmoid on the engine's vectorised kernels instead of aten's
  // (blas and xnnpack backends): -1 = where that is faster (aarch64, whose
  // aten versions are scalar), 0 = never, 1 = always.
  int fast_activations = -1;
  // Read the file in a separate process first: argv of a program that runs
  // probe_model_file() on the path, which is added to the last argument
  // after "=" (lookoutd: its own binary, "--probe-model" becoming
  // "--probe-model=PATH", so a path starting with '-' stays one argument).
  // libtorch's reader trusts the archive: a corrupt or hostile file of a few
  // hundred bytes can make it allocate tens of GB or crash. In the probe that
  // costs the probe, under a memory limit (512 MiB plus 8x the file's size,
  // at most 3/4 of what the service's cgroup has left; its OOM score is the
  // highest), not the process serving clients. The probe and the load read
  // one sealed in-memory copy of the file, so what is loaded is what was
  // checked. Empty: load in-process only
  // (the CLI, tests). A program that cannot be started (an emulator without
  // binfmt) is logged and skipped.
  std::vector<std::string> probe_command;
};

// The probe's side (see EngineOptions::probe_command): reads `path` as
// TorchScript (archive, code, constants and weights), without running it.
// Returns 0, or writes why to stderr and returns 65 (EX_DATAERR).
int probe_model_file(const std::string& path);

struct Detection {
  int class_id = 0;
  float score = 0;
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;  // frame pixels, clipped to the frame
};

struct DetectOptions {
  float conf = 0.25f;
  float iou = 0.45f;
  int max_detections = 1000;
  bool agnostic = false;            // NMS across classes
  std::vector<int> classes;         // keep only these ids; empty = all
  std::map<int, float> class_conf;  // per-class confidence thresholds
};

struct StageTimes {
  double decode_ms = 0;
  double preprocess_ms = 0;
  double forward_ms = 0;
  double postprocess_ms = 0;
  double total_ms() const { return decode_ms + preprocess_ms + forward_ms + postprocess_ms; }
};

struct DetectResult {
  std::vector<Detection> detections;
  StageTimes times;
};

struct ClassScore {
  int class_id = 0;
  float score = 0;
};

struct ClassifyResult {
  std::vector<ClassScore> top;  // best first
  StageTimes times;
};

// A frame decoded and letterboxed into one of the engine's input buffers: the
// first half of detect()/classify(), split off so that one thread can prepare
// frame N+1 while another runs the model on frame N (PrepareAhead does this).
// Where a core is free while the model runs, this brings end-to-end
// throughput to the bare forward loop's (app/engine/BENCHMARKS.md).
//
// Ownership: move-only; owns its input buffer until destroyed, then gives it
// back to the engine's pool (which outlives the engine if it must, so a
// PreparedFrame may safely outlive its engine). It does not hold the source
// Frame: a camera buffer can be returned as soon as prepare() is done.
class PreparedFrame {
 public:
  struct State;  // defined by the engine implementation

  PreparedFrame();
  PreparedFrame(std::unique_ptr<State> state, const StageTimes& times);
  PreparedFrame(PreparedFrame&&) noexcept;
  PreparedFrame& operator=(PreparedFrame&&) noexcept;
  PreparedFrame(const PreparedFrame&) = delete;
  PreparedFrame& operator=(const PreparedFrame&) = delete;
  ~PreparedFrame();

  bool empty() const { return state_ == nullptr; }
  // decode_ms and preprocess_ms of the preparation.
  const StageTimes& times() const { return times_; }
  State* state() const { return state_.get(); }

 private:
  std::unique_ptr<State> state_;
  StageTimes times_;
};

class Engine {
 public:
  // Loads, validates (dry forward) and warms up the model. Throws ModelError.
  static std::unique_ptr<Engine> load(const EngineOptions& options);

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  virtual ~Engine() = default;

  virtual const ModelInfo& info() const = 0;

  // Errors on a bad frame (unsupported layout, corrupt JPEG) are reported as
  // std::invalid_argument; the caller skips that frame.
  DetectResult detect(const Frame& frame, const DetectOptions& options) {
    return detect(prepare(frame), options);
  }
  ClassifyResult classify(const Frame& frame, int top_k) { return classify(prepare(frame), top_k); }

  // The two halves of detect()/classify(). prepare() decodes and letterboxes;
  // it may run on any thread, concurrently with detect()/classify() of an
  // earlier PreparedFrame on the inference thread (calls to prepare() are
  // serialised among themselves). Throws std::invalid_argument for a bad frame.
  virtual PreparedFrame prepare(const Frame& frame) = 0;
  // Runs the model on a frame this engine prepared and postprocesses it; the
  // result's times include the preparation's. Throws std::invalid_argument
  // for an empty PreparedFrame or one from another engine.
  virtual DetectResult detect(PreparedFrame frame, const DetectOptions& options) = 0;
  virtual ClassifyResult classify(PreparedFrame frame, int top_k) = 0;

  // For benchmarks: one forward pass on the last input (no pre/postprocessing),
  // returns its wall time in ms. The bare loop `lookout bench` compares with.
  // Not concurrently with prepare().
  virtual double bare_forward() { return 0; }

 protected:
  Engine() = default;
};

}  // namespace lookout
