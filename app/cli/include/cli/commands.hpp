// The engine-facing commands of `lookout` (detect, classify, model inspect,
// bench). app/lookout/main.cpp parses the command line (CLI11) into these
// plain structs; each run_* returns the process exit code and writes results
// to stdout, diagnostics to stderr.
//
// Threads: each command runs on the calling thread (the engine's intra-op
// threads aside).
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "tracking/tracker.hpp"

namespace lookout::cli {

// Exit codes shared by the commands.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;  // some input failed; others may have worked
constexpr int kExitUsage = 2;    // bad arguments or an unusable model

struct DetectArgs {
  EngineOptions engine;
  DetectOptions detect;
  std::vector<std::string> classes;  // class names or ids to keep; empty = all
  std::string save;                  // annotated JPEG (or a directory for several images)
  std::vector<std::string> images;
};

struct ClassifyArgs {
  EngineOptions engine;
  int top_k = 5;
  std::vector<std::string> images;
};

struct InspectArgs {
  std::string model;
  bool graph = false;   // print the TorchScript graph
  bool layers = false;  // print the readable graph's layers (shape, parameters, MACs)
  int input_width = 0;  // for the layers' dry run; 0 = the model's default
  int input_height = 0;
  std::string dot;       // write the readable graph as a Graphviz file here
  std::string svg;       // ... laid out as SVG (Graphviz's library)
  std::string html;      // ... as one self-contained HTML page
  bool profile = false;  // colour the pictures by measured time (profile_model, default backend)
  int runs = 10;         // profiled forwards
  Backend backend = Backend::Auto;  // what --profile times on
  int threads = 0;                  // ... with this many intra-op threads (0 = auto)
  bool json = false;
};

struct ProfileArgs {
  EngineOptions engine;  // model, input size, backend, threads
  int runs = 20;         // profiled forwards (after 2 warm-up runs)
  bool json = false;
};

// lookout model compare (compare_command.cpp): two models, or one file on two
// backends, side by side: their detections' agreement on images, parameters,
// MACs and per-layer time on this machine.
struct CompareArgs {
  EngineOptions a;  // model, input size, backend, threads
  EngineOptions b;  // the same, but its own model file and backend
  DetectOptions detect;
  std::vector<std::string> images;
  float match_iou = 0.5f;  // a detection of A and one of B agree at this IoU, same class
  int runs = 10;           // profiled forwards per model
  bool json = false;
};

// The forms --source takes (the source type names come from their table).
inline constexpr const char* kBenchSourceHelp =
    "synthetic, files:PATH (or a path), v4l2[:DEVICE], libcamera[:ID], stream:URL";

struct BenchArgs {
  EngineOptions engine;
  DetectOptions detect;
  // See kBenchSourceHelp: a source type name, optionally ":" and its
  // device, path or camera; anything else is a path for the files source.
  std::string source = "synthetic";
  int width = 1920;  // for synthetic and cameras
  int height = 1080;
  std::optional<PixelFormat> format;  // nullopt = auto
  int frames = 100;
  int warmup = 5;
  bool json = false;
};

// lookout bench track (track_bench_command.cpp): the tracker against the
// ground truth of synthetic traffic scenes, and its cost per update.
struct TrackBenchArgs {
  EngineOptions engine;
  std::uint64_t first_seed = 1001;  // held out: the model trains on seeds below 1000
  int seeds = 10;
  int frames = 300;  // per sequence at --fps (half as many at half the rate)
  double fps = 10;
  int width = 640;
  int height = 480;
  float conf = 0.25f;  // what is published (model.conf); the tracker sees down to its low score
  tracking::TrackerOptions tracker;  // tracking.* (defaults as lookoutd's)
  int objects = 50;                  // boxes in the tracker-cost measurement
  int cost_frames = 2000;
  bool json = false;
  std::string dump;             // if set: every frame's truth and published tracks, as JSON lines
  float min_visibility = 0.6f;  // less visible ground truth is ignored
  bool agnostic_nms = false;    // model.agnostic_nms
};

int run_detect(const DetectArgs& args, std::ostream& out);
int run_classify(const ClassifyArgs& args, std::ostream& out);
int run_model_inspect(const InspectArgs& args, std::ostream& out);
int run_model_profile(const ProfileArgs& args, std::ostream& out);
int run_model_compare(const CompareArgs& args, std::ostream& out);
int run_bench(const BenchArgs& args, std::ostream& out);
int run_track_bench(const TrackBenchArgs& args, std::ostream& out);

// Parses "640" or "640x384" (width x height) into the engine options.
// Returns false for anything else.
bool parse_input_size(const std::string& text, EngineOptions& options);

// Resolves --classes entries (names or numeric ids) against the model's
// class names. Throws std::invalid_argument naming an unknown entry.
std::vector<int> resolve_classes(const std::vector<std::string>& entries,
                                 const std::vector<std::string>& names);

}  // namespace lookout::cli
