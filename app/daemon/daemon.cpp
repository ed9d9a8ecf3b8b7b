#include "daemon/daemon.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/stat.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/log.hpp"
#include "core/version.hpp"
#include "drivers/factory.hpp"
#include "event_store.hpp"
#include "http_server.hpp"
#include "mqtt_output.hpp"
#include "net.hpp"
#include "notify.hpp"
#include "output.hpp"
#include "pipeline.hpp"
#include "server.hpp"

namespace lookout {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::chrono::seconds kStopGuard{5};
// Event snapshots are kept at most this wide (a 1080p camera's frames are
// scaled to 1280x720: enough to recognise someone, a third of the bytes).
constexpr int kSnapshotMaxWidth = 1280;
// At shutdown, how long the outputs get to deliver the end events.
constexpr auto kEndEventsGrace = std::chrono::milliseconds(300);

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double rate(std::uint64_t now, std::uint64_t before, double seconds) {
  return seconds > 0 && now >= before ? static_cast<double>(now - before) / seconds : 0.0;
}

// What hello says about the source before its first frame: the name the
// unstarted source gives itself ("v4l2:/dev/video0", "auto (looking for a
// camera)"), with the requested size and rate.
protocol::SourceDescription expected_source(const SourceConfig& source,
                                            const SupervisedSource& unstarted) {
  protocol::SourceDescription d;
  d.name = unstarted.info().name;
  if (d.name.empty()) d.name = std::string(enum_name(source.type));
  d.width = source.width;
  d.height = source.height;
  d.fps = source.fps;
  return d;
}

void apply_log_level(const LoggingConfig& logging) {
  log::set_level(logging.level);
}

std::string describe_model(const ModelInfo& info) {
  return info.name + " (" + std::string(enum_name(info.task)) + ", input " +
         std::to_string(info.input_width) + "x" + std::to_string(info.input_height) + ", " +
         std::to_string(info.class_names.size()) + " classes, backend " +
         std::string(enum_name(info.backend)) + ", " + std::to_string(info.threads) + " threads)";
}

protocol::ModelDescription model_description(const ModelInfo& info) {
  protocol::ModelDescription model;
  model.name = info.name;
  model.task = std::string(enum_name(info.task));
  model.input_width = info.input_width;
  model.input_height = info.input_height;
  model.classes = info.class_names;
  model.backend = std::string(enum_name(info.backend));
  model.threads = info.threads;
  return model;
}

// The engine options a configuration asks for: the model section's rows fill
// them (config.model.engine); the frame size, which decides the input size
// of models that adapt to it, comes from the source section (whose width and
// height rows restart the engine too).
// The model file is read by a probe process first (lookoutd --probe-model,
// app/lookoutd/main.cpp): a corrupt or hostile file then costs that process,
// not the daemon serving clients (at a reload) nor a clear error at start.
EngineOptions engine_options(const Config& config, bool warm_up = true) {
  EngineOptions options = config.model.engine;
  options.frame_width = config.source.width;
  options.frame_height = config.source.height;
  options.warm_up = warm_up;
  options.probe_command = {"/proc/self/exe", "--probe-model"};
  return options;
}

// "source.fps, model.conf" (at most a handful, then "and N more").
std::string changed_keys(const config::ReloadPlan& plan) {
  std::string out;
  std::size_t shown = 0;
  for (const auto& change : plan.changes) {
    if (shown == 6) return out + " and " + std::to_string(plan.changes.size() - shown) + " more";
    out += (out.empty() ? "" : ", ") + change.key;
    ++shown;
  }
  return out;
}

// The per-frame settings for a loaded model: class names in model.classes and
// model.class_conf become ids. Throws ConfigError naming the key when a name
// is not one of the model's classes, or the model is not a detector.
PipelineSettings pipeline_settings(const Config& config, const ModelInfo& model) {
  if (model.task != Task::Detect) {
    throw ConfigError({config.locations.of("model.path")
                           .format(model.path + " is a '" + std::string(enum_name(model.task)) +
                                   "' model; lookoutd needs a 'detect' model")});
  }
  const auto& names = model.class_names;
  auto id_of = [&](const std::string& name) -> int {
    const auto it = std::find(names.begin(), names.end(), name);
    return it == names.end() ? -1 : static_cast<int>(it - names.begin());
  };
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  std::vector<std::string> problems;
  PipelineSettings settings;
  settings.camera = std::make_shared<const std::string>(config.camera);
  settings.class_names = std::make_shared<const std::vector<std::string>>(names);
  settings.detect.conf = config.model.conf;
  settings.detect.iou = config.model.iou;
  settings.detect.max_detections = config.model.max_detections;
  settings.detect.agnostic = config.model.agnostic_nms;
  for (const auto& name : config.model.classes) {
    const int id = id_of(name);
    if (id < 0) {
      problems.push_back(
          config.locations.of("model.classes")
              .format("'" + name + "' is not a class of model " + model.name + " (" + known + ")"));
    } else {
      settings.detect.classes.push_back(id);
    }
  }
  for (const auto& [name, score] : config.model.class_conf) {
    const int id = id_of(name);
    if (id < 0) {
      problems.push_back(
          config.locations.of("model.class_conf")
              .format("'" + name + "' is not a class of model " + model.name + " (" + known + ")"));
    } else {
      settings.detect.class_conf[id] = score;
    }
  }
  if (config.tracking.enabled) {
    const auto check_classes = [&](const std::string& key, const std::vector<std::string>& list) {
      for (const auto& name : list) {
        if (id_of(name) < 0) {
          problems.push_back(config.locations.of(key).format(
              "'" + name + "' is not a class of model " + model.name + " (" + known + ")"));
        }
      }
    };
    for (const auto& z : config.zones)
      check_classes("zones." + z.name + ".classes", z.config.classes);
    for (const auto& l : config.lines)
      check_classes("lines." + l.name + ".classes", l.config.classes);
    auto tracking = std::make_shared<TrackingSettings>();
    tracking->setup.tracker = config.tracking.tracker;
    tracking->setup.objects = config.tracking.objects;
    tracking->setup.zones = config.zones;
    tracking->setup.lines = config.lines;
    tracking->setup.class_names = names;
    tracking->publish_conf = config.model.conf;
    tracking->publish_class_conf = settings.detect.class_conf;
    tracking->snapshot_width = config.events.snapshots ? kSnapshotMaxWidth : 0;
    // The tracker's second stage needs the weak boxes the model would drop;
    // what clients see is still filtered at model.conf and class_conf.
    const float low = config.tracking.tracker.low_score;
    settings.detect.conf = std::min(config.model.conf, low);
    for (auto& [id, score] : settings.detect.class_conf) score = std::min(score, low);
    settings.tracking = std::move(tracking);
  }
  if (config.mqtt.enabled && config.mqtt.discovery.enabled) {
    for (const auto& name : config.mqtt.discovery.classes) {
      if (id_of(name) < 0) {
        problems.push_back(config.locations.of("mqtt.discovery.classes")
                               .format("'" + name + "' is not a class of model " + model.name +
                                       " (" + known + ")"));
      }
    }
  }
  if (!problems.empty()) throw ConfigError(problems);
  return settings;
}

}  // namespace

namespace {

// Which file a model path names, and as it was: a file replaced (a new
// inode) or rewritten (a new size or time) since it was loaded is loaded
// again on reload even though model.path stays the same.
struct FileStamp {
  std::uintmax_t size = 0;
  std::int64_t modified = 0;
  dev_t device = 0;
  ino_t inode = 0;
  bool operator==(const FileStamp& o) const {
    return size == o.size && modified == o.modified && device == o.device && inode == o.inode;
  }
  bool operator!=(const FileStamp& o) const { return !(*this == o); }
};

FileStamp stamp_of(const std::string& path) {
  FileStamp stamp;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    stamp.size = static_cast<std::uintmax_t>(st.st_size);
    stamp.modified =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    stamp.device = st.st_dev;
    stamp.inode = st.st_ino;
  }
  return stamp;
}

// What listening as `config` asks would fail on here, each problem at its
// key: the Unix socket's directory missing or not writable, or something
// else than a socket at its path; with `probe_ports` (only for
// --check-config: a start binds for real, and an address missing at boot may
// come with the network) also what binding throw-away sockets on the TCP and
// HTTP ports meets (a port this user may not take, an address this machine
// lacks).
struct ListenerProblems {
  std::vector<std::string> certain;      // fail wherever lookoutd runs
  std::vector<std::string> environment;  // fail here, as this user, now
};
ListenerProblems listener_problems(const Config& config, bool probe_ports) {
  ListenerProblems found;
  const auto& locations = config.locations;
  const UnixConfig& unix_socket = config.publish.unix_socket;
  if (unix_socket.enabled) {
    if (const auto problem = unix_socket_problem(unix_socket.path)) {
      (problem->depends_on_environment ? found.environment : found.certain)
          .push_back(locations.of("publish.unix.path").format(problem->why));
    }
  }
  auto& problems = found.environment;
  if (probe_ports) {
    const auto probe = [&](bool enabled, const std::string& bind, int port, const std::string& key,
                           const char* what) {
      if (!enabled) return;
      if (const auto why = net::bind_problem(bind, port)) {
        problems.push_back(locations.of(key).format(std::string("cannot listen on ") + what + " " +
                                                    bind + ":" + std::to_string(port) + ": " +
                                                    *why));
      }
    };
    probe(config.publish.tcp.enabled, config.publish.tcp.bind, config.publish.tcp.port,
          "publish.tcp.port", "TCP");
    probe(config.http.enabled, config.http.bind, config.http.port, "http.port", "HTTP");
  }
  return found;
}

// A start (and a reload) refuses every Unix socket problem: here is where it runs.
void check_listeners(const Config& config) {
  auto found = listener_problems(config, /*probe_ports=*/false);
  auto problems = std::move(found.certain);
  problems.insert(problems.end(), found.environment.begin(), found.environment.end());
  if (!problems.empty()) throw ConfigError(std::move(problems));
}

}  // namespace

CheckedConfig check_config(const Config& config) {
  CheckedConfig checked;
  auto found = listener_problems(config, /*probe_ports=*/true);
  if (!found.certain.empty()) throw ConfigError(std::move(found.certain));
  checked.warnings = std::move(found.environment);
  auto engine = Engine::load(engine_options(config, /*warm_up=*/false));
  pipeline_settings(config, engine->info());
  make_supervised_source(config.source);  // constructing checks the settings; no I/O
  for (auto& warning : source_warnings(config.source))
    checked.warnings.push_back(std::move(warning));
  checked.model = engine->info();
  return checked;
}

// ---- Daemon ------------------------------------------------------------------------

// Declaration order makes the io_context outlive everything that holds
// handlers on it.
class Daemon::Impl final : public DaemonView {
 public:
  Impl(Config config, std::string config_path);
  ~Impl() override;
  int run();

  // DaemonView, for the outputs (I/O thread).
  DaemonStatus status() const override;
  void want_pictures(std::chrono::steady_clock::duration duration, int max_width,
                     std::chrono::steady_clock::duration interval) override;
  void set_detection(bool on) override;

 private:
  void wait_for_signal();
  void shutdown(const char* why);
  void request_reload();
  void reload_worker(Config current);
  void reload_finished(bool ok, const std::string& message);
  void schedule_stats();
  void send_stats();
  void schedule_watchdog();
  void schedule_memory_trim();
  void log_summary(bool final_line);
  std::size_t client_count() const;
  // Any thread: the events' lines, serialized once (null when there is nothing).
  std::shared_ptr<const PublishedEvents> make_published_events(protocol::FrameEvents events,
                                                               FramePtr picture,
                                                               std::uint64_t seq) const;
  // I/O thread: to every output, and into the counts that stats show.
  void publish_events(const std::shared_ptr<const PublishedEvents>& events);
  void close_outputs();
  // Hands `what` to every output, on the I/O thread.
  template <typename F>
  void each_output(F what) {
    for (const auto& output : outputs_) what(*output);
  }

  boost::asio::io_context io_;
  // The lookout/1 server, the HTTP server and the MQTT output, peers behind one interface; each
  // gets every greeting, frame and stats message. Closed in shutdown().
  std::vector<std::unique_ptr<Output>> outputs_;
  Pipeline pipeline_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer stats_timer_;
  boost::asio::steady_timer watchdog_timer_;
  boost::asio::steady_timer trim_timer_;

  const std::string config_path_;
  // Written by the reload worker while it commits, read by the I/O thread.
  mutable std::mutex config_mutex_;
  Config config_;

  std::mutex commit_mutex_;  // a reload commit and shutdown exclude each other
  std::atomic<bool> stopping_{false};
  std::thread reload_thread_;
  FileStamp model_stamp_;      // the model file as loaded (start, then the reload worker)
  bool reload_busy_ = false;   // I/O thread
  bool reload_again_ = false;  // I/O thread: a SIGHUP arrived during a reload

  const std::chrono::steady_clock::time_point started_;
  // I/O thread: for per-interval rates in stats and summaries.
  struct Sample {
    std::chrono::steady_clock::time_point at;
    PipelineStats stats;
  };
  Sample last_stats_;
  Sample last_summary_;
  std::optional<std::chrono::microseconds> watchdog_;
  bool watchdog_starved_ = false;
  // I/O thread: what outputs asked of pictures, merged for the pipeline
  // (widest, most often, until the last asks no more). One entry per kind of
  // request (width and interval), so that the HTTP viewers' and the MQTT
  // snapshots' requests do not replace each other.
  struct PictureWant {
    Clock::time_point until;
    int max_width = 0;
    Clock::duration interval{};
  };
  std::vector<PictureWant> picture_wants_;
  net::LogLimiter detection_log_{10};  // I/O thread
  // Written by the reload worker, read by the inference thread (serializing
  // events): where snapshots go, "" = none.
  mutable std::mutex snapshots_mutex_;
  std::string snapshot_directory_;
  // I/O thread: the newest counts of zones and lines, and events made.
  std::shared_ptr<const tracking::Counts> counts_;
  std::shared_ptr<const std::vector<std::string>> counts_classes_;
  std::uint64_t events_made_[3] = {0, 0, 0};
  boost::asio::steady_timer close_timer_{io_};
  // I/O thread: what new clients are greeted with. The source part is what
  // the pipeline's source sink last reported (the frames' real size), or
  // what the configuration expects until the first frame.
  protocol::HelloInfo hello_;
};

Daemon::Daemon(Config config, std::string config_path)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(config_path))) {}

Daemon::~Daemon() = default;

int Daemon::run() {
  return impl_->run();
}

Daemon::Impl::Impl(Config config, std::string config_path)
    : pipeline_(
          [this](PipelineResult&& result) {
            // Inference thread: serialize once here, share the lines with every client.
            std::shared_ptr<const PublishedFrame> frame;
            if (result.frame.camera) {  // not an events-only result
              auto published = std::make_shared<PublishedFrame>();
              published->line =
                  std::make_shared<const std::string>(protocol::detections(result.frame));
              published->frame = std::move(result.frame);
              published->picture = std::move(result.picture);
              frame = std::move(published);
            }
            auto events =
                make_published_events(std::move(result.events), std::move(result.best_picture),
                                      frame ? frame->frame.seq : 0);
            asio::post(io_, [this, frame = std::move(frame), events = std::move(events)] {
              if (frame) each_output([&](Output& output) { output.publish(frame); });
              if (events) publish_events(events);
            });
          },
          [this](const protocol::SourceDescription& source) {
            // Capture thread: the real frame size is known; greet clients anew.
            asio::post(io_, [this, source] {
              hello_.source = source;
              each_output([&](Output& output) { output.set_hello(hello_); });
            });
          }),
      signals_(io_, SIGTERM, SIGINT, SIGHUP),
      stats_timer_(io_),
      watchdog_timer_(io_),
      trim_timer_(io_),
      config_path_(std::move(config_path)),
      config_(std::move(config)),
      started_(Clock::now()) {
  apply_log_level(config_.logging);
  log::notice("lookoutd ", kVersion, " starting with ", config_.origin);
  check_listeners(config_);
  log::debug("configuration: ", describe(config_));
  const std::string& model_path = config_.model.engine.model_path;
  systemd::notify("STATUS=Loading model " + systemd::status_text(model_path));
  const auto load_start = Clock::now();
  model_stamp_ = stamp_of(model_path);
  auto engine = Engine::load(engine_options(config_));
  const ModelInfo info = engine->info();
  log::notice("model ", model_path, " ready: ", describe_model(info), " in ",
              static_cast<int>(seconds_between(load_start, Clock::now()) * 1000), " ms");
  PipelineSettings settings = pipeline_settings(config_, info);
  snapshot_directory_ = config_.events.snapshots ? config_.events.directory : std::string();
  auto source = make_supervised_source(config_.source);
  outputs_.push_back(std::make_unique<Server>(io_));
  outputs_.push_back(std::make_unique<HttpServer>(io_, *this, kVersion));
  outputs_.push_back(std::make_unique<MqttOutput>(io_, *this, kVersion));
  outputs_.push_back(std::make_unique<EventStore>());
  each_output([&](Output& output) { output.apply(config_, output.prepare(nullptr, config_)); });
  // The I/O thread does not run yet: this thread may set what it owns. The
  // greeting is in place before the first frame's source report is posted.
  hello_.version = kVersion;
  hello_.camera = config_.camera;
  hello_.model = model_description(info);
  hello_.source = expected_source(config_.source, *source);
  each_output([&](Output& output) { output.set_hello(hello_); });
  pipeline_.start(std::move(source), std::move(engine), std::move(settings), hello_.source);
}

Daemon::Impl::~Impl() {
  stopping_ = true;
  if (reload_thread_.joinable()) reload_thread_.join();
  pipeline_.stop();
}

int Daemon::Impl::run() {
  wait_for_signal();
  last_stats_ = last_summary_ = Sample{Clock::now(), pipeline_.stats()};
  schedule_stats();
  watchdog_ = systemd::watchdog_interval();
  if (watchdog_) schedule_watchdog();
  schedule_memory_trim();
  systemd::notify("READY=1\nSTATUS=Running: camera " + systemd::status_text(config_.camera));
  log::notice("ready: camera ", config_.camera);
  io_.run();
  if (reload_thread_.joinable()) reload_thread_.join();
  log_summary(true);
  // STOPPING=1 and the last status leave on the sender thread; let them go
  // out before exit, but never wait long on a manager that does not read.
  if (!systemd::flush(std::chrono::seconds(1))) {
    log::warning("the service manager is not reading notifications; exiting without");
  }
  return 0;
}

void Daemon::Impl::wait_for_signal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP) {
      request_reload();
      wait_for_signal();
    } else {
      shutdown(signal == SIGTERM ? "SIGTERM" : "SIGINT");
    }
  });
}

void Daemon::Impl::shutdown(const char* why) {
  if (stopping_.exchange(true)) return;
  systemd::notify("STOPPING=1\nSTATUS=Stopping");
  log::notice("stopping (", why, ")");
  // Stopping waits for the capture and inference threads; a camera driver
  // wedged in a system call would keep us here forever. Give up after a while
  // (the next start removes the stale socket file).
  std::thread([] {
    std::this_thread::sleep_for(kStopGuard);
    log::error("still stopping after ", kStopGuard.count(),
               " s: a frame source or the model is stuck; exiting");
    log::flush(std::chrono::milliseconds(500));  // _Exit runs no exit handlers
    std::_Exit(1);
  }).detach();
  boost::system::error_code ec;
  signals_.cancel(ec);
  stats_timer_.cancel();
  watchdog_timer_.cancel();
  trim_timer_.cancel();
  {
    // Waits for a reload that is swapping parts in; one still loading a model
    // sees stopping_ and gives up.
    std::lock_guard commit(commit_mutex_);
    pipeline_.stop();
  }
  // Objects still tracked end now. Posted, so that the results of the last
  // frames (already queued on this thread) go out first; then the end events
  // get a moment to leave (queued lines to clients, messages to the broker)
  // before the outputs close.
  auto ended = make_published_events(pipeline_.finish_tracking(), nullptr, 0);
  asio::post(io_, [this, ended = std::move(ended)] {
    if (!ended || ended->events.events.empty()) return close_outputs();
    publish_events(ended);
    close_timer_.expires_after(kEndEventsGrace);
    close_timer_.async_wait([this](const boost::system::error_code&) { close_outputs(); });
  });
}

void Daemon::Impl::close_outputs() {
  each_output([](Output& output) { output.close(); });
  io_.stop();
}

std::shared_ptr<const PublishedEvents> Daemon::Impl::make_published_events(
    protocol::FrameEvents events, FramePtr picture, std::uint64_t seq) const {
  if (events.empty()) return nullptr;
  std::string directory;
  {
    std::lock_guard lock(snapshots_mutex_);
    directory = snapshot_directory_;
  }
  auto published = std::make_shared<PublishedEvents>();
  const std::string camera = events.camera ? *events.camera : std::string();
  for (const auto& e : events.events) {
    published->lines.push_back(std::make_shared<const std::string>(
        protocol::event(e, camera, events.class_names.get(), directory)));
  }
  published->events = std::move(events);
  published->picture = std::move(picture);
  published->seq = seq;
  return published;
}

void Daemon::Impl::publish_events(const std::shared_ptr<const PublishedEvents>& events) {
  for (const auto& e : events->events.events) ++events_made_[static_cast<int>(e.type)];
  if (events->events.counts_changed) {
    counts_ = events->events.counts;
    counts_classes_ = events->events.class_names;
  }
  each_output([&](Output& output) { output.publish_events(events); });
}

// ---- reload --------------------------------------------------------------------------

void Daemon::Impl::request_reload() {
  if (stopping_) return;
  if (config_path_.empty()) {
    log::warning(
        "SIGHUP ignored: running the embedded default configuration, there is no file "
        "to re-read (start with --config FILE)");
    return;
  }
  if (reload_busy_) {
    reload_again_ = true;
    return;
  }
  reload_busy_ = true;
  systemd::notify("RELOADING=1\nSTATUS=Reloading " + systemd::status_text(config_path_));
  log::notice("reloading ", config_path_);
  if (reload_thread_.joinable()) reload_thread_.join();  // the previous, finished worker
  Config current;
  {
    std::lock_guard lock(config_mutex_);
    current = config_;
  }
  reload_thread_ = std::thread(
      [this, current = std::move(current)]() mutable { reload_worker(std::move(current)); });
}

void Daemon::Impl::reload_worker(Config current) {
  try {
    Config next = load_config_file(config_path_);
    // What to restart comes from the schema's rows, key by key; everything
    // else (thresholds, limits, the token, logging) is applied as it is.
    const config::ReloadPlan plan = plan_reload(current, next);
    std::unique_ptr<Engine> engine;
    ModelInfo info;
    const FileStamp stamp = stamp_of(next.model.engine.model_path);
    const bool model_changed_on_disk =
        !plan.restarts(config::Restart::Engine) && stamp != model_stamp_;
    if (model_changed_on_disk) {
      log::notice("model file ", next.model.engine.model_path,
                  " changed since it was loaded; loading it again");
    }
    if (plan.restarts(config::Restart::Engine) || model_changed_on_disk) {
      engine = Engine::load(engine_options(next));
      info = engine->info();
      log::notice("model ", next.model.engine.model_path, " ready: ", describe_model(info));
    } else {
      info = pipeline_.model_info();
    }
    PipelineSettings settings = pipeline_settings(next, info);
    check_listeners(next);
    std::unique_ptr<SupervisedSource> source;
    if (plan.restarts(config::Restart::Source)) source = make_supervised_source(next.source);
    // New addresses are bound before anything is switched, so an address in use
    // rejects the reload (each output binds only what is new to it).
    auto prepared = std::make_shared<std::vector<std::unique_ptr<OutputPrepared>>>();
    for (const auto& output : outputs_) prepared->push_back(output->prepare(&current, next));
    // Everything that may fail happens before the commit: a rejected reload
    // must change nothing.
    const std::string described = describe(next);
    {
      std::lock_guard commit(commit_mutex_);
      if (stopping_) return;
      if (engine) model_stamp_ = stamp;
      // The new greeting is posted before the source is swapped, so the new
      // source's own report of its frames (posted from its first frame on)
      // comes after it and wins.
      protocol::HelloInfo hello;
      hello.camera = next.camera;
      if (engine) hello.model = model_description(info);
      std::optional<protocol::SourceDescription> expected;
      if (source) expected = expected_source(next.source, *source);
      if (expected) hello.source = *expected;
      asio::post(io_, [this, hello = std::move(hello), new_model = engine != nullptr,
                       new_source = source != nullptr] {
        hello_.camera = hello.camera;
        if (new_model) hello_.model = hello.model;
        if (new_source) hello_.source = hello.source;
      });
      pipeline_.replace(std::move(source), std::move(engine), std::move(settings),
                        std::move(expected));
      {
        std::lock_guard snapshots(snapshots_mutex_);
        snapshot_directory_ = next.events.snapshots ? next.events.directory : std::string();
      }
      apply_log_level(next.logging);
      log::debug("configuration: ", described);
      std::lock_guard lock(config_mutex_);
      config_ = next;
    }
    std::string outcome = "reloaded " + config_path_;
    if (plan.empty()) {
      outcome += ": no setting changed";
    } else {
      outcome += ": " + std::to_string(plan.changes.size()) + " setting" +
                 (plan.changes.size() == 1 ? "" : "s") + " changed (" + changed_keys(plan) + ")";
      const std::string restarted = plan.summary();
      outcome += restarted.empty() ? ", nothing restarted" : "; restarted " + restarted;
    }
    if (model_changed_on_disk) outcome += "; the model file changed, so the engine restarted";
    asio::post(io_, [this, next = std::make_shared<const Config>(std::move(next)),
                     outcome = std::move(outcome), prepared]() {
      for (std::size_t i = 0; i < outputs_.size(); ++i) {
        outputs_[i]->apply(*next, std::move((*prepared)[i]));
        outputs_[i]->set_hello(hello_);
      }
      reload_finished(true, outcome);
    });
  } catch (const ConfigError& e) {
    for (const auto& problem : e.problems()) log::error(problem);
    asio::post(io_,
               [this] { reload_finished(false, "configuration rejected; the running one stays"); });
  } catch (const std::exception& e) {
    log::error(e.what());
    asio::post(io_,
               [this] { reload_finished(false, "configuration rejected; the running one stays"); });
  }
}

void Daemon::Impl::reload_finished(bool ok, const std::string& message) {
  reload_busy_ = false;
  if (ok) {
    log::notice(message);
  } else {
    log::error("reload of ", config_path_, " failed: ", message);
  }
  std::string camera;
  {
    std::lock_guard lock(config_mutex_);
    camera = config_.camera;
  }
  systemd::notify("READY=1\nSTATUS=Running: camera " + systemd::status_text(camera) +
                  (ok ? "" : " (last reload rejected)"));
  schedule_stats();
  if (reload_again_) {
    reload_again_ = false;
    request_reload();
  }
}

// ---- stats, summaries, watchdog --------------------------------------------------------

void Daemon::Impl::schedule_stats() {
  double interval = 5;
  {
    std::lock_guard lock(config_mutex_);
    interval = config_.publish.stats_interval_s;
  }
  stats_timer_.expires_after(
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval)));
  stats_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    send_stats();
    schedule_stats();
  });
}

void Daemon::Impl::send_stats() {
  const Sample now{Clock::now(), pipeline_.stats()};
  const double dt = seconds_between(last_stats_.at, now.at);
  protocol::Stats s;
  {
    std::lock_guard lock(config_mutex_);
    s.camera = config_.camera;
  }
  s.uptime_s = seconds_between(started_, now.at);
  s.captured = now.stats.captured;
  s.processed = now.stats.processed;
  s.skipped = now.stats.skipped;
  s.errors = now.stats.errors;
  s.captured_fps = rate(now.stats.captured, last_stats_.stats.captured, dt);
  s.processed_fps = rate(now.stats.processed, last_stats_.stats.processed, dt);
  s.skipped_fps = rate(now.stats.skipped, last_stats_.stats.skipped, dt);
  s.inference_p50_ms = now.stats.inference_p50_ms;
  s.inference_p90_ms = now.stats.inference_p90_ms;
  s.clients = client_count();
  s.source_state = std::string(to_string(now.stats.source.state));
  s.source_restarts = now.stats.source.restarts;
  s.source_error = now.stats.source.last_error;
  s.detection = !pipeline_.paused();
  s.counts = counts_;
  s.class_names = counts_classes_;
  each_output([&](Output& output) { output.report(s.outputs); });
  last_stats_ = now;
  auto published = std::make_shared<PublishedStats>();
  published->line = std::make_shared<const std::string>(protocol::stats(s));
  published->stats = std::move(s);
  const std::shared_ptr<const PublishedStats> shared = published;
  each_output([&](Output& output) { output.publish_stats(shared); });
  const protocol::Stats& sent = shared->stats;
  // What `systemctl status lookoutd` shows.
  char status[160];
  std::snprintf(status, sizeof status,
                "STATUS=Running: %.1f fps processed, inference %.1f ms, %zu clients, source %s",
                sent.processed_fps, sent.inference_p50_ms, sent.clients, sent.source_state.c_str());
  systemd::notify(systemd::status_text(status));

  double summary_interval = 0;
  {
    std::lock_guard lock(config_mutex_);
    summary_interval = config_.logging.summary_interval_s;
  }
  if (summary_interval > 0 && seconds_between(last_summary_.at, now.at) >= summary_interval) {
    log_summary(false);
  }
}

void Daemon::Impl::log_summary(bool final_line) {
  const Sample now{Clock::now(), pipeline_.stats()};
  const Sample& before = final_line ? Sample{started_, PipelineStats{}} : last_summary_;
  const double dt = seconds_between(before.at, now.at);
  char rates[160];
  std::snprintf(rates, sizeof rates,
                "captured %.2f fps, processed %.2f fps, skipped %.2f fps, inference p50 %.1f ms",
                rate(now.stats.captured, before.stats.captured, dt),
                rate(now.stats.processed, before.stats.processed, dt),
                rate(now.stats.skipped, before.stats.skipped, dt), now.stats.inference_p50_ms);
  const std::string counts = "frames captured " + std::to_string(now.stats.captured) +
                             ", processed " + std::to_string(now.stats.processed) + ", skipped " +
                             std::to_string(now.stats.skipped) + ", errors " +
                             std::to_string(now.stats.errors);
  if (final_line) {
    log::notice("stopped after ", static_cast<long>(dt), " s: ", counts, "; ", rates);
  } else {
    log::info(counts, "; ", rates, "; ", client_count(), " clients; source ",
              to_string(now.stats.source.state));
    last_summary_ = now;
  }
}

std::size_t Daemon::Impl::client_count() const {
  std::vector<ClientCount> counts;
  for (const auto& output : outputs_) output->count_clients(counts);
  std::size_t total = 0;
  for (const auto& c : counts) total += c.count;
  return total;
}

DaemonStatus Daemon::Impl::status() const {
  DaemonStatus out;
  out.pipeline = pipeline_.stats();
  out.uptime_s = seconds_between(started_, Clock::now());
  for (const auto& output : outputs_) output->count_clients(out.clients);
  out.model = pipeline_.model_info();
  out.detection = !pipeline_.paused();
  for (const auto& output : outputs_) output->report(out.outputs);
  out.counts = counts_;
  out.class_names = counts_classes_;
  for (int i = 0; i < 3; ++i) out.events[i] = events_made_[i];
  return out;
}

void Daemon::Impl::want_pictures(std::chrono::steady_clock::duration duration, int max_width,
                                 std::chrono::steady_clock::duration interval) {
  const auto now = Clock::now();
  picture_wants_.erase(std::remove_if(picture_wants_.begin(), picture_wants_.end(),
                                      [&](const PictureWant& w) {
                                        return w.until <= now ||
                                               (w.max_width == max_width && w.interval == interval);
                                      }),
                       picture_wants_.end());
  picture_wants_.push_back({now + duration, max_width, interval});
  // A request for no time is a withdrawal: it takes no part in the merge.
  std::optional<PictureWant> merged;
  for (const auto& w : picture_wants_) {
    if (w.until <= now) continue;
    if (!merged) {
      merged = w;
      continue;
    }
    merged->until = std::max(merged->until, w.until);
    merged->max_width = std::max(merged->max_width, w.max_width);
    merged->interval = std::min(merged->interval, w.interval);
  }
  if (merged) {
    pipeline_.want_pictures(merged->until, merged->max_width, merged->interval);
  } else {
    pipeline_.want_pictures(now, max_width, interval);  // nobody wants any now
  }
}

void Daemon::Impl::set_detection(bool on) {
  if (pipeline_.paused() == !on) return;
  pipeline_.set_paused(!on);
  // Commands come from outside: a flood of them must not flood the journal.
  if (detection_log_.allow()) {
    log::notice(on ? "detection resumed" : "detection paused: frames are captured, not processed");
  }
}

// glibc's malloc keeps what is freed in its arenas (one per thread that
// allocates: capture, inference, I/O, snapshots) and gives memory back to the
// kernel only from the top of each heap. Frames, tensors and client buffers
// freed out of order leave the pages under them resident: over hours RSS
// drifts up by megabytes with nothing in use, which on a Pi counts against
// MemoryHigh. Once a minute the I/O thread hands free pages back
// (malloc_trim: madvise on free chunks; a few milliseconds).
void Daemon::Impl::schedule_memory_trim() {
#if defined(__GLIBC__)
  trim_timer_.expires_after(std::chrono::seconds(60));
  trim_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    ::malloc_trim(0);
    schedule_memory_trim();
  });
#endif
}

void Daemon::Impl::schedule_watchdog() {
  watchdog_timer_.expires_after(*watchdog_ / 3);
  watchdog_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    // Fed only while capture and inference go round their loops; a stalled
    // pipeline starves it and systemd restarts the service.
    if (pipeline_.alive(*watchdog_ / 2)) {
      systemd::notify("WATCHDOG=1");
      if (watchdog_starved_) log::notice("pipeline running again; feeding the watchdog");
      watchdog_starved_ = false;
    } else if (!watchdog_starved_) {
      watchdog_starved_ = true;
      log::warning("pipeline stalled; not feeding the systemd watchdog");
    }
    schedule_watchdog();
  });
}

}  // namespace lookout
