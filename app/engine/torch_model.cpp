// The libtorch half of the engine: loading and validating TorchScript files,
// backend and thread set-up, and the forward pass. Everything else the engine
// does (preprocess, postprocess, metadata) lives in torch-free files.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <ATen/Parallel.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/passes/xnnpack_rewrite.h>
#include <torch/csrc/jit/python/update_graph_executor_opt.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/library.h>
#include <torch/script.h>

#include "activations.hpp"
#include "core/log.hpp"
#include "cpu_info.hpp"
#include "engine/engine.hpp"
#include "letterbox.hpp"
#include "model_config.hpp"
#include "model_probe.hpp"
#include "postprocess.hpp"
#include "preprocess.hpp"
#include "torch_internal.hpp"

namespace lookout {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The gist of a libtorch error, without the C++ backtrace it appends. For
// errors raised inside TorchScript code the interpreter prints a serialized
// traceback first; the exception itself is on the last line.
std::string short_error(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  const std::string text = c10 != nullptr ? c10->what_without_backtrace() : e.what();
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    while (!line.empty() && line.front() == ' ') line.erase(0, 1);
    if (!line.empty()) lines.push_back(line);
    pos = end + 1;
  }
  if (lines.empty()) return "unknown error";
  if (lines.front().find("The following operation failed in the TorchScript interpreter") !=
      std::string::npos) {
    return lines.back();
  }
  return lines.front();
}

std::string shape_string(c10::IntArrayRef sizes) {
  std::string s = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(sizes[i]);
  }
  return s + "]";
}

// The output tensor of a forward: a tensor, or the first element of a tuple
// or list (ultralytics' Detect returns (pred, feature maps) in some versions).
bool first_tensor(const c10::IValue& value, torch::Tensor& out) {
  if (value.isTensor()) {
    out = value.toTensor();
    return true;
  }
  if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    return !elements.empty() && first_tensor(elements[0], out);
  }
  if (value.isList()) {  // also covers List[Tensor]
    const auto elements = value.toListRef();
    return !elements.empty() && first_tensor(elements[0], out);
  }
  return false;
}

void check_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (path.empty()) throw ModelError("no model file given");
  if (!fs::exists(path, ec)) throw ModelError(path + ": model file does not exist");
  if (fs::is_directory(path, ec)) throw ModelError(path + ": is a directory, not a model file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError(path + ": cannot open model file for reading");
  char magic[4] = {};
  in.read(magic, sizeof magic);
  if (in.gcount() == 0) {
    throw ModelError(path + ": model file is empty (0 bytes)");
  }
  // TorchScript files are zip archives; anything else (a .pt pickle from
  // torch.save, a text file, a truncated download) stops here.
  if (in.gcount() < 4 || magic[0] != 'P' || magic[1] != 'K' || magic[2] != 3 || magic[3] != 4) {
    throw ModelError(path +
                     ": not a TorchScript file (not a zip archive; export the model with "
                     "torch.jit.save / ultralytics export.py --include torchscript)");
  }
}

// ---- lookout::silu_ / silu / sigmoid ---------------------------------------
// TorchScript operators running engine::silu / engine::sigmoid (see
// activations.hpp for why), split over the intra-op threads. Tensors they
// cannot walk as one dense float array (views, oneDNN layouts) go to aten.

bool dense_float(const at::Tensor& t) {
  return t.scalar_type() == at::kFloat && t.layout() == at::kStrided && t.device().is_cpu() &&
         (t.is_contiguous() || t.is_contiguous(at::MemoryFormat::ChannelsLast));
}

template <typename F>
void for_chunks(std::int64_t n, F f) {
  at::parallel_for(0, n, 1 << 15, [&](std::int64_t begin, std::int64_t end) {
    f(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin));
  });
}

at::Tensor& fast_silu_(at::Tensor& self) {
  if (!dense_float(self)) return at::silu_(self);
  float* p = self.data_ptr<float>();
  for_chunks(self.numel(), [&](std::size_t at, std::size_t n) { engine::silu(p + at, p + at, n); });
  return self;
}

at::Tensor fast_silu(const at::Tensor& self) {
  if (!dense_float(self)) return at::silu(self);
  at::Tensor out = at::empty_like(self);
  const float* in = self.data_ptr<float>();
  float* o = out.data_ptr<float>();
  for_chunks(self.numel(),
             [&](std::size_t at, std::size_t n) { engine::silu(in + at, o + at, n); });
  return out;
}

at::Tensor fast_sigmoid(const at::Tensor& self) {
  if (!dense_float(self)) return at::sigmoid(self);
  at::Tensor out = at::empty_like(self);
  const float* in = self.data_ptr<float>();
  float* o = out.data_ptr<float>();
  for_chunks(self.numel(),
             [&](std::size_t at, std::size_t n) { engine::sigmoid(in + at, o + at, n); });
  return out;
}

at::Tensor& fast_sigmoid_(at::Tensor& self) {
  if (!dense_float(self)) return at::sigmoid_(self);
  float* p = self.data_ptr<float>();
  for_chunks(self.numel(),
             [&](std::size_t at, std::size_t n) { engine::sigmoid(p + at, p + at, n); });
  return self;
}

TORCH_LIBRARY(lookout, m) {
  m.def("silu_(Tensor(a!) self) -> Tensor(a!)", fast_silu_);
  m.def("silu(Tensor self) -> Tensor", fast_silu);
  m.def("sigmoid_(Tensor(a!) self) -> Tensor(a!)", fast_sigmoid_);
  m.def("sigmoid(Tensor self) -> Tensor", fast_sigmoid);
}

// Replaces aten's silu/sigmoid nodes (in place and not) by lookout's, in a
// frozen (inlined) graph. Returns how many were replaced.
int use_fast_activations(torch::jit::Block* block) {
  static const std::vector<std::pair<c10::Symbol, c10::Symbol>> kReplace = {
      {c10::Symbol::fromQualString("aten::silu_"), c10::Symbol::fromQualString("lookout::silu_")},
      {c10::Symbol::fromQualString("aten::silu"), c10::Symbol::fromQualString("lookout::silu")},
      {c10::Symbol::fromQualString("aten::sigmoid_"),
       c10::Symbol::fromQualString("lookout::sigmoid_")},
      {c10::Symbol::fromQualString("aten::sigmoid"),
       c10::Symbol::fromQualString("lookout::sigmoid")},
  };
  int replaced = 0;
  for (auto it = block->nodes().begin(); it != block->nodes().end();) {
    torch::jit::Node* node = *it;
    ++it;  // before `node` may be destroyed
    for (torch::jit::Block* sub : node->blocks()) replaced += use_fast_activations(sub);
    const auto match = std::find_if(kReplace.begin(), kReplace.end(),
                                    [&](const auto& r) { return r.first == node->kind(); });
    if (match == kReplace.end() || node->inputs().size() != 1 || node->outputs().size() != 1) {
      continue;
    }
    torch::jit::Graph* graph = node->owningGraph();
    torch::jit::WithInsertPoint guard(node);
    torch::jit::Node* fast = graph->insertNode(graph->create(match->second, {node->input()}, 1));
    fast->output()->setType(node->output()->type());
    node->output()->replaceAllUsesWith(fast->output());
    node->destroy();
    ++replaced;
  }
  return replaced;
}

}  // namespace

namespace engine {

namespace {

// `source`: where to read it (a snapshot's /proc/self/fd/N of a file
// checked already), or "" for `path` itself. Messages name `path`.
torch::jit::Module load_archive(const std::string& path, torch::jit::ExtraFilesMap& extra,
                                const std::string& source = "") {
  if (source.empty()) check_file(path);
  try {
    return torch::jit::load(source.empty() ? path : source, torch::kCPU, extra);
  } catch (const std::bad_alloc&) {
    throw ModelError(path +
                     ": cannot load as TorchScript: out of memory (a corrupt file can "
                     "ask for any amount)");
  } catch (const std::exception& e) {
    throw ModelError(path +
                     ": cannot load as TorchScript (truncated or corrupt file, or a torch.save() "
                     "pickle rather than a TorchScript export): " +
                     short_error(e));
  }
}

}  // namespace

TorchModel::TorchModel(const std::string& path, Rewrite rewrite, bool fast_activations,
                       const std::string& source)
    : path_(path) {
  torch::jit::ExtraFilesMap extra{{"config.txt", ""}};
  module_ = load_archive(path, extra, source);
  module_.eval();
  config_text_ = extra["config.txt"];
  try {
    switch (rewrite) {
      case Rewrite::None:
        break;
      case Rewrite::Freeze:
        module_ = torch::jit::freeze(module_);
        break;
      case Rewrite::OneDnn:
        // Without this, libtorch picks the convolution path per call, and for
        // one intra-op thread sends 1x1 convolutions to its own im2col + BLAS
        // path (the "1 thread is 4-10x slower" cliff; see BENCHMARKS.md).
        // Converted ops always run on oneDNN, with weights reordered once.
        module_ = torch::jit::freeze(module_);
        module_ = torch::jit::optimize_for_inference(module_);
        break;
      case Rewrite::Xnnpack:
        // Freezes, folds Conv+BN, and rewrites convolutions and linears to
        // XNNPACK ops with their weights packed once, here.
        module_ = torch::jit::optimizeForMobile(module_);
        break;
    }
    if (fast_activations && rewrite != Rewrite::None && rewrite != Rewrite::OneDnn) {
      fast_activations_ = use_fast_activations(module_.get_method("forward").graph()->block());
    }
  } catch (const std::exception& e) {
    throw ModelError(path + ": rewriting the model for the backend failed: " + short_error(e));
  }
}

c10::IValue TorchModel::forward(const torch::Tensor& input) {
  torch::NoGradGuard no_grad;
  std::vector<c10::IValue> inputs{input};
  return module_.forward(inputs);
}

}  // namespace engine

namespace {

using engine::InputSize;
using engine::Letterbox;
using engine::ModelConfig;

// Intra-op threads for the calling thread. libtorch runs its own operators on
// OpenMP and XNNPACK's on a separate pthreadpool, both sized by
// at::set_num_threads and both spinning while idle: with the xnnpack backend
// on N cores, the OpenMP workers spin through XNNPACK's convolutions and the
// pthreadpool workers through aten's operators, and each pool's threads wait
// for descheduled ones. So for xnnpack, aten's operators run on the calling
// thread alone and only the pthreadpool is N wide (yolov5n at 640x384, 2
// threads on an idle 2-core x86 host: 23.7 ms per forward, 1 thread 36.9).
void set_threads(int threads, bool xnnpack) {
  at::set_num_threads(threads);
  if (xnnpack && threads > 1) {
    // aten sizes each thread's OpenMP team lazily at its first parallel
    // operation; let that happen now so it cannot undo the next line.
    at::parallel_for(0, 2, 1, [](std::int64_t, std::int64_t) {});
    omp_set_num_threads(1);
  }
}

// Backend set-up applies to the whole process (libtorch's switches are global).
void apply_backend(Backend backend) {
  at::globalContext().setUserEnabledMkldnn(backend != Backend::Blas);
}

Backend resolve_backend(Backend requested) {
  if (!enum_from_name<Backend>(enum_name(requested))) {
    throw ModelError("unknown backend " + std::to_string(static_cast<int>(requested)));
  }
  if (requested != Backend::Auto) return requested;
  // Measured, see app/engine/BENCHMARKS.md: XNNPACK (with channels-last
  // input) is the fastest on aarch64 (instruction counts) and on x86 (wall
  // time, 1 thread: 34.9 ms vs 44.7 for oneDNN).
  return Backend::Xnnpack;
}

// Input tensors handed out to PreparedFrames and given back when they are
// destroyed, so steady-state frames allocate nothing (a 640x384 float input
// is 2.9 MB: a fresh one costs an mmap and ~700 page faults). Shared by the
// engine and its PreparedFrames, so it outlives whichever goes last.
// Threads: any (one mutex).
class InputPool {
 public:
  torch::Tensor take(int64_t channels, int64_t height, int64_t width, bool channels_last) {
    {
      std::lock_guard lock(mutex_);
      // Newest first: the buffer given back last is the likeliest to still
      // be in cache.
      for (auto it = free_.rbegin(); it != free_.rend(); ++it) {
        if (it->size(1) == channels && it->size(2) == height && it->size(3) == width) {
          torch::Tensor t = std::move(*it);
          free_.erase(std::next(it).base());
          return t;
        }
      }
    }
    return torch::empty(
        {1, channels, height, width},
        torch::TensorOptions().memory_format(channels_last ? torch::MemoryFormat::ChannelsLast
                                                           : torch::MemoryFormat::Contiguous));
  }

  void give_back(torch::Tensor tensor) {
    std::lock_guard lock(mutex_);
    // Two in flight (one preparing, one in the model) plus one spare; more
    // means the input size changed, and the oldest sizes go first.
    if (free_.size() >= kKept) free_.erase(free_.begin());
    free_.push_back(std::move(tensor));
  }

 private:
  static constexpr std::size_t kKept = 3;
  std::mutex mutex_;
  std::vector<torch::Tensor> free_;
};

}  // namespace

struct PreparedFrame::State {
  std::shared_ptr<InputPool> pool;
  torch::Tensor input;
  Letterbox box;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() {
    if (pool && input.defined()) pool->give_back(std::move(input));
  }
};

PreparedFrame::PreparedFrame() = default;
PreparedFrame::PreparedFrame(std::unique_ptr<State> state, const StageTimes& times)
    : state_(std::move(state)), times_(times) {}
PreparedFrame::PreparedFrame(PreparedFrame&&) noexcept = default;
PreparedFrame& PreparedFrame::operator=(PreparedFrame&&) noexcept = default;
PreparedFrame::~PreparedFrame() = default;

namespace {

class TorchEngine final : public Engine {
 public:
  explicit TorchEngine(const EngineOptions& options);

  const ModelInfo& info() const override { return info_; }
  using Engine::classify;
  using Engine::detect;
  PreparedFrame prepare(const Frame& frame) override;
  DetectResult detect(PreparedFrame frame, const DetectOptions& options) override;
  ClassifyResult classify(PreparedFrame frame, int top_k) override;
  double bare_forward() override {
    prepare_thread();
    const auto start = Clock::now();
    model_->forward(input_);
    return ms_since(start);
  }

 private:
  // Input size for a frame: the fixed shape, or for dynamic models the
  // smallest stride-aligned size holding the frame at the requested size.
  InputSize input_size_for(int frame_w, int frame_h) const;
  // Runs the model on a prepared frame (remembered as input_ for
  // bare_forward) and returns the output tensor; adds the forward time.
  torch::Tensor run(PreparedFrame::State& prepared, StageTimes& times);
  // The prepared frame's state, checked to come from this engine.
  PreparedFrame::State& own(const PreparedFrame& frame) const;
  void prepare_thread();
  torch::Tensor validate_output(const c10::IValue& value, const std::string& where);

  std::unique_ptr<engine::TorchModel> model_;
  ModelConfig config_;
  ModelInfo info_;
  InputSize requested_;
  std::mutex prepare_mutex_;  // serialises prepare(): pre_ owns scratch buffers
  engine::Preprocessor pre_;
  engine::Postprocessor post_;
  std::shared_ptr<InputPool> inputs_ = std::make_shared<InputPool>();
  torch::Tensor input_;  // the last input run (inference thread only)
  // Feed channels-last (NHWC) input: XNNPACK convolutions then keep every
  // activation in NHWC instead of transposing around each convolution.
  bool channels_last_ = false;
  std::vector<int> pin_cores_;
  std::thread::id prepared_thread_;
};

TorchEngine::TorchEngine(const EngineOptions& options) {
  const std::string& path = options.model_path;
  const Backend backend = resolve_backend(options.backend);

  // Threads: libtorch's switches are process-wide. Default: one intra-op
  // thread per big core. See BENCHMARKS.md for why 1 thread is avoided on x86
  // with the default backend.
  int threads = options.threads;
  if (threads <= 0) threads = static_cast<int>(engine::big_cores().size());
  set_threads(threads, backend == Backend::Xnnpack);
  if (options.inter_op_threads > 0) {
    try {
      at::set_num_interop_threads(options.inter_op_threads);
    } catch (const std::exception&) {
      // Only possible before the first inter-op task; a second engine in the
      // same process keeps the first one's setting.
      if (at::get_num_interop_threads() != options.inter_op_threads) {
        log::warning("engine: inter-op threads already fixed at ", at::get_num_interop_threads());
      }
    }
  }
  // The profiling executor spends the first runs profiling and re-optimises
  // for every new input shape (a 1-2 s stall per shape on a Pi); the simple
  // executor optimises once, at the first run, which warm-up does here.
  torch::jit::getProfilingMode() = false;
  torch::jit::getExecutorMode() = false;
  apply_backend(backend);

  const engine::Rewrite rewrite = backend == Backend::Xnnpack  ? engine::Rewrite::Xnnpack
                                  : backend == Backend::OneDnn ? engine::Rewrite::OneDnn
                                                               : engine::Rewrite::Freeze;
  // aten's SiLU and sigmoid are vectorised on x86 (AVX2) but scalar on
  // aarch64; see activations.hpp and BENCHMARKS.md.
  const bool fast = options.fast_activations < 0 ? engine::cpu_architecture() == "aarch64"
                                                 : options.fast_activations > 0;
  std::optional<engine::ModelSnapshot> snapshot;
  if (!options.probe_command.empty()) {
    check_file(path);  // the usual messages for a missing or empty file
    snapshot.emplace(path);
    // Generous: a big model on a Pi 4 reads in well under a minute.
    engine::probe_model(path, &*snapshot, options.probe_command, std::chrono::seconds(120));
  }
  model_ = std::make_unique<engine::TorchModel>(path, rewrite, fast,
                                                snapshot ? snapshot->path() : std::string());
  config_ = engine::parse_model_config(model_->config_text(), path);

  info_.path = path;
  info_.name = config_.name.empty() ? std::filesystem::path(path).stem().string() : config_.name;
  info_.task = config_.task;
  info_.stride = config_.stride;
  info_.dynamic = config_.dynamic;
  info_.backend = backend;
  info_.threads = threads;
  info_.channels = config_.shape.empty() ? 3 : config_.shape[1];
  pin_cores_ = options.pin_cores;

  // Input size.
  const int shape_w = config_.shape.empty() ? 640 : config_.shape[3];
  const int shape_h = config_.shape.empty() ? 640 : config_.shape[2];
  const bool asked = options.input_width > 0 && options.input_height > 0;
  if (config_.dynamic) {
    requested_ = {engine::align_up(asked ? options.input_width : shape_w, config_.stride),
                  engine::align_up(asked ? options.input_height : shape_h, config_.stride)};
    if (asked &&
        (requested_.width != options.input_width || requested_.height != options.input_height)) {
      log::notice("engine: input ", options.input_width, "x", options.input_height,
                  " rounded up to ", requested_.width, "x", requested_.height, " (stride ",
                  config_.stride, ")");
    }
  } else {
    requested_ = {shape_w, shape_h};
    if (asked && (options.input_width != shape_w || options.input_height != shape_h)) {
      log::warning("engine: ", path, " takes only ", shape_w, "x", shape_h, " input; ignoring the ",
                   options.input_width, "x", options.input_height, " asked for");
    }
  }
  InputSize initial = requested_;
  if (config_.dynamic && options.frame_width > 0 && options.frame_height > 0) {
    initial = input_size_for(options.frame_width, options.frame_height);
  }
  info_.input_width = initial.width;
  info_.input_height = initial.height;

  // Dry forward: proves the file runs on this input and has the output the
  // task needs; a model that fails here would fail on every frame.
  const std::vector<int64_t> dry_shape = {1, info_.channels, initial.height, initial.width};
  // Random values rather than zeros, so the channels-last check below
  // compares real numbers.
  input_ = torch::rand(dry_shape);
  c10::IValue out;
  try {
    out = model_->forward(input_);
  } catch (const std::exception& e) {
    throw ModelError(path + ": dry forward with input " + shape_string(dry_shape) +
                     " failed (wrong input shape or rank for this model?): " + short_error(e));
  }
  const torch::Tensor output = validate_output(out, path).clone();
  info_.output_shape.assign(output.sizes().begin(), output.sizes().end());

  if (backend == Backend::Xnnpack) {
    // Use channels-last input only where the model gives the same answer
    // with it (a model that reshapes its input by hand may not).
    try {
      const torch::Tensor cl = input_.contiguous(torch::MemoryFormat::ChannelsLast);
      torch::Tensor cl_out;
      channels_last_ = first_tensor(model_->forward(cl), cl_out) &&
                       cl_out.sizes() == output.sizes() &&
                       torch::allclose(cl_out, output, 1e-4, 1e-4);
    } catch (const std::exception& e) {
      log::debug("engine: channels-last input not usable: ", short_error(e));
    }
    if (!channels_last_) log::debug("engine: ", path, " gets NCHW input");
  }
  input_ = inputs_->take(info_.channels, initial.height, initial.width, channels_last_);
  input_.zero_();

  if (options.warm_up) {
    // The first runs are slow (graph optimisation, oneDNN primitive creation,
    // page faults in the weights); pay for them here, not on the first frame.
    const auto start = Clock::now();
    for (int i = 0; i < 2; ++i) model_->forward(input_);
    log::debug("engine: warm-up ", ms_since(start), " ms");
  }
  prepared_thread_ = std::this_thread::get_id();
  log::debug("engine: ", model_->fast_activations(),
             " activations on lookout's vectorised kernels");
  log::info("engine: loaded ", path, " (", enum_name(info_.task), ", ", info_.class_names.size(),
            " classes, input ", info_.input_width, "x", info_.input_height,
            info_.dynamic ? " dynamic" : "", ", backend ", enum_name(backend), ", ", threads,
            " threads)");
}

torch::Tensor TorchEngine::validate_output(const c10::IValue& value, const std::string& where) {
  torch::Tensor out;
  if (!first_tensor(value, out)) {
    throw ModelError(where + ": forward returns " + value.tagKind() +
                     ", expected a tensor (or a tuple/list starting with one)");
  }
  if (out.scalar_type() != torch::kFloat) {
    throw ModelError(where + ": output is " + std::string(c10::toString(out.scalar_type())) +
                     ", expected float32");
  }
  const bool has_config = config_.has_config;
  if (!has_config) config_.task = out.dim() == 2 ? Task::Classify : Task::Detect;
  const auto n_names = static_cast<int64_t>(config_.names.size());
  if (config_.task == Task::Detect) {
    if (out.dim() != 3 || out.size(0) != 1 || out.size(2) < 6) {
      throw ModelError(where + ": output shape " + shape_string(out.sizes()) +
                       " is not a detection output [1, N, 5 + classes]");
    }
    if (n_names > 0 && out.size(2) - 5 != n_names) {
      throw ModelError(where + ": output has " + std::to_string(out.size(2) - 5) +
                       " classes but config.txt names " + std::to_string(n_names));
    }
  } else {
    if (out.dim() != 2 || out.size(0) != 1 || out.size(1) < 1) {
      throw ModelError(where + ": output shape " + shape_string(out.sizes()) +
                       " is not a classification output [1, classes]");
    }
    if (n_names > 0 && out.size(1) != n_names) {
      throw ModelError(where + ": output has " + std::to_string(out.size(1)) +
                       " classes but config.txt names " + std::to_string(n_names));
    }
  }
  info_.task = config_.task;
  const int64_t classes = config_.task == Task::Detect ? out.size(2) - 5 : out.size(1);
  if (n_names == 0) {
    for (int64_t i = 0; i < classes; ++i) config_.names.push_back(std::to_string(i));
  }
  info_.class_names = config_.names;
  return out;
}

InputSize TorchEngine::input_size_for(int frame_w, int frame_h) const {
  if (!config_.dynamic || config_.task != Task::Detect) return requested_;
  return engine::fit_input_size(frame_w, frame_h, requested_, config_.stride);
}

void TorchEngine::prepare_thread() {
  // libtorch keeps OpenMP's thread count per calling thread, and a pinned
  // inference thread must be pinned before its OpenMP team is created.
  if (prepared_thread_ == std::this_thread::get_id()) return;
  prepared_thread_ = std::this_thread::get_id();
  if (!pin_cores_.empty()) {
    if (const std::string err = engine::pin_current_thread(pin_cores_); !err.empty()) {
      log::warning("engine: cannot pin the inference thread: ", err);
    }
  }
  set_threads(info_.threads, info_.backend == Backend::Xnnpack);
}

PreparedFrame TorchEngine::prepare(const Frame& source) {
  auto state = std::make_unique<PreparedFrame::State>();
  StageTimes times;
  std::lock_guard lock(prepare_mutex_);
  auto start = Clock::now();
  const Frame& frame = pre_.decode(source);
  times.decode_ms = ms_since(start);

  start = Clock::now();
  const InputSize size = input_size_for(frame.width, frame.height);
  state->box = info_.task == Task::Classify
                   ? engine::make_stretch(frame.width, frame.height, size.width, size.height)
                   : engine::make_letterbox(frame.width, frame.height, size.width, size.height,
                                            config_.pad_center);
  state->input = inputs_->take(info_.channels, size.height, size.width, channels_last_);
  state->pool = inputs_;
  pre_.run(frame, state->box, info_.channels, config_.pad_value, state->input.data_ptr<float>(),
           channels_last_);
  times.preprocess_ms = ms_since(start);
  return PreparedFrame(std::move(state), times);
}

PreparedFrame::State& TorchEngine::own(const PreparedFrame& frame) const {
  PreparedFrame::State* state = frame.state();
  if (state == nullptr) throw std::invalid_argument("engine: empty PreparedFrame");
  if (state->pool != inputs_) {
    throw std::invalid_argument("engine: PreparedFrame comes from another engine");
  }
  return *state;
}

torch::Tensor TorchEngine::run(PreparedFrame::State& prepared, StageTimes& times) {
  prepare_thread();
  input_ = prepared.input;
  const auto start = Clock::now();
  torch::Tensor out;
  const c10::IValue value = model_->forward(input_);
  if (!first_tensor(value, out)) throw std::runtime_error("engine: model returned no tensor");
  // The dry forward set what the output is; a model may still answer this
  // frame otherwise (shapes that follow the content), and reading it as the
  // dry forward's would go past its data or past the class names.
  const auto classes = static_cast<std::int64_t>(info_.class_names.size());
  const bool fits =
      out.scalar_type() == torch::kFloat &&
      (info_.task == Task::Detect ? out.dim() == 3 && out.size(0) == 1 && out.size(2) == 5 + classes
                                  : out.dim() == 2 && out.size(0) == 1 && out.size(1) == classes);
  if (!fits) {
    throw std::runtime_error(
        "engine: the model's output on this frame is " + shape_string(out.sizes()) + " " +
        std::string(c10::toString(out.scalar_type())) + ", not the dry forward's " +
        shape_string(info_.output_shape) + " Float");
  }
  out = out.contiguous();
  times.forward_ms = ms_since(start);
  return out;
}

DetectResult TorchEngine::detect(PreparedFrame frame, const DetectOptions& options) {
  if (info_.task != Task::Detect) {
    throw std::invalid_argument("engine: detect() on a " + std::string(enum_name(info_.task)) +
                                " model");
  }
  PreparedFrame::State& prepared = own(frame);
  DetectResult result;
  result.times = frame.times();
  const torch::Tensor out = run(prepared, result.times);
  const auto start = Clock::now();
  result.detections = post_.detect(out.data_ptr<float>(), static_cast<std::size_t>(out.size(1)),
                                   static_cast<std::size_t>(out.size(2)), options, prepared.box);
  result.times.postprocess_ms = ms_since(start);
  return result;
}

ClassifyResult TorchEngine::classify(PreparedFrame frame, int top_k) {
  if (info_.task != Task::Classify) {
    throw std::invalid_argument("engine: classify() on a " + std::string(enum_name(info_.task)) +
                                " model");
  }
  PreparedFrame::State& prepared = own(frame);
  ClassifyResult result;
  result.times = frame.times();
  const torch::Tensor out = run(prepared, result.times);
  const auto start = Clock::now();
  result.top = engine::top_k(out.data_ptr<float>(), static_cast<std::size_t>(out.size(1)), top_k);
  result.times.postprocess_ms = ms_since(start);
  return result;
}

}  // namespace

std::unique_ptr<Engine> Engine::load(const EngineOptions& options) {
  return std::make_unique<TorchEngine>(options);
}

int probe_model_file(const std::string& path) {
  engine::limit_probe_address_space();
  try {
    torch::jit::ExtraFilesMap extra{{"config.txt", ""}};
    engine::load_archive(path, extra);
    return 0;
  } catch (const std::exception& e) {
    log::error(e.what());
    log::flush();
    return 65;
  }
}

}  // namespace lookout
