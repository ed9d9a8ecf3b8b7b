// The viewer page (app/daemon/viewer/index.html) in a real browser against the
// real lookoutd: headless Chromium opens http://127.0.0.1:PORT/ and the test
// reads the page's state (browser.hpp says why through the DevTools protocol
// rather than --dump-dom). It checks what a person would see: detections
// listed by class and score, the live stream showing pictures, the model
// card, both layouts (side by side; stacked and no wider than a phone), and
// that the page finds a restarted lookoutd by itself.
//
// Screenshots go to the test's temporary directory and, when
// $LOOKOUT_VIEWER_SCREENSHOT (wide, 1280x860) or
// $LOOKOUT_VIEWER_SCREENSHOT_PHONE (390x844) name a file, there too (for docs).
// Skips (exit 77) only when Chromium is not installed or does not start;
// scripts/install-deps.sh installs it.
#include <algorithm>
#include <cctype>

#include <doctest/doctest.h>

#include "browser.hpp"
#include "harness.hpp"
#include "support/skip.hpp"

using namespace lookout::test;

namespace {

// Hang guard for the page getting somewhere (never a judgement of speed).
constexpr auto kPagePatience = std::chrono::milliseconds(120000);

// What the page shows, as one JSON value (the element ids and data-*
// attributes index.html documents for tests).
const std::string kPageState = R"JS((() => {
  // (between two pages there may be no document element yet)
  const r = document.documentElement || document.createElement("html");
  const q = s => document.querySelector(s);
  const text = s => ((q(s) || {}).textContent || "").trim().replace(/\s+/g, " ");
  const box = s => {
    const e = q(s);
    if (!e) return null;
    const b = e.getBoundingClientRect();
    return {left: b.left, right: b.right, top: b.top, bottom: b.bottom};
  };
  const img = q("#stream"), d = img ? img.dataset : {};
  return {
    events: +(r.dataset.detectionsEvents || 0),
    opens: +(r.dataset.sseOpens || 0),
    hello: r.dataset.hello === "1",
    connection: q("#conn") ? q("#conn").dataset.state : "",
    camera: text("#camera"),
    stream: {loaded: d.loaded === "1", frames: +(d.frames || 0), width: +(d.width || 0),
             resets: +(d.resets || 0), src: img ? img.getAttribute("src") || "" : ""},
    detections: Array.from(document.querySelectorAll("#detections li.detection"),
                           li => ({class: li.dataset.class || "",
                                   text: li.textContent.trim().replace(/\s+/g, " ")})),
    minute: Array.from(document.querySelectorAll("#minute tbody tr"), tr => tr.dataset.class),
    model: {name: text("#model-name"), input: text("#model-input"), classes: text("#model-classes"),
            backend: text("#model-backend"), threads: text("#model-threads")},
    fps: text("#fps"),
    health: text("#health"),
    model_picture: q("#model-picture") && !q("#model-picture").hidden
                   ? q("#model-picture").getAttribute("href") : null,
    scroll_width: r.scrollWidth, inner_width: window.innerWidth, overflow: r.dataset.overflow || "",
    layout: {stream: box("#stream"), detections: box("#detections")}
  };
})())JS";

std::string tail(const std::string& text, std::size_t n = 4000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

// Starts Chromium, or skips the test case (nullptr) when it is not installed or
// does not start.
std::unique_ptr<Browser> start_browser(const TempDir& dir, int width, int height) {
  return start_browser_or_skip(dir.path(), width, height, "the viewer's browser tests");
}

// The page's state once `done` holds for it; fails the test case with the
// last state and both logs when it does not within the patience.
json wait_page(Browser& browser, const std::string& what,
               const std::function<bool(const json&)>& done, const Daemon& daemon) {
  json last;
  const auto state = browser.wait_for(kPageState, done, kPagePatience, &last);
  REQUIRE_MESSAGE(state.has_value(), "the page did not get to: ", what,
                  "\nits state: ", last.dump(), "\nlookoutd's log:\n", tail(daemon.log()),
                  "\nchromium's log:\n", tail(browser.log()));
  return *state;
}

bool showing(const json& s, const std::string& camera) {
  return s["hello"] == true && s["connection"] == "connected" && s["camera"] == camera &&
         s["stream"]["loaded"] == true && s["stream"]["frames"].get<int>() >= 2 &&
         s["events"].get<int>() >= 3 && !s["detections"].empty();
}

json hello_of(const RunningDaemon& d) {
  Client c = d.tcp_client();
  const auto hello = c.next_of("hello");
  REQUIRE(hello.has_value());
  return *hello;
}

// "star 0.87": the class name, a space, a score with two decimals.
bool is_class_and_score(const std::string& text, const std::string& cls) {
  if (text.size() != cls.size() + 5 || text.compare(0, cls.size() + 1, cls + " ") != 0)
    return false;
  const std::string score = text.substr(cls.size() + 1);
  const auto digit = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; };
  return (score[0] == '0' || score[0] == '1') && score[1] == '.' && digit(score[2]) &&
         digit(score[3]);
}

std::string joined(const json& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n.get<std::string>();
  return out;
}

// A PNG of the page to `path`, and a copy to the file $`variable` names, if set.
void save_screenshot(Browser& browser, const std::filesystem::path& path, const char* variable) {
  const std::string png = browser.screenshot();
  REQUIRE(png.size() > 8);
  CHECK(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  std::ofstream(path, std::ios::binary) << png;
  if (const char* copy = std::getenv(variable); copy != nullptr && *copy) {
    std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
    MESSAGE("screenshot: ", std::string(copy));
  }
}

// A TCP port free at the moment (for a daemon that must come back on the same one).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  REQUIRE(ok);
  return ntohs(addr.sin_port);
}

// lookoutd with its HTTP server on a given port.
struct DaemonOnPort {
  TempDir dir;
  std::unique_ptr<Daemon> daemon;

  DaemonOnPort(const DaemonConfig& config, int http_port) {
    std::string yaml = config.yaml(dir);
    const std::string any_port = "http:\n  enabled: true\n  bind: 127.0.0.1\n  port: 0\n";
    const auto at = yaml.find(any_port);
    REQUIRE_MESSAGE(at != std::string::npos, "the harness's config has changed:\n", yaml);
    yaml.replace(
        at, any_port.size(),
        "http:\n  enabled: true\n  bind: 127.0.0.1\n  port: " + std::to_string(http_port) + "\n");
    daemon = std::make_unique<Daemon>(dir, dir.write("lookout.yaml", yaml));
    REQUIRE_MESSAGE(daemon->wait_ready(), "lookoutd did not get ready:\n", daemon->log());
    REQUIRE(daemon->http_port() == http_port);
  }
};

}  // namespace

TEST_CASE("viewer: detections, the live stream and the model card in a real browser") {
  TempDir dir;
  const auto browser = start_browser(dir, 1280, 860);
  if (!browser) return;
  // A camera-like frame size, so that the screenshot (docs/viewer.png) shows
  // what a user sees.
  DaemonConfig config;
  config.camera = "test-cam";
  config.width = 640;
  config.height = 480;
  config.fps = 10;
  RunningDaemon d{config};
  const json hello = hello_of(d);
  browser->set_screen(1280, 860, false);
  browser->navigate("http://127.0.0.1:" + std::to_string(d.http_port) + "/");

  const json s = wait_page(
      *browser, "connected, with pictures and detections listed",
      [](const json& st) {
        // Health is refreshed with the stats: "ok" once frames flow.
        return showing(st, "test-cam") && st["fps"] != "\u2013" &&
               st["health"].get<std::string>().rfind("ok", 0) == 0;
      },
      *d.daemon);
  INFO("the page's state: ", s.dump());

  // Detections as text: class names of the model, with their scores.
  const json& classes = hello["model"]["classes"];
  for (const auto& item : s["detections"]) {
    const std::string cls = item["class"];
    CHECK(std::find(classes.begin(), classes.end(), cls) != classes.end());
    CHECK_MESSAGE(is_class_and_score(item["text"], cls), item["text"]);
  }
  // The last minute's counts have a row per class.
  CHECK(s["minute"] == classes);
  // The stream shows pictures.
  CHECK(s["stream"]["width"].get<int>() > 0);
  CHECK(s["stream"]["src"].get<std::string>().rfind("/stream.mjpg?", 0) == 0);
  // The model card says what the daemon's hello says.
  CHECK(s["model"]["name"] == hello["model"]["name"]);
  CHECK(s["model"]["classes"] == joined(classes));
  CHECK(s["model"]["input"] == std::to_string(hello["model"]["input"][0].get<int>()) + " \u00d7 " +
                                   std::to_string(hello["model"]["input"][1].get<int>()));
  if (hello["model"].contains("backend")) CHECK(s["model"]["backend"] == hello["model"]["backend"]);
  if (hello["model"].contains("threads")) {
    CHECK(s["model"]["threads"] == std::to_string(hello["model"]["threads"].get<int>()));
  }
  // Stats arrived; the model's page is a link away.
  CHECK(s["fps"].get<std::string>().find("processed") != std::string::npos);
  CHECK(s["model_picture"] == "/model");
  // Wide: the panels beside the stream, nothing wider than the window.
  CHECK(s["layout"]["detections"]["left"].get<double>() >=
        s["layout"]["stream"]["right"].get<double>());
  CHECK(s["overflow"] == "0");

  save_screenshot(*browser, dir / "viewer.png", "LOOKOUT_VIEWER_SCREENSHOT");
}

TEST_CASE("viewer: on a phone-sized screen the stream is above the panels and nothing overflows") {
  TempDir dir;
  const auto browser = start_browser(dir, 390, 844);
  if (!browser) return;
  DaemonConfig config;
  config.camera = "a-camera-name-that-is-rather-too-long-for-a-phone-screen";
  RunningDaemon d{config};
  browser->set_screen(390, 844, true);
  browser->navigate("http://127.0.0.1:" + std::to_string(d.http_port) + "/");

  const json s = wait_page(
      *browser, "connected, with pictures and detections listed",
      [&](const json& st) { return showing(st, config.camera); }, *d.daemon);
  INFO("the page's state: ", s.dump());
  CHECK(s["inner_width"] == 390);
  CHECK(s["scroll_width"].get<int>() <= s["inner_width"].get<int>());
  CHECK(s["overflow"] == "0");
  CHECK(s["layout"]["stream"]["right"].get<double>() <= 390);
  CHECK(s["layout"]["stream"]["bottom"].get<double>() <=
        s["layout"]["detections"]["top"].get<double>());
  // A phone asks for smaller pictures.
  CHECK(s["stream"]["src"].get<std::string>().find("width=480") != std::string::npos);
  save_screenshot(*browser, dir / "viewer-phone.png", "LOOKOUT_VIEWER_SCREENSHOT_PHONE");
}

TEST_CASE("viewer: the page reconnects by itself when lookoutd restarts") {
  TempDir dir;
  const auto browser = start_browser(dir, 1280, 860);
  if (!browser) return;
  const int port = free_port();
  DaemonConfig first;
  first.camera = "cam-one";
  auto d = std::make_unique<DaemonOnPort>(first, port);
  browser->set_screen(1280, 860, false);
  browser->navigate("http://127.0.0.1:" + std::to_string(port) + "/");
  wait_page(
      *browser, "showing cam-one", [](const json& st) { return showing(st, "cam-one"); },
      *d->daemon);

  d->daemon->signal(SIGTERM);
  REQUIRE(d->daemon->wait_exit().has_value());
  const json gone = wait_page(
      *browser, "noticing lookoutd is gone",
      [](const json& st) { return st["connection"] != "connected"; }, *d->daemon);

  DaemonConfig second;
  second.camera = "cam-two";
  d = std::make_unique<DaemonOnPort>(second, port);
  const json back = wait_page(
      *browser, "showing cam-two, the stream reloaded",
      [&](const json& st) {
        return showing(st, "cam-two") && st["opens"].get<int>() >= 2 &&
               st["events"].get<int>() > gone["events"].get<int>() &&
               st["stream"]["resets"].get<int>() > gone["stream"]["resets"].get<int>() &&
               st["stream"]["frames"].get<int>() > gone["stream"]["frames"].get<int>();
      },
      *d->daemon);
  CHECK(back["connection"] == "connected");
}
