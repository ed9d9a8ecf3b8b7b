// lookoutd's life cycle, against the real process: readiness and watchdog
// through a stand-in for systemd's notify socket, SIGHUP reload (good and bad
// files), clean shutdown, --check-config, and every kind of bad configuration
// at start (each with its message and exit code 78).
#include <set>

#include <doctest/doctest.h>
#include <sys/stat.h>

#include "config/config.hpp"
#include "harness.hpp"
#include "support/clock_shift.hpp"

using namespace lookout::test;

namespace {

constexpr int kExitConfig = 78;

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("readiness, status and the watchdog are reported to systemd") {
  TempDir dir;
  const auto config = dir.write("lookout.yaml", DaemonConfig{}.yaml(dir));
  Daemon d(dir, config, {{}, {"WATCHDOG_USEC=600000"}});
  REQUIRE(d.wait_ready());
  const auto& messages = d.notify().messages();
  // The model is loaded (and warmed up) before READY=1.
  REQUIRE_FALSE(messages.empty());
  CHECK(messages.front().find("STATUS=Loading model") != std::string::npos);
  CHECK(d.log().find(" ready: ") != std::string::npos);
  // Fed from the pipeline while it makes progress.
  CHECK(d.notify().wait_for("WATCHDOG=1"));
  CHECK(d.notify().wait_for("WATCHDOG=1"));
  d.signal(SIGTERM);
  CHECK(d.notify().wait_for("STOPPING=1"));
  CHECK(d.wait_exit() == 0);
}

TEST_CASE("SIGTERM and SIGINT stop the daemon cleanly") {
  for (const int sig : {SIGTERM, SIGINT}) {
    CAPTURE(sig);
    RunningDaemon d{DaemonConfig{}};
    Client tcp = d.tcp_client();
    Client local = d.unix_client();
    REQUIRE(tcp.next_of("detections"));
    REQUIRE(std::filesystem::exists(d.socket_path()));
    d.daemon->signal(sig);
    CHECK(d.daemon->notify().wait_for("STOPPING=1"));
    CHECK(d.daemon->wait_exit() == 0);
    // Clients see the end of the stream; the socket file is gone.
    CHECK(tcp.closed_by_server());
    CHECK(local.closed_by_server());
    CHECK_FALSE(std::filesystem::exists(d.socket_path()));
    const std::string log = d.daemon->log();
    CHECK(log.find("stopping (SIG") != std::string::npos);
    CHECK(log.find("stopped after") != std::string::npos);
  }
}

TEST_CASE("source.type auto without a camera: synthetic frames, and hello says so") {
  DaemonConfig config;
  config.source_type = "auto";
  RunningDaemon d(config);
  Client c = d.unix_client();
  // Before the first frame, hello says it is still looking.
  auto hello = c.next_of("hello");
  REQUIRE(hello);
  std::string name = (*hello)["source"]["name"];
  if (name == "auto (looking for a camera)") {
    hello = c.next_of("hello");
    REQUIRE(hello);
    name = (*hello)["source"]["name"];
  }
  if (name.rfind("libcamera:", 0) == 0 || name.rfind("v4l2:", 0) == 0) {
    // A machine with a camera: auto took it, as it should.
    MESSAGE("this machine has a camera (" << name << "); the fallback is not shown here");
  } else {
    CHECK(name == "synthetic (no camera found)");
    CHECK((*hello)["source"]["width"] == 320);
    CHECK((*hello)["source"]["height"] == 240);
    CHECK(d.daemon->log().find("auto source: no camera found") != std::string::npos);
  }
  for (int i = 0; i < 3; ++i) REQUIRE(c.next_of("detections"));
}

TEST_CASE("SIGHUP reloads a good file and rejects a bad one, keeping the running one") {
  DaemonConfig first;
  first.camera = "cam-a";
  RunningDaemon d(first);
  Client c = d.unix_client();
  auto hello = c.next();
  REQUIRE(hello);
  CHECK((*hello)["camera"] == "cam-a");

  // A good file: new camera name, model input size (a new engine), only
  // stars reported, another socket path.
  DaemonConfig second = first;
  second.camera = "cam-b";
  second.model_extra = "  classes: [star]\n";
  second.unix_name = "other.sock";
  const std::string second_yaml =
      replace(second.yaml(d.dir), "input: [320, 256]", "input: [256, 256]");
  d.dir.write("lookout.yaml", second_yaml);
  d.daemon->signal(SIGHUP);
  CHECK(d.daemon->notify().wait_for("RELOADING=1"));
  CHECK(d.daemon->notify().wait_for("READY=1"));
  // Connected clients are greeted again, then see the new settings.
  hello = c.next_of("hello");
  REQUIRE(hello);
  CHECK((*hello)["camera"] == "cam-b");
  // The engine fits a 4:3 frame into 256x192 (a stride-aligned part of 256x256).
  CHECK((*hello)["model"]["input"] == json::array({256, 192}));
  for (int i = 0; i < 10; ++i) {
    const auto m = c.next_of("detections");
    REQUIRE(m);
    CHECK((*m)["camera"] == "cam-b");
    for (const auto& det : (*m)["detections"]) CHECK(det["class"] == "star");
  }
  CHECK(std::filesystem::exists(d.socket_path("other.sock")));
  CHECK_FALSE(std::filesystem::exists(d.socket_path("lookoutd.sock")));
  Client moved = Client::unix_socket(d.socket_path("other.sock"));
  REQUIRE(moved.next());
  // What changed and what it restarted come from the schema's rows.
  CHECK(d.daemon->log().find(
            "reloaded " + d.config_path.string() +
            ": 4 settings changed (camera, model.input, model.classes, publish.unix.path); "
            "restarted engine, listener publish.unix") != std::string::npos);

  // A bad file: rejected with its message; the running configuration stays.
  const std::string bad = replace(second_yaml, "camera: cam-b", "camera: cam-c\nsauce: {}");
  d.dir.write("lookout.yaml", bad);
  d.daemon->signal(SIGHUP);
  CHECK(d.daemon->notify().wait_for("RELOADING=1"));
  const auto status = d.daemon->notify().wait_for("READY=1");
  REQUIRE(status);
  CHECK(status->find("last reload rejected") != std::string::npos);
  const std::string log = d.daemon->log();
  CHECK(log.find(d.config_path.string() + ":2:1: sauce: unknown key") != std::string::npos);
  CHECK(log.find("configuration rejected; the running one stays") != std::string::npos);
  for (int i = 0; i < 5; ++i) {
    const auto m = c.next_of("detections");
    REQUIRE(m);
    CHECK((*m)["camera"] == "cam-b");
  }

  // A file naming a class the model does not have is rejected too.
  d.dir.write("lookout.yaml", replace(second_yaml, "classes: [star]", "classes: [unicorn]"));
  d.daemon->signal(SIGHUP);
  CHECK(d.daemon->notify().wait_for("RELOADING=1"));
  CHECK(d.daemon->notify().wait_for("READY=1"));
  CHECK(d.daemon->log().find("model.classes: 'unicorn' is not a class of model") !=
        std::string::npos);
  const auto m = c.next_of("detections");
  REQUIRE(m);
  CHECK((*m)["camera"] == "cam-b");
  CHECK_FALSE(d.daemon->exited());
}

TEST_CASE("--check-config validates a file and its model without starting") {
  TempDir dir;
  const auto good = dir.write("good.yaml", DaemonConfig{}.yaml(dir));
  RunResult r = run_lookoutd(dir, {"--check-config", good.string()});
  CHECK(r.exit_code == 0);
  CHECK(r.output.find(good.string() + ": OK") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "lookoutd.sock"));  // nothing started
  // The settings the file changes, as written, with their defaults.
  CHECK(r.output.find("  settings other than the defaults:\n") != std::string::npos);
  CHECK(r.output.find("    source.fps: 20 (default 10)\n") != std::string::npos);
  CHECK(r.output.find("    publish.tcp.port: 0 (default 7878)\n") != std::string::npos);

  const auto bad = dir.write("bad.yaml", replace(DaemonConfig{}.yaml(dir), "fps: 20", "fps: fast"));
  r = run_lookoutd(dir, {"--check-config", bad.string()});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find(bad.string() + ":6:8: source.fps: expected a number, got 'fast'") !=
        std::string::npos);
}

TEST_CASE("--print-default-config prints the embedded default") {
  TempDir dir;
  const RunResult r = run_lookoutd(dir, {"--print-default-config"});
  CHECK(r.exit_code == 0);
  CHECK(r.output == lookout::default_config_text());
}

TEST_CASE("every kind of bad configuration stops the start with its message") {
  TempDir dir;
  const std::string good = DaemonConfig{}.yaml(dir);
  struct Case {
    std::string name;
    std::string yaml;
    std::string message;  // what the log must contain after "FILE:"
  };
  const std::vector<Case> cases = {
      {"unknown key", replace(good, "camera: test-cam", "camera: test-cam\nframerate: 5"),
       "2:1: framerate: unknown key"},
      {"wrong type", replace(good, "max_clients: 32", "max_clients: many"),
       "12:16: publish.max_clients: expected an integer, got 'many'"},
      {"out of range", replace(good, "send_queue: 64", "send_queue: 1"),
       "13:15: publish.send_queue: must be between 4 and 4096, got 1"},
      {"bad choice", replace(good, "type: synthetic", "type: ip-camera"),
       "3:9: source.type: expected one of: synthetic, files, v4l2, libcamera, stream, auto; got "
       "'ip-camera'"},
      {"bad network", replace(good, "- 127.0.0.0/8", "- 127.0.0.0/40"),
       "21:9: publish.tcp.allowed_networks[0]: expected a network"},
      {"missing model", replace(good, test_model().string(), "/nonexistent/m.torchscript"),
       "8:9: model.path: model file not found (looked for /nonexistent/m.torchscript)"},
      {"not YAML", replace(good, "camera: test-cam", "camera: [test-cam"),
       "2:7: not valid YAML: end of sequence flow not found"},
      {"class the model lacks", replace(good, "threads: 1", "threads: 1\n  classes: [dog]"),
       "11:12: model.classes: 'dog' is not a class of model"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const auto file = dir.write(c.name + ".yaml", c.yaml);
    const RunResult r = run_lookoutd(dir, {"--config", file.string()});
    INFO(r.output);
    CHECK(r.exit_code == kExitConfig);
    CHECK(r.output.find(file.string() + ":" + c.message) != std::string::npos);
  }
  // An empty file (a save cut short) is refused, not read as every default.
  const auto empty = dir.write("empty.yaml", "\n  \n");
  RunResult e = run_lookoutd(dir, {"--config", empty.string()});
  CHECK(e.exit_code == kExitConfig);
  CHECK(e.output.find("empty.yaml: the file is empty; for every default write {}") !=
        std::string::npos);
  // A missing file, and a model file that is not a model.
  RunResult r = run_lookoutd(dir, {"--config", (dir / "absent.yaml").string()});
  CHECK(r.exit_code == kExitConfig);
  CHECK(r.output.find("absent.yaml: cannot read the configuration file: No such file or "
                      "directory") != std::string::npos);
  const auto junk = dir.write("junk.torchscript", "this is not a TorchScript archive");
  const auto file = dir.write("junk.yaml", replace(good, test_model().string(), junk.string()));
  r = run_lookoutd(dir, {"--config", file.string()});
  CHECK(r.exit_code == kExitConfig);
  CHECK(r.output.find(junk.string()) != std::string::npos);
}

TEST_CASE("--check-config and a start refuse the same files, with the same message") {
  TempDir dir;
  const std::string good = DaemonConfig{}.yaml(dir);
  const std::string socket = (dir / "lookoutd.sock").string();
  dir.write("plain-file", "not a socket");
  struct Case {
    std::string name;
    std::string yaml;
    std::string message;  // what both outputs must contain
    // The check only warns: it may work where lookoutd really runs (systemd
    // makes the runtime directory as the service starts); the start refuses.
    bool check_warns = false;
  };
  const std::vector<Case> cases = {
      {"not UTF-8", replace(good, "camera: test-cam", "camera: caf\xe9"),
       "1:9: camera: must be UTF-8 text without control characters: byte 0xe9 at offset 3 is not "
       "valid UTF-8"},
      {"a newline in a name", replace(good, "camera: test-cam", "camera: \"cam\\n<0>forged\""),
       "camera: must be UTF-8 text without control characters: a control character (0x0a) at "
       "offset 3"},
      {"a control character in a key",
       replace(good, "camera: test-cam", "camera: x\n\"c\\x1b\": 1"),
       "keys must be UTF-8 names without control characters"},
      {"the socket's directory is missing",
       replace(good, socket, (dir / "no/such/l.sock").string()),
       "publish.unix.path: the socket's directory " + (dir / "no/such").string() +
           " does not exist",
       true},
      {"a file where the socket goes", replace(good, socket, (dir / "plain-file").string()),
       "publish.unix.path: " + (dir / "plain-file").string() + " exists and is not a socket"},
      {"a socket path ending in /", replace(good, socket, socket + "/"), "names a directory"},
      {"TCP and HTTP on one port",
       replace(replace(good, "port: 0", "port: 17391"), "port: 0", "port: 17391"),
       "http.port: port 17391 is publish.tcp.port too, on an overlapping address (127.0.0.1 and "
       "127.0.0.1)"},
      {"a link-local bind address",
       replace(good, "bind: 127.0.0.1\n  port: 0", "bind: fe80::1\n  port: 0"),
       "http.bind: cannot listen on an IPv6 link-local address"},
      {"a frame rate whose period overflows", replace(good, "fps: 20", "fps: 1e-300"),
       "source.fps: must be 0 or at least 0.01 (one frame per 100 s), got 1e-300"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const auto file = dir.write("case.yaml", c.yaml);
    const RunResult checked = run_lookoutd(dir, {"--check-config", file.string()});
    INFO("check: ", checked.output);
    CHECK(checked.exit_code == (c.check_warns ? 0 : 1));
    CHECK(checked.output.find(c.message) != std::string::npos);
    CHECK((checked.output.find(": OK") != std::string::npos) == c.check_warns);
    if (c.check_warns) {
      CHECK(checked.output.find("it may work where lookoutd runs") != std::string::npos);
    }
    const RunResult started = run_lookoutd(dir, {"--config", file.string()});
    INFO("start: ", started.output);
    CHECK(started.exit_code == kExitConfig);
    CHECK(started.output.find(c.message) != std::string::npos);
    // Nothing from the file reaches the log raw: no line but the daemon's own has a prefix.
    CHECK(started.output.find("\n<0>") == std::string::npos);
  }
  // A check given an empty name (a script's unset variable) checks, and fails;
  // it never starts the daemon on the embedded default.
  RunResult r = run_lookoutd(dir, {"--check-config", ""});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("cannot read the configuration file") != std::string::npos);
  r = run_lookoutd(dir, {"--config", ""});
  CHECK(r.exit_code == kExitConfig);
  CHECK(r.output.find("--config: the file name is empty") != std::string::npos);
}

TEST_CASE("an address in use is a runtime failure (exit 1), not a config error") {
  RunningDaemon running{DaemonConfig{}};
  TempDir dir;
  DaemonConfig config;
  config.unix_name = "second.sock";
  const auto file = dir.write("lookout.yaml", replace(config.yaml(dir), "port: 0",
                                                      "port: " + std::to_string(running.port)));
  const RunResult r = run_lookoutd(dir, {"--config", file.string()});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("cannot listen on TCP 127.0.0.1:" + std::to_string(running.port) +
                      ": Address already in use") != std::string::npos);
}

TEST_CASE("a live Unix socket is not taken over; a stale one is replaced") {
  RunningDaemon running{DaemonConfig{}};
  {
    TempDir dir;
    const auto file = dir.write("lookout.yaml",
                                replace(DaemonConfig{}.yaml(dir), (dir / "lookoutd.sock").string(),
                                        running.socket_path().string()));
    const RunResult r = run_lookoutd(dir, {"--config", file.string()});
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("another process is listening on it") != std::string::npos);
  }
  // The running daemon still serves.
  Client c = running.unix_client();
  REQUIRE(c.next());
  // A socket file left by a killed daemon is replaced at the next start.
  running.daemon->signal(SIGKILL);
  running.daemon->wait_exit();
  REQUIRE(std::filesystem::exists(running.socket_path()));
  TempDir other;  // for the new process's log and notify socket
  Daemon again(other, running.config_path);
  REQUIRE(again.wait_ready());
  Client fresh = Client::unix_socket(running.socket_path());
  REQUIRE(fresh.next());
  struct stat st {};
  REQUIRE(::stat(running.socket_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0660);
}

TEST_CASE("a stalled pipeline starves the watchdog, and cannot keep the daemon from stopping") {
  // A files source reading a FIFO that nobody writes: the capture thread
  // blocks in the source's start, as with a wedged camera driver.
  TempDir dir;
  const auto fifo = dir / "stuck.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const std::string yaml =
      replace(DaemonConfig{}.yaml(dir), "type: synthetic", "type: files\n  path: " + fifo.string());
  const auto config = dir.write("lookout.yaml", yaml);
  Daemon d(dir, config, {{}, {"WATCHDOG_USEC=600000"}});
  REQUIRE(d.wait_ready());
  // Clients are still served meanwhile.
  Client c = Client::unix_socket(dir / "lookoutd.sock");
  REQUIRE(c.next());
  const auto deadline = Clock::now() + kPatience;
  while (d.log().find("pipeline stalled; not feeding the systemd watchdog") == std::string::npos) {
    REQUIRE(Clock::now() < deadline);
    std::this_thread::sleep_for(50ms);
  }
  const auto fed = [&] {
    std::size_t n = 0;
    for (const auto& m : d.notify().messages()) n += m.find("WATCHDOG=1") != std::string::npos;
    return n;
  };
  d.notify().wait_for("(nothing)", 2000ms);  // collect what arrives for a while
  const std::size_t before = fed();
  d.notify().wait_for("(nothing)", 2000ms);
  CHECK(fed() == before);  // systemd would now kill and restart the service
  // SIGTERM cannot join the stuck thread; the daemon still exits, with a failure.
  d.signal(SIGTERM);
  CHECK(d.wait_exit() == 1);
  CHECK(d.log().find("a frame source or the model is stuck; exiting") != std::string::npos);
}

TEST_CASE("a service manager that stops reading notifications cannot stall the daemon") {
  DaemonConfig config;
  config.stats_interval_s = 0.5;  // a STATUS= message every 0.5 s
  // ... and WATCHDOG=1 every 0.1 s: well over the ten datagrams the notify
  // socket queues while nobody reads.
  RunningDaemon d{config, {{}, {"WATCHDOG_USEC=300000"}}};
  NotifySocket& manager = d.daemon->notify();
  manager.pause_reading(true);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  // The I/O thread, which sends STATUS and WATCHDOG, still serves clients.
  Client tcp = d.tcp_client();
  CHECK(tcp.next_of("hello"));
  CHECK(tcp.next_of("detections"));
  CHECK(tcp.next_of("stats"));
  // Reading again, the manager gets the current status and the watchdog.
  manager.pause_reading(false);
  CHECK(manager.wait_for("STATUS=Running"));
  CHECK(manager.wait_for("WATCHDOG=1"));
  // A manager that stops reading for good cannot hold up the exit either.
  manager.pause_reading(true);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  d.daemon->signal(SIGTERM);
  CHECK(d.daemon->wait_exit() == 0);
  CHECK(d.daemon->log().find("not reading notifications") != std::string::npos);
}

TEST_CASE("a model file replaced or truncated between reloads is loaded again, or rejected") {
  TempDir models;
  const auto model = models / "model.torchscript";
  std::filesystem::copy_file(test_model(), model);
  DaemonConfig config;
  RunningDaemon d(config);
  const std::string yaml = replace(config.yaml(d.dir), test_model().string(), model.string());
  d.dir.write("lookout.yaml", yaml);
  d.daemon->signal(SIGHUP);  // now running on the copy
  REQUIRE(d.daemon->notify().wait_for("RELOADING=1"));
  REQUIRE(d.daemon->notify().wait_for("READY=1"));
  Client c = d.unix_client();
  REQUIRE(c.next_of("detections"));

  // Truncated in place: the same path, so no setting changed, but the file did.
  {
    const std::string bytes = read_file(model);
    std::ofstream(model, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  }
  d.daemon->signal(SIGHUP);
  REQUIRE(d.daemon->notify().wait_for("RELOADING=1"));
  const auto rejected = d.daemon->notify().wait_for("READY=1");
  REQUIRE(rejected);
  CHECK(rejected->find("last reload rejected") != std::string::npos);
  CHECK(d.daemon->log().find("model file " + model.string() +
                             " changed since it was loaded; loading it again") !=
        std::string::npos);
  // The running engine, loaded before, goes on.
  for (int i = 0; i < 3; ++i) REQUIRE(c.next_of("detections"));

  // Replaced by a good file (a new inode): loaded, with nothing else changed.
  std::filesystem::remove(model);
  std::filesystem::copy_file(test_model(), model);
  d.daemon->signal(SIGHUP);
  REQUIRE(d.daemon->notify().wait_for("RELOADING=1"));
  const auto accepted = d.daemon->notify().wait_for("READY=1");
  REQUIRE(accepted);
  CHECK(accepted->find("rejected") == std::string::npos);
  CHECK(d.daemon->log().find("no setting changed; the model file changed, so the engine "
                             "restarted") != std::string::npos);
  // (The same model: the greeting is unchanged and not sent again.)
  REQUIRE(c.next_of("detections"));
}

// VmRSS of a process, in MiB.
double rss_mib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  }
  return 0;
}

TEST_CASE("a hostile model file is read in a probe process: refused, and the daemon unharmed") {
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define LOOKOUT_TEST_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || defined(LOOKOUT_TEST_SANITIZED)
  // Sanitizer builds cannot limit the probe's memory (their shadow memory
  // needs the address space), so the file would really take its 20 GB.
  MESSAGE("skipped: the probe has no memory limit in sanitizer builds");
  return;
#endif
  // 1.7 KB that make libtorch's reader allocate and zero 20 GB in-process
  // (tests/app/daemon/data/README.md). The probe runs under a memory limit.
  const auto bomb = source_dir() / "tests" / "app" / "daemon" / "data" / "memo-bomb.torchscript";
  TempDir models;
  const auto model = models / "model.torchscript";
  std::filesystem::copy_file(bomb, model);
  DaemonConfig config;
  TempDir dir;
  const auto file =
      dir.write("lookout.yaml", replace(config.yaml(dir), test_model().string(), model.string()));
  // Refused for its memory: by the probe's own limits, or (where the kernel
  // enforces neither) by the OOM killer, which the probe's score makes pick it.
  // How libtorch's reader fails on it depends on where the program's memory
  // lies (with ASLR, about half the runs ask for the 20 GB; the others stop
  // at a parse error first): either is a refusal naming the file.
  const auto refused = [](const std::string& text) {
    if (text.find("model.torchscript: reading it got the check process killed") !=
        std::string::npos) {
      MESSAGE("the probe's own limits did not stop the file here; the OOM killer did");
      return true;
    }
    return text.find("model.torchscript: reading it needed more than") != std::string::npos ||
           text.find("model.torchscript: cannot load as TorchScript") != std::string::npos;
  };

  // --check-config and a start refuse it, quickly.
  const auto started = Clock::now();
  const RunResult checked = run_lookoutd(dir, {"--check-config", file.string()});
  CAPTURE(checked.output);
  CHECK(checked.exit_code != 0);
  CHECK(refused(checked.output));
  const RunResult start = run_lookoutd(dir, {"--config", file.string()});
  CAPTURE(start.output);
  CHECK(start.exit_code == kExitConfig);
  CHECK(refused(start.output));
  CHECK(Clock::now() - started < 60s);

  // A running daemon: the good model is replaced by the bomb and SIGHUP
  // sent. The reload is rejected, the old engine goes on, and the daemon's
  // own memory does not grow by the gigabytes the file asks for.
  RunningDaemon d(config);
  Client c = d.unix_client();
  REQUIRE(c.next_of("detections"));
  const double rss_before = rss_mib(d.daemon->pid());
  const std::string yaml = replace(config.yaml(d.dir), test_model().string(), model.string());
  d.dir.write("lookout.yaml", yaml);
  d.daemon->signal(SIGHUP);
  REQUIRE(d.daemon->notify().wait_for("RELOADING=1"));
  const auto rejected = d.daemon->notify().wait_for("READY=1", 60s);
  REQUIRE(rejected);
  CHECK(rejected->find("last reload rejected") != std::string::npos);
  const std::string log = d.daemon->log();
  CAPTURE(log);
  CHECK(refused(log));
  for (int i = 0; i < 3; ++i) REQUIRE(c.next_of("detections"));
  CHECK(rss_mib(d.daemon->pid()) < rss_before + 200);
  CHECK_FALSE(d.daemon->exited());
}

TEST_CASE("SIGHUP in bursts, also during a reload, ends on the last file and loses nothing") {
  DaemonConfig config;
  RunningDaemon d(config);
  Client c = d.unix_client();
  REQUIRE(c.next_of("hello"));
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 15; ++i) {
      config.camera = "cam-" + std::to_string(round) + "-" + std::to_string(i);
      // Written as editors save, through a rename: a reload never reads half a file.
      std::filesystem::rename(d.dir.write("next.yaml", config.yaml(d.dir)), d.config_path);
      d.daemon->signal(SIGHUP);
      std::this_thread::sleep_for(std::chrono::milliseconds(i % 3 == 0 ? 20 : 1));
    }
    // Every burst ends with the last file applied (hellos may be coalesced).
    const std::string last = config.camera;
    bool seen = false;
    for (int n = 0; n < 400 && !seen; ++n) {
      const auto m = c.next_of("detections");
      REQUIRE(m);
      seen = (*m)["camera"] == last;
    }
    CHECK(seen);
    CHECK_FALSE(d.daemon->exited());
  }
  // The stream never stopped: seq keeps increasing with no hole a reload made.
  const auto a = c.next_of("detections");
  const auto b = c.next_of("detections");
  REQUIRE(a);
  REQUIRE(b);
  CHECK((*b)["seq"].get<std::uint64_t>() > (*a)["seq"].get<std::uint64_t>());
  CHECK(d.daemon->log().find("reload") != std::string::npos);
}

TEST_CASE("a journal that takes nothing cannot stall the daemon: lines are dropped and counted") {
  TempDir dir;
  DaemonConfig config;
  config.http = false;
  const auto file = dir.write("lookout.yaml", config.yaml(dir));  // logging.level: debug
  // stderr is a pipe that nobody reads: its 64 KiB fill up, and then every
  // write(2) to it blocks, as when journald stalls.
  const auto fifo = dir / "stderr.fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  REQUIRE(reader >= 0);
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "NOTIFY_SOCKET=", 14) != 0) env.emplace_back(*e);
  }
  env.push_back("STATE_DIRECTORY=" + (dir / "state").string());
  const pid_t pid =
      Daemon::spawn({lookoutd_binary().string(), "--config", file.string()}, env, fifo);
  const auto socket = dir / "lookoutd.sock";
  std::optional<Client> first;
  for (int i = 0; i < 600 && !first; ++i) {
    try {
      first.emplace(Client::unix_socket(socket));
    } catch (const std::exception&) {
      std::this_thread::sleep_for(50ms);
    }
  }
  REQUIRE(first);
  REQUIRE(first->next_of("detections"));
  // Each connection logs a line or two at debug level: thousands of them
  // are far more than the pipe holds.
  for (int i = 0; i < 8000; ++i) Client::unix_socket(socket);
  // Clients are still served at once: the I/O thread never waited on stderr.
  Client late = Client::unix_socket(socket);
  CHECK(late.next(std::chrono::milliseconds(5000)));
  CHECK(late.next_of("detections", std::chrono::milliseconds(5000)));
  CHECK(first->next_of("detections", std::chrono::milliseconds(5000)));
  // Now the journal reads again: what was dropped is counted there, and the
  // daemon stops cleanly.
  ::fcntl(reader, F_SETFL, 0);
  std::string text;
  std::thread drain([&] {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(reader, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  });
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  drain.join();
  ::close(reader);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(text.find("log lines were dropped: stderr (the journal) did not take them in time") !=
        std::string::npos);
  CHECK(text.find("stopping (") != std::string::npos);
}

TEST_CASE("the realtime clock jumps: ts follows it; timers, rates, tracks and timeouts do not") {
  // A Pi has no battery clock: it boots at the time it last saved, and NTP
  // moves the clock by days once the network is up; an operator may set it
  // back. The preloaded shim moves lookoutd's CLOCK_REALTIME only.
  TempDir scratch;
  ClockShift clock(scratch / "shift");
  DaemonConfig config;
  config.token = "s3cret-token";
  config.tcp_extra = "    auth_timeout_s: 8\n";
  config.sections = "tracking:\n  enabled: true\n  lost_s: 2\n";
  Daemon::Options options;
  options.env = clock.env();
  const auto test_started = Clock::now();
  RunningDaemon d(config, options);
  const auto wall_now = [] {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  Client client = d.tcp_client();
  client.send_line({{"type", "auth"}, {"token", "s3cret-token"}});
  REQUIRE(client.next_of("hello"));

  // Every message for `span`; what they say is checked per jump.
  struct Seen {
    std::vector<double> ts;  // of detections
    std::set<std::int64_t> track_ids;
    std::vector<double> uptimes;  // of stats
    std::vector<json> events;
  };
  std::vector<json> all_events;
  const auto watch = [&](std::chrono::milliseconds span) {
    Seen seen;
    const auto until = Clock::now() + span;
    while (Clock::now() < until) {
      auto m = client.next(std::chrono::duration_cast<std::chrono::milliseconds>(
          std::max(until - Clock::now(), Clock::duration(std::chrono::milliseconds(1)))));
      if (!m) continue;
      const std::string type = (*m)["type"];
      if (type == "detections") {
        seen.ts.push_back((*m)["ts"].get<double>());
        for (const auto& det : (*m)["detections"]) {
          if (det["track_id"].is_number())
            seen.track_ids.insert(det["track_id"].get<std::int64_t>());
        }
      } else if (type == "stats") {
        seen.uptimes.push_back((*m)["uptime_s"].get<double>());
      } else if (type == "event") {
        seen.events.push_back(*m);
        all_events.push_back(*m);
      }
    }
    return seen;
  };
  const auto settled = [&](double shift_s) {
    // Let what was already queued go by, then look for three seconds.
    watch(std::chrono::milliseconds(500));
    const double wall_at = wall_now();
    Seen seen = watch(std::chrono::milliseconds(3000));
    INFO("clock shifted by " << shift_s << " s; daemon log:\n" << d.daemon->log());
    // Frames at the source's rate (20 fps; detection keeps up on one core).
    CHECK(seen.ts.size() >= 30);
    // Message times are wall time: they follow the jump at once.
    REQUIRE_FALSE(seen.ts.empty());
    for (double ts : seen.ts) {
      CHECK(std::abs(ts - (wall_at + shift_s)) < 5);
    }
    // Stats keep their interval (1 s); uptime keeps counting steadily.
    CHECK(seen.uptimes.size() >= 2);
    for (std::size_t i = 1; i < seen.uptimes.size(); ++i) {
      CHECK(seen.uptimes[i] - seen.uptimes[i - 1] == doctest::Approx(1.0).epsilon(0.5));
    }
    return seen;
  };

  const Seen before = settled(0);
  REQUIRE_FALSE(before.track_ids.empty());
  // Never authenticates: cut off 8 s from now. A thread notes when the
  // daemon's line arrives (a timer on the wall clock would fire at the
  // forward jump, 3.5 s from now).
  Client pending = d.tcp_client();
  const auto pending_since = Clock::now();
  std::string pending_line;
  Client::Event pending_event = Client::Event::Timeout;
  Clock::time_point pending_at{};
  std::thread pending_reader([&] {
    pending_event = pending.next_line(pending_line, std::chrono::milliseconds(20000));
    pending_at = Clock::now();
  });

  clock.set(-std::chrono::hours(1));
  const Seen back = settled(-3600);
  clock.set(std::chrono::hours(24));
  const Seen ahead = settled(86400);
  // Uptime is steady time: across both jumps it grew by about the time
  // between the windows, neither by an hour less nor by a day.
  REQUIRE_FALSE(before.uptimes.empty());
  REQUIRE_FALSE(back.uptimes.empty());
  REQUIRE_FALSE(ahead.uptimes.empty());
  CHECK(back.uptimes.front() > before.uptimes.back());
  CHECK(ahead.uptimes.front() > back.uptimes.back());
  CHECK(ahead.uptimes.back() - before.uptimes.front() < 20);

  // The same objects, under the same ids: the tracks' lost buffer (2 s)
  // counts steady seconds, so neither jump ended or renewed them.
  for (const Seen* after : {&back, &ahead}) {
    std::size_t kept = 0;
    for (auto id : before.track_ids) kept += after->track_ids.count(id);
    CHECK(kept * 2 >= before.track_ids.size());
  }
  // The authentication timeout is 8 s of steady time, whatever the clock said.
  pending_reader.join();
  const double waited = std::chrono::duration<double>(pending_at - pending_since).count();
  CHECK(pending_event == Client::Event::Line);
  CHECK(pending_line.find("authentication timed out") != std::string::npos);
  CHECK(waited >= 7.5);
  CHECK(waited <= 12);

  // Stopping ends every object; each event's duration is steady time, at
  // most the test's own length, never the clock's jumps.
  const double test_length = std::chrono::duration<double>(Clock::now() - test_started).count();
  d.daemon->signal(SIGTERM);
  for (;;) {
    auto m = client.next(std::chrono::milliseconds(5000));
    if (!m) break;
    if ((*m)["type"] == "event") all_events.push_back(*m);
  }
  std::size_t ends = 0;
  for (const auto& e : all_events) {
    const double duration = e["object"]["duration_s"].get<double>();
    CAPTURE(e.dump());
    CHECK(duration >= 0);
    CHECK(duration <= test_length);
    if (e["event"] == "end") ++ends;
  }
  CHECK(ends >= before.track_ids.size() / 2);
}
