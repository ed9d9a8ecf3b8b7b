// lookout bench: per-stage latency of the engine on real frames, and how close
// end-to-end throughput comes to a bare forward loop on the same model,
// input size and threads: pipelined (preparation of the next frame on a
// helper thread, as `lookout detect` runs) and serial.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "core/percentile.hpp"
#include "drivers/factory.hpp"
#include "engine/prepare_ahead.hpp"

namespace lookout::cli {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

SourceConfig source_config(const BenchArgs& args) {
  SourceConfig config;
  config.width = args.width;
  config.height = args.height;
  config.format = args.format;
  config.fps = 0;  // as fast as frames are taken
  const std::string& s = args.source;
  const auto colon = s.find(':');
  const std::string rest = colon == std::string::npos ? "" : s.substr(colon + 1);
  const auto type = enum_from_name<SourceType>(std::string_view(s).substr(0, colon));
  config.type = type.value_or(SourceType::Files);
  switch (config.type) {
    case SourceType::Synthetic:
      break;
    case SourceType::Files:
      config.path = type ? rest : s;     // a bare path is a file, directory or video
      config.width = config.height = 0;  // as stored
      break;
    case SourceType::V4l2:
      if (!rest.empty()) config.device = rest;
      config.fps = 30;
      break;
    case SourceType::Libcamera:
      config.camera = rest;
      config.fps = 30;
      break;
    case SourceType::Auto:
      config.fps = 30;
      break;
    case SourceType::Stream:
      config.url = rest;
      config.width = config.height = 0;  // the stream's own
      break;
  }
  return config;
}

struct Stats {
  std::vector<double> decode, preprocess, forward, postprocess, total;
};

nlohmann::json summary(const std::vector<double>& v) {
  const auto r = [](double x) { return std::round(x * 1000) / 1000; };
  return {{"p50", r(percentile(v, 50))}, {"p99", r(percentile(v, 99))}, {"mean", r(mean(v))}};
}

}  // namespace

int run_bench(const BenchArgs& args, std::ostream& out) {
  if (args.frames <= 0) {
    std::cerr << "lookout: --frames must be positive\n";
    return kExitUsage;
  }
  // A handful of distinct frames, captured before timing starts, so the
  // source's own cost (camera pacing, file reading) is not measured.
  std::vector<FramePtr> frames;
  std::string source_name;
  try {
    auto source = make_source(source_config(args));
    source->start();
    source_name = source->info().name;
    const std::size_t wanted = static_cast<std::size_t>(std::min(args.frames, 8));
    while (frames.size() < wanted) {
      FrameResult r = source->next_frame(std::chrono::seconds(5));
      if (r.status == FrameResult::Status::Ok) {
        frames.push_back(std::move(r.frame));
      } else if (r.status == FrameResult::Status::EndOfStream) {
        break;
      } else if (r.status == FrameResult::Status::Corrupt) {
        std::cerr << "lookout: skipping " << r.error << "\n";
      } else {
        throw SourceError(r.status == FrameResult::Status::Timeout ? "no frame within 5 s"
                                                                   : r.error);
      }
    }
    source->stop();
  } catch (const std::exception& e) {
    std::cerr << "lookout: source " << args.source << ": " << e.what() << "\n";
    return kExitUsage;
  }
  if (frames.empty()) {
    std::cerr << "lookout: source " << args.source << " gave no frames\n";
    return kExitUsage;
  }

  EngineOptions engine_options = args.engine;
  engine_options.frame_width = frames[0]->width;
  engine_options.frame_height = frames[0]->height;
  std::unique_ptr<Engine> engine;
  try {
    engine = Engine::load(engine_options);
  } catch (const ModelError& e) {
    std::cerr << "lookout: model error: " << e.what() << "\n";
    return kExitUsage;
  }
  const ModelInfo& info = engine->info();
  const bool detect = info.task == Task::Detect;
  const auto run_serial = [&](const Frame& frame) -> StageTimes {
    if (detect) return engine->detect(frame, args.detect).times;
    return engine->classify(frame, 5).times;
  };
  const auto run_prepared = [&](PreparedFrame prepared) -> StageTimes {
    if (detect) return engine->detect(std::move(prepared), args.detect).times;
    return engine->classify(std::move(prepared), 5).times;
  };
  const auto frame_at = [&](int i) -> const FramePtr& {
    return frames[static_cast<std::size_t>(i) % frames.size()];
  };

  try {
    PrepareAhead ahead(*engine);
    for (int i = 0; i < args.warmup; ++i) {
      run_serial(*frame_at(i));
      engine->bare_forward();
    }
    // Three loops over the same frames, alternating in short blocks so that
    // drift in the machine's load (other processes, frequency) hits all alike:
    //  * pipelined: the next frame is prepared on PrepareAhead's helper thread
    //    while the model runs on the current one (each block starts empty:
    //    its first frame is prepared here, in full, as a pipeline's first is);
    //  * serial: detect() does everything on the calling thread;
    //  * bare: the model's forward alone, on the last input.
    Stats stats;  // stage times of the pipelined loop; total = per frame on this thread
    std::vector<double> serial_total, bare;
    double pipelined_wall = 0, serial_wall = 0, bare_wall = 0;
    const int block = 10;
    for (int done = 0; done < args.frames;) {
      const int n = std::min(block, args.frames - done);
      auto start = Clock::now();
      for (int i = 0; i < n; ++i) {
        const auto t0 = Clock::now();
        PreparedFrame current = i == 0 ? engine->prepare(*frame_at(done)) : ahead.take();
        if (i + 1 < n) ahead.submit(frame_at(done + i + 1));
        const StageTimes t = run_prepared(std::move(current));
        stats.total.push_back(ms_since(t0));
        stats.decode.push_back(t.decode_ms);
        stats.preprocess.push_back(t.preprocess_ms);
        stats.forward.push_back(t.forward_ms);
        stats.postprocess.push_back(t.postprocess_ms);
      }
      pipelined_wall += ms_since(start);

      start = Clock::now();
      for (int i = 0; i < n; ++i) {
        const auto t0 = Clock::now();
        run_serial(*frame_at(done + i));
        serial_total.push_back(ms_since(t0));
      }
      serial_wall += ms_since(start);

      start = Clock::now();
      for (int i = 0; i < n; ++i) bare.push_back(engine->bare_forward());
      bare_wall += ms_since(start);
      done += n;
    }
    const double pipelined_fps = 1000.0 * args.frames / pipelined_wall;
    const double serial_fps = 1000.0 * args.frames / serial_wall;
    const double bare_fps = 1000.0 * args.frames / bare_wall;
    const double ratio = pipelined_fps / bare_fps;
    // Frames that went through the helper (all but each block's first), and
    // those of them it had not started on when they were due.
    const int blocks = (args.frames + block - 1) / block;
    const int helper_frames = args.frames - blocks;
    const std::uint64_t prepared_inline = ahead.inline_count();
    const double serial_ratio = serial_fps / bare_fps;
    const auto r2 = [](double x) { return std::round(x * 100) / 100; };
    const auto r4 = [](double x) { return std::round(x * 10000) / 10000; };

    const Frame& f0 = *frames[0];
    if (args.json) {
      nlohmann::json j;
      j["model"] = info.path;
      j["source"] = source_name;
      j["frame"] = {{"width", f0.width}, {"height", f0.height}, {"format", to_string(f0.format)}};
      j["input"] = {{"width", info.input_width}, {"height", info.input_height}};
      j["backend"] = enum_name(info.backend);
      j["threads"] = info.threads;
      j["frames"] = args.frames;
      j["stages_ms"] = {
          {"decode", summary(stats.decode)},   {"preprocess", summary(stats.preprocess)},
          {"forward", summary(stats.forward)}, {"postprocess", summary(stats.postprocess)},
          {"total", summary(stats.total)},     {"total_serial", summary(serial_total)}};
      j["bare_forward_ms"] = summary(bare);
      j["fps"] = {{"end_to_end", r2(pipelined_fps)},
                  {"end_to_end_serial", r2(serial_fps)},
                  {"bare_forward", r2(bare_fps)}};
      j["helper_frames"] = helper_frames;
      j["prepared_inline"] = prepared_inline;
      j["throughput_ratio"] = r4(ratio);
      j["serial_throughput_ratio"] = r4(serial_ratio);
      out << j.dump() << "\n";
    } else {
      char line[200];
      out << "model " << info.path << " (" << enum_name(info.task) << "), backend "
          << enum_name(info.backend) << ", " << info.threads << " threads\n"
          << "source " << source_name << ": " << f0.width << "x" << f0.height << " "
          << to_string(f0.format) << " -> input " << info.input_width << "x" << info.input_height
          << ", " << args.frames << " frames\n";
      out << "stage               p50 ms    p99 ms   mean ms\n";
      const auto row = [&](const char* name, const std::vector<double>& v) {
        std::snprintf(line, sizeof line, "%-15s %9.3f %9.3f %9.3f\n", name, percentile(v, 50),
                      percentile(v, 99), mean(v));
        out << line;
      };
      row("decode", stats.decode);
      row("preprocess", stats.preprocess);
      row("forward", stats.forward);
      row("postprocess", stats.postprocess);
      row("total", stats.total);
      row("total (serial)", serial_total);
      row("bare forward", bare);
      std::snprintf(line, sizeof line,
                    "throughput: end-to-end %.2f fps (serial %.2f), bare forward %.2f fps, "
                    "ratio %.4f (serial %.4f)\n",
                    pipelined_fps, serial_fps, bare_fps, ratio, serial_ratio);
      out << line;
      out << "pipelined: " << prepared_inline << " of " << helper_frames
          << " frames handed to the helper were prepared on the inference thread (it had not "
             "started: no idle core)\n";
    }
  } catch (const std::exception& e) {
    std::cerr << "lookout: bench: " << e.what() << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace lookout::cli
