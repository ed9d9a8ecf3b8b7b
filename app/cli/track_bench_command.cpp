// lookout bench track: the tracker against ground truth, and what it costs.
//
// Runs the engine and the daemon's tracking (tracking/objects.hpp, with its
// defaults) over seeded synthetic "traffic" sequences (models/SCENES.md:
// objects enter and leave through the edges, cross, occlude each other, stop
// and start; every frame carries their identities), at the given frame rate
// and at half of it (the same scenes, half the frames), and prints CLEAR MOT
// and identity measures computed in the project (tracking/mot_metrics.hpp).
// The hypotheses are what lookoutd publishes with a track id: detections of
// confirmed tracks (those scoring --conf or more, and the weaker ones that
// continue a track). Objects less than --min-visibility visible are ignored
// (neither required nor penalised): 0.6 by default, because the shapes spec
// labels objects at least 60 % inside the frame and at most 40 % covered,
// which is all the model was trained to find.
//
// It also times the tracker alone on --objects moving boxes, per update, as
// it runs on the daemon's inference thread.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/percentile.hpp"
#include "drivers/factory.hpp"
#include "tracking/mot_metrics.hpp"
#include "tracking/objects.hpp"

namespace lookout::cli {

namespace {

using Clock = std::chrono::steady_clock;
using WallClock = std::chrono::system_clock;

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

struct RateResult {
  double fps = 0;
  std::size_t frames = 0;
  tracking::MotSummary mot;
  std::vector<double> track_ms;  // ObjectTracker::process per frame
  std::vector<tracking::MotSummary> per_seed;
};

tracking::TrackingSetup default_setup(const std::vector<std::string>& class_names) {
  tracking::TrackingSetup setup;
  setup.class_names = class_names;
  return setup;
}

// The tracker alone: `objects` boxes moving across a 1920x1080 frame with
// jittered sizes and scores, some weak; what one update costs.
std::vector<double> tracker_cost(int objects, int frames, bool with_zones) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  struct Mover {
    double x, y, vx, vy, w, h;
  };
  std::vector<Mover> movers;
  for (int i = 0; i < objects; ++i) {
    movers.push_back({u(rng) * 1800 + 60, u(rng) * 960 + 60, (u(rng) - 0.5) * 200,
                      (u(rng) - 0.5) * 200, 30 + u(rng) * 60, 60 + u(rng) * 120});
  }
  tracking::TrackingSetup setup = default_setup({"person", "car"});
  if (with_zones) {
    tracking::NamedZone left{"left", {}};
    left.config.points = {{0, 0}, {0.5, 0}, {0.5, 1}, {0, 1}};
    tracking::NamedZone middle{"middle", {}};
    middle.config.points = {{0.25, 0.25}, {0.75, 0.25}, {0.75, 0.75}, {0.25, 0.75}};
    setup.zones = {left, middle};
  }
  tracking::ObjectTracker tracker(setup);
  tracking::ObjectTracker::Output out;
  std::vector<Detection> detections;
  std::vector<double> ms;
  const double dt = 0.1;
  for (int f = 0; f < frames; ++f) {
    detections.clear();
    for (auto& m : movers) {
      m.x += m.vx * dt;
      m.y += m.vy * dt;
      if (m.x < 40 || m.x > 1880) m.vx = -m.vx;
      if (m.y < 60 || m.y > 1020) m.vy = -m.vy;
      Detection d;
      d.class_id = static_cast<int>(&m - movers.data()) % 2;
      d.score = static_cast<float>(u(rng) < 0.1 ? 0.15 : 0.5 + 0.4 * u(rng));
      const double jw = m.w * (1 + 0.05 * (u(rng) - 0.5)), jh = m.h * (1 + 0.05 * (u(rng) - 0.5));
      d.x1 = static_cast<float>(m.x - jw / 2);
      d.y1 = static_cast<float>(m.y - jh / 2);
      d.x2 = static_cast<float>(m.x + jw / 2);
      d.y2 = static_cast<float>(m.y + jh / 2);
      detections.push_back(d);
    }
    out.clear();
    const auto t0 = Clock::now();
    tracker.process(detections, 1920, 1080, f * dt,
                    WallClock::time_point(std::chrono::seconds(1'764'000'000)) +
                        std::chrono::milliseconds(100 * f),
                    out);
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return ms;
}

}  // namespace

int run_track_bench(const TrackBenchArgs& args, std::ostream& out) {
  if (args.seeds <= 0 || args.frames <= 1 || !(args.fps > 0)) {
    std::cerr << "lookout: bench track: --seeds, --frames and --fps must be positive\n";
    return kExitUsage;
  }
  EngineOptions engine_options = args.engine;
  engine_options.frame_width = args.width;
  engine_options.frame_height = args.height;
  engine_options.warm_up = true;
  std::unique_ptr<Engine> engine;
  try {
    engine = Engine::load(engine_options);
  } catch (const ModelError& e) {
    std::cerr << "lookout: model error: " << e.what() << "\n";
    return kExitUsage;
  }
  const ModelInfo& info = engine->info();
  if (info.task != Task::Detect) {
    std::cerr << "lookout: bench track needs a detection model\n";
    return kExitUsage;
  }
  tracking::TrackingSetup setup = default_setup(info.class_names);
  setup.tracker = args.tracker;
  DetectOptions detect;
  detect.conf = std::min(args.conf, setup.tracker.low_score);  // as lookoutd runs it
  detect.agnostic = args.agnostic_nms;

  std::ofstream dump;
  if (!args.dump.empty()) {
    dump.open(args.dump);
    if (!dump) {
      std::cerr << "lookout: bench track: cannot write " << args.dump << "\n";
      return kExitUsage;
    }
  }
  const auto r3 = [](double x) { return std::round(x * 1000) / 1000; };
  std::vector<RateResult> results;
  try {
    for (const double fps : {args.fps, args.fps / 2}) {
      RateResult r;
      r.fps = fps;
      // The same scene time at either rate.
      const int frames = static_cast<int>(std::lround(args.frames * fps / args.fps));
      tracking::MotAccumulator all(0.5f, args.min_visibility);
      for (int s = 0; s < args.seeds; ++s) {
        SourceConfig config;
        config.type = SourceType::Synthetic;
        config.motion = SyntheticMotion::Traffic;
        config.seed = args.first_seed + static_cast<std::uint64_t>(s);
        config.width = args.width;
        config.height = args.height;
        config.fps = fps;
        config.realtime = false;
        auto source = make_source(config);
        source->start();
        tracking::ObjectTracker objects(setup);
        tracking::ObjectTracker::Output output;
        tracking::MotAccumulator one(0.5f, args.min_visibility);
        std::vector<tracking::MotBox> truth, hypotheses;
        for (int f = 0; f < frames; ++f) {
          FrameResult got = source->next_frame(std::chrono::seconds(5));
          if (got.status != FrameResult::Status::Ok) {
            throw std::runtime_error("synthetic source: " + got.error);
          }
          const Frame& frame = *got.frame;
          const DetectResult result = engine->detect(frame, detect);
          output.clear();
          const double t = static_cast<double>(frame.sequence) / fps;
          const auto t0 = Clock::now();
          objects.process(
              result.detections, frame.width, frame.height, t,
              WallClock::time_point(std::chrono::seconds(1'764'000'000)) +
                  std::chrono::duration_cast<WallClock::duration>(std::chrono::duration<double>(t)),
              output);
          r.track_ms.push_back(
              std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          truth.clear();
          hypotheses.clear();
          for (const LabelledBox& b : frame.truth) {
            truth.push_back({b.object_id, b.x1, b.y1, b.x2, b.y2, b.visibility, b.class_id});
          }
          for (std::size_t i = 0; i < result.detections.size(); ++i) {
            const Detection& d = result.detections[i];
            if (output.track_ids[i] == 0) continue;  // as lookoutd publishes (pipeline.cpp)
            hypotheses.push_back({static_cast<std::int64_t>(output.track_ids[i]), d.x1, d.y1, d.x2,
                                  d.y2, 1, d.class_id});
          }
          // Each sequence's ids are its own: offset so that sequences never share one.
          std::vector<tracking::MotBox> truth_all = truth, hypotheses_all = hypotheses;
          for (auto& b : truth_all) b.id += static_cast<std::int64_t>(s) << 32;
          for (auto& b : hypotheses_all) b.id += static_cast<std::int64_t>(s) << 32;
          if (dump.is_open()) {
            nlohmann::json line = {{"fps", fps}, {"seed", config.seed}, {"frame", f}};
            for (const auto& b : truth) {
              line["truth"].push_back(
                  {b.id, b.class_id, r3(b.x1), r3(b.y1), r3(b.x2), r3(b.y2), r3(b.visibility)});
            }
            for (std::size_t i = 0; i < result.detections.size(); ++i) {
              const Detection& d = result.detections[i];
              line["detections"].push_back({output.track_ids[i], d.class_id, r3(d.score), r3(d.x1),
                                            r3(d.y1), r3(d.x2), r3(d.y2)});
            }
            dump << line.dump() << "\n";
          }
          one.add_frame(truth, hypotheses);
          all.add_frame(truth_all, hypotheses_all);
          ++r.frames;
        }
        source->stop();
        r.per_seed.push_back(one.summary());
      }
      r.mot = all.summary();
      results.push_back(std::move(r));
    }
  } catch (const std::exception& e) {
    std::cerr << "lookout: bench track: " << e.what() << "\n";
    return kExitFailure;
  }
  const std::vector<double> cost = tracker_cost(args.objects, args.cost_frames, false);
  const std::vector<double> cost_zones = tracker_cost(args.objects, args.cost_frames, true);

  if (args.json) {
    nlohmann::json j;
    j["model"] = info.path;
    j["frame"] = {{"width", args.width}, {"height", args.height}};
    j["seeds"] = {{"first", args.first_seed}, {"count", args.seeds}};
    j["conf"] = args.conf;
    j["min_visibility"] = args.min_visibility;
    for (const auto& r : results) {
      const auto& m = r.mot;
      j["rates"].push_back({{"fps", r.fps},
                            {"frames", r.frames},
                            {"ground_truth", m.ground_truth},
                            {"trajectories", m.gt_trajectories},
                            {"mota", r3(m.mota)},
                            {"motp", r3(m.motp)},
                            {"idf1", r3(m.idf1)},
                            {"idp", r3(m.idp)},
                            {"idr", r3(m.idr)},
                            {"id_switches", m.id_switches},
                            {"id_switches_per_1000", r3(m.id_switches_per_1000)},
                            {"fragmentations", m.fragmentations},
                            {"false_positives", m.false_positives},
                            {"misses", m.misses},
                            {"track_ms_mean", r3(mean(r.track_ms))}});
    }
    j["tracker_cost_ms"] = {{"objects", args.objects},
                            {"mean", r3(mean(cost))},
                            {"p50", r3(percentile(cost, 50))},
                            {"p99", r3(percentile(cost, 99))},
                            {"with_two_zones_mean", r3(mean(cost_zones))},
                            {"with_two_zones_p99", r3(percentile(cost_zones, 99))}};
    out << j.dump() << "\n";
    return kExitOk;
  }
  char line[256];
  out << "model " << info.path << ", synthetic traffic " << args.width << "x" << args.height
      << ", seeds " << args.first_seed << ".." << args.first_seed + args.seeds - 1
      << ", published at conf " << args.conf << ", objects at least " << args.min_visibility
      << " visible required\n";
  out << "   fps  frames  obj-frames  tracks   MOTA   IDF1    IDP    IDR  IDsw  IDsw/1k  "
         "frag     FP   miss   MOTP  track ms\n";
  for (const auto& r : results) {
    const auto& m = r.mot;
    std::snprintf(line, sizeof line,
                  "%6.1f %7zu %11zu %7zu %6.3f %6.3f %6.3f %6.3f %5zu %8.2f %5zu %6zu %6zu %6.3f "
                  "%9.3f\n",
                  r.fps, r.frames, m.ground_truth, m.gt_trajectories, m.mota, m.idf1, m.idp, m.idr,
                  m.id_switches, m.id_switches_per_1000, m.fragmentations, m.false_positives,
                  m.misses, m.motp, mean(r.track_ms));
    out << line;
  }
  std::snprintf(line, sizeof line,
                "tracker cost, %d objects: mean %.3f ms, p50 %.3f, p99 %.3f per update; with two "
                "zones: mean %.3f, p99 %.3f\n",
                args.objects, mean(cost), percentile(cost, 50), percentile(cost, 99),
                mean(cost_zones), percentile(cost_zones, 99));
  out << line;
  return kExitOk;
}

}  // namespace lookout::cli
