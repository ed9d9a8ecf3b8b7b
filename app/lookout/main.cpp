// lookout: the command-line tool. Parses arguments (CLI11) and hands over to
// the commands in app/cli; all real work lives there.
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.hpp"
#include "cli/enum_option.hpp"
#include "cli/watch.hpp"
#include "core/log.hpp"
#include "core/version.hpp"

namespace {

using namespace lookout;

// Options every engine-using command shares.
void add_engine_options(CLI::App& cmd, EngineOptions& engine, std::string& input_size,
                        bool model_required = true) {
  auto* model = cmd.add_option("-m,--model", engine.model_path, "TorchScript model file")
                    ->check(CLI::ExistingFile);
  if (model_required) model->required();
  cmd.add_option("--imgsz", input_size,
                 "input size N or WxH (default: the model's; any-size models then fit it to "
                 "each image)");
  cli::add_enum_option(cmd, "--backend", engine.backend, "how the model's operators run");
  cmd.add_option("--threads", engine.threads, "intra-op threads (0 = one per big core)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd.add_option("--inter-op-threads", engine.inter_op_threads, "inter-op threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--pin", engine.pin_cores, "pin inference to these cores")->delimiter(',');
}

void add_detect_filter_options(CLI::App& cmd, DetectOptions& detect) {
  cmd.add_option("--conf", detect.conf, "confidence threshold")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd.add_option("--iou", detect.iou, "NMS IoU threshold")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd.add_option("--max-det", detect.max_detections, "maximum detections per image")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_flag("--agnostic-nms", detect.agnostic, "NMS across classes");
}

// Applies --imgsz; false (with a message) when it is malformed.
bool apply_input_size(const std::string& text, EngineOptions& engine) {
  if (text.empty()) return true;
  if (cli::parse_input_size(text, engine)) return true;
  std::cerr << "lookout: --imgsz: \"" << text << "\" is not N or WxH\n";
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lookout: object detection on camera frames, from the command line"};
  app.set_version_flag("--version", std::string("lookout ") + kVersion);
  app.require_subcommand(1);
  log::Level log_level = log::Level::Warning;
  cli::add_enum_option(app, "--log-level", log_level, "messages on stderr up to this severity");

  // lookout detect
  cli::DetectArgs detect;
  std::string detect_size;
  auto* detect_cmd = app.add_subcommand("detect", "detect objects in images (one JSON line each)");
  add_engine_options(*detect_cmd, detect.engine, detect_size);
  add_detect_filter_options(*detect_cmd, detect.detect);
  detect_cmd->add_option("--classes", detect.classes, "keep only these classes (names or ids)");
  detect_cmd->add_option("--save", detect.save,
                         "write the image with boxes drawn (JPEG; a directory for several)");
  detect_cmd->add_option("images", detect.images, "JPEG, PNG, PPM/PGM or BMP files")->required();

  // lookout classify
  cli::ClassifyArgs classify;
  std::string classify_size;
  auto* classify_cmd = app.add_subcommand("classify", "classify images (one JSON line each)");
  add_engine_options(*classify_cmd, classify.engine, classify_size);
  classify_cmd->add_option("-k,--top", classify.top_k, "classes to report")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  classify_cmd->add_option("images", classify.images, "image files")->required();

  // lookout model inspect
  cli::InspectArgs inspect;
  auto* model_cmd = app.add_subcommand("model", "model files");
  model_cmd->require_subcommand(1);
  auto* inspect_cmd =
      model_cmd->add_subcommand("inspect", "metadata, shapes, parameters, operators");
  inspect_cmd->add_option("model", inspect.model, "TorchScript model file")
      ->required()
      ->check(CLI::ExistingFile);
  std::string inspect_size;
  inspect_cmd->add_flag("--graph", inspect.graph, "print the TorchScript graph (inlined IR)");
  inspect_cmd->add_flag("--layers", inspect.layers,
                        "print every layer: name, operation, output shape, parameters, MACs");
  inspect_cmd->add_option("--imgsz", inspect_size,
                          "input size N or WxH for the layers' shapes and MACs (default: the "
                          "model's)");
  inspect_cmd->add_option("--dot", inspect.dot, "write the layer graph as a Graphviz file");
  inspect_cmd->add_option("--svg", inspect.svg, "write the layer graph as SVG");
  inspect_cmd->add_option("--html", inspect.html,
                          "write one self-contained HTML page: the graph, foldable blocks, the "
                          "layer table");
  inspect_cmd->add_flag("--profile", inspect.profile,
                        "time every layer here first and colour the pictures by its share");
  inspect_cmd->add_option("--runs", inspect.runs, "forwards timed by --profile")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cli::add_enum_option(*inspect_cmd, "--backend", inspect.backend, "what --profile times on");
  inspect_cmd
      ->add_option("--threads", inspect.threads,
                   "intra-op threads for --profile (0 = one per big core)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  inspect_cmd->add_flag("--json", inspect.json, "one JSON object instead of text");

  // lookout model profile
  cli::ProfileArgs profile;
  std::string profile_size;
  auto* profile_cmd = model_cmd->add_subcommand(
      "profile", "time every layer on this machine (libtorch's RecordFunction hooks)");
  add_engine_options(*profile_cmd, profile.engine, profile_size, /*model_required=*/false);
  profile_cmd->add_option("model", profile.engine.model_path, "TorchScript model file")
      ->check(CLI::ExistingFile);
  profile_cmd->add_option("--runs", profile.runs, "forwards timed (after 2 warm-up runs)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  profile_cmd->add_flag("--json", profile.json, "one JSON object instead of text");

  // lookout model compare
  cli::CompareArgs compare;
  std::string compare_size;
  Backend compare_backend_b = Backend::Auto;
  auto* compare_cmd = model_cmd->add_subcommand(
      "compare",
      "two models (or one on two backends): detections' agreement, size, per-layer time");
  compare_cmd->add_option("a", compare.a.model_path, "model A (TorchScript file)")
      ->required()
      ->check(CLI::ExistingFile);
  compare_cmd->add_option("b", compare.b.model_path, "model B (TorchScript file; may be A's)")
      ->required()
      ->check(CLI::ExistingFile);
  compare_cmd->add_option("--imgsz", compare_size,
                          "input size N or WxH for both (default: each model's)");
  cli::add_enum_option(*compare_cmd, "--backend", compare.a.backend,
                       "how A's operators run (and B's, unless --backend-b)");
  auto* backend_b_option = cli::add_enum_option(*compare_cmd, "--backend-b", compare_backend_b,
                                                "how B's operators run (default: as A's)");
  compare_cmd->add_option("--threads", compare.a.threads, "intra-op threads (0 = one per big core)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  compare_cmd->add_option("--images", compare.images, "images both models detect on")
      ->expected(1, -1);
  add_detect_filter_options(*compare_cmd, compare.detect);
  compare_cmd
      ->add_option("--match-iou", compare.match_iou,
                   "detections of A and B agree at this IoU (and the same class)")
      ->check(CLI::Range(0.01, 1.0))
      ->capture_default_str();
  compare_cmd->add_option("--runs", compare.runs, "profiled forwards per model")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  compare_cmd->add_flag("--json", compare.json, "one JSON object instead of text");

  // lookout bench
  cli::BenchArgs bench;
  std::string bench_size;
  auto* bench_cmd = app.add_subcommand("bench", "per-stage latency and end-to-end throughput");
  // Not required here: `bench track` takes its own (checked below).
  add_engine_options(*bench_cmd, bench.engine, bench_size, /*model_required=*/false);
  add_detect_filter_options(*bench_cmd, bench.detect);
  bench_cmd->add_option("--source", bench.source, cli::kBenchSourceHelp)->capture_default_str();
  bench_cmd->add_option("--width", bench.width, "frame width (synthetic, cameras)")
      ->capture_default_str();
  bench_cmd->add_option("--height", bench.height, "frame height (synthetic, cameras)")
      ->capture_default_str();
  cli::add_enum_option(*bench_cmd, "--format", bench.format, "auto", "pixel format of the frames");
  bench_cmd->add_option("--frames", bench.frames, "frames to time")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  bench_cmd->add_option("--warmup", bench.warmup, "untimed frames first")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  bench_cmd->add_flag("--json", bench.json, "one JSON object instead of a table");

  // lookout bench track
  cli::TrackBenchArgs track;
  std::string track_size;
  auto* track_cmd = bench_cmd->add_subcommand(
      "track", "the tracker against ground truth (synthetic traffic scenes) and its cost");
  add_engine_options(*track_cmd, track.engine, track_size);
  track_cmd->add_option("--first-seed", track.first_seed, "the first scene seed")
      ->capture_default_str();
  track_cmd->add_option("--seeds", track.seeds, "sequences, seeds from --first-seed on")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  track_cmd->add_option("--frames", track.frames, "frames per sequence at --fps")
      ->check(CLI::Range(2, 1000000))
      ->capture_default_str();
  track_cmd->add_option("--fps", track.fps, "frame rate (also run at half of it)")
      ->check(CLI::Range(0.1, 1000.0))
      ->capture_default_str();
  track_cmd->add_option("--width", track.width, "frame width")
      ->check(CLI::Range(16, 8192))
      ->capture_default_str();
  track_cmd->add_option("--height", track.height, "frame height")
      ->check(CLI::Range(16, 8192))
      ->capture_default_str();
  track_cmd->add_option("--conf", track.conf, "published detections score this much (model.conf)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  track_cmd->add_option("--high-score", track.tracker.high_score, "tracking.high_score")
      ->capture_default_str();
  track_cmd->add_option("--low-score", track.tracker.low_score, "tracking.low_score")
      ->capture_default_str();
  track_cmd
      ->add_option("--new-track-score", track.tracker.new_track_score, "tracking.new_track_score")
      ->capture_default_str();
  track_cmd->add_option("--match-iou", track.tracker.match_iou, "tracking.match_iou")
      ->capture_default_str();
  track_cmd->add_option("--min-hits", track.tracker.min_hits, "tracking.min_hits")
      ->capture_default_str();
  track_cmd->add_option("--lost-s", track.tracker.lost_s, "tracking.lost_s")->capture_default_str();
  track_cmd->add_option("--objects", track.objects, "boxes in the tracker-cost measurement")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  track_cmd->add_flag("--json", track.json, "one JSON object instead of a table");
  track_cmd->add_flag("--agnostic-nms", track.agnostic_nms,
                      "suppress overlapping boxes across classes (model.agnostic_nms)");
  track_cmd
      ->add_option("--min-visibility", track.min_visibility,
                   "objects less visible than this are ignored (neither required nor "
                   "penalised)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  track_cmd->add_option("--dump", track.dump,
                        "write every frame's truth and detections with their track ids (JSON "
                        "lines)");

  // lookout watch
  cli::WatchArgs watch;
  auto* watch_cmd = app.add_subcommand("watch", "print lookoutd's detection stream readably");
  watch_cmd->add_option("target", watch.target,
                        "HOST:PORT, HOST (port 7878) or a Unix socket path (default: "
                        "/run/lookout/lookoutd.sock if present, else 127.0.0.1:7878)");
  watch_cmd->add_option("--token", watch.token, "token, when the daemon requires one");
  watch_cmd->add_option("--classes", watch.classes, "show only these classes")->delimiter(',');
  watch_cmd->add_option("--min-score", watch.min_score, "show only detections scoring this much")
      ->check(CLI::Range(0.0, 1.0));
  watch_cmd->add_flag("--json", watch.json, "print the raw JSON lines");
  watch_cmd->add_option("--count", watch.count, "exit after this many frames")
      ->check(CLI::NonNegativeNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every argument error exits kExitUsage,
    // as the commands' own argument checks do.
    return app.exit(e) == 0 ? cli::kExitOk : cli::kExitUsage;
  }

  log::set_level(log_level);

  if (detect_cmd->parsed()) {
    if (!apply_input_size(detect_size, detect.engine)) return cli::kExitUsage;
    return cli::run_detect(detect, std::cout);
  }
  if (classify_cmd->parsed()) {
    if (!apply_input_size(classify_size, classify.engine)) return cli::kExitUsage;
    return cli::run_classify(classify, std::cout);
  }
  if (inspect_cmd->parsed()) {
    EngineOptions size;
    if (!apply_input_size(inspect_size, size)) return cli::kExitUsage;
    inspect.input_width = size.input_width;
    inspect.input_height = size.input_height;
    return cli::run_model_inspect(inspect, std::cout);
  }
  if (profile_cmd->parsed()) {
    if (profile.engine.model_path.empty()) {
      std::cerr << "lookout model profile: a model file is required (FILE or --model FILE)\n";
      return cli::kExitUsage;
    }
    if (!apply_input_size(profile_size, profile.engine)) return cli::kExitUsage;
    return cli::run_model_profile(profile, std::cout);
  }
  if (compare_cmd->parsed()) {
    if (!apply_input_size(compare_size, compare.a)) return cli::kExitUsage;
    const std::string b_path = compare.b.model_path;
    compare.b = compare.a;
    compare.b.model_path = b_path;
    if (backend_b_option->count() > 0) compare.b.backend = compare_backend_b;
    return cli::run_model_compare(compare, std::cout);
  }
  if (watch_cmd->parsed()) return cli::run_watch(watch, std::cout);
  if (track_cmd->parsed()) {
    if (!apply_input_size(track_size, track.engine)) return cli::kExitUsage;
    return cli::run_track_bench(track, std::cout);
  }
  if (bench_cmd->parsed()) {
    if (bench.engine.model_path.empty()) {
      std::cerr << "lookout bench: --model is required\n";
      return cli::kExitUsage;
    }
    if (!apply_input_size(bench_size, bench.engine)) return cli::kExitUsage;
    bench.engine.warm_up = true;
    return cli::run_bench(bench, std::cout);
  }
  return cli::kExitUsage;
}
