// The YAML configuration: defaults, parsing apart from resolution, path
// resolution, every kind of error (each naming file, line, column and key),
// the example file against the schema, and the reload plan. Real files in a
// temporary directory; the model file only has to exist here (loading it is
// the daemon's job, tested in tests/app/daemon). The schema machinery itself
// is tested with a table of its own in schema_test.cpp.
#include "config/config.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "support/paths.hpp"

namespace fs = std::filesystem;
using lookout::Config;
using lookout::ConfigError;

namespace {

// A directory with a config file and a (dummy) model next to it.
struct Dir {
  fs::path path;
  Dir() {
    char name[] = "/tmp/lookout-config-XXXXXX";
    REQUIRE(mkdtemp(name) != nullptr);
    path = name;
    std::ofstream(path / "model.torchscript") << "not loaded by these tests";
  }
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name) << text;
    return path / name;
  }
};

// Parses `text` (written to a file, as users do) and returns its problems.
std::vector<std::string> problems_of(const std::string& text) {
  Dir dir;
  const auto file = dir.write("bad.yaml", text);
  try {
    lookout::load_config_file(file.string());
  } catch (const ConfigError& e) {
    std::vector<std::string> out;
    // Make messages independent of the temporary directory's name.
    for (std::string p : e.problems()) {
      const std::string prefix = file.string();
      if (p.rfind(prefix, 0) == 0) p = "bad.yaml" + p.substr(prefix.size());
      out.push_back(p);
    }
    return out;
  }
  return {};
}

std::string only_problem(const std::string& text) {
  const auto problems = problems_of(text);
  REQUIRE(problems.size() == 1);
  return problems[0];
}

// Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(const char* n, const std::string& value) : name(n) {
    if (const char* v = std::getenv(n)) old = v;
    setenv(n, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old) {
      setenv(name.c_str(), old->c_str(), 1);
    } else {
      unsetenv(name.c_str());
    }
  }
};

const char* kModel = "model:\n  path: model.torchscript\n";

}  // namespace

TEST_CASE("the embedded default is the example file, and it documents exactly the defaults") {
  std::ifstream in(lookout::test::source_dir() / "app" / "config" / "lookout.yaml");
  std::ostringstream text;
  text << in.rdbuf();
  const std::string example = text.str();
  CHECK(lookout::default_config_text() == example);
  // Every key of the example is set to its default: an empty file must give
  // the same configuration, so the comments cannot drift from the code.
  const Config from_example = lookout::parse_config(example, "x.yaml");
  const Config from_empty = lookout::parse_config("", "x.yaml");
  CHECK(lookout::describe(from_example) == lookout::describe(from_empty));
  Config defaults;  // the members' initializers: what the schema documents
  defaults.origin = "x.yaml";
  CHECK(lookout::describe(from_example) == lookout::describe(defaults));
  const Config embedded = lookout::load_default_config();
  CHECK(embedded.origin == "<embedded default>");
  CHECK(embedded.source.type == lookout::SourceType::Synthetic);
  CHECK(embedded.publish.tcp.port == 7878);
  CHECK(embedded.publish.tcp.bind == "0.0.0.0");
  CHECK(fs::path(embedded.model.engine.model_path).filename() == "shapes.torchscript");
  CHECK(fs::path(embedded.model.engine.model_path).is_absolute());
  CHECK_FALSE(embedded.camera.empty());  // the host name
}

TEST_CASE("a full configuration is read into every field") {
  Dir dir;
  fs::create_directory(dir.path / "clips");
  const auto file = dir.write("lookout.yaml", R"(
camera: porch
source:
  type: files
  path: clips
  width: 0
  height: 0
  fps: 0
  loop: false
  format: MJPEG
  frame_timeout_ms: 1000
  backoff_initial_ms: 100
  backoff_max_ms: 2000
model:
  path: model.torchscript
  input: [320, 256]
  conf: 0.4
  iou: 0.5
  max_detections: 20
  agnostic_nms: yes
  classes: [circle, star]
  class_conf: {star: 0.7}
  threads: 2
  backend: xnnpack
  pin_cores: [2, 3]
publish:
  max_clients: 5
  send_queue: 16
  send_timeout_s: 12.5
  stats_interval_s: 2.5
  tcp:
    bind: "::"
    port: 9000
    allowed_networks: [192.168.1.0/24, "fd00::/8"]
    token: hunter22
    auth_timeout_s: 3
    max_clients_per_host: 2
  unix:
    path: sock/l.sock
    mode: "0600"
    max_clients: 3
logging:
  level: debug
  summary_interval_s: 0
)");
  const Config c = lookout::load_config_file(file.string());
  CHECK(c.origin == file.string());
  CHECK(c.camera == "porch");
  CHECK(c.source.type == lookout::SourceType::Files);
  CHECK(c.source.path == (dir.path / "clips").string());
  CHECK(c.source.width == 0);
  CHECK(c.source.fps == 0);
  CHECK_FALSE(c.source.loop);
  CHECK(c.source.format == lookout::PixelFormat::MJPEG);
  CHECK(c.source.frame_timeout == std::chrono::milliseconds(1000));
  CHECK(c.source.backoff_max == std::chrono::milliseconds(2000));
  CHECK(c.model.engine.model_path == (dir.path / "model.torchscript").string());
  CHECK(c.model.engine.input_width == 320);
  CHECK(c.model.engine.input_height == 256);
  CHECK(c.model.conf == doctest::Approx(0.4));
  CHECK(c.model.agnostic_nms);
  CHECK(c.model.classes == std::vector<std::string>{"circle", "star"});
  CHECK(c.model.class_conf.at("star") == doctest::Approx(0.7));
  CHECK(c.model.engine.threads == 2);
  CHECK(c.model.engine.backend == lookout::Backend::Xnnpack);
  CHECK(c.model.engine.pin_cores == std::vector<int>{2, 3});
  CHECK(c.publish.max_clients == 5);
  CHECK(c.publish.send_queue == 16);
  CHECK(c.publish.stats_interval_s == doctest::Approx(2.5));
  CHECK(c.publish.tcp.bind == "::");
  CHECK(c.publish.tcp.port == 9000);
  REQUIRE(c.publish.tcp.allowed_networks.size() == 2);
  CHECK(c.publish.tcp.allowed_networks[0].to_string() == "192.168.1.0/24");
  CHECK(c.publish.tcp.allowed_networks[1].to_string() == "fd00::/8");
  CHECK(c.publish.tcp.token == "hunter22");
  CHECK(c.publish.send_timeout_s == doctest::Approx(12.5));
  CHECK(c.publish.tcp.auth_timeout_s == doctest::Approx(3));
  CHECK(c.publish.tcp.max_clients_per_host == 2);
  CHECK(c.publish.unix_socket.mode == 0600);
  CHECK(c.publish.unix_socket.max_clients == 3);
  CHECK(c.logging.level == lookout::log::Level::Debug);
  CHECK(c.logging.summary_interval_s == 0);
  // The token never appears in the dump that goes to logs.
  CHECK(lookout::describe(c).find("hunter22") == std::string::npos);
}

TEST_CASE("model paths: absolute, next to the config file, then the model directories") {
  Dir dir;
  Dir models;
  std::ofstream(models.path / "other.torchscript") << "x";
  {
    // Relative to the config file's directory, not the working directory.
    const auto file = dir.write("a.yaml", kModel);
    CHECK(lookout::load_config_file(file.string()).model.engine.model_path ==
          (dir.path / "model.torchscript").string());
  }
  {
    // A bare name not next to the file is searched for, $LOOKOUT_MODEL_DIR first.
    ScopedEnv env("LOOKOUT_MODEL_DIR", models.path.string());
    const auto file = dir.write("b.yaml", "model:\n  path: other.torchscript\n");
    CHECK(lookout::load_config_file(file.string()).model.engine.model_path ==
          (models.path / "other.torchscript").string());
    CHECK(lookout::model_search_path().front() == models.path.string());
  }
  {
    const auto file = dir.write(
        "c.yaml", "model:\n  path: " + (models.path / "other.torchscript").string() + "\n");
    CHECK(lookout::load_config_file(file.string()).model.engine.model_path ==
          (models.path / "other.torchscript").string());
  }
  {
    // A path with a directory part is not searched for.
    const std::string p = only_problem("model:\n  path: sub/other.torchscript\n");
    CHECK(p.rfind("bad.yaml:2:9: model.path: model file not found (looked for ", 0) == 0);
  }
}

TEST_CASE("a relative Unix socket path goes into the runtime directory") {
  Dir dir;
  const auto file = dir.write("u.yaml", kModel);
  {
    ScopedEnv env("RUNTIME_DIRECTORY", "/run/lookout");
    CHECK(lookout::load_config_file(file.string()).publish.unix_socket.path ==
          "/run/lookout/lookoutd.sock");
  }
  {
    ScopedEnv env("RUNTIME_DIRECTORY", "");
    ScopedEnv xdg("XDG_RUNTIME_DIR", "/run/user/1000");
    CHECK(lookout::load_config_file(file.string()).publish.unix_socket.path ==
          "/run/user/1000/lookoutd.sock");
  }
  const auto absolute =
      dir.write("v.yaml", std::string(kModel) + "publish:\n  unix:\n    path: /x/y.sock\n");
  CHECK(lookout::load_config_file(absolute.string()).publish.unix_socket.path == "/x/y.sock");
}

TEST_CASE("every kind of bad configuration is reported with file, line, column and key") {
  const std::string m = kModel;
  // Unknown keys, with a suggestion when one is close.
  CHECK(only_problem(m + "publish:\n  tcp:\n    prot: 80\n") ==
        "bad.yaml:5:5: publish.tcp.prot: unknown key (did you mean 'port'?)");
  CHECK(only_problem(m + "colour: red\n") == "bad.yaml:3:1: colour: unknown key");
  CHECK(only_problem(m + "camera: a\ncamera: b\n") == "bad.yaml:4:1: camera: duplicate key");
  // Wrong types.
  CHECK(only_problem(m + "publish:\n  tcp:\n    port: http\n") ==
        "bad.yaml:5:11: publish.tcp.port: expected an integer, got 'http'");
  CHECK(only_problem(m + "source:\n  fps: [1]\n") ==
        "bad.yaml:4:8: source.fps: expected a number, got a list");
  CHECK(only_problem(m + "source: synthetic\n") ==
        "bad.yaml:3:9: source: expected a mapping, got 'synthetic'");
  CHECK(only_problem(m + "source:\n  loop: maybe\n") ==
        "bad.yaml:4:9: source.loop: expected true or false, got 'maybe'");
  CHECK(only_problem(m + "camera: {a: 1}\n") ==
        "bad.yaml:3:9: camera: expected a string, got a mapping");
  CHECK(only_problem(m + "model:\n") == "bad.yaml:3:1: model: duplicate key");
  // Out of range.
  CHECK(only_problem(m + "publish:\n  tcp:\n    port: 70000\n") ==
        "bad.yaml:5:11: publish.tcp.port: must be between 0 and 65535, got 70000");
  CHECK(only_problem("model:\n  path: model.torchscript\n  conf: 1.5\n") ==
        "bad.yaml:3:9: model.conf: must be between 0 and 1, got 1.5");
  CHECK(only_problem(m + "publish:\n  max_clients: 0\n") ==
        "bad.yaml:4:16: publish.max_clients: must be between 1 and 1024, got 0");
  CHECK(only_problem(m + "source:\n  fps: -1\n") ==
        "bad.yaml:4:8: source.fps: must be between 0 and 1000, got -1");
  // Values that are not one of the allowed ones.
  CHECK(only_problem(m + "source:\n  type: webcam\n") ==
        "bad.yaml:4:9: source.type: expected one of: synthetic, files, v4l2, libcamera, stream, "
        "auto; got "
        "'webcam'");
  CHECK(only_problem(m + "logging:\n  level: loud\n") ==
        "bad.yaml:4:10: logging.level: expected one of: error, warning, notice, info, debug; got "
        "'loud'");
  CHECK(only_problem(m + "source:\n  format: RGB32\n") ==
        "bad.yaml:4:11: source.format: expected one of: auto, RGB24, BGR24, I420, NV12, YUYV, "
        "GRAY8, MJPEG; got 'RGB32' (did you mean 'RGB24'?)");
  CHECK(only_problem(m + "publish:\n  tcp:\n    allowed_networks: [10.0.0.0/33]\n") ==
        "bad.yaml:5:24: publish.tcp.allowed_networks[0]: expected a network such as "
        "192.168.0.0/16 or fd00::/8 (no host bits below the prefix), got '10.0.0.0/33'");
  CHECK(only_problem(m + "publish:\n  tcp:\n    allowed_networks: []\n") ==
        "bad.yaml:5:23: publish.tcp.allowed_networks: must list at least one network (to refuse "
        "all TCP clients, set publish.tcp.enabled: false)");
  CHECK(only_problem(m + "publish:\n  tcp:\n    bind: localhost\n") ==
        "bad.yaml:5:11: publish.tcp.bind: must be an IPv4 or IPv6 address (0.0.0.0 = all IPv4 "
        "interfaces), got 'localhost'");
  CHECK(only_problem(m + "publish:\n  tcp:\n    bind: 239.1.2.3\n") ==
        "bad.yaml:5:11: publish.tcp.bind: cannot listen on a multicast address, got '239.1.2.3'");
  CHECK(only_problem(m + "http:\n  bind: 255.255.255.255\n") ==
        "bad.yaml:4:9: http.bind: cannot listen on a broadcast address, got '255.255.255.255'");
  CHECK(only_problem(m + "http:\n  bind: ff02::1\n") ==
        "bad.yaml:4:9: http.bind: cannot listen on a multicast address, got 'ff02::1'");
  CHECK(only_problem(m + "http:\n  bind: fe80::1\n") ==
        "bad.yaml:4:9: http.bind: cannot listen on an IPv6 link-local address (it needs an "
        "interface); use :: or a global address, got 'fe80::1'");
  // Two listeners of ours on one port, by address: the same one, a wildcard
  // of its family, or :: (which takes IPv4 too).
  const auto listeners = [&](const std::string& tcp_bind, int tcp_port,
                             const std::string& http_bind, int http_port) {
    return m + "publish:\n  tcp:\n    bind: \"" + tcp_bind +
           "\"\n    port: " + std::to_string(tcp_port) + "\nhttp:\n  bind: \"" + http_bind +
           "\"\n  port: " + std::to_string(http_port) + "\n";
  };
  CHECK(only_problem(listeners("0.0.0.0", 9000, "0.0.0.0", 9000)) ==
        "bad.yaml:9:9: http.port: port 9000 is publish.tcp.port too, on an overlapping address "
        "(0.0.0.0 and 0.0.0.0); give them different ports");
  CHECK(
      only_problem(listeners("0.0.0.0", 9000, "192.168.1.5", 9000)).find("http.port: port 9000") !=
      std::string::npos);
  CHECK(only_problem(listeners("192.168.1.5", 9000, "::", 9000)).find("http.port: port 9000") !=
        std::string::npos);
  CHECK(only_problem(listeners("::1", 9000, "::", 9000)).find("http.port: port 9000") !=
        std::string::npos);
  for (const auto& fine :
       {listeners("127.0.0.1", 9000, "127.0.0.2", 9000), listeners("0.0.0.0", 9000, "::1", 9000),
        listeners("0.0.0.0", 9000, "0.0.0.0", 9001), listeners("0.0.0.0", 0, "0.0.0.0", 0)}) {
    CAPTURE(fine);
    CHECK_NOTHROW(lookout::parse_config(fine, "fine.yaml"));
  }
  CHECK(only_problem(m + "source:\n  fps: 0.001\n") ==
        "bad.yaml:4:8: source.fps: must be 0 or at least 0.01 (one frame per 100 s), got 0.001");
  CHECK(only_problem(m + "camera: \"a\\tb\"\n") ==
        "bad.yaml:3:9: camera: must be UTF-8 text without control characters: a control character "
        "(0x09) at offset 1");
  CHECK(only_problem(m + "publish:\n  unix:\n    mode: \"0999\"\n") ==
        "bad.yaml:5:11: publish.unix.mode: expected permission bits in octal such as \"0660\", "
        "got '0999'");
  CHECK(only_problem("model:\n  path: model.torchscript\n  input: [320]\n") ==
        "bad.yaml:3:10: model.input: expected [width, height]");
  CHECK(only_problem("model:\n  path: model.torchscript\n  input: [320, 0]\n") ==
        "bad.yaml:3:10: model.input: width and height must both be 0 (model default) or both "
        "positive");
  CHECK(only_problem("model:\n  path: model.torchscript\n  classes: [star, star]\n") ==
        "bad.yaml:3:19: model.classes[1]: class 'star' is listed twice");
  CHECK(only_problem(m + "source:\n  type: v4l2\n  fps: 0\n") ==
        "bad.yaml:5:8: source.fps: must be positive for a camera (0 is for synthetic and files)");
  CHECK(only_problem(m + "source:\n  type: files\n") ==
        "bad.yaml:4:3: source.path: required for source type files");
  CHECK(only_problem(m + "source:\n  type: files\n  path: nowhere.mp4\n")
            .find("bad.yaml:5:9: source.path: no such file or directory: ") == 0);
  CHECK(only_problem(m + "source:\n  backoff_initial_ms: 5000\n  backoff_max_ms: 1000\n") ==
        "bad.yaml:5:19: source.backoff_max_ms: must not be less than source.backoff_initial_ms");
  CHECK(only_problem(m + "publish:\n  tcp:\n    enabled: false\n  unix:\n    enabled: false\n"
                         "http:\n  enabled: false\n") ==
        "bad.yaml:4:3: publish: publish.tcp, publish.unix and http are all disabled: clients "
        "could not connect");
  // HTTP alone is a way in.
  CHECK(problems_of(m + "publish:\n  tcp:\n    enabled: false\n  unix:\n    enabled: false\n")
            .empty());
  // A missing model.
  CHECK(only_problem("model:\n  path: missing.torchscript\n")
            .rfind("bad.yaml:2:9: model.path: model file not found (looked for ", 0) == 0);
  // Not YAML, or not a mapping.
  CHECK(only_problem("camera: [unclosed\n").rfind("bad.yaml:2:1: not valid YAML: ", 0) == 0);
  CHECK(only_problem("- a\n- b\n") ==
        "bad.yaml:1:1: expected a mapping of keys (camera, source, model, ...), got a list");
}

TEST_CASE("all problems of a file are reported at once") {
  const auto problems = problems_of(
      "camera: x\nsource:\n  type: webcam\n  widht: 640\nmodel:\n  path: model.torchscript\n"
      "  conf: high\n");
  REQUIRE(problems.size() == 3);
  CHECK(problems[0] ==
        "bad.yaml:3:9: source.type: expected one of: synthetic, files, v4l2, "
        "libcamera, stream, auto; got 'webcam'");
  CHECK(problems[1] == "bad.yaml:4:3: source.widht: unknown key (did you mean 'width'?)");
  CHECK(problems[2] == "bad.yaml:7:9: model.conf: expected a number, got 'high'");
}

TEST_CASE("an unreadable file is an error naming it") {
  try {
    lookout::load_config_file("/nonexistent/lookout.yaml");
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    CHECK(std::string(e.what()) ==
          "/nonexistent/lookout.yaml: cannot read the configuration file: No such file or "
          "directory");
  }
}

TEST_CASE("networks parse in CIDR form and match IPv4, IPv6 and mapped addresses") {
  using lookout::Network;
  CHECK_FALSE(Network::parse("10.0.0.1/8"));  // host bits set: a typo, not a network
  CHECK_FALSE(Network::parse("10.0.0.0/"));
  CHECK_FALSE(Network::parse("10.0.0.0/x"));
  CHECK_FALSE(Network::parse("::1/129"));
  CHECK_FALSE(Network::parse("example.com/8"));
  const auto lan = Network::parse("192.168.0.0/16");
  REQUIRE(lan);
  const std::uint8_t inside[4] = {192, 168, 7, 9};
  const std::uint8_t outside[4] = {192, 169, 0, 1};
  CHECK(lan->contains(inside, false));
  CHECK_FALSE(lan->contains(outside, false));
  // An IPv4 client on a dual-stack socket shows up as ::ffff:192.168.7.9.
  const std::uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 7, 9};
  CHECK(lan->contains(mapped, true));
  const auto host = Network::parse("127.0.0.1");
  REQUIRE(host);
  CHECK(host->to_string() == "127.0.0.1/32");
  const auto ula = Network::parse("fc00::/7");
  REQUIRE(ula);
  const std::uint8_t fd[16] = {0xfd, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  CHECK(ula->contains(fd, true));
  CHECK_FALSE(ula->contains(mapped, true));
  const auto all = Network::parse("0.0.0.0/0");
  REQUIRE(all);
  CHECK(all->contains(outside, false));
}

TEST_CASE("parsing is pure: paths, the camera name and the environment are left to resolution") {
  const std::string text =
      "camera: \"\"\nsource:\n  type: files\n  path: clips/nowhere.mp4\nmodel:\n  path: "
      "missing.torchscript\npublish:\n  unix:\n    path: sock/l.sock\n";
  std::string first, second;
  {
    ScopedEnv models("LOOKOUT_MODEL_DIR", "/nonexistent/models");
    ScopedEnv runtime("RUNTIME_DIRECTORY", "/run/one");
    const Config c = lookout::parse_config(text, "p.yaml");  // no file exists: no problem yet
    CHECK(c.camera.empty());
    CHECK(c.source.path == "clips/nowhere.mp4");
    CHECK(c.model.engine.model_path == "missing.torchscript");
    CHECK(c.publish.unix_socket.path == "sock/l.sock");
    first = lookout::describe(c);
  }
  {
    ScopedEnv runtime("RUNTIME_DIRECTORY", "/run/two");
    second = lookout::describe(lookout::parse_config(text, "p.yaml"));
  }
  CHECK(first == second);
  // Where the keys were written is kept for resolution's problems.
  const Config c = lookout::parse_config(text, "p.yaml");
  CHECK(c.locations.of("model.path").format("x") == "p.yaml:6:9: model.path: x");
  CHECK(c.locations.of("model.classes").format("x") == "p.yaml:6:3: model.classes: x");
  CHECK(c.locations.of("logging.level").format("x") == "p.yaml: logging.level: x");
}

TEST_CASE("resolution takes the host name, runtime directory and model path it is given") {
  Dir dir;
  Dir models;
  std::ofstream(models.path / "m.torchscript") << "x";
  fs::create_directory(dir.path / "clips");
  lookout::Environment env;
  env.base_dir = dir.path.string();
  env.host_name = "porch-pi";
  env.runtime_dir = "/run/lookout";
  env.model_search_path = {models.path.string()};
  const Config c = lookout::resolve_config(
      lookout::parse_config(
          "source:\n  type: files\n  path: clips\nmodel:\n  path: m.torchscript\n", "r.yaml"),
      env);
  CHECK(c.camera == "porch-pi");
  CHECK(c.publish.unix_socket.path == "/run/lookout/lookoutd.sock");
  CHECK(c.model.engine.model_path == (models.path / "m.torchscript").string());
  CHECK(c.source.path == (dir.path / "clips").string());

  // Its problems are located at the keys, all of them at once.
  const std::string bad =
      "source:\n  type: files\n  path: gone\nmodel:\n  path: gone.torchscript\npublish:\n  unix:\n"
      "    path: " +
      std::string(120, 's') + "\n";
  try {
    lookout::resolve_config(lookout::parse_config(bad, "r.yaml"), env);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    REQUIRE(e.problems().size() == 3);
    CHECK(e.problems()[0].rfind("r.yaml:3:9: source.path: no such file or directory: ", 0) == 0);
    CHECK(e.problems()[1].rfind("r.yaml:5:9: model.path: model file not found (looked for ", 0) ==
          0);
    CHECK(e.problems()[2].rfind("r.yaml:8:11: publish.unix.path: socket path /run/lookout/", 0) ==
          0);
  }
}

TEST_CASE("a file's parse and resolution problems are reported together, in file order") {
  const auto problems = problems_of(
      "source:\n  type: files\n  path: nowhere\nmodel:\n  path: missing.torchscript\n  conf: 2\n"
      "  widht: 1\n");
  REQUIRE(problems.size() == 4);
  CHECK(problems[0].rfind("bad.yaml:3:9: source.path: no such file or directory", 0) == 0);
  CHECK(problems[1].rfind("bad.yaml:5:9: model.path: model file not found", 0) == 0);
  CHECK(problems[2] == "bad.yaml:6:9: model.conf: must be between 0 and 1, got 2");
  CHECK(problems[3] == "bad.yaml:7:3: model.widht: unknown key");
}

TEST_CASE("closed sets are read through their name tables, with suggestions") {
  const std::string m = kModel;
  CHECK(only_problem(m + "source:\n  type: libcamra\n") ==
        "bad.yaml:4:9: source.type: expected one of: synthetic, files, v4l2, libcamera, stream, "
        "auto; got "
        "'libcamra' (did you mean 'libcamera'?)");
  CHECK(only_problem(m + "source:\n  format: nv12\n") ==
        "bad.yaml:4:11: source.format: expected one of: auto, RGB24, BGR24, I420, NV12, YUYV, "
        "GRAY8, MJPEG; got 'nv12' (did you mean 'NV12'?)");
  CHECK(only_problem("model:\n  path: model.torchscript\n  backend: [xnnpack]\n") ==
        "bad.yaml:3:12: model.backend: expected one of: auto, onednn, blas, xnnpack; got a list");
  CHECK(only_problem(m + "logging:\n  level: Debug\n") ==
        "bad.yaml:4:10: logging.level: expected one of: error, warning, notice, info, debug; got "
        "'Debug' (did you mean 'debug'?)");
  Dir dir;
  const auto file = dir.write("f.yaml", m + "source:\n  format: auto\n");
  CHECK_FALSE(lookout::load_config_file(file.string()).source.format);
  const auto nv12 = dir.write("g.yaml", m + "source:\n  format: NV12\n");
  CHECK(lookout::load_config_file(nv12.string()).source.format == lookout::PixelFormat::NV12);
}

namespace {

// Every dotted key path written in a YAML mapping, with its node.
void collect_keys(const YAML::Node& node, const std::string& path,
                  std::map<std::string, YAML::Node>& out) {
  if (!node.IsMap()) return;
  for (const auto& entry : node) {
    const std::string key = (path.empty() ? "" : path + ".") + entry.first.Scalar();
    out[key] = entry.second;
    collect_keys(entry.second, key, out);
  }
}

std::size_t indent_of(const std::string& line) {
  const auto first = line.find_first_not_of(' ');
  return first == std::string::npos ? line.size() : first;
}

// Lines of `yaml` holding a key with a value (not a section) that no comment
// explains: none right above the key, nor above the group of key lines (and
// their list items) it is part of.
std::vector<std::string> undocumented_keys(const std::string& yaml) {
  std::vector<std::string> lines;
  std::istringstream in(yaml);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  const auto blank = [&](std::size_t i) { return indent_of(lines[i]) == lines[i].size(); };
  const auto comment = [&](std::size_t i) {
    return !blank(i) && lines[i][indent_of(lines[i])] == '#';
  };
  const auto item = [&](std::size_t i) {
    return !blank(i) && lines[i][indent_of(lines[i])] == '-';
  };
  const auto key = [&](std::size_t i) {
    return !blank(i) && !comment(i) && !item(i) && lines[i].find(':') != std::string::npos;
  };
  const auto section = [&](std::size_t i) {  // a key whose next line is a deeper key
    if (!key(i)) return false;
    for (std::size_t j = i + 1; j < lines.size(); ++j) {
      if (blank(j) || comment(j)) continue;
      return indent_of(lines[j]) > indent_of(lines[i]) && !item(j);
    }
    return false;
  };
  std::vector<std::string> out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (!key(i) || section(i)) continue;
    std::size_t j = i;
    while (j > 0 &&
           ((key(j - 1) && !section(j - 1) && indent_of(lines[j - 1]) == indent_of(lines[i])) ||
            (item(j - 1) && indent_of(lines[j - 1]) > indent_of(lines[i])))) {
      --j;
    }
    if (j == 0 || !comment(j - 1)) out.push_back(lines[i]);
  }
  return out;
}

}  // namespace

TEST_CASE("the example file documents every key of the schema with its default, and no other") {
  std::ifstream in(lookout::test::source_dir() / "app" / "config" / "lookout.yaml");
  std::ostringstream text;
  text << in.rdbuf();
  std::map<std::string, YAML::Node> written;
  collect_keys(YAML::Load(text.str()), "", written);
  const Config example = lookout::parse_config(text.str(), "lookout.yaml");
  const nlohmann::json shown = nlohmann::json::parse(lookout::describe(example));
  std::set<std::string> schema_keys;
  for (const auto& key : lookout::config_keys()) {
    CAPTURE(key.key);
    schema_keys.insert(key.key);
    CHECK(written.count(key.key) == 1);  // documented
    CHECK_FALSE(key.description.empty());
    CHECK_FALSE(key.type.empty());
    // The example's value is the default (the member's initializer).
    CHECK(shown.at(nlohmann::json::json_pointer("/" + [&] {
      std::string pointer = key.key;
      std::replace(pointer.begin(), pointer.end(), '.', '/');
      return pointer;
    }())) == key.default_value);
  }
  for (const auto& [key, node] : written) {
    CAPTURE(key);
    CHECK(schema_keys.count(key) == 1);  // no documented key the schema lacks
  }
  // Each key is explained by a comment right above it, or above the group of
  // keys it belongs to (consecutive lines, as width, height and fps).
  const auto undocumented = undocumented_keys(text.str());
  CHECK_MESSAGE(undocumented.empty(),
                "keys without a comment: " << undocumented.size() << ", "
                                           << (undocumented.empty() ? "" : undocumented[0]));
}

TEST_CASE("the reload plan says what each change restarts") {
  using lookout::config::Restart;
  const auto plan = [](const std::string& a, const std::string& b) {
    return lookout::plan_reload(lookout::parse_config(a, "a.yaml"),
                                lookout::parse_config(b, "b.yaml"));
  };
  CHECK(plan("", "").empty());
  CHECK(plan("", "camera: \"\"\nsource:\n  fps: 10\n").empty());  // written, but the default
  {
    const auto p = plan("", "source:\n  fps: 5\n");
    REQUIRE(p.changes.size() == 1);
    CHECK(p.changes[0].key == "source.fps");
    CHECK(p.changes[0].before == 10.0);
    CHECK(p.changes[0].after == 5.0);
    CHECK(p.restarts(Restart::Source));
    CHECK_FALSE(p.restarts(Restart::Engine));
    CHECK(p.summary() == "source");
  }
  {
    // The frame size decides the input size of models that adapt to it.
    const auto p = plan("", "source:\n  width: 1280\n");
    CHECK(p.restarts(Restart::Source));
    CHECK(p.restarts(Restart::Engine));
    CHECK(p.summary() == "source, engine");
  }
  for (const std::string key : {"backend: blas", "threads: 1", "input: [320, 256]",
                                "pin_cores: [1]", "path: other.torchscript"}) {
    CAPTURE(key);
    const auto p = plan("", "model:\n  " + key + "\n");
    CHECK(p.restarts(Restart::Engine));
    CHECK_FALSE(p.restarts(Restart::Source));
  }
  for (const std::string yaml :
       {"camera: porch\n", "model:\n  conf: 0.5\n", "model:\n  classes: [star]\n",
        "model:\n  class_conf: {star: 0.5}\n", "publish:\n  send_queue: 8\n",
        "publish:\n  tcp:\n    token: t\n",
        "publish:\n  tcp:\n    allowed_networks: [10.0.0.0/8]\n",
        "publish:\n  unix:\n    mode: \"0600\"\n", "logging:\n  level: debug\n"}) {
    CAPTURE(yaml);
    const auto p = plan("", yaml);
    CHECK(p.changes.size() == 1);
    CHECK(p.summary().empty());  // applied without restarting anything
  }
  {
    const auto p = plan("", "publish:\n  tcp:\n    port: 9000\n");
    CHECK(p.restarts(Restart::Listener, "publish.tcp"));
    CHECK_FALSE(p.restarts(Restart::Listener, "publish.unix"));
    CHECK(p.summary() == "listener publish.tcp");
  }
  {
    const auto p = plan("", "publish:\n  unix:\n    path: other.sock\n");
    CHECK(p.restarts(Restart::Listener, "publish.unix"));
    CHECK_FALSE(p.restarts(Restart::Listener, "publish.tcp"));
  }
  // A secret's change shows, its value does not.
  const auto token = plan("publish:\n  tcp:\n    token: a\n", "publish:\n  tcp:\n    token: b\n");
  REQUIRE(token.changes.size() == 1);
  CHECK(token.changes[0].before == "(set)");
  CHECK(token.changes[0].after == "(set)");
}

TEST_CASE("mqtt: the password comes from password_file, never from the YAML") {
  Dir dir;
  dir.write("mqtt-password", "s3cret\nignored second line\n");
  const auto file =
      dir.write("lookout.yaml", std::string(kModel) +
                                    "mqtt:\n  enabled: true\n  host: broker.lan\n  username: pi\n"
                                    "  password_file: mqtt-password\n  tls:\n    enabled: true\n");
  const Config c = lookout::load_config_file(file.string());
  CHECK(c.mqtt.enabled);
  CHECK(c.mqtt.host == "broker.lan");
  CHECK(c.mqtt.password == "s3cret");
  CHECK(c.mqtt.password_file == (dir.path / "mqtt-password").string());
  CHECK(c.mqtt.port == 1883);
  CHECK(c.mqtt.qos == 1);
  CHECK(c.mqtt.topic_prefix == "lookout");
  CHECK(c.mqtt.discovery.prefix == "homeassistant");
  // describe() never shows it, and "password" is not a key.
  CHECK(lookout::describe(c).find("s3cret") == std::string::npos);
  CHECK(only_problem(std::string(kModel) + "mqtt:\n  password: x\n") ==
        "bad.yaml:4:3: mqtt.password: unknown key");
}

TEST_CASE("mqtt: bad settings are reported at their keys") {
  const std::string m = std::string(kModel) + "mqtt:\n  enabled: true\n";
  CHECK(only_problem(m + "  password_file: nowhere\n  username: u\n")
            .rfind("bad.yaml:5:18: mqtt.password_file: cannot read ", 0) == 0);
  const auto no_user = problems_of(m + "  password_file: x\n");
  REQUIRE(!no_user.empty());
  CHECK(no_user[0] == "bad.yaml:5:18: mqtt.password_file: a password needs mqtt.username as well");
  CHECK(only_problem(m + "  tls:\n    enabled: true\n    ca_file: missing-ca.crt\n")
            .rfind("bad.yaml:7:14: mqtt.tls.ca_file: cannot read ", 0) == 0);
  CHECK(only_problem(m + "  tls:\n    cert_file: model.torchscript\n") ==
        "bad.yaml:6:16: mqtt.tls.cert_file: cert_file and key_file go together: set both or "
        "neither");
  CHECK(only_problem(m + "  topic_prefix: home/+/cams\n") ==
        "bad.yaml:5:17: mqtt.topic_prefix: MQTT wildcards (+, #) cannot appear in a topic, got "
        "'home/+/cams'");
  CHECK(only_problem(m + "  topic_prefix: lookout/\n").find("topic levels cannot be empty") !=
        std::string::npos);
  CHECK(only_problem(m + "  qos: 3\n") == "bad.yaml:5:8: mqtt.qos: must be between 0 and 2, got 3");
  CHECK(only_problem(m + "  host: \"\"\n") ==
        "bad.yaml:5:9: mqtt.host: a broker host is required when enabled");
  CHECK(only_problem(m + "  discovery:\n    classes: [person, person]\n")
            .find("'person' is listed twice") != std::string::npos);
  Dir dir;
  dir.write("empty-password", "\n");
  const auto file = dir.write("lookout.yaml", std::string(kModel) +
                                                  "mqtt:\n  enabled: true\n  username: u\n"
                                                  "  password_file: empty-password\n");
  try {
    lookout::load_config_file(file.string());
    FAIL("expected a ConfigError");
  } catch (const ConfigError& e) {
    REQUIRE(e.problems().size() == 1);
    CHECK(e.problems()[0].find("mqtt.password_file: ") != std::string::npos);
    CHECK(e.problems()[0].find("is empty") != std::string::npos);
  }
  // Files of a disabled output are not looked at.
  CHECK(problems_of(std::string(kModel) + "mqtt:\n  enabled: false\n  username: u\n"
                                          "  password_file: nowhere\n")
            .empty());
}

TEST_CASE("zones and lines: read by name, every problem at its key") {
  const std::string m = std::string(kModel);
  // A good file: pixel and normalised points, classes, inertia, anchors.
  Dir dir;
  const auto good = dir.write("good.yaml", m + "zones:\n"
                                               "  door:\n"
                                               "    points: [[0.1, 0.5], [0.4, 0.5], [0.4, 1]]\n"
                                               "    classes: [person]\n"
                                               "    inertia: 5\n"
                                               "    anchor: center\n"
                                               "  drive-way_2:\n"
                                               "    points: [[10, 10], [600, 10], [600, 400]]\n"
                                               "lines:\n"
                                               "  gate:\n"
                                               "    points: [[0, 300], [640, 300]]\n");
  const lookout::Config config = lookout::load_config_file(good.string());
  REQUIRE(config.zones.size() == 2);
  CHECK(config.zones[0].name == "door");
  CHECK(config.zones[0].config.points.size() == 3);
  CHECK(config.zones[0].config.classes == std::vector<std::string>{"person"});
  CHECK(config.zones[0].config.inertia == 5);
  CHECK(config.zones[0].config.anchor == lookout::tracking::Anchor::Center);
  CHECK(config.zones[1].name == "drive-way_2");
  CHECK(config.zones[1].config.inertia == 3);  // the default
  REQUIRE(config.lines.size() == 1);
  CHECK(config.lines[0].config.points[1].x == 640);
  CHECK(config.locations.of("zones.door.points").line == 5);

  // Each kind of problem, at its key's line and column.
  CHECK(only_problem(m + "zones:\n  bow:\n    points: [[0, 0], [10, 10], [10, 0], [0, 10]]\n") ==
        "bad.yaml:5:13: zones.bow.points: the polygon intersects itself: edge 1 (points 1-2) "
        "crosses edge 3 (points 3-4)");
  CHECK(only_problem(m + "zones:\n  two:\n    points: [[0, 0], [10, 10]]\n") ==
        "bad.yaml:5:13: zones.two.points: a zone needs at least 3 points, got 2");
  CHECK(only_problem(m + "lines:\n  dot:\n    points: [[5, 5], [5, 5]]\n") ==
        "bad.yaml:5:13: lines.dot.points: the line has zero length");
  CHECK(only_problem(m + "zones:\n  far:\n    points: [[0, 0], [700, 0], [700, 100]]\n") ==
        "bad.yaml:5:13: zones.far.points: point 2 (700, 0) is outside the 640x480 frame "
        "(pixels; normalised points are all within 0..1)");
  CHECK(only_problem(m + "lines:\n  far:\n    points: [[0, 0], [10, 500]]\n")
            .rfind("bad.yaml:5:13: lines.far.points: point 2 (10, 500) is outside", 0) == 0);
  CHECK(only_problem(m + "zones:\n  nopoints:\n    classes: [a]\n") ==
        "bad.yaml:5:5: zones.nopoints: points are required");
  CHECK(only_problem(m + "zones:\n  \"front door\":\n    points: [[0, 0], [1, 0], [1, 1]]\n") ==
        "bad.yaml:4:3: zones: names are 1 to 64 letters, digits, '_' or '-', got 'front door'");
  CHECK(only_problem(m + "zones:\n  z:\n    points: [[0, 0], [1, 0], [1]]\n")
            .rfind("bad.yaml:5:30: zones.z.points[2]: expected a point [x, y]", 0) == 0);
  CHECK(only_problem(m + "zones:\n  z:\n    points: [[0, 0], [1, 0], [1, 1]]\n    anchor: feet\n")
            .rfind("bad.yaml:6:13: zones.z.anchor: ", 0) == 0);
  CHECK(only_problem(m + "zones:\n  z:\n    points: [[0, 0], [1, 0], [1, 1]]\n    inertia: 0\n") ==
        "bad.yaml:6:14: zones.z.inertia: must be between 1 and 100, got 0");
  CHECK(only_problem(m + "zones:\n  z:\n    points: [[0, 0], [1, 0], [1, 1]]\n    colour: red\n")
            .rfind("bad.yaml:6:5: zones.z.colour: unknown key", 0) == 0);
  CHECK(only_problem(m + "zones: [a, b]\n") ==
        "bad.yaml:3:8: zones: expected a mapping of names to zones, got a list");
  CHECK(only_problem(m + "tracking:\n  low_score: 0.6\n") ==
        "bad.yaml:4:14: tracking.low_score: must not be above tracking.high_score");
}

TEST_CASE("the events directory is in the state directory unless absolute") {
  Dir dir;  // holds the model the file names
  const auto config =
      lookout::parse_config(std::string(kModel) + "events:\n  directory: snaps\n", "x.yaml");
  lookout::Environment env{dir.path.string(), "host", "/run/lookout", {}, "/var/lib/lookout"};
  CHECK(lookout::resolve_config(config, env).events.directory == "/var/lib/lookout/snaps");
  const auto absolute =
      lookout::parse_config(std::string(kModel) + "events:\n  directory: /data/events\n", "x.yaml");
  CHECK(lookout::resolve_config(absolute, env).events.directory == "/data/events");
  // Without a state directory: next to the configuration file.
  env.state_dir.clear();
  CHECK(lookout::resolve_config(config, env).events.directory == (dir.path / "snaps").string());
}

TEST_CASE("source type stream: a URL without credentials; those come from credentials_file") {
  Dir dir;
  dir.write("camera-login", "admin:p@ss\nignored\n");
  const auto file =
      dir.write("lookout.yaml", std::string(kModel) +
                                    "source:\n  type: stream\n  url: rtsp://cam.lan:554/stream1\n"
                                    "  credentials_file: camera-login\n  width: 0\n  height: 0\n");
  const Config c = lookout::load_config_file(file.string());
  CHECK(c.source.type == lookout::SourceType::Stream);
  CHECK(c.source.url == "rtsp://cam.lan:554/stream1");
  CHECK(c.source.credentials == "admin:p@ss");
  CHECK(c.source.credentials_file == (dir.path / "camera-login").string());
  CHECK(lookout::describe(c).find("p@ss") == std::string::npos);

  const std::string s = std::string(kModel) + "source:\n  type: stream\n";
  CHECK(only_problem(s) ==
        "bad.yaml:4:3: source.url: required for source type stream (rtsp://, http(s):// or an HLS "
        "URL)");
  const std::string in_url = only_problem(s + "  url: rtsp://admin:secret@cam/x\n");
  CHECK(in_url.rfind("bad.yaml:5:8: source.url: credentials do not belong in the URL", 0) == 0);
  CHECK(in_url.find("secret") == std::string::npos);
  CHECK(only_problem(s + "  url: file:///etc/passwd\n")
            .rfind("bad.yaml:5:8: source.url: 'file:///etc/passwd' is not an rtsp://", 0) == 0);
  CHECK(only_problem(s + "  url: rtsp://cam/x\n  credentials_file: nowhere\n")
            .rfind("bad.yaml:6:21: source.credentials_file: cannot read ", 0) == 0);
  dir.write("empty-login", "");
  const auto empty =
      dir.write("e.yaml", s + "  url: rtsp://cam/x\n  credentials_file: empty-login\n");
  try {
    lookout::load_config_file(empty.string());
    FAIL("an empty credentials file was taken");
  } catch (const lookout::ConfigError& e) {
    REQUIRE(e.problems().size() == 1);
    CHECK(e.problems()[0].find("source.credentials_file: ") != std::string::npos);
    CHECK(e.problems()[0].find("is empty") != std::string::npos);
  }
}

TEST_CASE("the installed configuration is the example with source.type auto, and valid") {
  const auto read = [](const fs::path& path) {
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot read " << path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  const std::string example = read(lookout::test::source_dir() / "app" / "config" / "lookout.yaml");
  const std::string installed = read(LOOKOUT_INSTALLED_CONFIG);
  std::istringstream a(example), b(installed);
  std::string line_a, line_b;
  std::vector<std::pair<std::string, std::string>> differences;
  while (std::getline(a, line_a) && std::getline(b, line_b)) {
    if (line_a != line_b) differences.emplace_back(line_a, line_b);
  }
  CHECK(std::count(example.begin(), example.end(), '\n') ==
        std::count(installed.begin(), installed.end(), '\n'));
  REQUIRE(differences.size() == 1);
  CHECK(differences[0].first == "  type: synthetic");
  CHECK(differences[0].second == "  type: auto");
  const Config config = lookout::parse_config(installed, "lookout.yaml");
  CHECK(config.source.type == lookout::SourceType::Auto);
  // The built-in default still needs no camera (scripts/run.sh).
  CHECK(lookout::parse_config(example, "lookout.yaml").source.type ==
        lookout::SourceType::Synthetic);
}
